"""The closed loop over time, driven by a fake clock: escalation, claims, holds, returns."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import Any

from grids import Hierarchy, Level, ResponderKind
from tests.support.harness import Live, StartServer
from tests.support.lifecycle import Cases
from whistle.clock import FakeClock


def origins(doc: dict[str, Any], kind: str) -> list[tuple[str, str, str]]:
    return [
        (a["origin"], a["responder"]["id"] if a["responder"] else "-", a["status"])
        for a in doc["assignments"]
        if a["kind"] == kind
    ]


def due(assignment: dict[str, Any], key: str) -> datetime:
    return datetime.fromisoformat(assignment[key])


def police_slot(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The police slot in the order it was filled: the 社区民警's assignment and everything
    that replaced it (the case's other reports left out)."""
    slot = [a for a in doc["assignments"] if a["kind"] in ("community_police", "police_station")]
    return sorted(slot, key=lambda a: int(a["id"].rsplit("-", 1)[1]))


def police_chain(doc: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(kind, origin, responder, status) along the police slot."""
    return [(a["kind"], a["origin"], a["responder"]["id"], a["status"]) for a in police_slot(doc)]


async def test_unacknowledged_police_push_goes_to_the_station_after_the_b_post(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    cases = Cases(live, county)
    doc = await cases.new()
    police = next(a for a in doc["assignments"] if a["kind"] == "community_police")
    a_post = county.responder(police["responder"]["id"])
    assert a_post is not None
    assert a_post.backup is not None
    town = county.at_level(doc["grid"]["code"], Level.TOWN)
    (station,) = county.responders_at(town.code, ResponderKind.POLICE_STATION)
    (bureau,) = county.responders_at(county.root, ResponderKind.POLICE_STATION)
    backstop = county.responders_at(county.root, ResponderKind.BACKSTOP)[0]
    assert station.backup == bureau.id

    # One minute before the deadline nothing happens.
    clock.set(due(police, "acknowledge_due") - timedelta(minutes=1))
    assert await cases.tick() == 0

    # A -> B: the neighbouring community's officer, once.
    clock.set(due(police, "acknowledge_due"))
    assert await cases.tick() >= 1
    doc = await cases.get(doc["id"])
    assert police_chain(doc) == [
        ("community_police", "rule", a_post.id, "escalated"),
        ("community_police", "backup", a_post.backup, "dispatched"),
    ]

    # The B post is silent too: not its own B post (the next community's officer) but one
    # level up, the town's 派出所; then the station's B post, the county bureau; then the
    # backstop (兜底).
    for _ in range(3):
        last = police_slot(doc)[-1]
        clock.set(due(last, "acknowledge_due"))
        await cases.tick()
        doc = await cases.get(doc["id"])
    assert police_chain(doc) == [
        ("community_police", "rule", a_post.id, "escalated"),
        ("community_police", "backup", a_post.backup, "escalated"),
        ("police_station", "escalation", station.id, "escalated"),
        ("police_station", "backup", bureau.id, "escalated"),
        ("police_station", "backstop", backstop.id, "dispatched"),
    ]
    assert police_slot(doc)[2]["cell"] == town.code

    # The backstop is silent as well: nothing escalates past the county; the case is marked.
    last = police_slot(doc)[-1]
    clock.set(due(last, "acknowledge_due"))
    await cases.tick()
    doc = await cases.get(doc["id"])
    assert police_slot(doc)[-1]["status"] == "dispatched"
    assert doc["case"]["overdue"] is True
    assert police_events(doc, "assignment.added") == 4
    assert police_events(doc, "case.overdue") == 1
    # A day later nothing more has happened to the police slot: each deadline fired once.
    clock.advance(timedelta(days=1))
    await cases.tick()
    doc = await cases.get(doc["id"])
    assert police_events(doc, "assignment.added") == 4
    assert police_events(doc, "case.overdue") == 1


def police_events(doc: dict[str, Any], kind: str) -> int:
    police = {
        a["id"] for a in doc["assignments"] if a["kind"] in ("community_police", "police_station")
    }
    return sum(
        1
        for e in doc["timeline"]
        if e["type"] == kind
        and (
            e["data"].get("assignment", {}).get("id") in police
            if kind == "assignment.added"
            else e["data"].get("assignment") in police
        )
    )


def added_since(doc: dict[str, Any], first: int) -> list[tuple[str, str, str, str]]:
    """(kind, origin, cell, responder) of the assignments numbered ``first`` and after."""
    later = [a for a in doc["assignments"] if int(a["id"].rsplit("-", 1)[1]) >= first]
    later.sort(key=lambda a: int(a["id"].rsplit("-", 1)[1]))
    return [(a["kind"], a["origin"], a["cell"], a["responder"]["id"]) for a in later]


async def test_missed_push_of_the_one_plus_one_pair_goes_to_the_grid_leader(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    cases = Cases(live, county)
    doc = await cases.new()
    member = next(a for a in doc["assignments"] if a["kind"] == "registered_member")
    grid = county.at_level(doc["grid"]["code"], Level.GRID)
    town = county.at_level(doc["grid"]["code"], Level.TOWN)
    (leader,) = county.responders_at(grid.code, ResponderKind.GRID_LEADER)
    # The officer reports in; the 1+1 pair stay silent.
    police = next(a for a in doc["assignments"] if a["kind"] == "community_police")
    assert (await cases.assignment(police, "acknowledge"))[0] == 200
    clock.set(due(member, "acknowledge_due"))
    await cases.tick()
    doc = await cases.get(doc["id"])
    # Each is the other's B post and both already hold the case, so the second step of the
    # grid's escalation takes both slots: the 网格长, not the community's members nor the
    # county backstop.
    assert added_since(doc, 4) == [
        ("grid_leader", "escalation", grid.code, leader.id),
        ("grid_leader", "escalation", grid.code, leader.id),
    ]

    # The 网格长 is silent: the town's duty room, the 值班员 on shift (09:30: 08:00-16:00).
    clock.set(due(doc["assignments"][-1], "acknowledge_due"))
    await cases.tick()
    doc = await cases.get(doc["id"])
    on_shift = ("duty_officer", "escalation", town.code, f"DO{town.code}-1")
    assert added_since(doc, 6) == [on_shift, on_shift]


async def test_acknowledged_assignment_does_not_escalate(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    cases = Cases(live, county)
    doc = await cases.new()
    for assignment in doc["assignments"]:
        code, _ = await cases.assignment(assignment, "acknowledge")
        assert code == 200
    clock.set(due(doc["assignments"][0], "acknowledge_due") + timedelta(minutes=1))
    await cases.tick()
    doc = await cases.get(doc["id"])
    assert len(doc["assignments"]) == 3
    assert "assignment.added" not in [e["type"] for e in doc["timeline"]]


async def test_unclaimed_need_is_pushed_to_the_grid_worker(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    cases = Cases(live, county)
    doc = await cases.new(category="E0801", description="独居老人需要上门探访")
    board = doc["assignments"][0]
    assert (board["mode"], board["status"]) == ("claim", "open")
    clock.set(due(board, "claim_due"))
    await cases.tick()
    doc = await cases.get(doc["id"])
    grid = county.at_level(doc["grid"]["code"], Level.GRID)
    worker = county.responders_at(grid.code, ResponderKind.REGISTERED_MEMBER)[0]
    assert doc["assignments"][0]["status"] == "escalated"
    pushed = doc["assignments"][1]
    assert (pushed["mode"], pushed["origin"], pushed["responder"]["id"]) == (
        "push",
        "unclaimed",
        worker.id,
    )


async def test_member_claims_a_need_and_owns_it(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    cases = Cases(live, county)
    doc = await cases.new(category="E0802", description="留守儿童需要爱心书包")
    board = doc["assignments"][0]
    member = board["eligible_ids"][0]
    elsewhere = next(
        r.id
        for c in county.cells(level=Level.COMMUNITY)
        if c.code != board["cell"]
        for r in county.responders_at(c.code, ResponderKind.REGISTERED_MEMBER)
    )
    code, problem = await cases.case(doc["id"], "claim", actor=elsewhere)
    assert code == 409
    assert "not a registered party member" in problem["detail"]
    code, problem = await cases.case(doc["id"], "claim", actor="a-reporter")
    assert code == 403  # claiming is for responders
    code, doc = await cases.case(doc["id"], "claim", actor=member)
    assert code == 200, doc
    assert doc["status"] == "acknowledged"
    assert doc["case"]["owner"] == {"assignment": board["id"], "responder_id": member}
    assert doc["assignments"][0]["responder"]["id"] == member
    # The member who claimed it resolves it.
    code, doc = await cases.assignment(doc["assignments"][0], "resolve", note="书包已送到")
    assert code == 200, doc
    assert doc["status"] == "resolved"
    code, problem = await cases.case(doc["id"], "claim", actor=member)
    assert code == 409


async def test_team_claims_a_need_together(live: Live, county: Hierarchy, clock: FakeClock) -> None:
    from whistle.web.keys import CASES

    cases = Cases(live, county)
    doc = await cases.new(category="E0803", description="残疾人家庭需要帮扶")
    community = doc["assignments"][0]["cell"]
    team = live.app[CASES].teams.for_community(community)[0]
    code, answer = await cases.case(doc["id"], "claim", actor=team.captain, team=team.id)
    assert code == 200, answer
    claimed = answer["assignments"][0]
    assert claimed["team"] == team.id
    assert claimed["members"] == list(team.members)
    # Any member of the team may act on it.
    code, answer = await cases.assignment(claimed, "start", actor=team.members[-1])
    assert code == 200, answer
    started = answer["assignments"][0]
    assert (started["status"], started["team"]) == ("in_progress", team.id)
    assert started["responder"]["id"] == team.captain  # the claim survives later updates
    code, answer = await cases.case(doc["id"], "claim", actor=team.captain, team="no-such-team")
    assert code == 422
    # Every member sees the team's claim in their inbox, not only the one who made it.
    status, inbox = await live.get(f"/api/v1/responders/{team.members[-1]}/inbox")
    assert status == 200
    assert [i["whistle"]["id"] for i in inbox["assignments"]] == [doc["id"]]


async def test_first_receiver_owns_the_case_and_others_cannot_act_for_it(
    live: Live, county: Hierarchy
) -> None:
    cases = Cases(live, county)
    doc = await cases.new()
    first, second = doc["assignments"][0], doc["assignments"][1]
    await cases.assignment(second, "acknowledge")
    code, doc = await cases.assignment(first, "acknowledge")
    assert code == 200
    assert doc["case"]["owner"]["assignment"] == second["id"]
    code, problem = await cases.assignment(
        first, "resolve", note="x", actor=second["responder"]["id"]
    )
    assert code == 403  # the token is the second responder's: not its assignment
    assert "belongs to" in problem["detail"]


async def test_resolving_unacknowledged_and_rating_twice_are_refused(
    live: Live, county: Hierarchy
) -> None:
    cases = Cases(live, county)
    doc = await cases.new()
    assignment = doc["assignments"][0]
    code, problem = await cases.assignment(assignment, "resolve", note="done")
    assert code == 409
    assert problem["current"] == "dispatched"
    assert problem["allowed"] == ["acknowledge", "return"]
    await cases.assignment(assignment, "acknowledge")
    await cases.assignment(assignment, "resolve", note="done")
    code, problem = await cases.case(
        doc["id"], "verify", passed=True, actor=assignment["responder"]["id"]
    )
    assert code == 403  # a responder does not verify; reporters and operators do
    assert "needs reporter, operator" in problem["detail"]
    await cases.case(doc["id"], "verify", passed=True, actor="grid-checker")
    code, doc = await cases.case(doc["id"], "rate", grade="满意")
    assert code == 200
    assert doc["case"]["rating"] == {"grade": "satisfied", "label": "满意"}
    code, problem = await cases.case(doc["id"], "rate", grade="satisfied")
    assert code == 409
    assert problem["current"] == "rated"


async def test_failed_verification_sends_it_back_for_rework(live: Live, county: Hierarchy) -> None:
    cases = Cases(live, county)
    doc = await cases.new()
    assignment = doc["assignments"][0]
    await cases.assignment(assignment, "acknowledge")
    await cases.assignment(assignment, "resolve", note="done")
    code, problem = await cases.case(doc["id"], "verify", passed=False, actor="checker")
    assert code == 422
    assert problem["errors"] == [{"field": "note", "reason": "required"}]
    code, doc = await cases.case(
        doc["id"], "verify", passed=False, note="仍有杂物", actor="checker"
    )
    assert code == 200
    assert doc["status"] == "in_progress"
    assert doc["case"]["rework"] == 1
    assert doc["assignments"][0]["status"] == "in_progress"


async def test_a_return_waits_for_the_dispatcher_and_is_counted(
    live: Live, county: Hierarchy
) -> None:
    cases = Cases(live, county)
    doc = await cases.new(source="community", category="E0101")
    department = doc["assignments"][0]
    code, problem = await cases.assignment(department, "return")
    assert code == 422
    assert problem["errors"] == [{"field": "reason", "reason": "required"}]
    code, doc = await cases.assignment(department, "return", reason="应由环卫站处理")
    assert code == 200, doc
    assert doc["assignments"][0]["status"] == "returned"
    assert len(doc["assignments"]) == 1  # no re-route: the dispatcher decides
    assert doc["case"]["returns_pending"][0]["assignment"] == department["id"]
    assert doc["case"]["returns"] == 1


async def test_return_after_the_window_is_refused(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    cases = Cases(live, county)
    doc = await cases.new(source="community", category="E0101")
    department = doc["assignments"][0]
    await cases.assignment(department, "acknowledge")
    clock.advance(timedelta(days=4))  # Monday + 4 days: past 2 working days
    code, problem = await cases.assignment(department, "return", reason="不归我管")
    assert code == 409
    assert "return window" in problem["detail"]


async def test_hold_stops_the_clock(live: Live, county: Hierarchy, clock: FakeClock) -> None:
    cases = Cases(live, county)
    doc = await cases.new()
    first_due = datetime.fromisoformat(doc["case"]["resolve_due"])
    code, doc = await cases.case(doc["id"], "hold", reason="等待产权单位答复")
    assert code == 200
    clock.advance(timedelta(days=3))
    assert await cases.tick() == 0  # nothing fires while on hold
    code, doc = await cases.case(doc["id"], "release")
    assert code == 200
    assert doc["status"] == "dispatched"
    assert datetime.fromisoformat(doc["case"]["resolve_due"]) == first_due + timedelta(days=3)


async def test_extension_once_and_within_the_limit(live: Live, county: Hierarchy) -> None:
    cases = Cases(live, county)
    doc = await cases.new()
    code, problem = await cases.case(doc["id"], "extend", reason="x", duration="11wd")
    assert code == 422
    assert problem["errors"][0]["field"] == "duration"
    code, extended = await cases.case(doc["id"], "extend", reason="需协调", duration="2wd")
    assert code == 200
    assert extended["case"]["extended"] is True
    assert extended["case"]["resolve_due"] > doc["case"]["resolve_due"]
    code, problem = await cases.case(doc["id"], "extend", reason="again", duration="1wd")
    assert code == 409
    assert "extended once already" in problem["detail"]


async def test_an_extension_starts_a_round_so_each_urge_and_supervision_fires_once(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    # Found by tests/reliability/test_lifecycle_machine.py: an extension kept the round, so
    # the urge:0 and supervise:0 deadlines that had fired were armed again under the same
    # keys (their rows back to pending) and fired a second time.
    cases = Cases(live, county)
    doc = await cases.new()
    await cases.assignment(doc["assignments"][0], "acknowledge")
    resolve_due = datetime.fromisoformat(doc["case"]["resolve_due"])
    clock.set(resolve_due)
    await cases.tick()  # urged, then supervised (and the silent others go up)
    code, doc = await cases.case(doc["id"], "extend", reason="需协调", duration="3wd")
    assert code == 200
    assert doc["case"]["round"] == 1
    assert (doc["case"]["urged"], doc["case"]["supervised"]) == (False, False)
    clock.set(datetime.fromisoformat(doc["case"]["resolve_due"]))
    await cases.tick()  # the new limit's urge and supervision
    doc = await cases.get(doc["id"])
    rounds = [(e["type"], e["data"]["round"]) for e in doc["timeline"]
              if e["type"] in ("case.urged", "case.supervised")]  # fmt: skip
    assert rounds == [
        ("case.urged", 0),
        ("case.supervised", 0),
        ("case.urged", 1),
        ("case.supervised", 1),
    ]


async def test_unresolved_case_is_urged_supervised_then_escalated(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    cases = Cases(live, county)
    doc = await cases.new()
    owner = doc["assignments"][0]
    await cases.assignment(owner, "acknowledge")
    resolve_due = datetime.fromisoformat(doc["case"]["resolve_due"])
    clock.set(resolve_due - timedelta(minutes=1))
    await cases.tick()
    doc = await cases.get(doc["id"])
    assert doc["case"]["urged"] is True
    assert doc["case"]["supervised"] is False
    clock.set(resolve_due)
    await cases.tick()
    doc = await cases.get(doc["id"])
    assert doc["case"]["supervised"] is True
    supervised = [e for e in doc["timeline"] if e["type"] == "case.supervised"]
    assert len(supervised) == 1
    notified = {n["responder_id"] for n in supervised[0]["data"]["notify"]}
    assert owner["responder"]["id"] in notified
    assert len(notified) == 2  # the owner and the level above
    clock.set(resolve_due + timedelta(days=3))
    await cases.tick()
    doc = await cases.get(doc["id"])
    escalated = doc["assignments"][-1]
    assert escalated["origin"] == "escalation"
    assert doc["assignments"][0]["status"] == "escalated"
    assert doc["case"]["round"] == 1
    assert doc["case"]["owner"] is None
    assert doc["status"] == "dispatched"


async def test_inbox_lists_assignments_and_open_needs(live: Live, county: Hierarchy) -> None:
    cases = Cases(live, county)
    doc = await cases.new()
    need = await cases.new(category="E0801", description="探访独居老人")
    responder = doc["assignments"][0]["responder"]["id"]
    status, inbox = await live.get(f"/api/v1/responders/{responder}/inbox")
    assert status == 200
    assert [i["assignment"]["id"] for i in inbox["assignments"]] == [doc["assignments"][0]["id"]]
    from whistle.web.keys import CASES

    teams = live.app[CASES].teams.for_community(need["assignments"][0]["cell"])
    member = teams[0].members[-1]
    assert member in need["assignments"][0]["eligible_ids"]
    status, inbox = await live.get(f"/api/v1/responders/{member}/inbox")
    assert [i["whistle"]["id"] for i in inbox["open_needs"]] == [need["id"]]
    assert inbox["teams"]
    status, _ = await live.get("/api/v1/responders/nobody/inbox")
    assert status == 404


async def test_deadlines_survive_a_restart_and_fire_exactly_once(
    start_server: StartServer, county: Hierarchy, clock: FakeClock, tmp_path: Any
) -> None:
    db = tmp_path / "restart.sqlite3"
    live = await start_server(db=db)
    cases = Cases(live, county)
    docs = [await cases.new(location={"grid": cases.micro(n)}) for n in range(3)]
    await live.client.close()  # the server stops with every acknowledgement deadline pending

    first_due = min(due(a, "acknowledge_due") for d in docs for a in d["assignments"])
    clock.set(first_due + timedelta(minutes=1))  # past all three cases' ack deadlines
    live = await start_server(db=db)  # start-up fires what is overdue, at once
    cases = Cases(live, county)
    for doc in docs:
        doc = await cases.get(doc["id"])
        escalations = [e for e in doc["timeline"] if e["type"] == "assignment.added"]
        assert len(escalations) == 3  # each of the three silent assignments, once
        assert {e["data"]["replaces"] for e in escalations} == {
            a["id"] for a in doc["assignments"][:3]
        }
    await live.client.close()

    live = await start_server(db=db)  # and a second restart fires nothing again
    cases = Cases(live, county)
    for doc in docs:
        doc = await cases.get(doc["id"])
        assert len([e for e in doc["timeline"] if e["type"] == "assignment.added"]) == 3


async def test_a_restart_rearms_exactly_the_pending_rows_and_fires_each_once(
    start_server: StartServer, county: Hierarchy, clock: FakeClock, tmp_path: Any
) -> None:
    from whistle.web.keys import CASES

    db = tmp_path / "rearm.sqlite3"
    live = await start_server(db=db)
    cases = Cases(live, county)
    docs = [await cases.new(location={"grid": cases.micro(n)}) for n in range(4)]
    # One acknowledgement: that deadline is cancelled, not pending, and must not come back.
    status, _ = await cases.assignment(docs[0]["assignments"][0], "acknowledge")
    assert status == 200
    await live.client.close()

    def pending_rows() -> dict[tuple[str, str], datetime]:
        with sqlite3.connect(db) as raw:
            rows = raw.execute(
                "SELECT whistle_id, key, due_at FROM deadlines WHERE status = 'pending'"
            ).fetchall()
        return {(w, k): datetime.fromisoformat(d) for w, k, d in rows}

    stored = pending_rows()
    assert (docs[0]["id"], f"{docs[0]['assignments'][0]['id']}:acknowledge") not in stored
    live = await start_server(db=db)
    service = live.app[CASES]
    armed = {
        (doc["id"], key): when
        for doc in docs
        for key, when in service.timer.pending(doc["id"]).items()
    }
    assert armed == stored
    assert len(service.timer) == len(stored)

    # Past every acknowledgement deadline (and nothing later): each fires once, now.
    acks = {k: when for k, when in stored.items() if k[1].endswith(":acknowledge")}
    clock.set(max(acks.values()) + timedelta(seconds=1))
    assert all(when > clock.now() for k, when in stored.items() if k not in acks)
    assert await Cases(live, county).tick() == len(acks)
    with sqlite3.connect(db) as raw:
        fired = set(raw.execute("SELECT whistle_id, key FROM deadlines WHERE status = 'fired'"))
    assert fired == set(acks)
    await live.client.close()

    live = await start_server(db=db)  # a second restart re-arms none of them
    service = live.app[CASES]
    assert not set(acks) & {
        (doc["id"], key) for doc in docs for key in service.timer.pending(doc["id"])
    }
    assert await Cases(live, county).tick() == 0
