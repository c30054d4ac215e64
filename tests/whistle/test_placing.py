"""POST /api/v1/whistles/{id}/place: an operator places a held whistle (待定位), which is then
routed from that cell like any other, with its deadlines from the moment it was placed."""

from __future__ import annotations

from datetime import datetime, timedelta

from grids import Hierarchy, Level
from tests.support.harness import Live
from tests.support.pages import add_user, hidden_csrf, log_in
from whistle.auth import Role
from whistle.clock import FakeClock

MICRO = "530524101001002003"  # 田园镇新华社区第2网格3号楼栋 in the small county


def unplaced(address: str = "幸福小区3栋门口") -> dict[str, object]:
    return {
        "source": "citizen",
        "category": "E0101",
        "description": "楼道堆放杂物",
        "location": {"address": address},
    }


async def place(live: Live, whistle_id: str, grid: object, token: str | None = None) -> tuple:
    response = await live.client.post(
        f"/api/v1/whistles/{whistle_id}/place", json={"grid": grid}, headers=await live.auth(token)
    )
    return response.status, await response.json()


async def test_placed_by_hand_it_is_routed_from_there(live: Live, clock: FakeClock) -> None:
    status, _, held = await live.post(unplaced())
    assert status == 201
    clock.advance(timedelta(minutes=40))  # the time it waited is nobody's deadline
    status, doc = await place(live, held["id"], MICRO)
    assert status == 200, doc
    assert doc["status"] == "dispatched"
    assert doc["grid"]["code"] == MICRO
    assert doc["grid"]["path"][-1]["name"] == "3号楼栋"
    kinds = {a["kind"] for a in doc["assignments"]}
    assert kinds == {"registered_member", "unposted_member", "community_police"}
    assert doc["rule"]["id"] == "citizen"
    placement = doc["placement"]
    assert placement["by"] == "hand"
    assert placement["placed_by"].startswith("token:")  # who, as the trail names them
    assert placement["address"] == "幸福小区3栋门口"
    placed_at = datetime.fromisoformat(placement["placed_at"])
    for assignment in doc["assignments"]:
        due = datetime.fromisoformat(assignment["acknowledge_due"])
        assert due == placed_at + timedelta(minutes=30)
    status, read = await live.get(f"/api/v1/whistles/{held['id']}")
    types = [e["type"] for e in read["timeline"]]
    assert types == ["whistle.received", "whistle.unplaced", "whistle.placed", "whistle.routed"]
    assert read["case"]["next_due"]["kind"] == "acknowledge"
    # Out of the queue of whistles to place; in the grid's cases, its search and its figures.
    status, answer = await live.get("/api/v1/queue-counts")
    counts = answer["counts"]
    assert counts.get("unplaced", 0) == 0
    assert counts["dispatched"] == 1
    status, page = await live.get(f"/api/v1/whistles?grid={MICRO}")
    assert [w["id"] for w in page["items"]] == [held["id"]]
    status, page = await live.get("/api/v1/whistles?q=新华社区")
    assert [w["id"] for w in page["items"]] == [held["id"]]


async def test_the_same_placing_again_answers_the_case_and_another_is_409(live: Live) -> None:
    status, _, held = await live.post(unplaced())
    status, first = await place(live, held["id"], MICRO)
    assert status == 200
    status, again = await place(live, held["id"], MICRO)
    assert status == 200
    assert again["assignments"] == first["assignments"]
    status, other = await place(live, held["id"], MICRO[:-3] + "001")
    assert status == 409
    assert "not waiting for a place" in other["detail"]


async def test_bad_cells_and_roles_are_refused(live: Live, county: Hierarchy) -> None:
    status, _, held = await live.post(unplaced())
    for grid, reason in (
        (None, "required"),
        ("NOPE", "unknown grid code"),
        (county.root, "not the whole county"),
    ):
        status, problem = await place(live, held["id"], grid)
        assert status == 422, problem
        assert problem["errors"][0]["field"] == "grid"
        assert reason in problem["errors"][0]["reason"]
    other_town = list(county.cells(level=Level.TOWN))[1]
    town_operator = await live.token("operator", scope=other_town.code)
    status, problem = await place(live, held["id"], MICRO, town_operator)
    assert status == 403  # neither the case nor the cell is in that town
    responder = await live.token("reporter")
    status, problem = await place(live, held["id"], MICRO, responder)
    assert status == 403
    status, read = await live.get(f"/api/v1/whistles/{held['id']}")
    assert read["status"] == "unplaced"


async def test_a_whistle_placed_by_the_gazetteer_cannot_be_placed_again(live: Live) -> None:
    status, _, doc = await live.post(unplaced("田园文化路2号"))
    assert doc["status"] == "dispatched"
    status, problem = await place(live, doc["id"], MICRO)
    assert status == 409
    assert problem["current"] == "dispatched"


async def test_the_case_page_says_how_the_place_was_found(live: Live, county: Hierarchy) -> None:
    await add_user(live, "op", Role.OPERATOR, county.root)
    assert (await log_in(live.client, "op")).status == 303

    async def page(whistle_id: str, lang: str = "zh") -> str:
        answer = await live.client.get(f"/cases/{whistle_id}?lang={lang}")
        assert answer.status == 200
        return await answer.text()

    _, _, by_name = await live.post(unplaced("田园文化路2号3单元"))
    text = await page(by_name["id"])
    assert (
        "按地址定位：地址「田园文化路2号3单元」中的「田园文化路2号」，"
        "地名库条目「田园文化路2号」（楼栋门牌）→ 田园镇新华社区第3网格2号楼栋"
    ) in text
    assert "“田园文化路2号” in “田园文化路2号3单元”" in await page(by_name["id"], "en")

    _, _, held = await live.post(unplaced())
    text = await page(held["id"])
    assert "待定位：地址「幸福小区3栋门口」未能自动定位（没有认出任何地名）" in text
    assert 'data-action="place"' in text
    assert "转调度台待定位" in text  # the timeline says it too

    response = await live.client.post(
        f"/api/v1/whistles/{held['id']}/place",
        json={"grid": MICRO},
        headers={"X-CSRF-Token": hidden_csrf(text)},
    )
    assert response.status == 200, await response.text()
    text = await page(held["id"])
    assert "人工定位：调度中心 op于" in text
    assert "选定田园镇新华社区第2网格3号楼栋（地址「幸福小区3栋门口」）" in text
    assert "调度中心 op 人工定位至" in text
    assert 'data-action="place"' not in text

    centroid = county.centroid(MICRO)
    assert centroid is not None
    _, _, by_point = await live.post(
        {**unplaced(), "location": {"lat": centroid[0], "lon": centroid[1]}}
    )
    assert (
        f"按坐标定位（{centroid[0]}, {centroid[1]}）：田园镇新华社区第2网格3号楼栋"
        in await page(by_point["id"])
    )
