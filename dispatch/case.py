"""A case's current state, derived by folding its events in log order.

The event log is the truth; this fold is the only place that turns events into state, so the
store's current-state tables, the lifecycle's checks and the deadlines all agree with it.
Events are read through a small protocol (``type``, ``data``, ``at``, ``actor``) so that this
package does not depend on the store's classes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from dispatch.durations import Duration

__all__ = [
    "ACTIVE",
    "NOTES",
    "AssignmentState",
    "AssignmentStatus",
    "CaseState",
    "CaseStatus",
    "EventLike",
    "fold",
]


class CaseStatus(StrEnum):
    """Where a case stands in the closed loop."""

    DISPATCHED = "dispatched"  # 派遣: assignments sent, nobody has reported in yet
    ACKNOWLEDGED = "acknowledged"  # 报到: the first responder reported in and owns it
    IN_PROGRESS = "in_progress"  # 处置
    RESOLVED = "resolved"  # 反馈: the owner reported it done
    VERIFIED = "verified"  # 核查
    CLOSED = "closed"  # 结案
    RATED = "rated"  # 评价
    ON_HOLD = "on_hold"  # 挂账: the clock is stopped
    CANCELLED = "cancelled"  # merged into another case as a duplicate
    MUTED = "muted"  # matched a silence when it came in: stored and shown, not dispatched
    # 待定位: an address no place name matched; held (no responder, no clock) until an
    # operator picks its cell, then routed as if it had just come in.
    UNPLACED = "unplaced"

    @property
    def label_zh(self) -> str:
        """The status as a town reads it, e.g. ``已挂账`` (the action is 挂账)."""
        return _STATUS_ZH[self]


_STATUS_ZH = {
    CaseStatus.DISPATCHED: "已派遣",
    CaseStatus.ACKNOWLEDGED: "已报到",
    CaseStatus.IN_PROGRESS: "处置中",
    CaseStatus.RESOLVED: "已反馈",
    CaseStatus.VERIFIED: "已核查",
    CaseStatus.CLOSED: "已结案",
    CaseStatus.RATED: "已评价",
    CaseStatus.ON_HOLD: "已挂账",
    CaseStatus.CANCELLED: "已合并",
    CaseStatus.MUTED: "已静默",
    CaseStatus.UNPLACED: "待定位",
}


# Events that note something on a case without being a step of it: they change nothing the
# lifecycle decides on, so they leave the version alone and never make a step conflict. A
# likely duplicate filed later (``case.possible_duplicate``) is one: a busy grid links every
# new report to its open cases, and counting those would have the responders' own steps on
# those cases retried again and again.
NOTES = frozenset({"case.possible_duplicate"})

# The statuses in which the resolution clock runs.
ACTIVE = frozenset({CaseStatus.DISPATCHED, CaseStatus.ACKNOWLEDGED, CaseStatus.IN_PROGRESS})


class AssignmentStatus(StrEnum):
    """One responder's (or board's) part in a case."""

    DISPATCHED = "dispatched"  # pushed; waiting for the responder to report in
    OPEN = "open"  # on a claim board; waiting for a member or team to claim it
    ACKNOWLEDGED = "acknowledged"  # reported in (报到), or claimed (认领)
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    RETURNED = "returned"  # 退单: given back as wrongly assigned
    ESCALATED = "escalated"  # replaced after a missed deadline
    REASSIGNED = "reassigned"  # an operator moved it to another responder
    CANCELLED = "cancelled"  # the case closed or was merged while this still waited


PENDING = frozenset({AssignmentStatus.DISPATCHED, AssignmentStatus.OPEN})


class EventLike(Protocol):
    """What the fold reads of an event."""

    @property
    def type(self) -> str: ...

    @property
    def data(self) -> dict[str, Any]: ...

    @property
    def at(self) -> datetime: ...

    @property
    def actor(self) -> str | None: ...


def _time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


@dataclass(slots=True)
class AssignmentState:
    """An assignment as the fold sees it. ``tried`` lists the responders who already had
    this slot (returned it or missed its deadline), so a replacement never goes back."""

    id: str
    kind: str
    mode: str
    responder_id: str | None
    cell: str
    level: str
    origin: str
    status: AssignmentStatus
    assigned_at: datetime
    acknowledge_due: datetime | None
    claim_due: datetime | None
    eligible: tuple[str, ...] = ()
    tried: tuple[str, ...] = ()
    team: str | None = None
    members: tuple[str, ...] = ()
    overdue: bool = False  # missed its deadline with nobody left to escalate to
    # 退单 review: "pending" once returned, then "accepted" or "refused" by an operator.
    return_review: str | None = None
    replaced_by: str | None = None  # the assignment that took this one's place
    return_reason: str | None = None
    returned_at: datetime | None = None
    return_due: datetime | None = None  # the dispatcher decides on the return by then
    return_escalated: bool = False  # undecided past ``return_due``: supervised from above
    doc: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def awaits_decision(self) -> bool:
        """Returned (退单) and waiting in the dispatcher's queue for a decision."""
        return self.status is AssignmentStatus.RETURNED and self.return_review == "pending"

    @classmethod
    def from_doc(
        cls, doc: Mapping[str, Any], at: datetime, tried: tuple[str, ...] = ()
    ) -> AssignmentState:
        responder = doc.get("responder")
        responder_id = None if responder is None else str(responder["id"])
        return cls(
            id=str(doc["id"]),
            kind=str(doc["kind"]),
            mode=str(doc["mode"]),
            responder_id=responder_id,
            cell=str(doc["cell"]),
            level=str(doc["level"]),
            origin=str(doc["origin"]),
            status=AssignmentStatus(doc.get("status") or _initial(str(doc["mode"]))),
            assigned_at=at,
            acknowledge_due=_time(doc.get("acknowledge_due")),
            claim_due=_time(doc.get("claim_due")),
            eligible=tuple(doc.get("eligible_ids") or ()),
            tried=tried,
            doc=dict(doc),
        )


def _initial(mode: str) -> str:
    return AssignmentStatus.OPEN if mode == "claim" else AssignmentStatus.DISPATCHED


@dataclass(slots=True)
class CaseState:
    """Everything the lifecycle needs to know about one case."""

    id: str
    source: str = ""
    category: str = ""
    urgency: str = "normal"
    grid: str = ""
    received_at: datetime | None = None
    status: CaseStatus = CaseStatus.DISPATCHED
    assignments: dict[str, AssignmentState] = field(default_factory=dict)
    owner: str | None = None  # the assignment id of the first receiver (首问负责)
    resolve_due: datetime | None = None
    round: int = 0  # resolution rounds: a reopen, an extension or an escalation starts one
    round_started: datetime | None = None
    # Whether this round's limit is in working time, when an event said so (an extension's
    # duration); None: the category's limit decides (see dispatch.lifecycle.working_round).
    round_working: bool | None = None
    urged: bool = False
    supervised: bool = False
    held_since: datetime | None = None
    before_hold: CaseStatus | None = None
    extended: bool = False
    rework: int = 0
    returns: int = 0
    repeats: int = 0
    rating: str | None = None
    merged_into: str | None = None
    # The duplicates merged into this case, oldest first: each one's id, when, by whom, and
    # what it said. A tuple: the fold replaces it, so copies of a state never share it.
    merged: tuple[dict[str, Any], ...] = ()
    description: str = ""
    reporter: str | None = None
    resolution: dict[str, Any] | None = None
    verified_by: str | None = None
    failures: int = 0
    stalled: bool = False  # this round's escalation found nobody above the backstop
    # 差评整改: the latest rectification a bad rating opened (grade, opened_at, due, and once
    # verified and closed again, done_at and on_time), and how many were opened.
    rectification: dict[str, Any] | None = None
    rectifications: int = 0
    # 申请延期 waiting for an operator: assignment, responder_id, reason, duration, at.
    extension_request: dict[str, Any] | None = None
    version: int = 0  # events folded so far, notes (NOTES) aside

    def __repr__(self) -> str:
        return f"CaseState({self.id!r}, {self.status.value}, v{self.version})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE

    def assignment(self, assignment_id: str) -> AssignmentState | None:
        return self.assignments.get(assignment_id)

    def owner_assignment(self) -> AssignmentState | None:
        return None if self.owner is None else self.assignments.get(self.owner)

    def next_assignment_id(self) -> str:
        return f"{self.id}-{len(self.assignments) + 1}"

    def apply(self, event: EventLike) -> None:
        """Fold one more event into this state."""
        if event.type in NOTES:
            return
        handler = _HANDLERS.get(event.type)
        if handler is not None:
            handler(self, event)
        self.version += 1


def fold(events: Iterable[EventLike], case_id: str = "") -> CaseState:
    """The state after ``events``, in log order."""
    state = CaseState(case_id)
    for event in events:
        state.apply(event)
    return state


# -- event handlers ------------------------------------------------------------------------


def _received(state: CaseState, event: EventLike) -> None:
    request = event.data.get("request", {})
    state.source = str(request.get("source", ""))
    state.category = str(request.get("category", ""))
    state.description = str(request.get("description", ""))
    state.reporter = request.get("reporter")
    state.grid = str(event.data.get("grid", ""))
    state.received_at = event.at
    state.round_started = event.at


def _routed(state: CaseState, event: EventLike) -> None:
    state.urgency = str(event.data.get("urgency", state.urgency))
    for doc in event.data.get("assignments", ()):
        assignment = AssignmentState.from_doc(doc, event.at)
        state.assignments[assignment.id] = assignment
        due = _time(doc.get("resolve_due"))
        if due is not None and (state.resolve_due is None or due > state.resolve_due):
            state.resolve_due = due


def _take_ownership(state: CaseState, assignment: AssignmentState) -> None:
    if state.owner is None:
        state.owner = assignment.id
        if state.status is CaseStatus.DISPATCHED:
            state.status = CaseStatus.ACKNOWLEDGED


def _acknowledged(state: CaseState, event: EventLike) -> None:
    assignment = state.assignments[event.data["assignment"]]
    assignment.status = AssignmentStatus.ACKNOWLEDGED
    _take_ownership(state, assignment)


def _claimed(state: CaseState, event: EventLike) -> None:
    assignment = state.assignments[event.data["assignment"]]
    assignment.status = AssignmentStatus.ACKNOWLEDGED
    assignment.responder_id = str(event.data["responder_id"])
    assignment.team = event.data.get("team")
    assignment.members = tuple(event.data.get("members") or (assignment.responder_id,))
    _take_ownership(state, assignment)


def _started(state: CaseState, event: EventLike) -> None:
    assignment = state.assignments[event.data["assignment"]]
    assignment.status = AssignmentStatus.IN_PROGRESS
    if assignment.id == state.owner:
        state.status = CaseStatus.IN_PROGRESS


def _resolved(state: CaseState, event: EventLike) -> None:
    assignment = state.assignments[event.data["assignment"]]
    assignment.status = AssignmentStatus.RESOLVED
    if assignment.id == state.owner:
        state.status = CaseStatus.RESOLVED
        state.resolution = {
            "assignment": assignment.id,
            "responder_id": assignment.responder_id,
            "note": event.data.get("note"),
            "photos": list(event.data.get("photos") or ()),
            "at": event.at.isoformat(),
        }


def _returned(state: CaseState, event: EventLike) -> None:
    assignment = state.assignments[event.data["assignment"]]
    assignment.status = AssignmentStatus.RETURNED
    assignment.return_review = "pending"
    assignment.return_reason = event.data.get("reason")
    assignment.returned_at = event.at
    assignment.return_due = _time(event.data.get("decide_by"))
    state.returns += 1
    if state.owner == assignment.id:
        # Properly returned: the first receiver no longer owns it; whoever else reported in
        # (in assignment order) takes over, or the case waits for the next report-in.
        state.owner = None
        state.status = CaseStatus.DISPATCHED
        for other in state.assignments.values():
            if other.status in (AssignmentStatus.ACKNOWLEDGED, AssignmentStatus.IN_PROGRESS):
                state.owner = other.id
                state.status = (
                    CaseStatus.IN_PROGRESS
                    if other.status is AssignmentStatus.IN_PROGRESS
                    else CaseStatus.ACKNOWLEDGED
                )
                break


def _added(state: CaseState, event: EventLike) -> None:
    doc = event.data["assignment"]
    replaced = state.assignments.get(event.data.get("replaces") or "")
    tried: tuple[str, ...] = ()
    if replaced is not None:
        tried = replaced.tried + ((replaced.responder_id,) if replaced.responder_id else ())
        replaced.replaced_by = str(doc["id"])
        if replaced.status in PENDING or replaced.status in (
            AssignmentStatus.ACKNOWLEDGED,
            AssignmentStatus.IN_PROGRESS,
        ):
            # An operator's decision is not a missed deadline: keep the two apart.
            replaced.status = (
                AssignmentStatus.REASSIGNED
                if event.data.get("reason") in _BY_OPERATOR
                else AssignmentStatus.ESCALATED
            )
        if state.owner == replaced.id:
            state.owner = None
            state.status = CaseStatus.DISPATCHED
    assignment = AssignmentState.from_doc(doc, event.at, tried)
    state.assignments[assignment.id] = assignment
    if event.data.get("new_round"):
        _new_round(state, event.at, _time(event.data.get("resolve_due")))


# ``assignment.added`` reasons that an operator decided (see dispatch.lifecycle.reassign).
_BY_OPERATOR = frozenset({"reassign", "return_refused"})


def _return_accepted(state: CaseState, event: EventLike) -> None:
    state.assignments[event.data["assignment"]].return_review = "accepted"


def _return_refused(state: CaseState, event: EventLike) -> None:
    state.assignments[event.data["assignment"]].return_review = "refused"


def _return_overdue(state: CaseState, event: EventLike) -> None:
    state.assignments[event.data["assignment"]].return_escalated = True


def _new_round(state: CaseState, at: datetime, resolve_due: datetime | None) -> None:
    state.round += 1
    state.round_started = at
    state.round_working = None
    state.urged = False
    state.supervised = False
    state.stalled = False
    if resolve_due is not None:
        state.resolve_due = resolve_due


def _cancel_pending(state: CaseState) -> None:
    for assignment in state.assignments.values():
        if assignment.status in PENDING:
            assignment.status = AssignmentStatus.CANCELLED


def _verified(state: CaseState, event: EventLike) -> None:
    state.status = CaseStatus.VERIFIED
    state.verified_by = event.actor


def _closed(state: CaseState, event: EventLike) -> None:
    state.status = CaseStatus.CLOSED
    _cancel_pending(state)
    rectification = state.rectification
    if rectification is not None and rectification["done_at"] is None:
        # A new dict: copies of the state share the old one (whistle.cases.copy_state).
        state.rectification = {
            **rectification,
            "done_at": event.at.isoformat(),
            "on_time": event.data.get("on_time"),
        }


def _reopened(state: CaseState, event: EventLike) -> None:
    state.rework += 1
    state.status = CaseStatus.IN_PROGRESS
    state.resolution = None
    owner = state.owner_assignment()
    if owner is not None:
        owner.status = AssignmentStatus.IN_PROGRESS
    _new_round(state, event.at, _time(event.data.get("resolve_due")))


def _held(state: CaseState, event: EventLike) -> None:
    state.before_hold = state.status
    state.status = CaseStatus.ON_HOLD
    state.held_since = event.at


def _released(state: CaseState, event: EventLike) -> None:
    # The clock stood still while the case was on hold: every running deadline moves on by
    # the time spent on hold.
    shift = timedelta(seconds=float(event.data.get("shift_seconds", 0)))
    state.status = state.before_hold or CaseStatus.DISPATCHED
    state.before_hold = None
    state.held_since = None
    # A working-time limit moves by the working time the hold took (the lifecycle worked it
    # out on the calendar and wrote the new times); wall-time limits by the elapsed time.
    if "resolve_due" in event.data:
        state.resolve_due = _time(event.data["resolve_due"])
    elif state.resolve_due is not None:
        state.resolve_due += shift
    if "round_started" in event.data:
        state.round_started = _time(event.data["round_started"])
    elif state.round_started is not None:
        state.round_started += shift
    for assignment in state.assignments.values():
        if assignment.acknowledge_due is not None:
            assignment.acknowledge_due += shift
        if assignment.claim_due is not None:
            assignment.claim_due += shift
        if assignment.return_due is not None and assignment.awaits_decision:
            assignment.return_due += shift


def _extended(state: CaseState, event: EventLike) -> None:
    # A new limit is a new round: its urge and supervision get keys of their own, so the
    # ones that already fired are never armed (and fired) again under the same key.
    state.extended = True
    state.extension_request = None
    _new_round(state, event.at, _time(event.data["resolve_due"]))
    duration = event.data.get("duration")
    if duration is not None:
        state.round_working = Duration.parse(str(duration)).is_working


def _extension_requested(state: CaseState, event: EventLike) -> None:
    state.extension_request = {
        "assignment": event.data.get("assignment"),
        "responder_id": event.data.get("responder_id"),
        "reason": event.data.get("reason"),
        "duration": event.data.get("duration"),
        "at": event.at.isoformat(),
    }


def _extension_refused(state: CaseState, event: EventLike) -> None:
    state.extension_request = None


def _rated(state: CaseState, event: EventLike) -> None:
    state.rating = str(event.data["grade"])
    state.status = CaseStatus.RATED


def _rectification_opened(state: CaseState, event: EventLike) -> None:
    # Back in the owner's hands like a reopen (its resolution reported and verified again),
    # with the rectification's own limit as the round's deadline.
    # The case's own resolution and deadline stay what the statistics count (解决率, 按期结案率);
    # the rectification is counted apart (整改率). Kept from the first rectification on.
    before = state.rectification or {
        "case_resolved_at": (state.resolution or {}).get("at"),
        "case_due": None if state.resolve_due is None else state.resolve_due.isoformat(),
    }
    state.status = CaseStatus.IN_PROGRESS
    state.resolution = None
    state.verified_by = None
    owner = state.assignments.get(event.data.get("owner") or "")
    if owner is not None:
        state.owner = owner.id
        owner.status = AssignmentStatus.IN_PROGRESS
    due = _time(event.data.get("resolve_due"))
    _new_round(state, event.at, due)
    duration = event.data.get("duration")
    if duration is not None:
        state.round_working = Duration.parse(str(duration)).is_working
    state.rectifications += 1
    state.rectification = {
        "grade": event.data.get("grade"),
        "opened_at": event.at.isoformat(),
        "due": None if due is None else due.isoformat(),
        "done_at": None,
        "on_time": None,
        "case_resolved_at": before["case_resolved_at"],
        "case_due": before["case_due"],
    }


def _merged(state: CaseState, event: EventLike) -> None:
    state.merged_into = str(event.data["into"])
    state.status = CaseStatus.CANCELLED
    _cancel_pending(state)


def _duplicate_merged(state: CaseState, event: EventLike) -> None:
    state.merged = (*state.merged, {**event.data, "at": event.at})


def _urged(state: CaseState, event: EventLike) -> None:
    # An operator's urge by hand (dispatch/urging.py) leaves the rule's own urge pending.
    if not event.data.get("manual"):
        state.urged = True


def _supervised(state: CaseState, event: EventLike) -> None:
    if not event.data.get("manual"):
        state.supervised = True


def _overdue(state: CaseState, event: EventLike) -> None:
    assignment = state.assignments.get(event.data.get("assignment") or "")
    if assignment is not None:
        assignment.overdue = True
    else:
        state.stalled = True


def _muted(state: CaseState, event: EventLike) -> None:
    state.status = CaseStatus.MUTED


def _unplaced(state: CaseState, event: EventLike) -> None:
    state.status = CaseStatus.UNPLACED


def _placed(state: CaseState, event: EventLike) -> None:
    # Routed from now: the time it waited for a place is the dispatcher's, not the
    # responders' (the whistle.routed that follows brings the assignments and deadlines).
    state.status = CaseStatus.DISPATCHED
    state.grid = str(event.data.get("grid", state.grid))
    state.round_started = event.at


def _repeated(state: CaseState, event: EventLike) -> None:
    # One event may carry several detections (a feed batch); older events carry one.
    state.repeats += int(event.data.get("added", 1))


def _failed(state: CaseState, event: EventLike) -> None:
    state.failures += 1


_HANDLERS = {
    "whistle.received": _received,
    "whistle.routed": _routed,
    "whistle.muted": _muted,
    "whistle.unplaced": _unplaced,
    "whistle.placed": _placed,
    "assignment.acknowledged": _acknowledged,
    "assignment.claimed": _claimed,
    "assignment.started": _started,
    "assignment.resolved": _resolved,
    "assignment.returned": _returned,
    "assignment.added": _added,
    "assignment.return_accepted": _return_accepted,
    "assignment.return_refused": _return_refused,
    "assignment.return_overdue": _return_overdue,
    "case.verified": _verified,
    "case.closed": _closed,
    "case.reopened": _reopened,
    "case.held": _held,
    "case.released": _released,
    "case.extended": _extended,
    "case.extension_requested": _extension_requested,
    "case.extension_refused": _extension_refused,
    "case.rated": _rated,
    "case.rectification_opened": _rectification_opened,
    "case.merged": _merged,
    "case.duplicate_merged": _duplicate_merged,
    "case.urged": _urged,
    "case.supervised": _supervised,
    "case.overdue": _overdue,
    "case.repeated": _repeated,
    "notification.failed": _failed,
}
