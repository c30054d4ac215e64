"""The responder's actions on its own assignment: 报到, start, 反馈 and 退单; and 认领.

Pure decisions in the lifecycle's ``(state, ..., ctx) -> changes`` form (see
``dispatch.lifecycle``): each checks that the action fits the state and the actor, and
returns the events to append.
"""

from __future__ import annotations

from dispatch.case import CaseState
from dispatch.exceptions import IllegalTransition, NotYours
from dispatch.teams import Team
from dispatch.transitions import (
    AssignmentAction,
    CaseAction,
    Change,
    Context,
    _assignment,
    _check_case,
    _open_board,
    _required,
    allowed_assignment_actions,
    allowed_case_actions,
)

__all__ = [
    "acknowledge",
    "claim",
    "resolve",
    "return_assignment",
    "start",
]


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
