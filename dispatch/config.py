"""Loading the whole dispatch config from a directory: categories, rules and calendar.

Problems in all three files are collected and raised together, so one failed start-up shows
everything that needs fixing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from dispatch._toml import Issues, read_toml
from dispatch.calendar import WorkCalendar, calendar_from_data
from dispatch.catalog import Catalog, catalog_from_data
from dispatch.exceptions import CalendarEndError, DispatchConfigError, Problem
from dispatch.policy import LIFECYCLE_FILE, LifecyclePolicy, load_policy
from dispatch.rules import RulesConfig, rules_from_data

__all__ = [
    "CALENDAR_FILE",
    "CALENDAR_WARNING_DAYS",
    "CATEGORIES_FILE",
    "LIFECYCLE_FILE",
    "RULES_FILE",
    "DispatchConfig",
    "calendar_outlook",
    "calendar_warnings",
    "load_dispatch_config",
]

# Warn this many days before the working calendar runs out (time to add the next year).
CALENDAR_WARNING_DAYS = 60

CATEGORIES_FILE = "categories.toml"
RULES_FILE = "rules.toml"
CALENDAR_FILE = "calendar.toml"


@dataclass(frozen=True, slots=True)
class DispatchConfig:
    """The validated dispatch config: give it with a hierarchy to ``Router.compile``."""

    rules: RulesConfig
    catalog: Catalog
    calendar: WorkCalendar
    policy: LifecyclePolicy = field(default_factory=LifecyclePolicy)


def load_dispatch_config(config_dir: Path) -> DispatchConfig:
    """Read ``categories.toml``, ``rules.toml`` and ``calendar.toml`` from ``config_dir``.

    The rules are checked against the catalog when the catalog itself is valid. Raises
    DispatchConfigError listing every problem in the three files.
    """
    problems: list[Problem] = []

    issues = Issues(CATEGORIES_FILE)
    data = read_toml(config_dir / CATEGORIES_FILE, issues)
    catalog = None if data is None else catalog_from_data(data, issues)
    problems += issues.problems

    issues = Issues(RULES_FILE)
    data = read_toml(config_dir / RULES_FILE, issues)
    rules = None if data is None else rules_from_data(data, issues, catalog)
    problems += issues.problems

    issues = Issues(CALENDAR_FILE)
    data = read_toml(config_dir / CALENDAR_FILE, issues)
    calendar = None if data is None else calendar_from_data(data, issues)
    problems += issues.problems

    issues = Issues(LIFECYCLE_FILE)
    policy = load_policy(config_dir, issues)
    problems += issues.problems

    if problems or catalog is None or rules is None or calendar is None:
        raise DispatchConfigError(problems)
    return DispatchConfig(rules=rules, catalog=catalog, calendar=calendar, policy=policy)


def calendar_outlook(config: DispatchConfig, now: datetime) -> tuple[list[Problem], list[str]]:
    """Whether the calendar reaches far enough from ``now``: problems (a deadline that can
    be set today would fall past its end: the server must not start) and warnings (it ends
    within :data:`CALENDAR_WARNING_DAYS`)."""
    calendar = config.calendar
    if calendar.end is None:
        return [], []
    problems: list[Problem] = []
    policy = config.policy
    limits = {c.limit for c in config.catalog if c.limit.is_working}
    limits |= {
        policy.extension_max,
        policy.rectify_within,
        policy.return_window,
        policy.return_decision,
        policy.escalate_after,
    }
    for limit in sorted((d for d in limits if d.is_working), key=str):
        try:
            calendar.add(now, limit)
        except CalendarEndError as exc:
            problems.append(
                Problem(
                    CALENDAR_FILE,
                    None,
                    None,
                    f"the calendar ends on {calendar.end.isoformat()}, but a limit of {limit} "
                    f"set today would fall on {exc.due.date().isoformat()}: add the holidays "
                    f"of {calendar.end.year + 1}",
                )
            )
            break
    return problems, calendar_warnings(calendar, now)


def calendar_warnings(calendar: WorkCalendar, now: datetime) -> list[str]:
    """A warning when the calendar ends within :data:`CALENDAR_WARNING_DAYS` of ``now``
    (or has ended): for ``whistle check-config``, the log at start-up and ``/readyz``."""
    left = calendar.days_left(now.astimezone(calendar.timezone).date())
    if calendar.end is None or left is None or left > CALENDAR_WARNING_DAYS:
        return []
    when = f"in {left} days" if left >= 0 else f"{-left} days ago"
    return [
        f"{CALENDAR_FILE} ends on {calendar.end.isoformat()} ({when}): add the public "
        f"holidays and make-up workdays of {calendar.end.year + 1}"
    ]
