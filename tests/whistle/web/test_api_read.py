"""The read side of the API: one whistle with its timeline, lists, grids, categories, health."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
import shapely

from grids import Hierarchy, Level
from tests.support.harness import Live
from tests.support.requests import body, first_micro_grid
from whistle.clock import FakeClock


async def test_get_whistle_returns_the_document_and_its_timeline(
    live: Live, county: Hierarchy
) -> None:
    _, _, created = await live.post(body(county))
    status, doc = await live.get(f"/api/v1/whistles/{created['id']}")
    assert status == 200
    timeline = doc.pop("timeline")
    assert doc == created
    assert [e["type"] for e in timeline] == ["whistle.received", "whistle.routed"]
    assert timeline[0]["actor"] == "网格员王芳"
    assert timeline[0]["data"]["request"]["description"] == "楼道堆放杂物，影响通行"
    assert timeline[1]["data"]["rule"] == "citizen"
    assert timeline[0]["seq"] < timeline[1]["seq"]


async def test_unknown_whistle_is_404(live: Live) -> None:
    status, problem = await live.get("/api/v1/whistles/01NOPE")
    assert status == 404
    assert "01NOPE" in problem["detail"]


async def test_list_pages_newest_first_with_a_cursor(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    ids = []
    for _ in range(5):
        _, _, doc = await live.post(body(county))
        ids.append(doc["id"])
        clock.advance(timedelta(minutes=1))
    seen: list[str] = []
    url = "/api/v1/whistles?limit=2"
    pages = 0
    while True:
        status, page = await live.get(url)
        assert status == 200
        pages += 1
        seen += [item["id"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        url = f"/api/v1/whistles?limit=2&cursor={page['next_cursor']}"
    assert seen == list(reversed(ids))
    assert pages == 3


async def test_list_filters_by_source_category_status_subtree_and_time(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    towns = list(county.cells(level=Level.TOWN))
    first_town_grid = next(c for c in county.cells(level=Level.GRID) if c.is_within(towns[0].code))
    other_town_grid = next(c for c in county.cells(level=Level.GRID) if c.is_within(towns[1].code))
    start = clock.now()
    _, _, a = await live.post(body(county, location={"grid": first_town_grid.code}))
    clock.advance(timedelta(hours=1))
    _, _, b = await live.post(
        body(county, source="camera", category="E0403", location={"grid": other_town_grid.code})
    )
    clock.advance(timedelta(hours=1))
    _, _, c = await live.post(body(county, source="police", category="E0701"))

    async def ids(query: str) -> list[str]:
        status, page = await live.get(f"/api/v1/whistles?{query}")
        assert status == 200, page
        return [item["id"] for item in page["items"]]

    assert await ids("source=camera") == [b["id"]]
    assert await ids("category=E07") == [c["id"]]
    assert await ids("category=E0101") == [a["id"]]
    assert await ids(f"grid={towns[1].code}") == [b["id"]]
    assert await ids(f"grid={county.root}") == [c["id"], b["id"], a["id"]]
    assert await ids("status=dispatched") == [c["id"], b["id"], a["id"]]
    assert await ids("status=closed") == []
    since = quote((start + timedelta(minutes=30)).isoformat())
    until = quote((start + timedelta(minutes=90)).isoformat())
    assert await ids(f"since={since}&until={until}") == [b["id"]]


@pytest.mark.parametrize(
    ("query", "field", "reason"),
    [
        ("source=mayor", "source", "unknown source 'mayor'"),
        ("grid=nowhere", "grid", "unknown grid code 'nowhere'"),
        ("since=yesterday", "since", "RFC 3339"),
        ("until=2026-11-21T00:00:00", "until", "with an offset"),
        ("limit=0", "limit", "between 1 and 200"),
        ("limit=many", "limit", "whole number"),
        ("cursor=%%%", "cursor", "not a cursor"),
        ("colour=red", "colour", "unknown parameter"),
    ],
)
async def test_bad_list_parameters_are_named(
    live: Live, query: str, field: str, reason: str
) -> None:
    status, problem = await live.get(f"/api/v1/whistles?{query}")
    assert status == 400
    assert problem["errors"][0]["field"] == field
    assert reason in problem["errors"][0]["reason"]


async def test_grid_shows_parent_chain_children_centroid_and_responders(
    live: Live, county: Hierarchy
) -> None:
    grid = county.at_level(first_micro_grid(county), Level.GRID)
    status, doc = await live.get(f"/api/v1/grids/{grid.code}")
    assert status == 200
    assert doc["code"] == grid.code
    assert doc["level"] == "grid"
    assert doc["level_name"] == "网格"
    assert [p["code"] for p in doc["path"]] == list(grid.path)
    assert doc["parent"] == grid.parent
    assert doc["children"] == county.child_count(grid.code) > 0
    centroid = county.centroid(grid.code)
    assert centroid is not None
    assert doc["centroid"] == {"lat": centroid[0], "lon": centroid[1]}
    assert grid.geometry.contains(shapely.Point(centroid[1], centroid[0]))
    kinds = sorted(r["kind"] for r in doc["responders"])
    assert kinds == ["grid_leader", "registered_member", "unposted_member"]
    assert "contact" not in doc["responders"][0]  # phone numbers stay out of public reads


async def test_unknown_grid_is_404(live: Live) -> None:
    status, problem = await live.get("/api/v1/grids/000")
    assert status == 404
    assert "'000'" in problem["detail"]


async def test_grids_list_by_level_and_parent(live: Live, county: Hierarchy) -> None:
    status, towns = await live.get("/api/v1/grids?level=2")
    assert status == 200
    assert [t["code"] for t in towns["items"]] == [c.code for c in county.cells(level=Level.TOWN)]
    town = towns["items"][0]["code"]
    status, children = await live.get(f"/api/v1/grids?parent={town}")
    assert [c["code"] for c in children["items"]] == [c.code for c in county.children(town)]
    status, default = await live.get("/api/v1/grids")
    assert [c["code"] for c in default["items"]] == [county.root]
    status, page = await live.get("/api/v1/grids?level=micro_grid&limit=7&offset=7")
    micro = [c.code for c in county.cells(level=Level.MICRO_GRID)]
    assert [c["code"] for c in page["items"]] == micro[7:14]
    assert page["total"] == len(micro)
    assert page["next_offset"] == 14


@pytest.mark.parametrize(
    ("query", "field"),
    [("level=9", "level"), ("level=street", "level"), ("parent=nope", "parent"), ("x=1", "x")],
)
async def test_bad_grid_list_parameters_are_named(live: Live, query: str, field: str) -> None:
    status, problem = await live.get(f"/api/v1/grids?{query}")
    assert status == 400
    assert problem["errors"][0]["field"] == field


async def test_categories_list_the_catalog(live: Live) -> None:
    status, doc = await live.get("/api/v1/categories")
    assert status == 200
    by_code: dict[str, Any] = {c["code"]: c for c in doc["items"]}
    assert by_code["E0101"]["name"] == "暴露垃圾"
    assert by_code["E0501"]["urgency"] == "urgent"
    assert by_code["E0801"]["claimable"] is True
    assert {c["type"] for c in doc["items"]} == {"event", "facility"}


async def test_health_and_readiness(live: Live, county: Hierarchy) -> None:
    status, doc = await live.get("/healthz")
    assert (status, doc) == (200, {"status": "ok"})
    status, doc = await live.get("/readyz")
    assert status == 200
    assert doc["cells"] == len(county)


async def test_unknown_path_and_wrong_method_are_problem_json(live: Live) -> None:
    response = await live.client.get("/api/v1/nothing", headers=await live.auth())
    assert response.status == 404
    assert response.headers["Content-Type"].startswith("application/problem+json")
    response = await live.client.delete("/api/v1/whistles", headers=await live.auth())
    assert response.status == 405
    assert "POST" in response.headers["Allow"]


async def test_roster_names_are_shown_only_inside_ones_subtree(
    live: Live, county: Hierarchy
) -> None:
    towns = list(county.cells(level=Level.TOWN))
    grid_b = next(c for c in county.cells(level=Level.GRID) if c.is_within(towns[1].code))
    town_a = await live.token("committee", scope=towns[0].code)
    status, doc = await live.get(f"/api/v1/grids/{grid_b.code}", token=town_a)
    assert status == 200
    assert doc["code"] == grid_b.code  # the structure is public
    assert doc["responders"] is None  # who staffs it is not
    status, doc = await live.get(f"/api/v1/grids/{grid_b.code}")  # a county operator
    assert [r["kind"] for r in doc["responders"]]


async def test_readyz_is_503_while_the_database_cannot_take_writes(live: Live) -> None:
    import sqlite3

    blocker = sqlite3.connect(live.db, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        response = await live.client.get("/readyz")
        assert response.status == 503
        assert response.headers["Retry-After"]
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    status, doc = await live.get("/readyz")
    assert status == 200
    assert doc["status"] == "ready"
    assert doc["database"] == "sqlite"
