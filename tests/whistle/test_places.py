"""Whistles placed by an address in words, through the real server: by the gazetteer, or held
for an operator (待定位) when the address names no place precisely enough."""

from __future__ import annotations

from typing import Any

from grids import Hierarchy, Level
from tests.support.harness import Live

TOWN = "530524101"  # 田园镇 of the small county
COMMUNITY = "530524101001"  # 新华社区
BUILDING = "530524101001003002"  # 田园文化路2号 in places.csv


def by_address(address: str, **extra: Any) -> dict[str, Any]:
    return {
        "source": "citizen",
        "category": "E0101",
        "description": "楼道堆放杂物",
        "location": {"address": address},
        **extra,
    }


async def test_an_alias_places_the_whistle_and_the_placement_says_which(live: Live) -> None:
    status, _, doc = await live.post(by_address("田园文化路2号3单元门口"))
    assert status == 201, doc
    assert doc["grid"]["code"] == BUILDING
    assert doc["status"] == "dispatched"
    assert doc["assignments"]
    assert doc["location"]["address"] == "田园文化路2号3单元门口"
    placement = doc["placement"]
    assert placement["by"] == "gazetteer"
    assert placement["matched"] == "田园文化路2号"
    assert placement["entry"] == "田园文化路2号"
    assert placement["entry_kind"] == "building"


async def test_the_issues_address_is_placed_at_the_community_it_names(live: Live) -> None:
    # 3号楼 is in every grid of 新华社区: the community is as far as the words go.
    status, _, doc = await live.post(by_address("田园镇新华社区3号楼2单元"))
    assert status == 201, doc
    assert doc["grid"]["code"] == COMMUNITY
    assert doc["placement"]["entry"] == "田园镇新华社区"
    assert doc["placement"]["entry_kind"] == "grid"
    assert doc["assignments"]


async def test_an_unknown_address_is_stored_held_and_unrouted(
    live: Live, county: Hierarchy
) -> None:
    status, _, doc = await live.post(by_address("幸福小区门口"), urgency="urgent")
    assert status == 201, doc
    assert doc["status"] == "unplaced"
    assert doc["grid"]["code"] == county.root  # the county operator's queue
    assert doc["assignments"] == []
    assert doc["rule"] is None
    assert doc["placement"]["by"] == "pending"
    assert doc["placement"]["reason"] == "no known place name"
    assert doc["case"]["next_due"] is None  # no clock runs for anybody
    status, read = await live.get(f"/api/v1/whistles/{doc['id']}")
    assert [e["type"] for e in read["timeline"]] == ["whistle.received", "whistle.unplaced"]

    status, page = await live.get("/api/v1/whistles?status=unplaced")
    assert status == 200
    assert [w["id"] for w in page["items"]] == [doc["id"]]
    status, answer = await live.get("/api/v1/queue-counts")
    counts = answer["counts"]
    assert counts["unplaced"] == 1
    assert counts["overdue"] == 0


async def test_a_town_alone_holds_it_at_that_town(live: Live) -> None:
    status, _, doc = await live.post(by_address("田园镇某处"))
    assert status == 201, doc
    assert doc["status"] == "unplaced"
    assert doc["grid"]["code"] == TOWN
    assert "田园镇" in doc["placement"]["reason"]


async def test_a_town_operator_holds_it_in_its_own_scope(live: Live, county: Hierarchy) -> None:
    town = list(county.cells(level=Level.TOWN))[1]
    token = await live.token("operator", scope=town.code)
    status, _, doc = await live.post(by_address("不知道在哪里"), token=token)
    assert status == 201, doc
    assert doc["grid"]["code"] == town.code
    # A town that is not its own is named: held in its scope, not refused, not placed there.
    status, _, doc = await live.post(by_address("田园镇某处"), token=token)
    assert status == 201, doc
    assert doc["grid"]["code"] == town.code


async def test_names_on_two_branches_are_not_guessed(live: Live) -> None:
    status, _, doc = await live.post(by_address("田园文化路2号旁的东平寨"))
    assert status == 201, doc
    assert doc["status"] == "unplaced"
    assert "different branches" in doc["placement"]["reason"]


async def test_a_point_beside_an_address_wins_and_the_address_is_kept(
    live: Live, county: Hierarchy
) -> None:
    centroid = county.centroid(COMMUNITY + "002001")
    assert centroid is not None
    location = {"lat": centroid[0], "lon": centroid[1], "address": "田园文化路2号"}
    status, _, doc = await live.post({**by_address(""), "location": location})
    assert status == 201, doc
    assert doc["grid"]["code"] == COMMUNITY + "002001"
    assert doc["placement"] == {
        "by": "coordinates",
        "address": "田园文化路2号",
        "matched": None,
        "entry": None,
        "entry_kind": None,
        "reason": None,
        "placed_by": None,
        "placed_at": None,
    }


async def test_a_blank_or_long_address_is_422(live: Live) -> None:
    for address, reason in (("   ", "must not be empty"), ("路" * 201, "too long")):
        status, _, doc = await live.post(by_address(address))
        assert status == 422
        assert doc["errors"][0]["field"] == "location.address"
        assert reason in doc["errors"][0]["reason"]
