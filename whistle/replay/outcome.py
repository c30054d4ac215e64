"""What each replayed case counts for in the committee's figures, before (as recorded) and
after (under the proposed rules), with the definitions of the store's statistics
(``whistle.store.facts``: 响应率 by case, 按期结案率 over the cases due and not on hold).

After, a responder who had the case in the record keeps their recorded actions and timing; one
who did not is modelled by the period's median times for their kind (``kind_medians``). The
case's closing is kept as recorded (verification is the operator's step); its resolve deadline
moves by as much as the proposed first deadline differs from the recorded one (so an extension
or a hold recorded on the case still counts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from dispatch.decision import PlannedAssignment
from dispatch.model import Mode
from whistle.replay.recorded import RecordedAssignment, RecordedCase

__all__ = ["Figures", "Model", "after", "before", "ts"]


@dataclass(frozen=True, slots=True)
class Figures:
    """One case's share of the rates: whether it is in each numerator and denominator."""

    response_due: bool
    responded_in_time: bool
    due_not_held: bool
    closed_on_time: bool
    counted: bool  # in the case figures (cancelled cases count for 响应率 only)


@dataclass(frozen=True, slots=True)
class Model:
    """Median seconds from receipt to 报到 and to resolution, per responder kind (``*``: all),
    and the instant that decides what has fallen due."""

    ack: dict[str, float]
    resolve: dict[str, float]
    now: float

    def ack_after(self, kind: str) -> float | None:
        """Seconds to 报到 for a responder of ``kind`` who did not have the case."""
        return self.ack.get(kind, self.ack.get("*"))

    def resolve_after(self, kind: str) -> float | None:
        """Seconds to resolution for a responder of ``kind`` who did not have the case."""
        return self.resolve.get(kind, self.resolve.get("*"))


def ts(moment: datetime | None) -> float | None:
    """Unix seconds, as the statistics keep times."""
    return None if moment is None else moment.timestamp()


def _response(
    rows: list[tuple[float | None, float | None, float | None]], now: float
) -> tuple[bool, bool]:
    """(due, in time) over a case's push rows of (ack_due, acknowledged_at, ended_at)."""
    due = in_time = False
    for ack_due, acked, ended in rows:
        if acked is not None:
            due = True
            if ack_due is None or acked <= ack_due:
                in_time = True
        elif ack_due is not None and ack_due <= min(now, now if ended is None else ended):
            due = True
    return due, in_time


def _closing(
    case: RecordedCase, resolved: float | None, due_at: float | None, on_time: bool, now: float
) -> tuple[bool, bool]:
    closed = case.closed_at is not None
    due = resolved is not None or closed or (due_at is not None and due_at <= now)
    return case.status != "on_hold" and due, closed and on_time


def before(case: RecordedCase, now: float) -> Figures:
    """What the case counts for as recorded."""
    rows = [
        (a.ack_due, a.acknowledged_at, a.ended_at) for a in case.assignments if a.mode == "push"
    ]
    due, in_time = _response(rows, now)
    held, on_time = _closing(case, case.resolved_at, case.due_at, case.on_time == 1, now)
    return Figures(due, in_time, held, on_time, case.status != "cancelled")


def _same(recorded: RecordedAssignment, planned: PlannedAssignment) -> bool:
    if planned.mode is Mode.CLAIM:
        return recorded.mode == "claim" and recorded.cell == planned.cell
    return recorded.mode == "push" and recorded.responder_id == planned.responder_id


def after(
    case: RecordedCase,
    planned: tuple[PlannedAssignment, ...],
    ack_dues: Sequence[float | None],
    shift: float,
    model: Model,
    *,
    changed: bool,
) -> Figures:
    """What the case would count for under the proposed route ``planned`` whose
    acknowledgement deadlines are ``ack_dues`` (Unix seconds, per assignment); ``shift`` is
    how many seconds later the proposed first resolve deadline falls than the recorded one."""
    now = model.now
    received = case.received_at
    rows: list[tuple[float | None, float | None, float | None]] = []
    for p, ack_due in zip(planned, ack_dues, strict=True):
        if p.mode is not Mode.PUSH:
            continue
        mine = next((r for r in case.assignments if _same(r, p)), None)
        if mine is not None:
            rows.append((ack_due, mine.acknowledged_at, mine.ended_at))
        else:
            seconds = model.ack_after(p.kind.value)
            rows.append((ack_due, None if seconds is None else received + seconds, None))
    if not changed:
        # The same responders: later assignments (escalations, 退单) happened as recorded.
        rows += [
            (r.ack_due, r.acknowledged_at, r.ended_at)
            for r in case.assignments
            if r.mode == "push" and r.number > case.routed
        ]
    due, in_time = _response(rows, now)
    resolved = case.resolved_at
    due_at = None if case.due_at is None else case.due_at + shift
    resolver = _resolver(case)
    kept = resolver is None or any(_same(resolver, p) for p in planned)
    if resolved is not None and not kept:
        seconds = model.resolve_after(planned[0].kind.value) if planned else None
        resolved = None if seconds is None else received + seconds
    if kept and shift == 0:
        on_time = case.on_time == 1
    else:
        on_time = resolved is not None and due_at is not None and resolved <= due_at
    held, closed_on_time = _closing(case, resolved, due_at, on_time, now)
    return Figures(due, in_time, held, closed_on_time, case.status != "cancelled")


def _resolver(case: RecordedCase) -> RecordedAssignment | None:
    """The assignment whose resolution resolved the case (the latest one)."""
    done = [a for a in case.assignments if a.resolved_at is not None]
    return max(done, key=lambda a: a.resolved_at or 0.0) if done else None
