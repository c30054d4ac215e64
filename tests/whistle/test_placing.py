"""POST /api/v1/whistles/{id}/place: an operator places a held whistle (待定位), which is then
routed from that cell like any other, with its deadlines from the moment it was placed."""

from __future__ import annotations

from datetime import datetime, timedelta

from grids import Hierarchy, Level
from tests.support.harness import Live
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
