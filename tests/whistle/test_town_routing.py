"""Routing as a town staffs it, through the real pipeline (HTTP, SQLite, the fake clock): the
duty rota (值班) off hours, and the 联户长 who may report in for small matters."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from grids import Hierarchy, Level, ResponderKind
from grids.loader import load_hierarchy
from tests.support.harness import SHIPPED, Live, StartServer
from tests.support.lifecycle import Cases
from tests.support.pages import add_user, log_in
from whistle.auth import Role
from whistle.clock import FakeClock


@pytest.fixture
def clock(request: pytest.FixtureRequest) -> FakeClock:
    """Each test here starts the clock where its case says (default: a Monday morning)."""
    start = getattr(request, "param", "2026-11-23T09:00:00+08:00")
    return FakeClock(datetime.fromisoformat(start))


@pytest.mark.parametrize("clock", ["2026-11-23T20:00:00+08:00"], indirect=True)
async def test_off_hours_department_work_goes_to_the_towns_duty_officer_not_the_backstop(
    live: Live, county: Hierarchy
) -> None:
    # The town's 城管中队 keeps office hours and has no B post: at 20:00 the 值班员 on the
    # 16:00-24:00 shift of the town's rota takes it.
    doc = await Cases(live, county).new(source="community")
    town = county.at_level(doc["grid"]["code"], Level.TOWN)
    [assignment] = doc["assignments"]
    assert (assignment["kind"], assignment["origin"]) == ("grid_department", "duty")
    assert assignment["responder"]["id"] == f"DO{town.code}-2"
    assert assignment["responder"]["kind"] == "duty_officer"


@pytest.mark.parametrize("clock", ["2026-11-23T17:10:00+08:00"], indirect=True)
async def test_missed_push_whose_b_post_is_off_duty_goes_to_the_duty_police(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    cases = Cases(live, county)
    doc = await cases.new()
    police = next(a for a in doc["assignments"] if a["kind"] == "community_police")
    town = county.at_level(doc["grid"]["code"], Level.TOWN)
    assert police["origin"] == "rule"  # 17:10: the A post is still on duty
    # Silent until 17:40, when its B post (the neighbouring officer) has gone home too.
    clock.set(datetime.fromisoformat(police["acknowledge_due"]))
    await cases.tick()
    doc = await cases.get(doc["id"])
    added = [a for a in doc["assignments"] if a["origin"] not in ("rule", "category")]
    police_added = [a for a in added if a["kind"] == "community_police"]
    assert [(a["origin"], a["responder"]["id"]) for a in police_added] == [
        ("duty", f"DP{town.code}-2")
    ]


async def test_household_leader_who_reports_in_first_owns_the_small_matter(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    cases = Cases(live, county)
    doc = await cases.new(category="E0601", description="楼上楼下噪音纠纷")
    micro = doc["grid"]["code"]
    (household,) = county.responders_at(micro, ResponderKind.HOUSEHOLD_LEADER)
    may = next(a for a in doc["assignments"] if a["kind"] == "household_leader")
    assert (may["responder"]["id"], may["acknowledge_due"]) == (household.id, None)
    code, doc = await cases.assignment(may, "acknowledge")
    assert code == 200, doc
    assert doc["case"]["owner"] == {"assignment": may["id"], "responder_id": household.id}


async def test_a_household_leader_who_stays_silent_sends_nothing_up(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    cases = Cases(live, county)
    doc = await cases.new(category="E0601", description="楼上楼下噪音纠纷")
    may = next(a for a in doc["assignments"] if a["kind"] == "household_leader")
    for assignment in doc["assignments"]:
        if assignment["id"] != may["id"]:
            assert (await cases.assignment(assignment, "acknowledge"))[0] == 200
    clock.advance(timedelta(days=1))
    await cases.tick()
    doc = await cases.get(doc["id"])
    assert [a["status"] for a in doc["assignments"] if a["id"] == may["id"]] == ["dispatched"]
    assert not [e for e in doc["timeline"] if e["type"] == "assignment.added"]


async def test_the_b_post_is_one_step_in_the_shipped_county_never_the_b_posts_b_post(
    start_server: StartServer, clock: FakeClock
) -> None:
    # In the shipped county each community's officer is the next community's B post
    # (CP001 -> CP002 -> CP003 ...): the audit saw a silent case walk that chain sideways.
    county = load_hierarchy(SHIPPED)
    live = await start_server(config=SHIPPED)
    cases = Cases(live, county)
    micro = next(county.cells(level=Level.MICRO_GRID)).code
    doc = await cases.new(location={"grid": micro})
    town = county.at_level(micro, Level.TOWN)
    seen = []
    for _ in range(3):
        pending = [
            a
            for a in doc["assignments"]
            if a["kind"] in ("community_police", "police_station") and a["status"] == "dispatched"
        ]
        [police] = pending
        seen.append((police["kind"], police["origin"], police["responder"]["id"]))
        clock.set(datetime.fromisoformat(police["acknowledge_due"]))
        await cases.tick()
        doc = await cases.get(doc["id"])
    a_post = county.responder(seen[0][2])
    assert a_post is not None
    assert a_post.backup is not None
    assert seen == [
        ("community_police", "rule", a_post.id),
        ("community_police", "backup", a_post.backup),
        ("police_station", "escalation", f"PS{town.code}"),
    ]


async def test_the_grid_leader_and_household_leader_see_what_they_are_informed_of_in_their_inbox(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    # 知会: the 网格长 hears of every case in the grid, the 联户长 of citizens' whistles in the
    # micro-grid. Neither owns the case: it is in their inbox as "informed", not as work, and
    # it leaves the inbox once the case is closed.
    cases = Cases(live, county)
    doc = await cases.new(description="楼道堆放杂物")
    micro = doc["grid"]["code"]
    grid = county.at_level(micro, Level.GRID)
    (leader,) = county.responders_at(grid.code, ResponderKind.GRID_LEADER)
    (household,) = county.responders_at(micro, ResponderKind.HOUSEHOLD_LEADER)
    assert {i["responder"]["id"] for i in doc["informed"]} == {leader.id, household.id}
    police = await cases.new(source="police", category="E0703", description="打架斗殴")
    assert police["grid"]["code"] == micro

    async def inbox(responder: str) -> dict[str, Any]:
        token = await live.token("responder", scope=grid.code, responder=responder)
        status, body = await live.get(f"/api/v1/responders/{responder}/inbox", token=token)
        assert status == 200, body
        return body  # type: ignore[no-any-return]

    told = await inbox(leader.id)
    assert [i["id"] for i in told["informed"]] == [police["id"], doc["id"]]  # newest first
    assert told["informed"][1]["description"] == "楼道堆放杂物"
    assert not [a for a in told["assignments"] if a["whistle"]["id"] in (doc["id"], police["id"])]
    # The 联户长 hears of the citizen's whistle, not of the police alert.
    assert [i["id"] for i in (await inbox(household.id))["informed"]] == [doc["id"]]

    # Closed (resolved and verified): gone from the 网格长's inbox.
    owner = doc["assignments"][0]
    assert (await cases.assignment(owner, "acknowledge"))[0] == 200
    assert (await cases.assignment(owner, "resolve", note="已清理"))[0] == 200
    code, verified = await cases.case(doc["id"], "verify", passed=True)
    assert code == 200, verified
    assert verified["status"] == "closed"
    assert [i["id"] for i in (await inbox(leader.id))["informed"]] == [police["id"]]


async def test_the_case_page_names_who_is_informed_beside_who_owns_it(
    live: Live, county: Hierarchy
) -> None:
    doc = await Cases(live, county).new(description="楼道堆放杂物")
    grid = county.at_level(doc["grid"]["code"], Level.GRID)
    (leader,) = county.responders_at(grid.code, ResponderKind.GRID_LEADER)
    (household,) = county.responders_at(doc["grid"]["code"], ResponderKind.HOUSEHOLD_LEADER)
    await add_user(live, "op", Role.OPERATOR, county.root)
    await log_in(live.client, "op")
    html = await (await live.client.get(f"/cases/{doc['id']}?lang=zh")).text()
    informed = html.split('class="informed"', 1)[1].split("</p>", 1)[0]
    assert "知会" in informed
    assert f"网格长 {leader.name}" in informed
    assert f"联户长 {household.name}" in informed
