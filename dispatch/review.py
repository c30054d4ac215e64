"""After the work is reported: 核查 (verify), 返工 (reopen), 好差评 (rate) and 差评整改.

A passed check closes the case; a failed one, or a 返工, gives the owner a new limit; a bad
rating opens a rectification (整改) that is reported and verified like any other work.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dispatch.case import CaseState
from dispatch.durations import Duration
from dispatch.exceptions import IllegalTransition, InvalidAction
from dispatch.transitions import (
    CaseAction,
    Change,
    Context,
    _check_case,
    _notify_owner,
    _required,
    allowed_case_actions,
)

__all__ = [
    "BAD_GRADES",
    "GRADES",
    "rate",
    "reopen",
    "verify",
]


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
