"""The operators' decisions (调度台): 挂账 and its end, 延期, 合并, 改派 and the 退单 review.

Pure decisions like the rest of the lifecycle. A move an operator makes (改派, an accepted or
refused 退单) goes straight to the responder named, with no climb, and buys no time: the new
assignment keeps the case's resolution deadline.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from dispatch.case import ACTIVE, PENDING, AssignmentState, AssignmentStatus, CaseState, CaseStatus
from dispatch.decision import PlannedAssignment, TraceStep
from dispatch.durations import Duration
from dispatch.escalation import working_round
from dispatch.exceptions import IllegalTransition, InvalidAction
from dispatch.model import Mode, Origin, StepResult, Urgency
from dispatch.transitions import (
    CaseAction,
    Change,
    Context,
    _added,
    _check_case,
    _required,
)
from grids.model import Responder, ResponderKind

__all__ = [
    "accept_return",
    "extend",
    "hold",
    "merge",
    "reassign",
    "record_merge",
    "refuse_return",
    "release",
]


def hold(state: CaseState, actor: str, ctx: Context, *, reason: str | None) -> list[Change]:
    """挂账: the case waits on something outside the responders' hands; the clock stops."""
    _check_case(state, CaseAction.HOLD)
    return [Change("case.held", {"by": actor, "reason": _required("reason", reason)})]


def release(state: CaseState, actor: str, ctx: Context) -> list[Change]:
    """The hold ends; every running deadline moves on by the time spent on hold."""
    _check_case(state, CaseAction.RELEASE)
    assert state.held_since is not None
    shift = max(timedelta(0), ctx.now - state.held_since)
    data: dict[str, Any] = {"by": actor, "shift_seconds": shift.total_seconds()}
    if state.resolve_due is not None and working_round(state, ctx.router):
        # A working-time limit stood still only for the working time the hold took: a hold
        # from Friday evening to Sunday moves it by nothing.
        calendar = ctx.router.calendar
        worked = calendar.working_time(state.held_since, ctx.now)
        data["working_shift_seconds"] = worked.total_seconds()
        data["resolve_due"] = calendar.add_working(state.resolve_due, worked).isoformat()
        started = state.round_started or state.received_at
        if started is not None:
            data["round_started"] = calendar.add_working(started, worked).isoformat()
    return [Change("case.released", data)]


def extend(
    state: CaseState, actor: str, ctx: Context, *, reason: str | None, duration: str | None
) -> list[Change]:
    """延期, once, by at most the policy's ``extension_max``."""
    _check_case(state, CaseAction.EXTEND)
    why = _required("reason", reason)
    try:
        by = Duration.parse(_required("duration", duration))
    except ValueError as exc:
        raise InvalidAction("duration", str(exc)) from None
    base = state.resolve_due or ctx.now
    calendar = ctx.router.calendar
    new_due = calendar.add(base, by)
    if new_due > calendar.add(base, ctx.policy.extension_max):
        raise InvalidAction("duration", f"at most {ctx.policy.extension_max}")
    return [
        Change(
            "case.extended",
            {"by": actor, "reason": why, "duration": str(by), "resolve_due": new_due.isoformat()},
        )
    ]


def merge(state: CaseState, actor: str, ctx: Context, *, into: str | None) -> list[Change]:
    """Cancel this case as a duplicate of ``into`` (the caller checks that case exists)."""
    _check_case(state, CaseAction.MERGE)
    target = _required("into", into)
    if target == state.id:
        raise InvalidAction("into", "a case cannot be merged into itself")
    return [Change("case.merged", {"by": actor, "into": target})]


def record_merge(target: CaseState, duplicate: CaseState, actor: str) -> list[Change]:
    """What the case ``duplicate`` is merged into keeps of it: its number, who merged it,
    and what it said (written with the merge, in one transaction). A case that was itself
    merged away takes no more duplicates."""
    if target.status is CaseStatus.CANCELLED:
        raise InvalidAction("into", f"whistle {target.id} was itself merged into another")
    if target.id == duplicate.id:
        raise InvalidAction("into", "a case cannot be merged into itself")
    return [
        Change(
            "case.duplicate_merged",
            {
                "whistle": duplicate.id,
                "by": actor,
                "source": duplicate.source,
                "category": duplicate.category,
                "description": duplicate.description,
                "reporter": duplicate.reporter,
                "received_at": None
                if duplicate.received_at is None
                else duplicate.received_at.isoformat(),
            },
        )
    ]


# -- operator decisions on assignments (调度台) ---------------------------------------------

# Assignments still in someone's hands (or on a board): the ones an operator may move.
_LIVE = PENDING | {AssignmentStatus.ACKNOWLEDGED, AssignmentStatus.IN_PROGRESS}
_REVIEW_ACTIONS = ["accept-return", "refuse-return"]


def reassign(
    state: CaseState,
    assignment_id: str,
    actor: str,
    ctx: Context,
    *,
    responder_id: str | None,
    reason: str | None,
) -> list[Change]:
    """改派: an operator moves a live assignment to another named responder, who must exist
    and handle the case's category. The new assignment replaces the old one
    (``assignment.added`` with reason ``reassign``) and must be acknowledged again."""
    assignment = state.assignment(assignment_id)
    if assignment is None:
        raise KeyError(assignment_id)
    if state.status not in ACTIVE or assignment.status not in _LIVE:
        why = (
            f"case {state.id} is {state.status.value}"
            if state.status not in ACTIVE
            else f"assignment is {assignment.status.value}"
        )
        raise IllegalTransition(
            f"cannot reassign assignment {assignment_id}: {why}",
            status=assignment.status.value,
            allowed=[],
        )
    why = _required("reason", reason)
    responder = _new_holder(
        state, ctx, responder_id, assignment, held=f"already holds assignment {assignment_id}"
    )
    note = f"reassigned by {actor}: {why}"
    planned = _direct(state, responder, responder.grid, responder.kind, ctx, note)
    return [_by_operator(_added(state, assignment, planned, ctx, note), "reassign")]


def _new_holder(
    state: CaseState,
    ctx: Context,
    responder_id: str | None,
    assignment: AssignmentState,
    *,
    held: str,
) -> Responder:
    """The responder an operator moves ``assignment`` to (改派, or an accepted 退单): known,
    handling the case's category, not its holder now (``held`` says why not) and not already
    on the case."""
    target_id = _required("responder", responder_id)
    responder = ctx.router.hierarchy.responder(target_id)
    if responder is None:
        raise InvalidAction("responder", f"unknown responder {target_id!r}")
    if not responder.handles(state.category):
        raise InvalidAction("responder", f"{target_id} does not handle category {state.category}")
    if target_id == assignment.responder_id:
        raise InvalidAction("responder", f"{target_id} {held}")
    if any(a.responder_id == target_id and a.status in _LIVE for a in state.assignments.values()):
        raise InvalidAction("responder", f"{target_id} is already on case {state.id}")
    return responder


def _reviewable(state: CaseState, assignment_id: str, action: str) -> AssignmentState:
    """A returned assignment whose return (退单) no operator has reviewed yet."""
    assignment = state.assignment(assignment_id)
    if assignment is None:
        raise KeyError(assignment_id)
    if assignment.status is not AssignmentStatus.RETURNED:
        raise IllegalTransition(
            f"cannot {action} assignment {assignment_id}: it is {assignment.status.value}, "
            "not returned",
            status=assignment.status.value,
            allowed=[],
        )
    if assignment.return_review != "pending":
        raise IllegalTransition(
            f"cannot {action} assignment {assignment_id}: its return was already "
            f"{assignment.return_review}",
            status=assignment.status.value,
            allowed=[],
        )
    return assignment


def accept_return(
    state: CaseState,
    assignment_id: str,
    actor: str,
    ctx: Context,
    *,
    responder_id: str | None,
    note: str | None = None,
) -> list[Change]:
    """The dispatcher agrees with the return (退单) and reassigns the slot to the responder
    it names, who must exist, handle the case's category and not be on the case already."""
    assignment = _reviewable(state, assignment_id, "accept the return of")
    _check_decidable(state, assignment, "accept the return of")
    responder = _new_holder(
        state, ctx, responder_id, assignment, held="returned it; refuse the return instead"
    )
    reroute = _legacy_reroute(state, assignment)
    why = f"return accepted by {actor}" + (f": {note}" if note else "")
    planned = _direct(state, responder, responder.grid, responder.kind, ctx, why)
    return [
        Change(
            "assignment.return_accepted",
            {
                "assignment": assignment_id,
                "responder_id": assignment.responder_id,
                "by": actor,
                "note": note,
                "reassigned_to": responder.id,
                "reroute": assignment.replaced_by,
            },
        ),
        _by_operator(_added(state, reroute or assignment, planned, ctx, why), "reassign"),
    ]


def refuse_return(
    state: CaseState, assignment_id: str, actor: str, ctx: Context, *, reason: str | None
) -> list[Change]:
    """The dispatcher refuses the return (退单 驳回), with a reason: the responder who
    returned the case gets it back as a new assignment and must report in again."""
    assignment = _reviewable(state, assignment_id, "refuse the return of")
    why = _required("reason", reason)
    _check_decidable(state, assignment, "refuse the return of")
    reroute = _legacy_reroute(state, assignment)
    responder = ctx.router.hierarchy.responder(assignment.responder_id or "")
    if responder is None:
        raise IllegalTransition(
            f"assignment {assignment_id} names no known responder to give it back to",
            status=assignment.status.value,
            allowed=["accept-return"],
        )
    if any(
        a.responder_id == responder.id and a.status in _LIVE for a in state.assignments.values()
    ):
        raise IllegalTransition(
            f"{responder.id} is already on case {state.id} again",
            status=assignment.status.value,
            allowed=["accept-return"],
        )
    note = f"return refused by {actor}: {why}"
    planned = _direct(state, responder, assignment.cell, ResponderKind(assignment.kind), ctx, note)
    back = _added(state, reroute or assignment, planned, ctx, note)
    return [
        Change(
            "assignment.return_refused",
            {
                "assignment": assignment_id,
                "responder_id": responder.id,
                "by": actor,
                "reason": why,
                "reroute": assignment.replaced_by,
            },
        ),
        _by_operator(back, "return_refused"),
    ]


def _check_decidable(state: CaseState, assignment: AssignmentState, action: str) -> None:
    if state.status not in ACTIVE:
        raise IllegalTransition(
            f"cannot {action} assignment {assignment.id}: case {state.id} is {state.status.value}",
            status=assignment.status.value,
            allowed=[],
        )


def _legacy_reroute(state: CaseState, assignment: AssignmentState) -> AssignmentState | None:
    """The automatic re-route a return got before returns waited for the dispatcher (cases
    returned by an older version); the decision replaces it while it is still live."""
    reroute = state.assignment(assignment.replaced_by or "")
    if reroute is not None and reroute.status not in _LIVE:
        raise IllegalTransition(
            f"cannot decide on the return of assignment {assignment.id}: its re-route "
            f"{reroute.id} is already {reroute.status.value}",
            status=assignment.status.value,
            allowed=[],
        )
    return reroute


def _direct(
    state: CaseState,
    responder: Responder,
    cell_code: str,
    kind: ResponderKind,
    ctx: Context,
    why: str,
) -> PlannedAssignment:
    """A push to a responder an operator named: no climb, the default report-in limit, and
    the case's current resolution deadline (an operator's move does not buy time)."""
    router = ctx.router
    cell = router.hierarchy.cell(cell_code)
    urgency = Urgency(state.urgency)
    options = router.rules.defaults
    add = router.calendar.add
    acknowledge_due = min(
        add(ctx.now, options.acknowledge(urgency)), add(ctx.now, options.acknowledge_cap)
    )
    return PlannedAssignment(
        kind=kind,
        mode=Mode.PUSH,
        responder=responder,
        cell=cell.code,
        level=cell.level,
        # REROUTE makes the notice an ordinary assignment, not an escalation.
        origin=Origin.REROUTE,
        rule_id="operator",
        report_index=0,
        acknowledge_due=acknowledge_due,
        claim_due=None,
        resolve_due=state.resolve_due or ctx.now,
        trace=(TraceStep(cell.code, cell.level, StepResult.CHOSEN, responder.id, why),),
        needed_by=why,
    )


def _by_operator(change: Change, reason: str) -> Change:
    """``change`` (an ``assignment.added``) marked as an operator's ``reason``."""
    data = dict(change.data)
    data["reason"] = reason
    data["assignment"] = {**data["assignment"], "origin": reason}
    return Change(change.type, data)
