"""The case service: runs the closed loop against the store, and fires deadlines.

Each action reads the case's events, folds them into a state, asks the lifecycle what the
action appends, and writes one guarded transition (new events, current-state rows, pending
deadlines). When another writer got there first the store raises Conflict and the action is
decided again on the new state, so concurrent actions never both apply to the same state.

Timers follow the bus like every other consumer: the last event of each write carries the
case's pending deadlines, and :meth:`CaseService.on_event` re-arms the in-memory timer from it.
On start the timer is filled from the database; whatever is already past fires at once. A
firing marks its deadline row in the same transaction as its events, so it happens once.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from typing import Any

import structlog

from dispatch import DutyRoster, LifecyclePolicy, Router, Teams
from dispatch.case import AssignmentState, CaseState, fold
from dispatch.due import next_due
from dispatch.lifecycle import (
    GRADES,
    Change,
    Context,
    allowed_assignment_actions,
    allowed_case_actions,
    deadlines,
    on_deadline,
)
from dispatch.timer import DeadlineTimer
from whistle.clock import Clock
from whistle.events import Event, NewEvent, StreamFacts
from whistle.exceptions import CaseNotFound, Conflict
from whistle.store import AssignmentRow, Store, Transition
from whistle.timefmt import rfc3339
from whistle.versions import ConfigBundle

__all__ = ["CaseService", "Decide", "DecideOther", "case_document"]

log = structlog.get_logger(__name__)

Decide = Callable[[CaseState, Context], list[Change]]
# Given the other case and the acting case as it will stand: what the other case records.
DecideOther = Callable[[CaseState, CaseState], list[Change]]

_RETRIES = 5


def case_document(state: CaseState, tz: tzinfo) -> dict[str, Any]:
    """The fold's summary as the API shows it under ``case``."""
    owner = state.owner_assignment()
    assigned = state.assignments.values()
    return {
        "owner": None
        if owner is None
        else {"assignment": owner.id, "responder_id": owner.responder_id},
        "resolve_due": rfc3339(state.resolve_due, tz),
        # The deadline the queue shows and sorts by; overdue on the console = it has passed.
        "next_due": _next_due(state, tz),
        "round": state.round,
        "rework": state.rework,
        "returns": state.returns,
        "extended": state.extended,
        "extension_request": _extension_request(state, tz),
        "on_hold_since": rfc3339(state.held_since, tz),
        "urged": state.urged,
        "supervised": state.supervised,
        "overdue": state.stalled
        or any(a.overdue or (a.awaits_decision and a.return_escalated) for a in assigned),
        # 退单待定: returns waiting in the dispatcher's queue for a decision.
        "returns_pending": [
            {
                "assignment": a.id,
                "responder_id": a.responder_id,
                "reason": a.return_reason,
                "returned_at": rfc3339(a.returned_at, tz),
                "decide_by": rfc3339(a.return_due, tz),
                "escalated": a.return_escalated,
            }
            for a in assigned
            if a.awaits_decision
        ]
        if state.is_active
        else [],
        "resolution": state.resolution,
        "rating": None
        if state.rating is None
        else {"grade": state.rating, "label": GRADES[state.rating]},
        "rectification": _rectification(state, tz),
        "merged_into": state.merged_into,
        "merged": [
            {
                "id": m.get("whistle"),
                "at": rfc3339(m.get("at"), tz),
                "by": m.get("by"),
                "source": m.get("source"),
                "category": m.get("category"),
                "description": m.get("description"),
                "reporter": m.get("reporter"),
                "received_at": rfc3339(_parse_opt(m.get("received_at")), tz),
            }
            for m in state.merged
        ],
        "repeats": state.repeats,
        "notification_failures": state.failures,
        "allowed": allowed_case_actions(state),
        "assignment_actions": {
            a.id: allowed_assignment_actions(state, a)
            for a in state.assignments.values()
            if allowed_assignment_actions(state, a)
        },
        "version": state.version,
    }


def _extension_request(state: CaseState, tz: tzinfo) -> dict[str, Any] | None:
    """申请延期 waiting for an operator's decision (None once decided or the case is done)."""
    request = state.extension_request
    if request is None or not state.is_active:
        return None
    return {**request, "at": rfc3339(datetime.fromisoformat(request["at"]), tz)}


def _next_due(state: CaseState, tz: tzinfo) -> dict[str, Any] | None:
    due = next_due(state)
    if due is None:
        return None
    return {"kind": due.kind.value, "at": rfc3339(due.at, tz), "assignment": due.assignment}


def _rectification(state: CaseState, tz: tzinfo) -> dict[str, Any] | None:
    """The latest 整改 (差评整改) as the API shows it, with how many were opened."""
    r = state.rectification
    if r is None:
        return None

    def at(key: str) -> str | None:
        value = r.get(key)
        return None if value is None else rfc3339(datetime.fromisoformat(value), tz)

    return {
        "grade": r["grade"],
        "opened_at": at("opened_at"),
        "due": at("due"),
        "done_at": at("done_at"),
        "on_time": r["on_time"],
        "count": state.rectifications,
        # What the case's own figures keep counting while it is rectified.
        "case_resolved_at": at("case_resolved_at"),
        "case_due": at("case_due"),
    }


# How long a process holds a deadline it claimed to fire: long enough for a firing, short
# enough that another process takes over soon after the holder dies.
DEADLINE_LEASE = timedelta(seconds=30)


class CaseService:
    """Actions on cases, and the deadline timer that drives escalation."""

    def __init__(
        self,
        *,
        store: Store,
        router: Router,
        policy: LifecyclePolicy,
        clock: Clock,
        tz: tzinfo,
        duty: DutyRoster | None = None,
        teams: Teams | None = None,
        run_timer: bool = True,
        lease: timedelta = DEADLINE_LEASE,
    ) -> None:
        self._store = store
        self._lease = lease
        self.router = router
        self.policy = policy
        self._clock = clock
        self._tz = tz
        self.duty = duty or DutyRoster.always()
        self.teams = teams or Teams.empty()
        self.timer = DeadlineTimer()
        self._run_timer = run_timer
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.fired = 0

    def __repr__(self) -> str:
        return f"CaseService({self.timer!r}, fired={self.fired})"

    def use(self, bundle: ConfigBundle) -> None:
        """Act under ``bundle`` from the next step on (a config version was applied).
        Deadlines already armed keep the times they were set with."""
        self.router, self.policy, self.duty = bundle.router, bundle.policy, bundle.duty

    # -- reading -------------------------------------------------------------------------

    async def load(self, whistle_id: str) -> CaseState:
        events = await self._store.timeline(whistle_id)
        if not events:
            raise CaseNotFound(whistle_id)
        return fold(events, whistle_id)

    def context(self, now: datetime | None = None) -> Context:
        hierarchy = self.router.hierarchy
        tz = self._tz
        return Context(
            now=now or self._clock.now(),
            router=self.router,
            policy=self.policy,
            document=lambda planned, aid: planned.document(
                aid, cell_name=hierarchy.cell(planned.cell).name, tz=tz
            ),
            on_duty=self.duty.on_duty,
        )

    def deadlines_of(self, state: CaseState) -> dict[str, datetime]:
        return deadlines(state, self.router, self.policy)

    # -- acting --------------------------------------------------------------------------

    async def act(
        self,
        whistle_id: str,
        actor: str | None,
        decide: Decide,
        *,
        fires: str | None = None,
        also: tuple[str, DecideOther] | None = None,
    ) -> tuple[CaseState, tuple[Event, ...]]:
        """Decide against the current state and write the result; retried on Conflict.

        ``also`` (another case's id, and what it records of this step) writes a step of that
        case in the same transaction, under its own version guard: both or neither (a merge).
        Raises CaseNotFound (for either case), and whatever the deciders raise
        (IllegalTransition, InvalidAction).
        """
        for _ in range(_RETRIES):
            state = await self.load(whistle_id)
            other = None if also is None else await self.load(also[0])
            ctx = self.context()
            changes = decide(state, ctx)
            if not changes:
                return state, ()
            step, new_state = self._transition(state, changes, ctx.now, actor, fires)
            if also is not None and other is not None:
                recorded = also[1](other, new_state)
                if recorded:
                    other_step, _ = self._transition(other, recorded, ctx.now, actor, None)
                    step = dataclasses.replace(step, also=(other_step,))
            try:
                written = await self._store.transition(step)
            except Conflict:
                log.info("case.conflict_retry", whistle_id=whistle_id)
                continue
            return new_state, written
        raise Conflict(f"case {whistle_id} kept changing; try again")

    def step(
        self, old: CaseState, changes: list[Change], now: datetime, actor: str | None
    ) -> tuple[Transition, CaseState]:
        """The guarded step that appends ``changes`` to ``old`` (its events, rows and
        deadlines), and the state it leads to, for a caller that writes it itself (placing a
        held whistle writes its new place with it)."""
        return self._transition(old, changes, now, actor, None)

    def _transition(
        self,
        old: CaseState,
        changes: list[Change],
        now: datetime,
        actor: str | None,
        fires: str | None,
    ) -> tuple[Transition, CaseState]:
        new = fold_more(old, changes, now, actor)
        pending = self.deadlines_of(new)
        # What the live stream filters on, as the case stands after this step.
        facts = StreamFacts(new.grid or None, new.status.value, new.case_number)
        events = [NewEvent(c.type, old.id, now, actor, dict(c.data), facts) for c in changes]
        # The last event tells the timers (on the bus) the case's whole pending set.
        events[-1].data["deadlines"] = {key: due.isoformat() for key, due in pending.items()}
        before = self.deadlines_of(old)
        added = []
        for change in changes:
            if change.type == "assignment.added":
                doc = change.data["assignment"]
                added.append(_assignment_row(old.id, doc, new))
            elif change.type == "whistle.routed":  # a held whistle's first routing (placing)
                added.extend(
                    _assignment_row(old.id, doc, new) for doc in change.data["assignments"]
                )
        added_ids = {row.id for row in added}
        updates = []
        for aid, assignment in new.assignments.items():
            if aid in added_ids:
                continue
            previous = old.assignments.get(aid)
            if previous is None or (
                previous.status,
                previous.responder_id,
            ) != (assignment.status, assignment.responder_id):
                updates.append(
                    (aid, assignment.status.value, assignment.responder_id, self._doc(assignment))
                )
        step = Transition(
            whistle_id=old.id,
            expected_version=old.version,
            new_version=new.version,
            status=new.status.value,
            case_doc=case_document(new, self._tz),
            events=events,
            new_assignments=added,
            assignment_status=updates,
            set_deadlines=[(k, v) for k, v in pending.items() if before.get(k) != v],
            cancel_deadlines=[k for k in before if k not in pending and k != fires],
            fires=fires,
        )
        return step, new

    def _doc(self, assignment: AssignmentState) -> dict[str, Any]:
        """The stored document of an assignment as it stands now: its original document
        with who holds it since a claim (the fold keeps the claimer, not the document)."""
        doc = {k: v for k, v in assignment.doc.items() if k not in ("status", "trace")}
        holder = doc.get("responder") or {}
        if assignment.responder_id and holder.get("id") != assignment.responder_id:
            doc["responder"] = self._responder_ref(assignment.responder_id)
        if assignment.team is not None or assignment.members:
            doc["team"] = assignment.team
            doc["members"] = list(assignment.members)
        return doc

    def _responder_ref(self, responder_id: str) -> dict[str, Any]:
        responder = self.router.hierarchy.responder(responder_id)
        if responder is None:
            return {"id": responder_id, "name": None, "kind": None}
        return {"id": responder.id, "name": responder.name, "kind": responder.kind.value}

    async def record_failure(self, whistle_id: str, detail: dict[str, Any]) -> None:
        """Note on the case that a notification could not be delivered."""
        await self.act(
            whistle_id, "webhooks", lambda state, ctx: [Change("notification.failed", detail)]
        )

    # -- deadlines -----------------------------------------------------------------------

    async def on_event(self, event: Event) -> None:
        """Bus subscriber: re-arm the case's timers from the deadlines its write carries."""
        self.take(event)

    def take(self, event: Event) -> None:
        """:meth:`on_event` as the bus calls it inline (``bus.attach``): no await in it."""
        pending = event.data.get("deadlines")
        if pending is None:
            return
        self.timer.replace(
            event.whistle_id, {key: datetime.fromisoformat(due) for key, due in pending.items()}
        )
        self._wake.set()

    async def fire(self, whistle_id: str, key: str) -> bool:
        """Fire one deadline; False when it turned out stale or another firing won."""
        try:
            state, written = await self.act(
                whistle_id,
                "scheduler",
                lambda state, ctx: on_deadline(state, key, ctx),
                fires=key,
            )
        except Conflict:
            return False
        except CaseNotFound:
            return False
        if written:
            self.fired += 1
            log.info("deadline.fired", whistle_id=whistle_id, key=key, events=len(written))
            return True
        # Nothing to do: the deadline moved (extension, hold) or no longer applies.
        pending = self.deadlines_of(state)
        if key in pending:
            self.timer.arm(whistle_id, key, pending[key])
        else:
            await self._store.cancel_deadline(whistle_id, key)
        return False

    def wake(self) -> None:
        """Make the background loop look at the clock now (the clock jumped, e.g. an
        OffsetClock moved by a test), rather than at the end of its current wait."""
        self._wake.set()

    async def tick(self) -> int:
        """Fire every deadline due at the clock's now that this process could claim (several
        processes on one PostgreSQL database: Store.claim_deadlines); one another process
        holds is looked at again when its lease ends. Returns how many fired."""
        now = self._clock.now()
        due = self.timer.pop_due(now)
        if not due:
            return 0
        claimed = await self._store.claim_deadlines(due, now, self._lease)
        fired = 0
        for whistle_id, key in due:
            if (whistle_id, key) not in claimed:
                # Another process fires it, or it is no longer pending; should that process
                # die, its lease ends and this one claims it then.
                self.timer.arm(whistle_id, key, now + self._lease)
                continue
            if await self.fire(whistle_id, key):
                fired += 1
        return fired

    async def start(self) -> None:
        """Re-arm every pending deadline from the database, fire what is past, and (unless
        disabled, as tests driving a fake clock do) keep firing in the background."""
        pending = await self._store.pending_deadlines()
        self.timer.load((d.whistle_id, d.key, d.due_at) for d in pending)
        del pending  # the timer holds what it needs; let the rows go before the first tick
        log.info("deadlines.rearmed", pending=len(self.timer))
        await self.tick()
        if self._run_timer:
            self._task = asyncio.create_task(self._loop(), name="deadlines")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("deadlines.tick_failed")
            next_due = self.timer.next_due()
            delay = 30.0
            if next_due is not None:
                delay = min(delay, max(0.0, (next_due - self._clock.now()).total_seconds()))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()


def fold_more(
    state: CaseState, changes: list[Change], now: datetime, actor: str | None
) -> CaseState:
    """``state`` with ``changes`` folded in (``state`` itself is left as it was)."""
    new = copy_state(state)
    for change in changes:
        new.apply(_Pending(change.type, change.data, now, actor))
    return new


class _Pending:
    """A change seen by the fold as an event before it has a sequence number."""

    __slots__ = ("actor", "at", "data", "type")

    def __init__(self, type_: str, data: dict[str, Any], at: datetime, actor: str | None) -> None:
        self.type = type_
        self.data = data
        self.at = at
        self.actor = actor


def copy_state(state: CaseState) -> CaseState:
    """A copy the fold can move on without touching ``state``: the case and each of its
    assignments are new objects; what the fold only ever replaces and never changes in
    place (documents, tuples, times) is shared. A deep copy of every assignment's document,
    routing trace and all, was about half the CPU of an acknowledge or resolve."""
    new = copy.copy(state)
    new.assignments = {aid: copy.copy(a) for aid, a in state.assignments.items()}
    return new


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _parse_opt(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _assignment_row(whistle_id: str, doc: dict[str, Any], state: CaseState) -> AssignmentRow:
    assignment = state.assignments[doc["id"]]
    stored = {k: v for k, v in doc.items() if k not in ("status", "trace")}
    return AssignmentRow(
        id=assignment.id,
        whistle_id=whistle_id,
        responder_id=assignment.responder_id,
        kind=assignment.kind,
        mode=assignment.mode,
        status=assignment.status.value,
        cell=assignment.cell,
        acknowledge_due=assignment.acknowledge_due,
        claim_due=assignment.claim_due,
        resolve_due=None
        if doc.get("resolve_due") is None
        else datetime.fromisoformat(doc["resolve_due"]),
        doc=stored,
    )
