"""The party-building flows through the API: 双报到 and its withdrawal, a unit's claim, a
team's claim closed only by its captain, hours rolled up to units (the 双报告)."""

from __future__ import annotations

from typing import Any

import pytest

from grids import Hierarchy, Level, ResponderKind
from tests.support.harness import Live
from tests.support.party import Party, members_of


@pytest.fixture
def party(live: Live, county: Hierarchy) -> Party:
    return Party(live, county)


async def test_a_member_registers_and_withdraws(party: Party) -> None:
    community = party.communities[0]
    unit = await party.unit(community)
    member = members_of(party.county, community)[0]
    made = await party.register(member, community, unit["id"])
    assert (made["status"], made["person"], made["ref"]) == ("active", member, unit["id"])
    assert made["doc"]["unit_name"] == "县供电局"
    token = await party.member_token(member)
    again = {"community": community, "unit_id": unit["id"]}
    status, answer = await party.call("POST", "/api/v1/registrations", again, token=token)
    assert status == 409, answer
    withdrawn = await party.ok("POST", f"/api/v1/registrations/{made['id']}/withdraw", token=token)
    assert withdrawn["status"] == "withdrawn"
    status, _ = await party.call(
        "POST", f"/api/v1/registrations/{made['id']}/withdraw", token=token
    )
    assert status == 409
    mine = await party.ok("GET", f"/api/v1/members/{member}/party", token=token)
    assert mine["registration"] is None
    assert len(mine["registrations"]) == 1


async def test_bad_registration_names_the_field(party: Party) -> None:
    community = party.communities[0]
    status, answer = await party.call(
        "POST", "/api/v1/registrations", {"community": community, "unit_id": "nope"}
    )
    assert status == 422
    assert [e["field"] for e in answer["errors"]] == ["unit_id"]
    status, answer = await party.call("POST", "/api/v1/units", {"name": "x", "type": "bank"})
    assert status == 422
    assert {"type", "community", "party_org"} <= {e["field"] for e in answer["errors"]}


async def test_a_community_registers_members_in_bulk_from_csv(party: Party, live: Live) -> None:
    community = party.communities[0]
    unit = await party.unit(community)
    a, b = members_of(party.county, community)[:2]
    text = f"member,name,unit_id,since,services\n{a},甲,{unit['id']},2026-01-05,政策宣传；帮扶\n"
    text += f"{b},乙,{unit['id']},,\n"
    headers = await live.auth()
    response = await live.client.post(
        f"/api/v1/registrations/bulk?community={community}", data=text.encode(), headers=headers
    )
    assert response.status == 201, await response.text()
    assert (await response.json())["registered"] == 2
    bad = f"member,unit_id,since\n{b},{unit['id']},2026-13-01\n{a},{unit['id']},\n"
    response = await live.client.post(
        f"/api/v1/registrations/bulk?community={community}", data=bad.encode(), headers=headers
    )
    answer = await response.json()
    assert response.status == 422
    assert {e["field"] for e in answer["errors"]} == {"line 2.since", "line 3.member"}
    listed = await party.ok("GET", f"/api/v1/registrations?grid={community}&status=active")
    assert sorted(r["person"] for r in listed["items"]) == [a, b]


async def test_a_community_sees_only_its_own_units(party: Party, live: Live) -> None:
    here, there = party.communities[0], party.communities[-1]
    await party.unit(here, "甲单位")
    await party.unit(there, "乙单位")
    token = await live.token("reporter", scope=here)
    listed = await party.ok("GET", "/api/v1/units", token=token)
    assert [u["doc"]["name"] for u in listed["items"]] == ["甲单位"]
    status, _ = await party.call("GET", f"/api/v1/units?grid={there}", token=token)
    assert status == 403
    body = {"name": "丙", "type": "organ", "community": there, "party_org": "丙支部"}
    status, _ = await party.call("POST", "/api/v1/units", body, token=token)
    assert status == 403


async def _complete(
    party: Party, claim: dict[str, Any], hours: list[dict[str, Any]], **kw: Any
) -> tuple[int, Any]:
    body = {"hours": hours, "rating": "satisfied", "photos": [], **kw}
    return await party.call(
        "POST", f"/api/v1/claims/{claim['id']}/complete", body, token=kw.pop("token", None)
    )


async def test_a_unit_claims_a_project_where_it_is_paired(party: Party) -> None:
    community = party.communities[0]
    unit = await party.unit(community, "县医院")
    project = await party.project(community)
    status, answer = await party.call(
        "POST", f"/api/v1/projects/{project['id']}/claims", {"by": "unit", "unit_id": unit["id"]}
    )
    assert status == 422
    assert answer["errors"][0]["field"] == "unit_id"
    pact = {
        "unit_id": unit["id"],
        "community": community,
        "resources": ["义诊"],
        "since": "2026-01-01",
    }
    await party.ok("POST", "/api/v1/unit-pacts", pact)
    claim = await party.ok(
        "POST", f"/api/v1/projects/{project['id']}/claims", {"by": "unit", "unit_id": unit["id"]}
    )
    assert (claim["status"], claim["doc"]["unit_id"]) == ("claimed", unit["id"])
    status, _ = await party.call(
        "POST", f"/api/v1/projects/{project['id']}/claims", {"by": "unit", "unit_id": unit["id"]}
    )
    assert status == 409  # claimed already
    body = {"hours": [{"person": "医生甲", "hours": 3}], "rating": "very_satisfied"}
    done = await party.ok("POST", f"/api/v1/claims/{claim['id']}/complete", body)
    assert (done["status"], done["doc"]["total_hours"]) == ("completed", 3)
    got = await party.ok("GET", f"/api/v1/projects/{project['id']}")
    assert got["status"] == "completed"


async def _team(party: Party, community: str, members: list[str], unit_id: str) -> Any:
    body = {
        "community": community,
        "name": "平安志愿服务队",
        "kind": "safety",
        "captain": members[0],
        "members": [
            {"id": members[0], "name": "队长", "party_member": True, "unit_id": unit_id},
            {"id": members[1], "name": "队员", "party_member": True, "unit_id": unit_id},
            {"id": "V-1", "name": "志愿者王", "party_member": False},
        ],
    }
    return await party.ok("POST", "/api/v1/volunteer-teams", body)


async def test_only_the_captain_closes_a_team_claim(party: Party) -> None:
    community = party.communities[0]
    unit = await party.unit(community)
    captain, member = members_of(party.county, community)[:2]
    team = await _team(party, community, [captain, member], unit["id"])
    project = await party.project(community, "夜间治安巡逻", type="patrol")
    member_token = await party.member_token(member)
    status, _ = await party.call(
        "POST",
        f"/api/v1/projects/{project['id']}/claims",
        {"by": "team", "team_id": team["id"]},
        token=member_token,
    )
    assert status == 403  # a team member who is not the captain cannot claim for it
    captain_token = await party.member_token(captain)
    claim = await party.ok(
        "POST",
        f"/api/v1/projects/{project['id']}/claims",
        {"by": "team", "team_id": team["id"]},
        token=captain_token,
    )
    hours = [
        {"person": captain, "hours": 2},
        {"person": member, "hours": 2},
        {"person": "V-1", "hours": 1.5},
    ]
    body = {"hours": hours, "rating": "satisfied"}
    for token in (member_token, None):  # a team member, and the county's operator
        status, answer = await party.call(
            "POST", f"/api/v1/claims/{claim['id']}/complete", body, token=token
        )
        assert status == 403, answer
    done = await party.ok(
        "POST", f"/api/v1/claims/{claim['id']}/complete", body, token=captain_token
    )
    assert done["doc"]["total_hours"] == 5.5
    bad = {"hours": [{"person": "stranger", "hours": 1}]}
    project2 = await party.project(community, "防诈宣传", type="publicity")
    claim2 = await party.ok(
        "POST",
        f"/api/v1/projects/{project2['id']}/claims",
        {"by": "team", "team_id": team["id"]},
        token=captain_token,
    )
    status, answer = await party.call(
        "POST", f"/api/v1/claims/{claim2['id']}/complete", bad, token=captain_token
    )
    assert status == 422
    assert answer["errors"][0]["field"] == "hours.0.person"


async def test_hours_roll_up_to_units_in_the_unit_report(party: Party, live: Live) -> None:
    community = party.communities[0]
    power = await party.unit(community, "县供电局", members=4)
    school = await party.unit(community, "县一中", members=10)
    a, b, c = members_of(party.county, community)[:3]
    await party.register(a, community, power["id"])
    await party.register(b, community, power["id"])
    await party.register(c, community, school["id"])
    for member, hours in ((a, 2.0), (b, 3.5), (c, 1.0)):
        project = await party.project(community, f"帮扶{member}")
        token = await party.member_token(member)
        claim = await party.ok(
            "POST", f"/api/v1/projects/{project['id']}/claims", {"by": "member"}, token=token
        )
        body = {"hours": [{"person": member, "hours": hours}]}
        await party.ok("POST", f"/api/v1/claims/{claim['id']}/complete", body, token=token)
    report = await party.ok("GET", f"/api/v1/units/{power['id']}/report")
    assert (report["hours"], report["reports"]) == (5.5, 2)
    assert sorted(r["person"] for r in report["rows"]) == [a, b]
    assert {r["person"] for r in report["registered"]} == {a, b}
    summary = await party.ok("GET", f"/api/v1/party/summary?grid={community}")
    units = {u["id"]: u["hours"] for u in summary["hours"]["units"]}
    assert units == {power["id"]: 5.5, school["id"]: 1.0}
    share = {u["unit_id"]: u["share"] for u in summary["registrations"]["by_unit"]}
    assert share == {power["id"]: 0.5, school["id"]: 0.1}
    assert summary["board"]["completed"] == 3
    assert summary["hours"]["reports"] == 3
    response = await live.client.get(
        f"/api/v1/units/{power['id']}/report?format=csv", headers=await live.auth()
    )
    text = await response.text()
    assert response.status == 200
    assert "县供电局" in text
    assert a in text


async def test_a_town_reads_the_report_of_a_unit_from_elsewhere_serving_in_it(
    party: Party, live: Live
) -> None:
    towns = list(party.county.cells(level=Level.TOWN))
    here = next(c for c in party.communities if party.county.cell(c).is_within(towns[0].code))
    there = next(c for c in party.communities if party.county.cell(c).is_within(towns[1].code))
    unit = await party.unit(there, "县交通运输局")  # sits in town B
    member = members_of(party.county, here)[0]
    await party.register(member, here, unit["id"])  # its member serves in town A
    project = await party.project(here)
    token = await party.member_token(member)
    claim = await party.ok(
        "POST", f"/api/v1/projects/{project['id']}/claims", {"by": "member"}, token=token
    )
    body = {"hours": [{"person": member, "hours": 2}]}
    await party.ok("POST", f"/api/v1/claims/{claim['id']}/complete", body, token=token)
    town_a = await live.token("committee", scope=towns[0].code)
    report = await party.ok("GET", f"/api/v1/units/{unit['id']}/report", token=town_a)
    assert (report["hours"], [r["person"] for r in report["rows"]]) == (2.0, [member])
    status, _ = await party.call("GET", f"/api/v1/units/{unit['id']}", token=town_a)
    assert status == 403  # the unit's own record stays its town's
    other = await party.unit(there, "县档案馆")
    status, _ = await party.call("GET", f"/api/v1/units/{other['id']}/report", token=town_a)
    assert status == 403  # a unit with nothing in town A


async def test_a_member_may_not_withdraw_another_members_registration(party: Party) -> None:
    community = party.communities[0]
    unit = await party.unit(community)
    mine, theirs = members_of(party.county, community)[:2]
    made = await party.register(theirs, community, unit["id"])
    # Scoped to the whole community: the registration is in scope, but it is not theirs.
    token = await party.live.token("responder", scope=community, responder=mine)
    status, answer = await party.call(
        "POST", f"/api/v1/registrations/{made['id']}/withdraw", token=token
    )
    assert status == 403, answer
    assert "only their own" in answer["detail"]
    assert (await party.ok("GET", f"/api/v1/registrations/{made['id']}"))["status"] == "active"


async def test_a_safety_volunteer_team_is_the_patrol_the_camera_whistle_calls(
    party: Party,
) -> None:
    here, there = party.communities[0], party.communities[-1]
    patrol = next(
        r.id
        for grid, found in party.county.responders_of_kind(ResponderKind.SAFETY_PATROL).items()
        if party.county.cell(grid).is_within(here)
        for r in found
    )
    body = {
        "community": here,
        "name": "平安志愿服务队",
        "kind": "safety",
        "captain": "V1",
        "members": [{"id": "V1", "name": "王芳"}],
        "responder_id": patrol,
    }
    team = await party.ok("POST", "/api/v1/volunteer-teams", body)
    assert team["doc"]["responder_id"] == patrol
    status, answer = await party.call(
        "POST", "/api/v1/volunteer-teams", {**body, "community": there}
    )
    assert status == 422
    assert answer["errors"][0]["field"] == "responder_id"
