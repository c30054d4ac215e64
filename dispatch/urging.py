"""催办 and 督办 by hand: an operator urges or supervises a case, with a note.

The deadline timer urges (催办) at ``urge_at`` of a round and supervises (督办) at its limit
(:func:`dispatch.lifecycle.on_deadline`). An operator may do either at any time while the case
is being worked on, and must say why. Both append the same events the timer does
(``case.urged``, ``case.supervised``) with ``by``, ``note`` and ``manual: true``; the fold
keeps the timer's own urge and supervision pending after a manual one (an operator's nudge
does not stand in for the rule's), and the timeline shows who did it and why.

Who is told, through the notices of the events' ``notify`` list (webhooks): the case's owner
(首问负责), or while nobody owns it everyone holding a live assignment; a supervision also
tells the responder of the owner's kind at the level above, as the timer's does.
"""

from __future__ import annotations

from typing import Any

from dispatch.case import ACTIVE, AssignmentState, AssignmentStatus, CaseState
from dispatch.lifecycle import Change, Context, IllegalTransition, InvalidAction
from dispatch.model import Origin, Urgency
from grids.model import ResponderKind

__all__ = ["supervise", "urge"]

# Assignments somebody holds: the ones a nudge reaches while the case has no owner.
_HELD = frozenset(
    {AssignmentStatus.DISPATCHED, AssignmentStatus.ACKNOWLEDGED, AssignmentStatus.IN_PROGRESS}
)
_NOTE_MAX = 2000


def urge(state: CaseState, actor: str, ctx: Context, *, note: str | None) -> list[Change]:
    """催办: the holders of the case are reminded, with the operator's note."""
    why = _checked(state, "urge", note)
    notify = [_notice(a, "urge", f"催办: {why}") for a in _targets(state)]
    return [
        Change(
            "case.urged",
            {"by": actor, "note": why, "manual": True, "round": state.round, "notify": notify},
        )
    ]


def supervise(state: CaseState, actor: str, ctx: Context, *, note: str | None) -> list[Change]:
    """督办: the holders are told, and so is the responder of the owner's kind one level up
    (nothing is reassigned; the level above now watches the case)."""
    why = _checked(state, "supervise", note)
    targets = _targets(state)
    notify = [_notice(a, "supervise", f"督办: {why}") for a in targets]
    by_cell = None
    if targets:
        watched = targets[0]
        by_cell = ctx.router.hierarchy.cell(watched.cell).parent
        if by_cell is not None:
            notify += _above(state, watched, ctx, by_cell, f"督办 {state.id}: {why}")
    return [
        Change(
            "case.supervised",
            {
                "by": actor,
                "note": why,
                "manual": True,
                "round": state.round,
                "by_cell": by_cell,
                "notify": notify,
            },
        )
    ]


def _checked(state: CaseState, action: str, note: str | None) -> str:
    """The note, once the case is being worked on (an operator urges work still to do)."""
    if state.status not in ACTIVE:
        raise IllegalTransition(
            f"cannot {action} case {state.id} ({state.status.value}): nobody is working on it",
            status=state.status.value,
            allowed=[],
        )
    if note is None or not note.strip():
        raise InvalidAction("note", "required")
    if len(note) > _NOTE_MAX:
        raise InvalidAction("note", f"at most {_NOTE_MAX} characters")
    return note.strip()


def _targets(state: CaseState) -> list[AssignmentState]:
    """The owner (首问负责), else everyone holding a live push of the case."""
    owner = state.owner_assignment()
    if owner is not None and owner.status in _HELD:
        return [owner]
    return [
        a for a in state.assignments.values() if a.status in _HELD and a.responder_id is not None
    ]


def _notice(assignment: AssignmentState, notice: str, summary: str) -> dict[str, Any]:
    return {
        "responder_id": assignment.responder_id,
        "notice": notice,
        "assignment_id": assignment.id,
        "summary": summary,
    }


def _above(
    state: CaseState, assignment: AssignmentState, ctx: Context, parent: str, summary: str
) -> list[dict[str, Any]]:
    """The supervise notice for the responder of ``assignment``'s kind at ``parent`` or
    above, found the way the router finds a replacement; empty when there is none."""
    above = ctx.router.reassign(
        kind=ResponderKind(assignment.kind),
        start=parent,
        category=state.category,
        urgency=Urgency(state.urgency),
        at=ctx.now,
        resolve_due=state.resolve_due or ctx.now,
        exclude=set(assignment.tried) | {assignment.responder_id or ""},
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
