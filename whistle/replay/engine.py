"""What-if replay: the recorded whistles of a period run through proposed rules, compared
with what happened. Reads the store, never writes it (see ``whistle.replay.recorded``)."""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from dispatch.decision import Decision, PlannedAssignment
from dispatch.model import Mode, Origin
from grids import Hierarchy
from whistle.replay import report as reporting
from whistle.replay.outcome import Figures, Model, after, before
from whistle.replay.recorded import (
    Period,
    RecordedAssignment,
    RecordedCase,
    connect_readonly,
    kind_medians,
    read_cases,
    recorded_documents,
)
from whistle.replay.rules import Dues, ProposedRules, RouteCache, RouteKey

__all__ = ["Tally", "replay"]

Slot = tuple[str, str, str | None, str, str]  # kind, mode, responder (push), cell, origin


def _planned_slot(a: PlannedAssignment) -> Slot:
    return (a.kind.value, a.mode.value, a.responder_id if a.mode is Mode.PUSH else None,
            a.cell, a.origin.value)  # fmt: skip


def _recorded_slot(a: RecordedAssignment) -> Slot:
    return (a.kind, a.mode, a.responder_id if a.mode == "push" else None, a.cell,
            a.origin or "")  # fmt: skip


@dataclass
class Side:
    """The totals of one side (before or after)."""

    figures: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    levels: Counter[str] = field(default_factory=Counter)
    units: Counter[str] = field(default_factory=Counter)
    backstop: int = 0

    def add(self, figures: Figures, slots: Sequence[tuple[str, str, str]], backstop: bool) -> None:
        f = self.figures
        f["cases"] += 1
        f["response_due"] += figures.response_due
        f["responded_in_time"] += figures.responded_in_time
        if figures.counted:
            f["due_not_held"] += figures.due_not_held
            f["closed_on_time"] += figures.closed_on_time
        for kind, level, unit in slots:
            self.kinds[kind] += 1
            self.levels[level] += 1
            self.units[unit] += 1
        self.backstop += backstop


@dataclass
class Tally:
    """Everything a replay adds up while it streams the period."""

    before: Side = field(default_factory=Side)
    after: Side = field(default_factory=Side)
    changed: int = 0
    retimed: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    examples: list[tuple[RecordedCase, Decision]] = field(default_factory=list)


def _unit(mode: str, responder: str | None, cell: str) -> str:
    return responder if mode == "push" and responder else f"board:{cell}"


@dataclass(frozen=True, slots=True)
class _Shape:
    """What a cached decision is, whatever the time: its slots in order, and what it adds to
    the tables."""

    slots: tuple[Slot, ...]
    order: tuple[int, ...]  # assignment indices in slot order
    units: tuple[tuple[str, str, str], ...]
    backstop: bool

    @classmethod
    def of(cls, decision: Decision) -> _Shape:
        planned = decision.assignments
        keyed = sorted((_planned_slot(a), i) for i, a in enumerate(planned))
        return cls(
            tuple(slot for slot, _ in keyed),
            tuple(i for _, i in keyed),
            tuple(
                (a.kind.value, a.level.key, _unit(a.mode.value, a.responder_id, a.cell))
                for a in planned
            ),
            any(a.origin is Origin.BACKSTOP for a in planned),
        )


class _Replayer:
    def __init__(self, rules: ProposedRules, model: Model, limit: int) -> None:
        self.rules = rules
        self.cache = RouteCache(rules)
        self.hierarchy: Hierarchy = rules.router.hierarchy
        self.catalog = rules.router.catalog
        self.tz = rules.router.calendar.timezone
        self.model = model
        self.limit = limit
        self.tally = Tally()
        self._shapes: dict[int, _Shape] = {}

    def _shape(self, template: Decision) -> _Shape:
        shape = self._shapes.get(id(template))
        if shape is None:
            shape = self._shapes[id(template)] = _Shape.of(template)
        return shape

    def _routable(self, case: RecordedCase) -> bool:
        if self.catalog.get(case.category) is None:
            self.tally.skipped["unknown_category"] += 1
            return False
        if self.hierarchy.get(case.cell) is None:
            self.tally.skipped["unknown_cell"] += 1
            return False
        return True

    def case(self, case: RecordedCase) -> None:
        """Replay one case and add it to the tally."""
        if not self._routable(case):
            return
        t = self.tally
        key: RouteKey = (case.source, case.category, case.cell, case.urgency, case.units, case.load)
        at = datetime.fromisoformat(case.received_text)
        template, dues = self.cache.route(key, at)
        shape = self._shape(template)
        planned = template.assignments
        ack_dues = [None if ack is None else ack.timestamp() for ack, _, _ in dues]
        initial = sorted(((_recorded_slot(a), a) for a in case.initial), key=_first)
        changed = shape.slots != tuple(slot for slot, _ in initial)
        shift = self._shift(case.initial, dues)
        retimed = not changed and (
            shift != 0.0
            or any(
                _moved(old.ack_due, ack_dues[i])
                for (_, old), i in zip(initial, shape.order, strict=True)
            )
        )
        t.changed += changed
        t.retimed += retimed
        if changed and len(t.examples) < self.limit:
            t.examples.append((case, self.cache.decision_at(template, at)))
        was = before(case, self.model.now)
        will = was
        if changed or retimed:
            will = after(case, planned, ack_dues, shift, self.model, changed=changed)
        t.before.add(
            was,
            [(a.kind, a.level or "", _unit(a.mode, a.responder_id, a.cell)) for _, a in initial],
            any(a.origin == "backstop" for _, a in initial),
        )
        t.after.add(will, shape.units, shape.backstop)

    @staticmethod
    def _shift(initial: list[RecordedAssignment], dues: Dues) -> float:
        if not initial or not dues or initial[0].resolve_due is None:
            return 0.0
        recorded = datetime.fromisoformat(initial[0].resolve_due).timestamp()
        shift = dues[0][2].timestamp() - recorded
        return 0.0 if abs(shift) < 0.001 else shift


def _moved(old: float | None, new: float | None) -> bool:
    if old is None or new is None:
        return (old is None) != (new is None)
    return abs(old - new) > 0.001


def _pass(
    db: Path, period: Period, rules: ProposedRules, model: Model, limit: int
) -> tuple[Tally, int, int]:
    """One streaming pass over ``period``: its tally, and the routing cache's counts."""
    conn = connect_readonly(db)
    try:
        replayer = _Replayer(rules, model, limit)
        for batch in read_cases(conn, period):
            for case in batch:
                replayer.case(case)
    finally:
        conn.close()
    return replayer.tally, replayer.cache.routed, replayer.cache.served


# The rules a forked worker replays under: set before the fork, inherited, never pickled (a
# county's router is a million objects).
_FORKED: ProposedRules | None = None


def _pass_in_child(db: Path, period: Period, model: Model, limit: int) -> tuple[Tally, int, int]:
    assert _FORKED is not None
    return _pass(db, period, _FORKED, model, limit)


def _split(period: Period, parts: int) -> list[Period]:
    days = (period.last - period.first).days + 1
    parts = max(1, min(parts, days))
    step = -(-days // parts)
    out = []
    for k in range(0, days, step):
        first = period.first + timedelta(days=k)
        out.append(Period(first, min(period.last, first + timedelta(days=step - 1))))
    return out


def _merge(tallies: list[Tally], limit: int) -> Tally:
    total = Tally()
    for t in tallies:
        for mine, theirs in ((total.before, t.before), (total.after, t.after)):
            mine.figures.update(theirs.figures)
            mine.kinds.update(theirs.kinds)
            mine.levels.update(theirs.levels)
            mine.units.update(theirs.units)
            mine.backstop += theirs.backstop
        total.changed += t.changed
        total.retimed += t.retimed
        total.skipped.update(t.skipped)
        total.examples.extend(t.examples[: limit - len(total.examples)])
    return total


def _passes(
    db: Path, period: Period, rules: ProposedRules, model: Model, limit: int, workers: int
) -> tuple[Tally, int, int]:
    """The period in ``workers`` forked processes, one run of days each (a process of its
    own has its own GIL: on two cores a county-year takes about half the time)."""
    global _FORKED
    parts = _split(period, workers)
    if len(parts) == 1:
        return _pass(db, period, rules, model, limit)
    _FORKED = rules
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(len(parts), mp_context=context) as pool:
            n = len(parts)
            results = list(pool.map(_pass_in_child, [db] * n, parts, [model] * n, [limit] * n))
    finally:
        _FORKED = None
    return (
        _merge([r[0] for r in results], limit),
        sum(r[1] for r in results),
        sum(r[2] for r in results),
    )


def replay(
    db: Path,
    period: Period,
    rules: ProposedRules,
    *,
    now: datetime,
    limit: int = 200,
    workers: int = 1,
) -> dict[str, Any]:
    """Replay the cases of ``period`` in the SQLite file ``db`` under ``rules``; the report
    (see ``whistle.replay.report``). ``now`` decides what has fallen due, as in the
    statistics; ``limit`` bounds the changed cases listed with their traces; ``workers`` > 1
    splits the period over that many forked processes (only from a process without threads:
    the command line, the server's replay worker)."""
    started = time.perf_counter()
    conn = connect_readonly(db)
    try:
        medians = kind_medians(conn, period)
    finally:
        conn.close()
    model = Model(medians["ack"], medians["resolve"], now.timestamp())
    tally, routed, served = _passes(db, period, rules, model, limit, workers)
    conn = connect_readonly(db)
    try:
        documents = recorded_documents(conn, [c.id for c, _ in tally.examples])
    finally:
        conn.close()
    return reporting.build(
        tally,
        hierarchy=rules.router.hierarchy,
        tz=rules.router.calendar.timezone,
        documents=documents,
        period=period,
        model=model,
        label=rules.label,
        cache=(routed, served),
        seconds=time.perf_counter() - started,
    )


def _first(pair: tuple[Slot, RecordedAssignment]) -> Slot:
    return pair[0]
