"""The closed loop under random sequences of actions (hypothesis' RuleBasedStateMachine).

Real parts, in-process: a fresh SQLite file per example, the real Bus, Intake, CaseService and
router on the small generated county, and a FakeClock that the machine moves by minutes to
working days, firing whatever fell due (``tick``). Now and then it restarts: the store and the
service are closed and opened again on the same file, and ``start`` re-arms the deadlines.

Every action is taken by the right actor or a wrong one, on a random case. It either succeeds
or is refused with the documented error (IllegalTransition, NotYours, InvalidAction), and a
refused action changes nothing. After every step the invariants below are checked against the
database, recomputed independently from the event log.

Sizes: CI by default (derandomized, so every run tries the same sequences); ``WHISTLE_FULL=1``
(``make soak``) runs the full size with fresh random sequences. ``WHISTLE_NOSHRINK=1`` skips
shrinking a failure (which can take minutes here), for a quick first look while debugging.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import orjson
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from dispatch import DutyRoster, LifecyclePolicy, Router, Source, Teams, load_dispatch_config
from dispatch import lifecycle as lc
from dispatch.case import AssignmentStatus, CaseState, CaseStatus, fold
from dispatch.lifecycle import IllegalTransition, InvalidAction
from grids import Hierarchy, Level, ResponderKind
from grids.loader import load_hierarchy
from tests.support.reliability import FULL
from whistle.bus import Bus
from whistle.cameras import Camera, CameraRegistry
from whistle.cases import CaseService, Decide, case_document
from whistle.clock import FakeClock
from whistle.events import Event
from whistle.grouping import CameraRepeats
from whistle.ids import IdFactory
from whistle.intake import Intake
from whistle.store import SqliteStore, StatsQuery
from whistle.store.facts import SATISFIED

pytestmark = pytest.mark.reliability

EXAMPLES, STEPS = (300, 60) if FULL else (25, 30)

_T = TypeVar("_T")

# Clock moves: a few minutes (inside an acknowledgement window) up to several working days
# (past resolution limits, escalations and the return window).
ADVANCES = st.sampled_from(
    [
        timedelta(minutes=5),
        timedelta(minutes=31),
        timedelta(hours=2, minutes=1),
        timedelta(hours=9),
        timedelta(days=1),
        timedelta(days=3),
        timedelta(days=8),
        timedelta(days=16),
    ]
)
# Extensions: fine, too long, malformed, missing.
DURATIONS = st.sampled_from(["2d", "3wd", "10wd", "11wd", "40d", "soon", None])
GRADES = st.sampled_from([*lc.GRADES, "满意", "meh", None])
TEXTS = st.sampled_from(["现场已处理", "  ", None])


@dataclass(frozen=True)
class World:
    """The county and the dispatch configuration, loaded once for every example."""

    hierarchy: Hierarchy
    router: Router
    policy: LifecyclePolicy
    duty: DutyRoster
    teams: Teams
    micro_grids: tuple[str, ...]
    categories: tuple[str, ...]
    responders: tuple[str, ...]
    backups: frozenset[str]  # every responder that is somebody's B post

    @classmethod
    def load(cls, county_dir: Path) -> World:
        hierarchy = load_hierarchy(county_dir)
        config = load_dispatch_config(county_dir)
        router = Router.compile(hierarchy, config)
        everyone = [r for cell in hierarchy.cells() for r in hierarchy.responders_at(cell.code)]
        responders = sorted({r.id for r in everyone})
        return cls(
            hierarchy=hierarchy,
            router=router,
            policy=config.policy,
            duty=DutyRoster.load(county_dir, hierarchy, config.calendar),
            teams=Teams.load(county_dir, hierarchy),
            micro_grids=tuple(c.code for c in hierarchy.cells(level=Level.MICRO_GRID)),
            categories=tuple(c.code for c in router.catalog),
            responders=tuple(responders),
            backups=frozenset(r.backup for r in everyone if r.backup is not None),
        )


class RecordingCases(CaseService):
    """The real CaseService, noting each deadline that fired (wrote events), for the
    exactly-once invariant across restarts."""

    fired_keys: list[tuple[str, str]]

    async def fire(self, whistle_id: str, key: str) -> bool:
        fired = await super().fire(whistle_id, key)
        if fired:
            self.fired_keys.append((whistle_id, key))
        return fired


class LifecycleMachine(RuleBasedStateMachine):
    """Random sequences of intake, actions, time and restarts over one database file."""

    world: ClassVar[World]
    base_dir: ClassVar[Path]
    totals: ClassVar[Counter[str]]

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.dir = Path(tempfile.mkdtemp(dir=self.base_dir))
        self.db = self.dir / "whistle.sqlite3"
        self.clock = FakeClock()
        self.started_at = self.clock.now()
        self.ids = IdFactory(self.clock, random.Random(0).getrandbits)
        self.created: dict[str, str] = {}  # case id -> source, as the machine filed them
        self.fired: list[tuple[str, str]] = []
        self.refused = Counter[str]()
        self.done = Counter[str]()
        self.restarts = 0
        self.open_parts()

    # -- plumbing ----------------------------------------------------------------------------

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return self.loop.run_until_complete(coro)

    def open_parts(self) -> None:
        world = self.world
        self.bus = Bus()
        self.store = SqliteStore(self.db, self.bus)
        self.cases = RecordingCases(
            store=self.store,
            router=world.router,
            policy=world.policy,
            clock=self.clock,
            tz=world.router.calendar.timezone,
            duty=world.duty,
            teams=world.teams,
            run_timer=False,
        )
        self.cases.fired_keys = self.fired
        self.timers = self.bus.subscribe("*", self.cases.on_event, name="timers")
        self.intake = Intake(
            hierarchy=world.hierarchy,
            router=world.router,
            catalog=world.router.catalog,
            store=self.store,
            clock=self.clock,
            ids=self.ids,
            tz=world.router.calendar.timezone,
            policy=world.policy,
            duty=world.duty,
            repeats=CameraRepeats(self.store, self.clock, world.policy),
            # Two cameras watching the whole county: their whistles may come from anywhere.
            cameras=CameraRegistry(
                {
                    name: Camera(name, world.hierarchy.root, None, None, name, n)
                    for n, name in enumerate(("cam-1", "cam-2"), start=2)
                },
                world.hierarchy,
            ),
        )

        async def start() -> None:
            await self.bus.start()
            await self.store.open()
            await self.cases.start()
            await self.settle()

        self.run(start())

    def close_parts(self) -> None:
        async def stop() -> None:
            await self.cases.stop()
            await self.store.close()
            await self.bus.stop()

        self.run(stop())

    async def settle(self) -> None:
        """Let the bus hand every published event to the timers (they re-arm from it)."""
        await self.timers.queue.join()

    def teardown(self) -> None:
        # What the run did, over every example: checked at the end, so that a machine whose
        # actions were all refused cannot pass for one that exercised the loop.
        totals = type(self).totals
        totals.update({f"{name} done": n for name, n in self.done.items()})
        totals.update({f"{name} refused": n for name, n in self.refused.items()})
        totals["deadlines fired"] += len(self.fired)
        totals["restarts"] += self.restarts
        totals["examples"] += 1
        try:
            self.close_parts()
        finally:
            self.loop.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    def raw(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)

    def events(self, case_id: str) -> list[Event]:
        return self.run(self.store.timeline(case_id))

    def state(self, case_id: str) -> CaseState:
        return fold(self.events(case_id), case_id)

    def act(self, case_id: str, actor: str, name: str, decide: Decide) -> None:
        """Take one action; a refusal must be one of the documented errors and leave the
        case's events as they were."""
        before = [e.seq for e in self.events(case_id)]
        refused = None
        try:
            self.run(self.cases.act(case_id, actor, decide))
        except (IllegalTransition, InvalidAction) as exc:
            refused = exc
        if refused is None:
            self.done[name] += 1
        else:
            self.refused[name] += 1
            after = [e.seq for e in self.events(case_id)]
            assert after == before, f"refused {name} ({refused}) still wrote events"
        self.run(self.settle())

    # -- rules: intake, time, restarts -------------------------------------------------------

    @initialize(n=st.integers(1, 3), data=st.data())
    def first_whistles(self, n: int, data: st.DataObject) -> None:
        for _ in range(n):
            self.file_whistle(data)

    @rule(data=st.data())
    def file(self, data: st.DataObject) -> None:
        self.file_whistle(data)

    def file_whistle(self, data: st.DataObject) -> None:
        world = self.world
        source = data.draw(st.sampled_from([s.value for s in Source]), label="source")
        body: dict[str, Any] = {
            "source": source,
            "category": data.draw(st.sampled_from(world.categories), label="category"),
            "description": "楼道堆放杂物",
            "location": {"grid": data.draw(st.sampled_from(world.micro_grids), label="grid")},
            "reporter": "网格员王芳",
        }
        if source == Source.CAMERA:
            body["camera_id"] = data.draw(st.sampled_from(["cam-1", "cam-2"]), label="camera")
        submission = self.run(self.intake.submit(body))
        self.run(self.settle())
        if submission.created:
            self.created[submission.whistle_id] = source
        else:
            # A camera's repeat joins its open case instead of opening one.
            assert submission.grouped
            assert submission.whistle_id in self.created

    @rule(by=ADVANCES)
    def advance(self, by: timedelta) -> None:
        self.clock.advance(by)
        self.run(self.cases.tick())
        self.run(self.settle())

    @rule(chance=st.integers(0, 3))
    def restart(self, chance: int) -> None:
        if chance:
            return  # a restart one time in four: the rest of the steps act on cases
        self.restarts += 1
        self.close_parts()
        self.open_parts()

    @rule(by=ADVANCES)
    def down_while_time_passes(self, by: timedelta) -> None:
        """Stopped with deadlines pending, time moves past some of them; ``start`` fires
        those at once (and the invariants check: each exactly once)."""
        self.restarts += 1
        self.close_parts()
        self.clock.advance(by)
        self.open_parts()

    # -- rules: assignment actions -----------------------------------------------------------

    def pick_case(self, data: st.DataObject, *, mostly: CaseStatus | None = None) -> CaseState:
        """Any case; with ``mostly``, half the time one in that status when there is one
        (the steps at the end of the loop find a case that can take them, however many
        other cases the run has made)."""
        if mostly is not None:
            ready = sorted(c for c in self.created if self.state(c).status is mostly)
            if ready and data.draw(st.booleans(), label=f"a {mostly.value} case"):
                return self.state(data.draw(st.sampled_from(ready), label="case"))
        case_id = data.draw(st.sampled_from(sorted(self.created)), label="case")
        return self.state(case_id)

    def pick_actor(self, data: st.DataObject, right: str | None) -> str:
        """The right actor most of the time, else anybody in the roster."""
        if right is not None and data.draw(st.booleans(), label="right actor"):
            return right
        return data.draw(st.sampled_from(self.world.responders), label="actor")

    @rule(
        action=st.sampled_from(["acknowledge", "start", "resolve", "return"]),
        note=TEXTS,
        data=st.data(),
    )
    def assignment_action(self, action: str, note: str | None, data: st.DataObject) -> None:
        state = self.pick_case(data)
        aid = data.draw(st.sampled_from(sorted(state.assignments)), label="assignment")
        actor = self.pick_actor(data, state.assignments[aid].responder_id)
        decide: Decide
        if action == "acknowledge":
            decide = lambda s, ctx: lc.acknowledge(s, aid, actor, ctx)  # noqa: E731
        elif action == "start":
            decide = lambda s, ctx: lc.start(s, aid, actor, ctx)  # noqa: E731
        elif action == "resolve":
            decide = lambda s, ctx: lc.resolve(s, aid, actor, ctx, note=note, photos=[])  # noqa: E731
        else:
            decide = lambda s, ctx: lc.return_assignment(s, aid, actor, ctx, reason=note)  # noqa: E731
        self.act(state.id, actor, action, decide)

    @rule(team=st.booleans(), data=st.data())
    def claim(self, team: bool, data: st.DataObject) -> None:
        state = self.pick_case(data)
        boards = [a for a in state.assignments.values() if a.mode == "claim"]
        eligible = boards[0].eligible if boards else ()
        actor = self.pick_actor(data, data.draw(st.sampled_from(eligible)) if eligible else None)
        chosen = None
        if team:
            teams = self.world.teams.teams_of(actor)
            if teams:
                chosen = teams[0]
        self.act(state.id, actor, "claim", lambda s, ctx: lc.claim(s, actor, ctx, team=chosen))

    @rule(steps=st.integers(1, 6), data=st.data())
    def progress(self, steps: int, data: st.DataObject) -> None:
        """A few steps the case allows, each by the right actor with good arguments: this is
        what carries cases through the whole loop (report in, handle, verify, close, rate)."""
        case_id = self.pick_case(data).id
        for _ in range(steps):
            moves = self.moves(self.state(case_id))
            if not moves:
                return
            name, actor, decide = data.draw(st.sampled_from(moves), label="move")
            self.act(case_id, actor, name, decide)

    def moves(self, state: CaseState) -> list[tuple[str, str, Decide]]:
        moves: list[tuple[str, str, Decide]] = []
        for aid, assignment in sorted(state.assignments.items()):
            who = assignment.responder_id
            for action in lc.allowed_assignment_actions(state, assignment):
                if who is not None:
                    moves.append((action, who, _assignment_step(action, aid, who)))
            if assignment.return_review == "pending":
                # The dispatcher names who takes a return it accepts: here the backstop, who
                # handles every category (refused when it is already on the case).
                backstop = self.world.hierarchy.responders_at(
                    self.world.hierarchy.root, ResponderKind.BACKSTOP
                )[0].id
                moves.append(("accept-return", "operator", _review(aid, accept=True, to=backstop)))
                moves.append(("refuse-return", "operator", _review(aid, accept=False)))
        for action in lc.allowed_case_actions(state):
            step = _CASE_STEPS.get(action)
            if step is not None:
                moves.append((action, _CASE_ACTORS[action], step))
        boards = [a for a in state.assignments.values() if a.status is AssignmentStatus.OPEN]
        if boards and boards[0].eligible:
            member = boards[0].eligible[0]
            moves.append(("claim", member, lambda s, ctx: lc.claim(s, member, ctx)))
        return moves

    # -- rules: case actions -----------------------------------------------------------------

    @rule(passed=st.booleans(), note=TEXTS, data=st.data())
    def verify(self, passed: bool, note: str | None, data: st.DataObject) -> None:
        state = self.pick_case(data, mostly=CaseStatus.RESOLVED)
        resolver = (state.resolution or {}).get("responder_id")
        # The grid worker or community checks; now and then the resolver tries it himself.
        actor = resolver if resolver and data.draw(st.booleans()) else "gridworker-1"
        self.act(
            state.id,
            actor,
            "verify",
            lambda s, ctx: lc.verify(s, actor, ctx, passed=passed, note=note),
        )

    @rule(reason=TEXTS, data=st.data())
    def reopen(self, reason: str | None, data: st.DataObject) -> None:
        state = self.pick_case(data)
        self.act(
            state.id,
            "operator",
            "reopen",
            lambda s, ctx: lc.reopen(s, "operator", ctx, reason=reason),
        )

    @rule(reason=TEXTS, data=st.data())
    def hold(self, reason: str | None, data: st.DataObject) -> None:
        state = self.pick_case(data)
        self.act(
            state.id, "operator", "hold", lambda s, ctx: lc.hold(s, "operator", ctx, reason=reason)
        )

    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        state = self.pick_case(data)
        self.act(state.id, "operator", "release", lambda s, ctx: lc.release(s, "operator", ctx))

    @rule(duration=DURATIONS, reason=TEXTS, data=st.data())
    def extend(self, duration: str | None, reason: str | None, data: st.DataObject) -> None:
        state = self.pick_case(data)
        self.act(
            state.id,
            "operator",
            "extend",
            lambda s, ctx: lc.extend(s, "operator", ctx, reason=reason, duration=duration),
        )

    @rule(grade=GRADES, data=st.data())
    def rate(self, grade: str | None, data: st.DataObject) -> None:
        state = self.pick_case(data, mostly=CaseStatus.CLOSED)
        self.act(
            state.id,
            "citizen",
            "rate",
            lambda s, ctx: lc.rate(s, "citizen", ctx, grade=grade, comment=None),
        )

    @precondition(lambda self: len(self.created) > 1)
    @rule(data=st.data())
    def merge(self, data: st.DataObject) -> None:
        state = self.pick_case(data)
        into = data.draw(st.sampled_from(sorted(self.created)), label="into")
        # As the API does: the target must exist and not be merged itself.
        if self.state(into).status is CaseStatus.CANCELLED:
            return
        self.act(
            state.id, "operator", "merge", lambda s, ctx: lc.merge(s, "operator", ctx, into=into)
        )

    @rule(reason=TEXTS, data=st.data())
    def reassign(self, reason: str | None, data: st.DataObject) -> None:
        state = self.pick_case(data)
        aid = data.draw(st.sampled_from(sorted(state.assignments)), label="assignment")
        target = data.draw(st.sampled_from(self.world.responders), label="to")
        self.act(
            state.id,
            "operator",
            "reassign",
            lambda s, ctx: lc.reassign(s, aid, "operator", ctx, responder_id=target, reason=reason),
        )

    @rule(accept=st.booleans(), reason=TEXTS, data=st.data())
    def review_return(self, accept: bool, reason: str | None, data: st.DataObject) -> None:
        state = self.pick_case(data)
        aid = data.draw(st.sampled_from(sorted(state.assignments)), label="assignment")
        target = data.draw(st.sampled_from(self.world.responders), label="to")
        decide: Decide
        if accept:
            decide = lambda s, ctx: lc.accept_return(  # noqa: E731
                s, aid, "operator", ctx, responder_id=target, note=reason
            )
        else:
            decide = lambda s, ctx: lc.refuse_return(s, aid, "operator", ctx, reason=reason)  # noqa: E731
        self.act(state.id, "operator", "accept-return" if accept else "refuse-return", decide)

    # -- invariants --------------------------------------------------------------------------

    @invariant()
    def closed_cases_were_resolved_and_verified(self) -> None:
        for case_id in self.created:
            events = self.events(case_id)
            state = fold(events, case_id)
            if state.status not in (CaseStatus.CLOSED, CaseStatus.RATED):
                continue
            assert state.resolution is not None, f"{case_id} closed without a resolution"
            assert state.verified_by is not None, f"{case_id} closed without a verification"
            # In the log: since the last reopen, the owner's resolution, then the check.
            types = [e.type for e in events]
            last_reopen = max((i for i, t in enumerate(types) if t == "case.reopened"), default=-1)
            tail = types[last_reopen + 1 :]
            assert "assignment.resolved" in tail
            assert "case.verified" in tail
            assert tail.index("assignment.resolved") < tail.index("case.verified")

    @invariant()
    def every_escalation_climbs_one_level(self) -> None:
        for case_id in self.created:
            events = self.events(case_id)
            for i, added in enumerate(events):
                if added.type != "assignment.added" or added.actor != "scheduler":
                    continue
                before = fold(events[:i], case_id)
                old = before.assignments[added.data["replaces"]]
                if old.mode != "push":
                    continue  # an unclaimed board pushed to the grid worker: not a climb
                self.check_climb(before, old, added)

    def check_climb(self, before: CaseState, old: Any, event: Event) -> None:
        """As a town staffs it: the B post of the silent A post, once (never a B post's B
        post); a duty person (值班) for an off-duty post; else the nearest cell with a
        responder of the next kind on the ladder (rules.toml ``[kind.<kind>].escalate``, from
        the old cell; the same kind from its parent) who may take the case; else the county
        backstop."""
        hierarchy = self.world.hierarchy
        rules = self.world.router.rules
        new = event.data["assignment"]
        reason = event.data["reason"]
        new_id = new["responder"]["id"]
        where = (
            f"{before.id}: {old.id} ({old.responder_id} at {old.cell}) -> {new_id} at {new['cell']}"
        )
        chosen = hierarchy.responder(new_id)
        assert chosen is not None, where
        if reason == "duty":
            assert chosen.kind in (ResponderKind.DUTY_OFFICER, ResponderKind.DUTY_POLICE), where
            assert self.world.duty.on_duty(new_id, event.at), where
            return
        if reason == "backup":
            responder = hierarchy.responder(old.responder_id or "")
            assert responder is not None, where
            if responder.backup == new_id:
                # AB岗 is one step: only the A post's B post, never the B post's own.
                assert old.origin not in ("backup", "duty", "backstop"), where
                # The roster's B post: beside the A post (a neighbouring community's officer,
                # the grid's other member) or, for a town's police station, the county bureau.
                b_cell, a_cell = hierarchy.cell(new["cell"]), hierarchy.cell(old.cell)
                assert b_cell.level == a_cell.level or b_cell.code == a_cell.parent, where
            else:
                # The B post of an off-duty responder the climb found.
                assert new_id in self.world.backups, where
            assert self.world.duty.on_duty(new_id, event.at), where
            return
        kind = ResponderKind(old.kind)
        # A missed acknowledgement climbs the ladder; an unresolved case (a new round) goes to
        # the same kind one level up.
        target = kind if event.data.get("new_round") else rules.escalation_kind(kind)
        excluded = set(old.tried) | {old.responder_id}
        if target is kind:
            # Who may not take it: whoever is on the case, failed it or gave it back.
            taken = {
                AssignmentStatus.DISPATCHED,
                AssignmentStatus.OPEN,
                AssignmentStatus.ACKNOWLEDGED,
                AssignmentStatus.IN_PROGRESS,
                AssignmentStatus.ESCALATED,
                AssignmentStatus.RETURNED,
            }
            excluded |= {a.responder_id for a in before.assignments.values() if a.status in taken}
            start = hierarchy.cell(old.cell).parent or old.cell
        else:
            start = old.cell
        expected = None
        for cell in hierarchy.ancestors(start):
            fits = [
                r.id
                for r in hierarchy.responders_at(cell.code, target)
                if r.id not in excluded
                and r.handles(before.category)
                and self.world.duty.on_duty(r.id, event.at)
            ]
            if fits:
                expected = (cell.code, fits)
                break
        if expected is None:
            assert reason == "backstop", where
            assert new["cell"] == hierarchy.root, where
            assert chosen.kind is ResponderKind.BACKSTOP, where
        else:
            assert reason == "escalation", where
            assert new["cell"] == expected[0], where
            assert new_id in expected[1], where

    @invariant()
    def the_store_holds_the_folded_state(self) -> None:
        tz = self.world.router.calendar.timezone
        with self.raw() as raw:
            rows = {
                wid: (status, version, orjson.loads(doc) if doc else None)
                for wid, status, version, doc in raw.execute(
                    "SELECT id, status, version, case_doc FROM whistles"
                )
            }
            pending: dict[str, dict[str, str]] = {}
            for wid, key, due in raw.execute(
                "SELECT whistle_id, key, due_at FROM deadlines WHERE status = 'pending'"
            ):
                pending.setdefault(wid, {})[key] = due
            assignments = {
                aid: (status, responder)
                for aid, status, responder in raw.execute(
                    "SELECT id, status, responder_id FROM assignments"
                )
            }
        assert set(rows) == set(self.created)
        for case_id in self.created:
            state = self.state(case_id)
            status, version, doc = rows[case_id]
            assert (status, version) == (state.status.value, state.version), case_id
            assert doc == orjson.loads(orjson.dumps(case_document(state, tz))), case_id
            for aid, assignment in state.assignments.items():
                assert assignments[aid] == (assignment.status.value, assignment.responder_id), aid
            wanted = self.cases.deadlines_of(state)
            assert self.cases.timer.pending(case_id) == wanted, case_id
            stored = {
                k: datetime.fromisoformat(v).astimezone(UTC)
                for k, v in pending.get(case_id, {}).items()
            }
            assert stored == {k: v.astimezone(UTC) for k, v in wanted.items()}, case_id

    @invariant()
    def no_deadline_fires_twice(self) -> None:
        repeated = [key for key, n in Counter(self.fired).items() if n > 1]
        assert not repeated, f"fired more than once: {repeated}"

    @invariant()
    def statistics_count_the_cases_behind_them(self) -> None:
        hierarchy = self.world.hierarchy
        now = self.clock.now()
        query = StatsQuery(
            grid_path="/" + "/".join(hierarchy.cell(hierarchy.root).path) + "/",
            since=self.started_at - timedelta(days=1),
            until=now + timedelta(days=1),
            now=now,
            top=None,
        )
        stats = self.run(self.store.statistics(query))
        expected: Counter[str] = Counter()
        by_source: Counter[str] = Counter()
        for case_id, source in self.created.items():
            state = self.state(case_id)
            if state.status in (CaseStatus.CANCELLED, CaseStatus.MUTED):
                continue
            events = self.events(case_id)
            closed = state.status in (CaseStatus.CLOSED, CaseStatus.RATED)
            resolved = state.resolution is not None
            resolve_due = state.resolve_due
            if state.rectification is not None:
                # 差评整改: the case's own figures keep its first resolution, deadline and
                # closure (it was closed to be rated); the rectification counts apart.
                closed = True
                resolved = state.rectification.get("case_resolved_at") is not None
                case_due = state.rectification.get("case_due")
                resolve_due = None if case_due is None else datetime.fromisoformat(case_due)
            due = resolved or closed or (resolve_due is not None and resolve_due <= now)
            on_time = next(
                (
                    e.data.get("on_time")
                    for e in reversed(events)
                    if e.type == "case.closed" and not e.data.get("rectification")
                ),
                None,
            )
            flags = {
                "total": True,
                "acknowledged": any(
                    e.type in ("assignment.acknowledged", "assignment.claimed") for e in events
                ),
                "resolved": resolved,
                "due": due,
                "closed": closed,
                "closed_on_time": closed and on_time is True,
                "due_not_held": due and state.status is not CaseStatus.ON_HOLD,
                "on_hold": state.status is CaseStatus.ON_HOLD,
                "reworked": closed and state.rework > 0,
                "rated": state.rating is not None,
                "satisfied": state.rating in SATISFIED,
            }
            expected.update(k for k, v in flags.items() if v)
            # 响应率 counts the case (its row carries what its assignments say of it).
            flags_of_log = assignment_flags(events, case_id, now)
            expected.update({k: flags_of_log[k] for k in RESPONSE_FLAGS})
            by_source[source] += 1
        # Assignments count whatever their case became (the SQL filters them by place and
        # time only), so every case the machine filed is looked at.
        for case_id in self.created:
            counted = assignment_flags(self.events(case_id), case_id, now)
            expected.update({k: counted[k] for k in ASSIGNMENT_FLAGS})
        counts = stats["counts"]
        for metric in (*CASE_FLAGS, *ASSIGNMENT_FLAGS):
            assert counts[metric] == expected[metric], (metric, counts[metric], expected[metric])
        got_sources = {row["key"]: row["total"] for row in stats["sources"] if row["total"]}
        assert got_sources == dict(by_source)
        for table in ("days", "categories", "places"):
            assert sum(row["total"] for row in stats[table]) == expected["total"], table


RESPONSE_FLAGS = ("response_due", "responded_in_time")
CASE_FLAGS = (
    *RESPONSE_FLAGS,
    "total",
    "acknowledged",
    "resolved",
    "due",
    "closed",
    "closed_on_time",
    "due_not_held",
    "on_hold",
    "reworked",
    "rated",
    "satisfied",
)
ASSIGNMENT_FLAGS = ("answered", "claimed", "completed")


def assignment_flags(events: list[Event], case_id: str, now: datetime) -> Counter[str]:
    """The assignment metrics of one case, from its log, and its 响应率 figures (a case counts
    once: due when any push assignment's acknowledgement fell due, in time when any was
    acknowledged by its deadline). An acknowledgement counts in time against the deadline it
    had when it came (holds move a waiting deadline on); one never acknowledged fell due
    unless it ended first (returned, replaced, or its case closed or merged while it
    waited)."""
    state = fold(events, case_id)
    acked: dict[str, tuple[datetime, datetime | None]] = {}  # id -> (when, deadline then)
    ended: dict[str, tuple[datetime, datetime | None]] = {}
    resolved: set[str] = set()
    for i, event in enumerate(events):
        aid = str(event.data.get("assignment"))
        if event.type in ("assignment.acknowledged", "assignment.claimed"):
            if aid not in acked:
                then = fold(events[:i], case_id).assignments[aid]
                acked[aid] = (event.at, then.acknowledge_due)
        elif event.type == "assignment.resolved":
            resolved.add(aid)
        ending: list[str] = []
        if event.type == "assignment.returned":
            ending = [aid]
        elif event.type == "assignment.added" and event.data.get("replaces"):
            ending = [event.data["replaces"]]
        elif event.type in ("case.closed", "case.merged"):
            ending = list(fold(events[:i], case_id).assignments)
        for gone in ending:
            if gone not in acked and gone not in ended:
                then = fold(events[:i], case_id).assignments[gone]
                ended[gone] = (event.at, then.acknowledge_due)
    flags: Counter[str] = Counter()
    response_due = responded_in_time = False
    for aid, assignment in state.assignments.items():
        push = assignment.mode == "push"
        if aid in acked:
            at, due = acked[aid]
            response_due |= push
            responded_in_time |= push and (due is None or at <= due)
            flags["answered"] += push
            flags["claimed"] += not push
            flags["completed"] += not push and aid in resolved
        else:
            end, due = ended.get(aid, (now, assignment.acknowledge_due))
            response_due |= push and due is not None and due <= min(now, end)
    flags["response_due"] += response_due
    flags["responded_in_time"] += responded_in_time
    return flags


def _assignment_step(action: str, aid: str, actor: str) -> Decide:
    if action == "acknowledge":
        return lambda s, ctx: lc.acknowledge(s, aid, actor, ctx)
    if action == "start":
        return lambda s, ctx: lc.start(s, aid, actor, ctx)
    if action == "return":
        return lambda s, ctx: lc.return_assignment(s, aid, actor, ctx, reason="不归我管")
    return lambda s, ctx: lc.resolve(s, aid, actor, ctx, note="已处理", photos=[])


def _review(aid: str, *, accept: bool, to: str | None = None) -> Decide:
    if accept:
        return lambda s, ctx: lc.accept_return(s, aid, "operator", ctx, responder_id=to, note=None)
    return lambda s, ctx: lc.refuse_return(s, aid, "operator", ctx, reason="应由你办")


# Good arguments for each case action the loop may allow (claim is handled apart).
_CASE_STEPS: dict[str, Decide] = {
    "verify": lambda s, ctx: lc.verify(s, "gridworker-1", ctx, passed=True, note=None),
    "rate": lambda s, ctx: lc.rate(s, "citizen", ctx, grade="satisfied", comment=None),
    "release": lambda s, ctx: lc.release(s, "operator", ctx),
}
_CASE_ACTORS = {"verify": "gridworker-1", "rate": "citizen", "release": "operator"}


def test_random_action_sequences_keep_the_closed_loop_invariants(
    county_dir: Path, tmp_path: Path
) -> None:
    LifecycleMachine.world = World.load(county_dir)
    LifecycleMachine.base_dir = tmp_path
    LifecycleMachine.totals = Counter()
    run_state_machine_as_test(
        LifecycleMachine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            derandomize=not FULL,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            phases=[Phase.explicit, Phase.reuse, Phase.generate]
            if os.environ.get("WHISTLE_NOSHRINK")
            else list(Phase),
        ),
    )
    totals = LifecycleMachine.totals
    print(dict(sorted(totals.items())))
    # The run went round the whole loop, deadlines fired and the service restarted: the
    # invariants above were checked on cases in every state, not only on fresh ones.
    for what in ("acknowledge done", "resolve done", "verify done", "rate done", "restarts"):
        assert totals[what] > 0, what
    assert totals["deadlines fired"] > 0
