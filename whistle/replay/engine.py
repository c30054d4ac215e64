"""What-if replay: the recorded whistles of a period run through proposed rules, compared
with what happened. Reads the store, never writes it (see ``whistle.replay.recorded``)."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from dispatch.decision import Decision, PlannedAssignment
from dispatch.model import Mode, Origin
from grids import Hierarchy
from grids.exceptions import UnknownCellError
from whistle.replay import report as reporting
from whistle.replay.outcome import Figures, Model, after, before, ts
from whistle.replay.recorded import (
    Period,
    RecordedAssignment,
    RecordedCase,
    connect_readonly,
    kind_medians,
    read_cases,
    recorded_documents,
)
from whistle.replay.rules import ProposedRules, RouteCache, RouteKey

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

    def add(self, figures: Figures, slots: list[tuple[str, str, str]], backstop: bool) -> None:
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


def _unit(kind: str, mode: str, responder: str | None, cell: str) -> str:
    return responder if mode == "push" and responder else f"board:{cell}"


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

    def case(self, case: RecordedCase) -> None:
        t = self.tally
        if self.catalog.get(case.category) is None:
            t.skipped["unknown_category"] += 1
            return
        try:
            self.hierarchy.cell(case.cell)
        except UnknownCellError:
            t.skipped["unknown_cell"] += 1
            return
        key: RouteKey = (case.source, case.category, case.cell, case.urgency, case.units, case.load)
        at = datetime.fromisoformat(case.received_text)
        decision = self.cache.route(key, at)
        planned = decision.assignments
        initial = case.initial
        slots_after = sorted(map(_planned_slot, planned))
        slots_before = sorted(map(_recorded_slot, initial))
        changed = slots_after != slots_before
        shift = self._shift(initial, planned)
        retimed = not changed and (shift != 0.0 or self._ack_moved(initial, planned))
        t.changed += changed
        t.retimed += retimed
        if changed and len(t.examples) < self.limit:
            t.examples.append((case, decision))
        now = self.model.now
        was = before(case, now)
        will = (
            was
            if not (changed or retimed)
            else after(case, planned, shift, self.model, changed=changed)
        )
        t.before.add(
            was,
            self._recorded_units(initial),
            any(a.origin == Origin.BACKSTOP.value for a in initial),
        )
        t.after.add(
            will, self._planned_units(planned), any(a.origin is Origin.BACKSTOP for a in planned)
        )

    @staticmethod
    def _shift(initial: list[RecordedAssignment], planned: tuple[PlannedAssignment, ...]) -> float:
        if not initial or not planned or initial[0].resolve_due is None:
            return 0.0
        recorded = datetime.fromisoformat(initial[0].resolve_due).timestamp()
        shift = planned[0].resolve_due.timestamp() - recorded
        return 0.0 if abs(shift) < 0.001 else shift

    @staticmethod
    def _ack_moved(
        initial: list[RecordedAssignment], planned: tuple[PlannedAssignment, ...]
    ) -> bool:
        recorded = sorted((_recorded_slot(a), a.ack_due) for a in initial)
        proposed = sorted((_planned_slot(a), ts(a.acknowledge_due)) for a in planned)
        for (_, old), (_, new) in zip(recorded, proposed, strict=True):
            if (old is None) != (new is None) or (
                old is not None and new is not None and abs(old - new) > 0.001
            ):
                return True
        return False

    def _recorded_units(self, initial: list[RecordedAssignment]) -> list[tuple[str, str, str]]:
        return [
            (a.kind, a.level or "", _unit(a.kind, a.mode, a.responder_id, a.cell)) for a in initial
        ]

    def _planned_units(self, planned: tuple[PlannedAssignment, ...]) -> list[tuple[str, str, str]]:
        return [
            (a.kind.value, a.level.key, _unit(a.kind.value, a.mode.value, a.responder_id, a.cell))
            for a in planned
        ]


def replay(
    db: Path,
    period: Period,
    rules: ProposedRules,
    *,
    now: datetime,
    limit: int = 200,
) -> dict[str, Any]:
    """Replay the cases of ``period`` in the SQLite file ``db`` under ``rules``; the report
    (see ``whistle.replay.report``). ``now`` decides what has fallen due, as in the
    statistics; ``limit`` bounds the changed cases listed with their traces."""
    started = time.perf_counter()
    conn = connect_readonly(db)
    try:
        medians = kind_medians(conn, period)
        model = Model(medians["ack"], medians["resolve"], now.timestamp())
        replayer = _Replayer(rules, model, limit)
        for batch in read_cases(conn, period):
            for case in batch:
                replayer.case(case)
        documents = recorded_documents(conn, [c.id for c, _ in replayer.tally.examples])
    finally:
        conn.close()
    return reporting.build(
        replayer.tally,
        hierarchy=replayer.hierarchy,
        tz=replayer.tz,
        documents=documents,
        period=period,
        model=model,
        label=rules.label,
        cache=(replayer.cache.routed, replayer.cache.served),
        seconds=time.perf_counter() - started,
    )
