"""The small pure pieces of a routing decision that :class:`~dispatch.router.Router` uses.

The deadlines of one decision (computed once per distinct options), the reports a category's
``needs`` add to a rule, and how closely a unit's categories fit a case.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime

from dispatch.calendar import WorkCalendar
from dispatch.catalog import Category
from dispatch.decision import TraceStep
from dispatch.model import Mode, Origin, StepResult, Urgency
from dispatch.rules import Options, Report, Rule
from grids.model import ALL_CATEGORIES, Cell, Responder

__all__ = ["Dues", "cannot_handle", "category_fit", "reports_for", "spread"]


def category_fit(responder: Responder, code: str) -> int:
    """How closely a responder's categories fit ``code``: the length of its longest entry
    that is a prefix of it (E0101 5, E01 3), 0 for ``*`` or none."""
    return max(
        (
            len(entry)
            for entry in responder.categories
            if entry != ALL_CATEGORIES and code.startswith(entry)
        ),
        default=0,
    )


def spread(
    candidates: tuple[Responder, ...], code: str, load: Mapping[str, int]
) -> tuple[Responder, ...]:
    """A town's jurisdiction units (辖区单位) in the order a committee whistle tries them:
    those whose categories fit the case closest first (a company listing E01 before the
    credit union that takes anything), then the one with the fewest open cases, then
    roster order. Without this the first unit in the roster got every whistle."""
    order = {r.id: i for i, r in enumerate(candidates)}
    return tuple(
        sorted(candidates, key=lambda r: (-category_fit(r, code), load.get(r.id, 0), order[r.id]))
    )


def cannot_handle(cell: Cell, responder: Responder, code: str) -> TraceStep:
    handles = ", ".join(sorted(responder.categories))
    return TraceStep(
        cell.code,
        cell.level,
        StepResult.CANNOT_HANDLE,
        responder.id,
        f"{responder.name} handles {handles}, not {code}",
    )


class Dues:
    """Deadlines for one decision, each computed once per distinct Options."""

    __slots__ = (
        "_acknowledge",
        "_calendar",
        "_category",
        "_received",
        "_resolve",
        "_urgency",
        "received",
    )

    def __init__(
        self, calendar: WorkCalendar, received: datetime, urgency: Urgency, category: Category
    ) -> None:
        self._calendar = calendar
        self._received = received
        self.received = received
        self._urgency = urgency
        self._category = category
        self._acknowledge: dict[int, datetime] = {}
        self._resolve: dict[int, datetime] = {}

    # Keyed by id(): Options objects live as long as the compiled rules, and reports that
    # set nothing share their rule's object, so the usual decision computes each due once.
    def acknowledge(self, options: Options) -> datetime:
        due = self._acknowledge.get(id(options))
        if due is None:
            add = self._calendar.add
            due = min(
                add(self._received, options.acknowledge(self._urgency)),
                add(self._received, options.acknowledge_cap),
            )
            self._acknowledge[id(options)] = due
        return due

    def claim(self, options: Options) -> datetime:
        return self._calendar.add(self._received, options.claim_window)

    def resolve(self, options: Options) -> datetime:
        due = self._resolve.get(id(options))
        if due is None:
            due = self._calendar.add(self._received, options.resolve or self._category.limit)
            self._resolve[id(options)] = due
        return due


def reports_for(rule: Rule, category: Category) -> tuple[tuple[Report, ...], tuple[str, ...]]:
    """The rule's reports plus a push report, starting at the located cell, for each kind the
    category needs that the rule does not already ask for."""
    rule_label = f"rule {rule.id} ({rule.name})"
    reports = list(rule.reports)
    needed_by = [rule_label] * len(reports)
    present = {report.kind for report in rule.reports}
    options = dataclasses.replace(rule.options, mode=Mode.PUSH)
    for kind in category.needs:
        if kind in present:
            continue
        present.add(kind)
        reports.append(
            Report(
                kind=kind,
                level=None,
                count=1,
                options=options,
                index=len(reports),
                origin=Origin.CATEGORY,
            )
        )
        needed_by.append(f"category {category.code} ({category.name}) under {rule_label}")
    return tuple(reports), tuple(needed_by)
