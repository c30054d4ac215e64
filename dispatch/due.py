"""The next deadline of a case: what the console shows as time left (issue 17).

A case has several clocks at once: each pushed assignment's acknowledgement (报到), each
claim board's claim deadline, a return (退单) awaiting the dispatcher's decision, and the
resolution of the case. The console used to show the resolution deadline while marking the
case overdue for a missed acknowledgement past the backstop (``case.overdue``), so a case read
"overdue" beside a deadline days away. The queue now shows the earliest deadline still open,
with its kind, and a case is overdue exactly when that deadline has passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from dispatch.case import AssignmentStatus, CaseState

__all__ = ["DueKind", "NextDue", "next_due"]


class DueKind(StrEnum):
    """Which clock a deadline belongs to."""

    ACKNOWLEDGE = "acknowledge"  # a pushed responder must report in (报到)
    CLAIM = "claim"  # a need on a claim board must be claimed (认领)
    RETURN_DECISION = "return_decision"  # the dispatcher decides on a return (退单)
    RESOLVE = "resolve"  # the case must be resolved


@dataclass(frozen=True, slots=True)
class NextDue:
    """The earliest open deadline of a case, and for whom (an assignment, or the case)."""

    kind: DueKind
    at: datetime
    assignment: str | None = None


def next_due(state: CaseState) -> NextDue | None:
    """The earliest deadline still open on an active case; None for a case at rest (resolved,
    on hold, closed, merged, muted: no clock runs for the responders)."""
    if not state.is_active:
        return None
    found: list[NextDue] = []
    for a in state.assignments.values():
        if a.status is AssignmentStatus.DISPATCHED and a.acknowledge_due is not None:
            found.append(NextDue(DueKind.ACKNOWLEDGE, a.acknowledge_due, a.id))
        elif a.status is AssignmentStatus.OPEN and a.claim_due is not None:
            found.append(NextDue(DueKind.CLAIM, a.claim_due, a.id))
        elif a.awaits_decision and a.return_due is not None:
            found.append(NextDue(DueKind.RETURN_DECISION, a.return_due, a.id))
    if state.resolve_due is not None:
        found.append(NextDue(DueKind.RESOLVE, state.resolve_due))
    return min(found, key=lambda d: d.at, default=None)
