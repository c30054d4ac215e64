"""The closed loop: which actions a case allows, and the events each one appends.

Pure decisions over a folded :class:`~dispatch.case.CaseState`: every function takes the
state and a :class:`Context` (the time, the router, the policy) and returns the events to
append, or raises :class:`IllegalTransition` (the action does not fit the case's state; the
API answers 409 with the state and what is allowed) or :class:`InvalidAction` (a bad
argument; 422). Nothing here writes; the caller appends the events and folds them in.

Deadlines work the same way: :func:`deadlines` says which should be pending for a state, and
:func:`on_deadline` what happens when one passes: an unacknowledged push goes to the A post's
B post once (AB岗; off duty, the duty person of the level, 值班), then up the ladder the rules
name (``[kind.<kind>].escalate``: the 1+1 pair to the 网格长, the 社区民警 to the 派出所), until
the county backstop; an unclaimed need is pushed to the grid worker; an unresolved case is
urged (催办) before its deadline, supervised (督办) at it, and escalated a while after.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from dispatch.calendar import CalendarEndError, WorkCalendar
from dispatch.case import ACTIVE, PENDING, AssignmentState, AssignmentStatus, CaseState, CaseStatus
from dispatch.decision import PlannedAssignment, TraceStep
from dispatch.durations import Duration
from dispatch.model import Mode, Origin, StepResult, Urgency
from dispatch.policy import LifecyclePolicy
from dispatch.router import Router
from dispatch.teams import Team
from grids.model import Responder, ResponderKind

__all__ = [
    "BAD_GRADES",
    "GRADES",
    "AssignmentAction",
    "CaseAction",
    "Change",
    "Context",
    "IllegalTransition",
    "InvalidAction",
    "NotYours",
    "accept_return",
    "allowed_assignment_actions",
    "allowed_case_actions",
    "deadlines",
    "on_deadline",
    "reassign",
    "record_merge",
    "refuse_return",
    "working_round",
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
GRADES = {
    "very_satisfied": "非常满意",
    "satisfied": "满意",
    "basically_satisfied": "基本满意",
    "dissatisfied": "不满意",
    "very_dissatisfied": "非常不满意",
}
_GRADE_BY_LABEL = {label: key for key, label in GRADES.items()}
# 差评: a rating that opens a rectification (整改).
BAD_GRADES = frozenset({"dissatisfied", "very_dissatisfied"})


@dataclass(frozen=True, slots=True)
class Change:
    """One event to append: its type (the bus topic) and data."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)


class IllegalTransition(Exception):
    """The action does not fit the case's current state (HTTP 409)."""

    def __init__(self, message: str, *, status: str, allowed: list[str]) -> None:
        self.status = status
        self.allowed = allowed
        super().__init__(message)


class NotYours(IllegalTransition):
    """The actor is not the assignment's responder (nor in the team that claimed it)."""


class InvalidAction(Exception):
    """An argument of the action is wrong (HTTP 422): ``field`` says which."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


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


# -- assignment actions --------------------------------------------------------------------


def acknowledge(state: CaseState, assignment_id: str, actor: str, ctx: Context) -> list[Change]:
    """The responder reports in (报到); the first to do so owns the case (首问负责)."""
    _assignment(state, assignment_id, AssignmentAction.ACKNOWLEDGE, actor)
    return [
        Change(
            "assignment.acknowledged",
            {"assignment": assignment_id, "responder_id": actor, "owner": state.owner is None},
        )
    ]


def start(state: CaseState, assignment_id: str, actor: str, ctx: Context) -> list[Change]:
    _assignment(state, assignment_id, AssignmentAction.START, actor)
    return [Change("assignment.started", {"assignment": assignment_id, "responder_id": actor})]


def resolve(
    state: CaseState,
    assignment_id: str,
    actor: str,
    ctx: Context,
    *,
    note: str | None,
    photos: list[str],
) -> list[Change]:
    """The responder reports the work done (反馈), with a note and optional photos."""
    _assignment(state, assignment_id, AssignmentAction.RESOLVE, actor)
    return [
        Change(
            "assignment.resolved",
            {
                "assignment": assignment_id,
                "responder_id": actor,
                "note": _required("note", note),
                "photos": photos,
            },
        )
    ]


def return_assignment(
    state: CaseState, assignment_id: str, actor: str, ctx: Context, *, reason: str | None
) -> list[Change]:
    """A wrongly assigned responder gives the case back (退单) within the window, with a
    reason. It goes to the dispatcher's queue for a decision (reassign, or refuse): nothing
    is re-routed by itself, so a return never lands on the county backstop."""
    assignment = _assignment(state, assignment_id, AssignmentAction.RETURN, actor)
    why = _required("reason", reason)
    deadline = ctx.router.calendar.add(assignment.assigned_at, ctx.policy.return_window)
    if ctx.now > deadline:
        raise IllegalTransition(
            f"the return window of assignment {assignment_id} closed at {deadline.isoformat()}",
            status=assignment.status.value,
            allowed=[a for a in allowed_assignment_actions(state, assignment) if a != "return"],
        )
    decide_by = ctx.router.calendar.add(ctx.now, ctx.policy.return_decision)
    return [
        Change(
            "assignment.returned",
            {
                "assignment": assignment_id,
                "responder_id": actor,
                "reason": why,
                "decide_by": decide_by.isoformat(),
            },
        )
    ]


# -- case actions --------------------------------------------------------------------------


def _open_board(state: CaseState) -> AssignmentState | None:
    for assignment in state.assignments.values():
        if assignment.mode == "claim" and assignment.status is AssignmentStatus.OPEN:
            return assignment
    return None


def claim(
    state: CaseState,
    actor: str,
    ctx: Context,
    *,
    team: Team | None = None,
) -> list[Change]:
    """A registered party member claims the need (认领), or a service team does (组团认领).

    A member claims alone only from the board of its community (``eligible``). A team claims
    only from its own community's board, and the actor must be one of its members: a team
    of another community, even a neighbour in the same town, may not (NotYours: 403).
    """
    _check_case(state, CaseAction.CLAIM)
    board = _open_board(state)
    assert board is not None  # allowed_case_actions checked it
    if team is None:
        if actor not in board.eligible:
            raise IllegalTransition(
                f"{actor} is not a registered party member of community {board.cell}",
                status=state.status.value,
                allowed=allowed_case_actions(state),
            )
        members: tuple[str, ...] = (actor,)
    elif team.community != board.cell:
        raise NotYours(
            f"team {team.id} is registered with community {team.community}, "
            f"not {board.cell}, whose board holds this need",
            status=state.status.value,
            allowed=allowed_case_actions(state),
        )
    elif actor not in team.members:
        raise IllegalTransition(
            f"{actor} is not a member of team {team.id}",
            status=state.status.value,
            allowed=allowed_case_actions(state),
        )
    else:
        members = team.members
    return [
        Change(
            "assignment.claimed",
            {
                "assignment": board.id,
                "responder_id": actor,
                "team": None if team is None else team.id,
                "members": list(members),
            },
        )
    ]


def verify(
    state: CaseState, actor: str, ctx: Context, *, passed: bool, note: str | None
) -> list[Change]:
    """核查 by the grid worker or community: passed closes the case (结案); failed sends it
    back for rework (返工)."""
    _check_case(state, CaseAction.VERIFY)
    resolution = state.resolution or {}
    if actor == resolution.get("responder_id"):
        raise IllegalTransition(
            f"{actor} resolved case {state.id} and cannot verify their own work",
            status=state.status.value,
            allowed=allowed_case_actions(state),
        )
    if not passed:
        return _reopen(state, actor, ctx, _required("note", note), verified=True)
    closed: dict[str, Any] = {"by": actor, "on_time": _on_time(state, ctx.now)}
    if state.rectification is not None and state.rectification["done_at"] is None:
        closed["rectification"] = True  # closes the 整改; the first closure stays as it was
    return [
        Change("case.verified", {"by": actor, "note": note}),
        Change("case.closed", closed),
    ]


def _on_time(state: CaseState, now: datetime) -> bool | None:
    resolved_at = (state.resolution or {}).get("at")
    if state.resolve_due is None or resolved_at is None:
        return None
    return datetime.fromisoformat(resolved_at) <= state.resolve_due


def reopen(state: CaseState, actor: str, ctx: Context, *, reason: str | None) -> list[Change]:
    """返工: the work was not good enough; the owner takes it up again with a new limit."""
    _check_case(state, CaseAction.REOPEN)
    return _reopen(state, actor, ctx, _required("reason", reason), verified=False)


def _reopen(
    state: CaseState, actor: str, ctx: Context, reason: str, *, verified: bool
) -> list[Change]:
    category = ctx.router.catalog.get(state.category)
    limit = category.limit if category is not None else Duration.parse("7d")
    due = ctx.router.calendar.add(ctx.now, limit)
    return [
        Change(
            "case.reopened",
            {
                "by": actor,
                "reason": reason,
                "failed_verification": verified,
                "resolve_due": due.isoformat(),
                "notify": _notify_owner(state, "urge", f"返工: {reason}"),
            },
        )
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


def rate(
    state: CaseState, actor: str, ctx: Context, *, grade: str | None, comment: str | None
) -> list[Change]:
    """好差评, after the case is closed (again after a rectification); 不满意 and 非常不满意
    open a rectification (整改) for the owner."""
    _check_case(state, CaseAction.RATE)
    key = _required("grade", grade)
    key = _GRADE_BY_LABEL.get(key, key)
    if key not in GRADES:
        raise InvalidAction(
            "grade", f"unknown grade {grade!r}; expected one of {', '.join(GRADES)}"
        )
    changes = [Change("case.rated", {"by": actor, "grade": key, "comment": comment})]
    if key in BAD_GRADES:
        changes.append(_rectification(state, key, ctx))
    return changes


def _rectification(state: CaseState, grade: str, ctx: Context) -> Change:
    """差评整改: a bad rating is not the end. The case's owner rectifies (整改) within the
    policy's ``rectify_within``; the work is reported and verified again like any other."""
    limit = ctx.policy.rectify_within
    due = ctx.router.calendar.add(ctx.now, limit)
    owner = state.owner_assignment()
    return Change(
        "case.rectification_opened",
        {
            "grade": grade,
            "duration": str(limit),
            "resolve_due": due.isoformat(),
            "owner": None if owner is None else owner.id,
            "notify": _notify_owner(state, "urge", f"差评整改: {GRADES[grade]}"),
        },
    )


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


# -- deadlines -----------------------------------------------------------------------------


def deadlines(state: CaseState, router: Router, policy: LifecyclePolicy) -> dict[str, datetime]:
    """The deadlines that should be pending for ``state``, by key.

    Keys name what they guard, so a firing can be checked against the state it meets:
    ``<assignment>:acknowledge``, ``<assignment>:claim``, ``<assignment>:return`` (the
    dispatcher's decision on a return), and per resolution round
    ``urge:<n>``, ``supervise:<n>``, ``escalate:<n>``. A case on hold, finished or cancelled
    has none.
    """
    if state.status not in ACTIVE:
        return {}
    try:
        return _deadlines(state, router, policy, router.calendar)
    except CalendarEndError:
        # Derived from deadlines already set (which failed loudly where they were set):
        # past the calendar's end only weekends are days off.
        return _deadlines(state, router, policy, router.calendar.extrapolated())


def _deadlines(
    state: CaseState, router: Router, policy: LifecyclePolicy, calendar: WorkCalendar
) -> dict[str, datetime]:
    due: dict[str, datetime] = {}
    for assignment in state.assignments.values():
        if assignment.overdue:
            continue
        if assignment.status is AssignmentStatus.DISPATCHED and assignment.acknowledge_due:
            due[f"{assignment.id}:acknowledge"] = assignment.acknowledge_due
        elif assignment.status is AssignmentStatus.OPEN and assignment.claim_due:
            due[f"{assignment.id}:claim"] = assignment.claim_due
        elif (
            assignment.awaits_decision
            and assignment.return_due is not None
            and not assignment.return_escalated
        ):
            due[f"{assignment.id}:return"] = assignment.return_due
    if state.resolve_due is not None and not state.stalled:
        n = state.round
        started = state.round_started or state.received_at or state.resolve_due
        if not state.urged and state.resolve_due > started:
            due[f"urge:{n}"] = _urge_due(
                state, started, state.resolve_due, router, policy, calendar
            )
        if not state.supervised:
            due[f"supervise:{n}"] = state.resolve_due
        due[f"escalate:{n}"] = calendar.add(state.resolve_due, policy.escalate_after)
    return due


def working_round(state: CaseState, router: Router) -> bool:
    """True when the current resolution round's limit is in working time (工作时/工作日):
    an extension's own duration for an extended round, else the category's limit."""
    if state.round_working is not None:
        return state.round_working
    category = router.catalog.get(state.category)
    return category is not None and category.limit.is_working


def _urge_due(
    state: CaseState,
    started: datetime,
    resolve_due: datetime,
    router: Router,
    policy: LifecyclePolicy,
    calendar: WorkCalendar,
) -> datetime:
    """催办 once ``urge_at`` of the round's time has passed: of its working time when the
    limit is in working time (never on a Sunday evening), else of its wall time."""
    if working_round(state, router):
        worked = calendar.working_time(started, resolve_due)
        if worked > timedelta(0):
            return calendar.add_working(started, worked * policy.urge_at)
    return started + (resolve_due - started) * policy.urge_at


def on_deadline(state: CaseState, key: str, ctx: Context) -> list[Change]:
    """What happens when deadline ``key`` passes. Empty when the state no longer has it
    pending (acknowledged meanwhile, claimed, resolved, held ...): a stale timer is a no-op."""
    pending = deadlines(state, ctx.router, ctx.policy)
    if key not in pending or pending[key] > ctx.now:
        return []
    head, _, tail = key.partition(":")
    if tail == "acknowledge":
        return _missed_acknowledgement(state, state.assignments[head], ctx)
    if tail == "claim":
        return _unclaimed(state, state.assignments[head], ctx)
    if tail == "return":
        return _undecided_return(state, state.assignments[head], ctx)
    if head == "urge":
        return [
            Change(
                "case.urged",
                {"round": state.round, "notify": _notify_owner(state, "urge", "催办")},
            )
        ]
    if head == "supervise":
        return _supervise(state, ctx)
    if head == "escalate":
        return _escalate_resolution(state, ctx)
    raise ValueError(f"unknown deadline {key!r}")


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


def _replace(
    state: CaseState,
    assignment: AssignmentState,
    ctx: Context,
    *,
    start: str,
    origin: Origin,
    why: str,
    kind: str | None = None,
    exclude_extra: tuple[str, ...] = (),
    new_round: bool = False,
    other_holders: bool = True,
) -> Change | None:
    """A new push assignment replacing ``assignment``, found climbing from cell ``start``;
    None when only the backstop could take it and it already had it. ``other_holders``
    False lets a responder already on the case take this slot too (the 网格长 takes the
    missed pushes of both the 报到党员 and the 无职党员)."""
    tried = set(assignment.tried)
    if assignment.responder_id:
        tried.add(assignment.responder_id)
    exclude = tried | set(exclude_extra)
    if other_holders:
        exclude |= _holders(state)
    router = ctx.router
    category = router.catalog.get(state.category)
    resolve_due = state.resolve_due or ctx.now
    if new_round:
        limit = category.limit if category is not None else Duration.parse("7d")
        resolve_due = router.calendar.add(ctx.now, limit)
    wanted = ResponderKind(kind or assignment.kind)
    # An off-duty pick is covered by its B post or the duty person of its level (值班); when
    # neither is on duty it is passed over for the next one up. The backstop is always on duty.
    while True:
        planned = router.reassign(
            kind=wanted,
            start=start,
            category=state.category,
            urgency=Urgency(state.urgency),
            at=ctx.now,
            resolve_due=resolve_due,
            exclude=exclude,
            origin=origin,
            why=why,
            tried=tried,
        )
        if (
            planned is None
            or planned.responder is None
            or planned.origin is Origin.BACKSTOP
            or ctx.on_duty(planned.responder.id, ctx.now)
        ):
            break
        off_duty = planned.responder.id
        cover = _cover(state, off_duty, exclude, resolve_due, ctx, why)
        if cover is not None:
            # A return's replacement stays a re-route (an ordinary assignment notice).
            keep = origin is Origin.REROUTE
            planned = dataclasses.replace(cover, origin=origin) if keep else cover
            break
        exclude.add(off_duty)
    if planned is None:
        return None
    return _added(state, assignment, planned, ctx, why, new_round=new_round)


def _cover(
    state: CaseState,
    responder_id: str,
    exclude: set[str],
    resolve_due: datetime,
    ctx: Context,
    why: str,
) -> PlannedAssignment | None:
    """Who covers for an off-duty ``responder_id``: its B post when on duty, else the duty
    person of its level (值班); None when neither may take the case."""
    router = ctx.router
    urgency = Urgency(state.urgency)
    backup = router.backup_of(
        responder_id,
        category=state.category,
        urgency=urgency,
        at=ctx.now,
        resolve_due=resolve_due,
        exclude=exclude,
        why=why,
    )
    if (
        backup is not None
        and backup.responder is not None
        and ctx.on_duty(backup.responder.id, ctx.now)
    ):
        return backup
    return router.duty_cover(
        responder_id,
        category=state.category,
        urgency=urgency,
        at=ctx.now,
        resolve_due=resolve_due,
        exclude=exclude,
        on_duty=ctx.on_duty,
        why=why,
    )


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


def _missed_acknowledgement(
    state: CaseState, assignment: AssignmentState, ctx: Context
) -> list[Change]:
    """Silent past the deadline. The B post (AB岗) is one step, taken only from the A post:
    the A post's B post when it may take the case (or, off duty, the duty person of the level
    who covers for it, 值班). After that the case climbs: to the kind rules.toml's
    ``[kind.<kind>].escalate`` names, found from the assignment's own cell (the 1+1 pair's
    网格长, the 社区民警's 派出所), else to the same kind one level up; the county backstop
    last. Past the backstop nothing escalates: the case is marked overdue."""
    why = f"{assignment.responder_id} did not report in by {assignment.acknowledge_due}"
    router = ctx.router
    responder = router.hierarchy.responder(assignment.responder_id or "")
    kind = ResponderKind(assignment.kind)
    if responder is not None and responder.kind is ResponderKind.BACKSTOP:
        return [_overdue(assignment, why)]
    # An assignment that is already a B post, a duty person or the backstop has had its one
    # sideways step: going on to the B post's own B post would walk across the communities.
    if responder is not None and assignment.origin not in _COVERING:
        exclude = set(assignment.tried) | {responder.id} | _holders(state)
        resolve_due = state.resolve_due or ctx.now
        urgency = Urgency(state.urgency)
        backup = router.backup_of(
            responder.id,
            category=state.category,
            urgency=urgency,
            at=ctx.now,
            resolve_due=resolve_due,
            exclude=exclude,
            why=why,
        )
        if backup is not None and backup.responder is not None:
            if not ctx.on_duty(backup.responder.id, ctx.now):
                # The B post is off duty: the duty person of the level stands in for it.
                backup = router.duty_cover(
                    responder.id,
                    category=state.category,
                    urgency=urgency,
                    at=ctx.now,
                    resolve_due=resolve_due,
                    exclude=exclude,
                    on_duty=ctx.on_duty,
                    why=why,
                )
            if backup is not None:
                return [_added(state, assignment, backup, ctx, why)]
    target = router.rules.escalation_kind(kind)
    if target is kind:
        start = router.hierarchy.cell(assignment.cell).parent or assignment.cell
    else:
        start = assignment.cell
    # Escalating to another kind (the next step of the ladder) may find a responder who
    # already holds another slot of the case; that is the one the town sends it to.
    change = _replace(
        state,
        assignment,
        ctx,
        start=start,
        origin=Origin.ESCALATION,
        why=why,
        kind=target.value,
        other_holders=target is kind,
    )
    if change is not None:
        return [change]
    return [_overdue(assignment, why)]


_COVERING = frozenset({Origin.BACKUP.value, Origin.DUTY.value, Origin.BACKSTOP.value})


def _overdue(assignment: AssignmentState, why: str) -> Change:
    return Change(
        "case.overdue",
        {
            "assignment": assignment.id,
            "why": why,
            "notify": [
                {
                    "responder_id": assignment.responder_id,
                    "notice": "urge",
                    "assignment_id": assignment.id,
                    "summary": "兜底: " + why,
                }
            ]
            if assignment.responder_id
            else [],
        },
    )


def _unclaimed(state: CaseState, board: AssignmentState, ctx: Context) -> list[Change]:
    """Nobody claimed the need in time: push it to the grid worker (the grid's 报到党员)."""
    why = f"nobody claimed it on the board of {board.cell} by {board.claim_due}"
    change = _replace(
        state,
        board,
        ctx,
        start=state.grid,
        origin=Origin.UNCLAIMED,
        why=why,
        kind=ResponderKind.REGISTERED_MEMBER.value,
    )
    return [change] if change is not None else []


def _active_assignment(state: CaseState) -> AssignmentState | None:
    owner = state.owner_assignment()
    if owner is not None:
        return owner
    for assignment in state.assignments.values():
        if assignment.status in (AssignmentStatus.DISPATCHED, AssignmentStatus.ACKNOWLEDGED):
            return assignment
    return None


def _supervise(state: CaseState, ctx: Context) -> list[Change]:
    """督办 at the deadline: the level above the assignment is told, and so is the owner."""
    assignment = _active_assignment(state)
    notify = _notify_owner(state, "supervise", "督办: 已超过办结时限")
    level = None
    if assignment is not None:
        parent = ctx.router.hierarchy.cell(assignment.cell).parent
        level = parent
        if parent is not None:
            exclude = set(assignment.tried) | {assignment.responder_id or ""}
            notify += _supervisor(state, assignment, ctx, parent, exclude, f"督办 {state.id}")
    return [Change("case.supervised", {"round": state.round, "by_cell": level, "notify": notify})]


def _supervisor(
    state: CaseState,
    assignment: AssignmentState,
    ctx: Context,
    parent: str,
    exclude: set[str],
    summary: str,
) -> list[dict[str, Any]]:
    """The supervise (督办) notice for the responder of ``assignment``'s kind at ``parent``
    or above, when there is one; nothing is reassigned."""
    above = ctx.router.reassign(
        kind=ResponderKind(assignment.kind),
        start=parent,
        category=state.category,
        urgency=Urgency(state.urgency),
        at=ctx.now,
        resolve_due=state.resolve_due or ctx.now,
        exclude=exclude,
        origin=Origin.ESCALATION,
        why="督办",
    )
    if above is None or above.responder is None:
        return []
    return [
        {
            "responder_id": above.responder.id,
            "notice": "supervise",
            "assignment_id": assignment.id,
            "summary": summary,
        }
    ]


def _undecided_return(state: CaseState, assignment: AssignmentState, ctx: Context) -> list[Change]:
    """Nobody decided on a return (退单) in time: supervised (督办) by the level above, like
    any missed deadline. The responder of the returned kind one level up is told, and the
    case shows as overdue in the dispatcher's queue until someone decides."""
    why = f"nobody decided on the return of {assignment.id} by {assignment.return_due}"
    parent = ctx.router.hierarchy.cell(assignment.cell).parent
    notify: list[dict[str, Any]] = []
    if parent is not None:
        exclude = {assignment.responder_id or ""}
        notify += _supervisor(state, assignment, ctx, parent, exclude, f"督办: 退单待定 {state.id}")
    return [
        Change(
            "assignment.return_overdue",
            {"assignment": assignment.id, "by_cell": parent, "why": why, "notify": notify},
        )
    ]


def _escalate_resolution(state: CaseState, ctx: Context) -> list[Change]:
    """Still unresolved well after the deadline: one level up takes it, with a new limit."""
    assignment = _active_assignment(state)
    why = f"case {state.id} not resolved by {state.resolve_due}"
    if assignment is not None:
        parent = ctx.router.hierarchy.cell(assignment.cell).parent or assignment.cell
        change = _replace(
            state, assignment, ctx, start=parent, origin=Origin.ESCALATION, why=why, new_round=True
        )
        if change is not None:
            return [change]
    return [Change("case.overdue", {"round": state.round, "why": why, "notify": []})]


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
