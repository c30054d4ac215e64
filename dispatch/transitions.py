"""What a case allows, and the vocabulary every lifecycle decision shares.

The actions (:class:`AssignmentAction`, :class:`CaseAction`), the :class:`Change` a decision
returns and the :class:`Context` it may consult; which actions a case's status allows, and
the guards every decision runs first. Also the pieces several kinds of decision build their
changes from: the notice for the case's owner, the responders already on the case, and the
``assignment.added`` change of a new assignment. ``dispatch.lifecycle`` re-exports all of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from dispatch.case import ACTIVE, PENDING, AssignmentState, AssignmentStatus, CaseState, CaseStatus
from dispatch.decision import PlannedAssignment
from dispatch.exceptions import IllegalTransition, InvalidAction, NotYours
from dispatch.model import Origin
from dispatch.policy import LifecyclePolicy
from dispatch.router import Router

__all__ = [
    "AssignmentAction",
    "CaseAction",
    "Change",
    "Context",
    "allowed_assignment_actions",
    "allowed_case_actions",
]


class AssignmentAction(StrEnum):
    """What a responder does with its own assignment."""

    ACKNOWLEDGE = "acknowledge"  # 报到
    START = "start"
    RESOLVE = "resolve"  # 反馈
    RETURN = "return"  # 退单


class CaseAction(StrEnum):
    """What is done to the case as a whole."""

    CLAIM = "claim"  # 认领 / 组团认领
    VERIFY = "verify"  # 核查 (a failed check reopens: 返工)
    REOPEN = "reopen"  # 返工
    HOLD = "hold"  # 挂账
    RELEASE = "release"  # end of 挂账
    EXTEND = "extend"  # 延期
    RATE = "rate"  # 好差评
    MERGE = "merge"  # cancelled as a duplicate of another case


# 好差评, best first: key -> label.
@dataclass(frozen=True, slots=True)
class Change:
    """One event to append: its type (the bus topic) and data."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Context:
    """What a decision may consult: the time, the router (hierarchy, calendar, catalog) and
    the lifecycle policy. ``document`` shapes a new assignment for storage."""

    now: datetime
    router: Router
    policy: LifecyclePolicy
    document: Callable[[PlannedAssignment, str], dict[str, Any]]
    on_duty: Callable[[str, datetime], bool] = lambda responder_id, at: True


# -- what is allowed -----------------------------------------------------------------------

_CASE_ALLOWED: dict[CaseStatus, tuple[CaseAction, ...]] = {
    CaseStatus.DISPATCHED: (CaseAction.CLAIM, CaseAction.HOLD, CaseAction.EXTEND, CaseAction.MERGE),
    CaseStatus.ACKNOWLEDGED: (CaseAction.HOLD, CaseAction.EXTEND, CaseAction.MERGE),
    CaseStatus.IN_PROGRESS: (CaseAction.HOLD, CaseAction.EXTEND, CaseAction.MERGE),
    CaseStatus.RESOLVED: (CaseAction.VERIFY, CaseAction.REOPEN, CaseAction.MERGE),
    CaseStatus.VERIFIED: (CaseAction.REOPEN,),
    CaseStatus.CLOSED: (CaseAction.REOPEN, CaseAction.RATE),
    CaseStatus.RATED: (),
    CaseStatus.ON_HOLD: (CaseAction.RELEASE, CaseAction.MERGE),
    CaseStatus.CANCELLED: (),
    CaseStatus.MUTED: (CaseAction.MERGE,),
    # Placing is the operator's ``place`` (whistle.placing), not a lifecycle action; a
    # duplicate of a case already placed may be merged into it meanwhile.
    CaseStatus.UNPLACED: (CaseAction.MERGE,),
}

_ASSIGNMENT_ALLOWED: dict[AssignmentStatus, tuple[AssignmentAction, ...]] = {
    AssignmentStatus.DISPATCHED: (AssignmentAction.ACKNOWLEDGE, AssignmentAction.RETURN),
    AssignmentStatus.ACKNOWLEDGED: (
        AssignmentAction.START,
        AssignmentAction.RESOLVE,
        AssignmentAction.RETURN,
    ),
    AssignmentStatus.IN_PROGRESS: (AssignmentAction.RESOLVE,),
}


def allowed_case_actions(state: CaseState) -> list[str]:
    """The case actions its current status allows (claim only while a board is open)."""
    allowed = list(_CASE_ALLOWED[state.status])
    if CaseAction.CLAIM in allowed and not _open_board(state):
        allowed.remove(CaseAction.CLAIM)
    if CaseAction.EXTEND in allowed and state.extended:
        allowed.remove(CaseAction.EXTEND)
    return [a.value for a in allowed]


def allowed_assignment_actions(state: CaseState, assignment: AssignmentState) -> list[str]:
    """What the assignment's responder may do with it now."""
    if state.status not in ACTIVE:
        return []
    return [a.value for a in _ASSIGNMENT_ALLOWED.get(assignment.status, ())]


def _refuse(state: CaseState, action: str, why: str) -> IllegalTransition:
    return IllegalTransition(
        f"cannot {action} case {state.id} ({state.status.value}): {why}",
        status=state.status.value,
        allowed=allowed_case_actions(state),
    )


def _check_case(state: CaseState, action: CaseAction) -> None:
    if action.value not in allowed_case_actions(state):
        if action is CaseAction.EXTEND and state.extended:
            raise _refuse(state, action.value, "it was extended once already")
        raise _refuse(state, action.value, f"not allowed while {state.status.value}")


def _assignment(
    state: CaseState, assignment_id: str, action: AssignmentAction, actor: str
) -> AssignmentState:
    assignment = state.assignment(assignment_id)
    if assignment is None:
        raise KeyError(assignment_id)
    allowed = allowed_assignment_actions(state, assignment)
    if actor != assignment.responder_id and actor not in assignment.members:
        raise NotYours(
            f"assignment {assignment_id} belongs to {assignment.responder_id or 'the board'}, "
            f"not {actor}",
            status=assignment.status.value,
            allowed=allowed,
        )
    if action.value not in allowed:
        why = (
            f"case {state.id} is {state.status.value}"
            if state.status not in ACTIVE
            else f"assignment is {assignment.status.value}"
        )
        raise IllegalTransition(
            f"cannot {action.value} assignment {assignment_id}: {why}",
            status=assignment.status.value,
            allowed=allowed,
        )
    return assignment


def _required(field: str, value: str | None) -> str:
    if value is None or not value.strip():
        raise InvalidAction(field, "required")
    return value.strip()


def _open_board(state: CaseState) -> AssignmentState | None:
    for assignment in state.assignments.values():
        if assignment.mode == "claim" and assignment.status is AssignmentStatus.OPEN:
            return assignment
    return None


def _notify_owner(state: CaseState, notice: str, summary: str) -> list[dict[str, Any]]:
    owner = state.owner_assignment()
    targets = (
        [owner]
        if owner is not None
        else [
            a
            for a in state.assignments.values()
            if a.status in PENDING | {AssignmentStatus.ACKNOWLEDGED}
        ]
    )
    return [
        {
            "responder_id": a.responder_id,
            "notice": notice,
            "assignment_id": a.id,
            "summary": summary,
        }
        for a in targets
        if a is not None and a.responder_id is not None
    ]


def _holders(state: CaseState) -> set[str]:
    """Responders already on the case, or who failed it (silent past a deadline, or gave it
    back): a replacement goes to somebody new."""
    taken = PENDING | {
        AssignmentStatus.ACKNOWLEDGED,
        AssignmentStatus.IN_PROGRESS,
        AssignmentStatus.ESCALATED,
        AssignmentStatus.RETURNED,
    }
    return {
        a.responder_id
        for a in state.assignments.values()
        if a.responder_id is not None and a.status in taken
    }


def _added(
    state: CaseState,
    replaced: AssignmentState,
    planned: PlannedAssignment,
    ctx: Context,
    why: str,
    *,
    new_round: bool = False,
) -> Change:
    new_id = state.next_assignment_id()
    doc = ctx.document(planned, new_id)
    doc["status"] = AssignmentStatus.DISPATCHED.value
    doc["trace"] = [step.to_dict() for step in planned.trace]
    doc["explain"] = planned.explain()
    assert planned.responder is not None
    data: dict[str, Any] = {
        "assignment": doc,
        "replaces": replaced.id,
        "reason": planned.origin.value,
        "why": why,
        "notify": [
            {
                "responder_id": planned.responder.id,
                "notice": "escalation" if planned.origin is not Origin.REROUTE else "assignment",
                "assignment_id": new_id,
                "summary": why,
            }
        ],
    }
    if new_round:
        data["new_round"] = True
        data["resolve_due"] = planned.resolve_due.isoformat()
    return Change("assignment.added", data)
