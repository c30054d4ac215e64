"""Deadlines and what happens when one passes: 催办, 督办, AB岗, 值班 and the climb.

:func:`deadlines` says which deadlines should be pending for a state, and :func:`on_deadline`
what happens when one passes: an unacknowledged push goes to the A post's B post once (AB岗;
off duty, the duty person of the level, 值班), then up the ladder the rules name
(``[kind.<kind>].escalate``: the 1+1 pair to the 网格长, the 社区民警 to the 派出所), until the
county backstop; an unclaimed need is pushed to the grid worker; an undecided 退单 is
supervised by the level above; an unresolved case is urged (催办) before its deadline,
supervised (督办) at it, and escalated a while after.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

from dispatch.calendar import WorkCalendar
from dispatch.case import ACTIVE, AssignmentState, AssignmentStatus, CaseState
from dispatch.decision import PlannedAssignment
from dispatch.durations import Duration
from dispatch.exceptions import CalendarEndError
from dispatch.model import Origin, Urgency
from dispatch.policy import LifecyclePolicy
from dispatch.router import Router
from dispatch.transitions import (
    Change,
    Context,
    _added,
    _holders,
    _notify_owner,
)
from grids.model import ResponderKind

__all__ = [
    "deadlines",
    "on_deadline",
    "working_round",
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
