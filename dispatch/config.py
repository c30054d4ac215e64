"""Loading the whole dispatch config from a directory: categories, rules and calendar.

Problems in all three files are collected and raised together, so one failed start-up shows
everything that needs fixing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dispatch._toml import Issues, read_toml
from dispatch.calendar import WorkCalendar, calendar_from_data
from dispatch.catalog import Catalog, catalog_from_data
from dispatch.exceptions import DispatchConfigError, Problem
from dispatch.policy import LIFECYCLE_FILE, LifecyclePolicy, load_policy
from dispatch.rules import RulesConfig, rules_from_data

__all__ = [
    "CALENDAR_FILE",
    "CATEGORIES_FILE",
    "LIFECYCLE_FILE",
    "RULES_FILE",
    "DispatchConfig",
    "load_dispatch_config",
]

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
