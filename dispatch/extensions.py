"""申请延期: a responder asks for more time; an operator approves or refuses.

Pure decisions ``(state, ...) -> changes`` like :mod:`dispatch.lifecycle`:

- :func:`request_extension` (the assignment's holder, while it works the case):
  ``case.extension_requested`` with the reason and the duration asked for; the fold keeps
  it as ``CaseState.extension_request`` until it is decided.
- :func:`approve_extension` (an operator): the existing 延期, ``case.extended``, with the
  requested duration (so the policy's ``extension_max`` and "once" rules hold as for an
  operator's own extension); the request clears.
- :func:`refuse_extension` (an operator, with a reason): ``case.extension_refused``; the
  request clears and the deadline stays.

The duration is checked against the policy when asked, so a responder learns at once that
it asked too much, not when the operator approves.
"""

from __future__ import annotations

from typing import Any

from dispatch.case import ACTIVE, AssignmentState, AssignmentStatus, CaseState
from dispatch.durations import Duration
from dispatch.lifecycle import (
    Change,
    Context,
    IllegalTransition,
    InvalidAction,
    NotYours,
    allowed_case_actions,
    extend,
)

__all__ = [
    "REQUEST_EXTENSION",
    "approve_extension",
    "may_request_extension",
    "refuse_extension",
    "request_extension",
]

# The name of the responder's action, as pages and the API list it.
REQUEST_EXTENSION = "request_extension"

# An assignment whose holder is working the case (reported in, or started).
_WORKING = frozenset({AssignmentStatus.ACKNOWLEDGED, AssignmentStatus.IN_PROGRESS})


def _why_not(state: CaseState, assignment: AssignmentState) -> str | None:
    """Why the holder of ``assignment`` may not ask for an extension now (None: it may)."""
    if state.status not in ACTIVE:
        return f"case {state.id} is {state.status.value}"
    if assignment.status not in _WORKING:
        return f"assignment is {assignment.status.value}; report in (报到) first"
    if state.extended:
        return "the case was extended once already"
    if state.extension_request is not None:
        return "an extension request is waiting for a decision"
    return None


def may_request_extension(state: CaseState, assignment: AssignmentState) -> bool:
    """Whether the assignment's holder may ask for an extension now."""
    return _why_not(state, assignment) is None


def _required(field: str, value: str | None) -> str:
    if value is None or not value.strip():
        raise InvalidAction(field, "required")
    return value.strip()


def _duration(ctx: Context, base_state: CaseState, duration: str | None) -> Duration:
    try:
        by = Duration.parse(_required("duration", duration))
    except ValueError as exc:
        raise InvalidAction("duration", str(exc)) from None
    base = base_state.resolve_due or ctx.now
    calendar = ctx.router.calendar
    if calendar.add(base, by) > calendar.add(base, ctx.policy.extension_max):
        raise InvalidAction("duration", f"at most {ctx.policy.extension_max}")
    return by


def request_extension(
    state: CaseState,
    assignment_id: str,
    actor: str,
    ctx: Context,
    *,
    reason: str | None,
    duration: str | None,
) -> list[Change]:
    """申请延期 by the assignment's holder: once per case, while no request waits."""
    assignment = state.assignment(assignment_id)
    if assignment is None:
        raise KeyError(assignment_id)
    if actor != assignment.responder_id and actor not in assignment.members:
        raise NotYours(
            f"assignment {assignment_id} belongs to {assignment.responder_id or 'the board'}, "
            f"not {actor}",
            status=assignment.status.value,
            allowed=[],
        )
    why = _why_not(state, assignment)
    if why is not None:
        raise IllegalTransition(
            f"cannot request an extension of {assignment_id}: {why}",
            status=assignment.status.value,
            allowed=[],
        )
    text = _required("reason", reason)
    by = _duration(ctx, state, duration)
    return [
        Change(
            "case.extension_requested",
            {
                "assignment": assignment_id,
                "responder_id": actor,
                "reason": text,
                "duration": str(by),
            },
        )
    ]


def _pending(state: CaseState, action: str) -> dict[str, Any]:
    request = state.extension_request
    if request is None or state.status not in ACTIVE:
        raise IllegalTransition(
            f"cannot {action} case {state.id}: no extension request is waiting",
            status=state.status.value,
            allowed=allowed_case_actions(state),
        )
    return request


def approve_extension(
    state: CaseState, actor: str, ctx: Context, *, note: str | None = None
) -> list[Change]:
    """The operator grants the request: 延期 by the duration asked (``case.extended``)."""
    request = _pending(state, "approve the extension of")
    changes = extend(state, actor, ctx, reason=request["reason"], duration=request["duration"])
    for change in changes:
        change.data["requested_by"] = request["responder_id"]
        change.data["assignment"] = request["assignment"]
        if note:
            change.data["note"] = note.strip()
    return changes


def refuse_extension(
    state: CaseState, actor: str, ctx: Context, *, reason: str | None
) -> list[Change]:
    """The operator refuses the request, with a reason; the deadline stays."""
    request = _pending(state, "refuse the extension of")
    return [
        Change(
            "case.extension_refused",
            {
                "by": actor,
                "reason": _required("reason", reason),
                "assignment": request["assignment"],
                "responder_id": request["responder_id"],
                "duration": request["duration"],
            },
        )
    ]
