"""The party-building API's table-made routes and actions: a 联席会议's decided matters
become a need on the board and a case through the intake; a unit registers with the community
it pairs with; lists filter, page as CSV and name bad parameters; a member reads the board of
the community they registered with, outside their grid's scope."""

from __future__ import annotations

from grids import Hierarchy, Level
from tests.support.harness import Live
from tests.support.party import Party, members_of


async def test_a_meetings_matters_become_a_need_and_a_case(live: Live, county: Hierarchy) -> None:
    party = Party(live, county)
    community = party.communities[0]
    body = {
        "community": community,
        "held_on": "2026-11-20",
        "attendees": ["社区书记", "县供电局兼职委员"],
        "matters": [
            {"text": "老旧小区加装路灯", "taken_by": "县供电局", "becomes": "need"},
            {"text": "背街小巷垃圾堆积", "taken_by": "环卫所", "becomes": "case",
             "category": "E0101"},
            {"text": "下次会议议题", "taken_by": "社区书记"},
        ],
    }  # fmt: skip
    meeting = await party.ok("POST", "/api/v1/meetings", body)
    need_id = meeting["doc"]["matters"][0]["need_id"]
    case_id = meeting["doc"]["matters"][1]["case_id"]
    assert "need_id" not in meeting["doc"]["matters"][2]
    need = await party.ok("GET", f"/api/v1/needs/{need_id}")
    assert (need["doc"]["text"], need["doc"]["month"]) == ("老旧小区加装路灯", "2026-11")
    status, case = await live.get(f"/api/v1/whistles/{case_id}")
    assert status == 200
    assert case["source"] == "community"
    assert case["description"] == "背街小巷垃圾堆积"
    bad = {**body, "matters": [{"text": "x", "taken_by": "y", "becomes": "case"}]}
    status, answer = await party.call("POST", "/api/v1/meetings", bad)
    assert status == 422
    assert answer["errors"][0]["field"] == "matters.0.category"


async def test_a_unit_registers_and_lists_filter_and_page_as_csv(
    live: Live, county: Hierarchy
) -> None:
    party = Party(live, county)
    community = party.communities[0]
    unit = await party.unit(community, "县妇幼保健院")
    made = await party.ok(
        "POST", "/api/v1/registrations", {"community": community, "unit_id": unit["id"]}
    )
    assert (made["doc"]["of"], made["person"]) == ("unit", None)
    listed = await party.ok("GET", f"/api/v1/registrations?ref={unit['id']}&status=active")
    assert [r["id"] for r in listed["items"]] == [made["id"]]
    response = await live.client.get(
        f"/api/v1/units?grid={community}&format=csv", headers=await live.auth()
    )
    text = await response.text()
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "县妇幼保健院" in text
    status, answer = await party.call("GET", "/api/v1/units?limit=0&color=red&since=soon")
    assert status == 400
    assert {e["field"] for e in answer["errors"]} == {"limit", "color", "since"}


async def test_a_member_reads_the_board_where_they_registered(
    live: Live, county: Hierarchy
) -> None:
    party = Party(live, county)
    towns = list(county.cells(level=Level.TOWN))
    home = next(c for c in party.communities if county.cell(c).is_within(towns[0].code))
    away = next(c for c in party.communities if county.cell(c).is_within(towns[1].code))
    member = members_of(county, home)[0]
    token = await party.member_token(member)
    await party.project(away, "防溺水宣传", type="publicity")
    status, _ = await party.call("GET", f"/api/v1/projects?grid={away}", token=token)
    assert status == 403
    unit = await party.unit(away)
    await party.register(member, away, unit["id"])  # registers where they live
    board = await party.ok("GET", f"/api/v1/projects?grid={away}", token=token)
    assert [p["doc"]["title"] for p in board["items"]] == ["防溺水宣传"]
    status, _ = await party.call("GET", f"/api/v1/units?grid={away}", token=token)
    assert status == 403  # the board, not the community's other records
