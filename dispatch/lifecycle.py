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

This module is the lifecycle's one front door; the decisions live in one module per concern:

- :mod:`dispatch.transitions`: the actions, :class:`Change`, :class:`Context`, what a status
  allows, and the guards and notices the decisions share;
- :mod:`dispatch.responding`: the responder's own actions (报到, start, 反馈, 退单, 认领);
- :mod:`dispatch.review`: 核查, 返工, 好差评 and 差评整改;
- :mod:`dispatch.escalation`: the deadlines, 催办, 督办, AB岗, 值班 and the climb;
- :mod:`dispatch.operators`: the operators' decisions (挂账, 延期, 合并, 改派, 退单 review);
- :mod:`dispatch.exceptions`: the refusals.

The private helpers stay importable from here under their old names (``_notify_owner``,
``_supervisor``, ``_holders`` ...) for code written against the one-module lifecycle.
"""

from __future__ import annotations

from dispatch.escalation import _COVERING as _COVERING
from dispatch.escalation import _active_assignment as _active_assignment
from dispatch.escalation import _cover as _cover
from dispatch.escalation import _deadlines as _deadlines
from dispatch.escalation import _escalate_resolution as _escalate_resolution
from dispatch.escalation import _missed_acknowledgement as _missed_acknowledgement
from dispatch.escalation import _overdue as _overdue
from dispatch.escalation import _replace as _replace
from dispatch.escalation import _supervise as _supervise
from dispatch.escalation import _supervisor as _supervisor
from dispatch.escalation import _unclaimed as _unclaimed
from dispatch.escalation import _undecided_return as _undecided_return
from dispatch.escalation import _urge_due as _urge_due
from dispatch.escalation import deadlines, on_deadline, working_round
from dispatch.exceptions import IllegalTransition, InvalidAction, NotYours
from dispatch.operators import _LIVE as _LIVE
from dispatch.operators import _REVIEW_ACTIONS as _REVIEW_ACTIONS
from dispatch.operators import _by_operator as _by_operator
from dispatch.operators import _check_decidable as _check_decidable
from dispatch.operators import _direct as _direct
from dispatch.operators import _legacy_reroute as _legacy_reroute
from dispatch.operators import _new_holder as _new_holder
from dispatch.operators import _reviewable as _reviewable
from dispatch.operators import (
    accept_return,
    extend,
    hold,
    merge,
    reassign,
    record_merge,
    refuse_return,
    release,
)
from dispatch.responding import acknowledge, claim, resolve, return_assignment, start
from dispatch.review import _GRADE_BY_LABEL as _GRADE_BY_LABEL
from dispatch.review import BAD_GRADES, GRADES, rate, reopen, verify
from dispatch.review import _on_time as _on_time
from dispatch.review import _rectification as _rectification
from dispatch.review import _reopen as _reopen
from dispatch.transitions import (
    AssignmentAction,
    CaseAction,
    Change,
    Context,
    allowed_assignment_actions,
    allowed_case_actions,
)
from dispatch.transitions import _added as _added
from dispatch.transitions import _assignment as _assignment
from dispatch.transitions import _check_case as _check_case
from dispatch.transitions import _holders as _holders
from dispatch.transitions import _notify_owner as _notify_owner
from dispatch.transitions import _open_board as _open_board
from dispatch.transitions import _refuse as _refuse
from dispatch.transitions import _required as _required

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
    "acknowledge",
    "allowed_assignment_actions",
    "allowed_case_actions",
    "claim",
    "deadlines",
    "extend",
    "hold",
    "merge",
    "on_deadline",
    "rate",
    "reassign",
    "record_merge",
    "refuse_return",
    "release",
    "reopen",
    "resolve",
    "return_assignment",
    "start",
    "verify",
    "working_round",
]
