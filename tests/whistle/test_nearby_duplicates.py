"""The town's rules for likely duplicates (疑似重复) and merges, through the real pipeline.

Nearby is by distance, not by cell: two points 7 m apart across a grid boundary are nearby.
The radius and the window are the category's, in the catalog. Suggestions hold when whistles
come in at the same moment, and survive a restart. A merged case keeps the record of what was
merged into it.
"""

from __future__ import annotations

import asyncio
import math
from datetime import timedelta
from typing import Any

from grids import Hierarchy, Level
from tests.support.harness import Live, StartServer
from tests.support.lifecycle import Cases
from tests.support.pages import PASSWORD, log_in
from whistle.auth import Role
from whistle.clock import FakeClock
from whistle.nearby import distance_m
from whistle.web.access import ACCESS

_M_PER_DEGREE = math.pi * 6_371_008.8 / 180.0


def grid_of(county: Hierarchy, lat: float, lon: float) -> str | None:
    cell = county.locate(lat, lon)
    return None if cell is None else county.at_level(cell.code, Level.GRID).code


def east(lat: float, lon: float, metres: float) -> tuple[float, float]:
    return lat, lon + metres / (_M_PER_DEGREE * math.cos(math.radians(lat)))


def north(lat: float, lon: float, metres: float) -> tuple[float, float]:
    return lat + metres / _M_PER_DEGREE, lon


def across_a_grid_boundary(
    county: Hierarchy, start: tuple[float, float], gap: float = 7.0
) -> tuple[dict[str, float], dict[str, float]] | None:
    """Two points ``gap`` metres apart on either side of the first grid boundary east of
    ``start``, or None when the county ends first."""
    lat, lon = start
    home = grid_of(county, lat, lon)
    near, far = lon, lon
    while True:
        far = east(lat, far, 200.0)[1]
        found = grid_of(county, lat, far)
        if found is None:
            return None
        if found != home:
            break
        near = far
    while (far - near) * _M_PER_DEGREE * math.cos(math.radians(lat)) > 0.01:
        middle = (near + far) / 2
        if grid_of(county, lat, middle) == home:
            near = middle
        else:
            far = middle
    a = east(lat, near, -gap / 2)
    b = east(lat, far, gap / 2)
    if grid_of(county, *a) != home or grid_of(county, *b) in (home, None):
        return None
    return {"lat": a[0], "lon": a[1]}, {"lat": b[0], "lon": b[1]}


def boundary_pairs(county: Hierarchy, count: int) -> list[tuple[dict[str, float], ...]]:
    """``count`` pairs of points 7 m apart across grid boundaries, each pair more than 1 km
    from every other (beyond any radius in the catalog)."""
    pairs: list[tuple[dict[str, float], ...]] = []
    for cell in county.cells(level=Level.MICRO_GRID):
        centroid = county.centroid(cell.code)
        assert centroid is not None
        for step in range(-4, 5):
            pair = across_a_grid_boundary(county, north(*centroid, step * 1500.0))
            if pair is None:
                continue
            here = pair[0]
            if all(
                distance_m(here["lat"], here["lon"], p[0]["lat"], p[0]["lon"]) > 1000 for p in pairs
            ):
                pairs.append(pair)
            if len(pairs) == count:
                return pairs
    raise AssertionError(f"the test county has fewer than {count} grid boundaries to use")


def whistle_at(point: dict[str, float], **extra: Any) -> dict[str, Any]:
    return {"location": point, **extra}


async def test_two_points_7_m_apart_across_a_grid_boundary_are_nearby_duplicates(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    cases = Cases(live, county)
    (here, there), = boundary_pairs(county, 1)  # fmt: skip
    assert 6.9 < distance_m(here["lat"], here["lon"], there["lat"], there["lon"]) < 7.1
    a = await cases.new(**whistle_at(here))
    clock.advance(timedelta(minutes=5))
    b = await cases.new(**whistle_at(there))
    assert a["grid"]["path"][3]["code"] != b["grid"]["path"][3]["code"]  # different grids
    assert b["possible_duplicates"] == [a["id"]]
    # The earlier case is told too: its document lists the later one, through an event.
    earlier = await cases.get(a["id"])
    assert earlier["possible_duplicates"] == [b["id"]]
    linked = [e for e in earlier["timeline"] if e["type"] == "case.possible_duplicate"]
    assert [(e["data"]["whistle"], round(e["data"]["distance_m"])) for e in linked] == [
        (b["id"], 7)
    ]
    # A note, not a step: the case's version (its steps) is as before, in the fold and row.
    steps = [e for e in earlier["timeline"] if e["type"] != "case.possible_duplicate"]
    assert earlier["case"]["version"] == len(steps) == a["case"]["version"]
    # 60 m away is beyond 暴露垃圾's 50 m: not the same pile of rubbish.
    far = east(here["lat"], here["lon"], -60.0)
    c = await cases.new(location={"lat": far[0], "lon": far[1]})
    assert c["possible_duplicates"] == []


async def test_the_radius_and_the_window_are_the_categorys_own_from_the_catalog(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    """categories.toml: 火灾 (E05 突发事件) 300 m within 1 h; 暴露垃圾 (E0101) 50 m within
    lifecycle.toml's 2 h."""
    cases = Cases(live, county)
    centroid = county.centroid(next(county.cells(level=Level.MICRO_GRID)).code)
    assert centroid is not None
    here = {"lat": centroid[0], "lon": centroid[1]}
    lat, lon = north(*centroid, 200.0)
    farther = {"lat": lat, "lon": lon}
    fire = await cases.new(category="E0501", location=here, description="居民楼冒烟")
    rubbish = await cases.new(category="E0101", location=here)
    clock.advance(timedelta(minutes=10))
    fire_again = await cases.new(category="E0501", location=farther, description="看到火光")
    rubbish_again = await cases.new(category="E0101", location=farther)
    assert fire_again["possible_duplicates"] == [fire["id"]]  # 200 m: within 300 m
    assert rubbish_again["possible_duplicates"] == []  # 200 m: beyond 50 m
    clock.advance(timedelta(minutes=65))  # 75 min after the first two
    fire_later = await cases.new(category="E0501", location=here, description="又冒烟")
    rubbish_later = await cases.new(category="E0101", location=here)
    assert fire_later["possible_duplicates"] == []  # past the fire's 1 h (and fire_again's)
    assert rubbish_later["possible_duplicates"] == [rubbish["id"]]  # inside 2 h
    # The catalog says so to its readers.
    status, catalog = await live.get("/api/v1/categories")
    assert status == 200
    shown = {c["code"]: (c["duplicate_radius_m"], c["duplicate_window"]) for c in catalog["items"]}
    assert shown["E0501"] == (300.0, "1h")
    assert shown["E0101"] == (50.0, None)  # lifecycle.toml's window


async def test_suggestions_hold_under_concurrent_intake(live: Live, county: Hierarchy) -> None:
    """Pairs of whistles 7 m apart filed at the same moment list each other, both ways."""
    cases = Cases(live, county)
    pairs = boundary_pairs(county, 12)
    bodies = [cases_body(point, n) for n, pair in enumerate(pairs) for point in pair]
    results = await asyncio.gather(*(live.post(b) for b in bodies))
    assert [status for status, _, _ in results] == [201] * len(bodies)
    ids = [doc["id"] for _, _, doc in results]
    for n in range(len(pairs)):
        first, second = ids[2 * n], ids[2 * n + 1]
        docs = [await cases.get(first), await cases.get(second)]
        assert docs[0]["possible_duplicates"] == [second] or docs[1]["possible_duplicates"] == [
            first
        ], f"pair {n} does not know it is a pair"
        # Both documents are linked: whichever came second lists the first, and the first
        # gained the second; nothing of another pair is listed.
        assert docs[0]["possible_duplicates"] == [second]
        assert docs[1]["possible_duplicates"] == [first]


def cases_body(point: dict[str, float], n: int) -> dict[str, Any]:
    return {
        "source": "citizen",
        "category": "E0101",
        "description": f"垃圾堆放 #{n}",
        "location": point,
        "reporter": f"居民{n}",
    }


async def test_community_whistles_count_and_police_and_closed_cases_do_not(
    live: Live, county: Hierarchy
) -> None:
    cases = Cases(live, county)
    centroid = county.centroid(next(county.cells(level=Level.MICRO_GRID)).code)
    assert centroid is not None
    here = {"lat": centroid[0], "lon": centroid[1]}
    citizen = await cases.new(location=here)
    police = await cases.new(location=here, source="police")
    assert police["possible_duplicates"] == []  # police alerts come deduplicated
    community = await cases.new(location=here, source="community")
    assert community["possible_duplicates"] == [citizen["id"]]
    # Merged away: no longer a case to suggest.
    code, _ = await cases.case(community["id"], "merge", into=citizen["id"])
    assert code == 200
    again = await cases.new(location=here)
    assert again["possible_duplicates"] == [citizen["id"]]


async def test_a_point_and_a_grid_code_are_duplicates_in_the_same_grid(
    live: Live, county: Hierarchy
) -> None:
    """A whistle placed by grid code alone is somewhere in its grid: it matches by grid."""
    cases = Cases(live, county)
    micro = list(county.cells(level=Level.MICRO_GRID))
    grid = county.at_level(micro[0].code, Level.GRID).code
    sibling = next(c for c in micro[1:] if county.at_level(c.code, Level.GRID).code == grid)
    centroid = county.centroid(sibling.code)
    assert centroid is not None
    by_grid = await cases.new(location={"grid": micro[0].code})
    by_point = await cases.new(location={"lat": centroid[0], "lon": centroid[1]})
    assert by_point["possible_duplicates"] == [by_grid["id"]]


async def test_suggestions_survive_a_restart(
    start_server: StartServer, county: Hierarchy, clock: FakeClock
) -> None:
    first = await start_server()
    (here, there), = boundary_pairs(county, 1)  # fmt: skip
    a = await Cases(first, county).new(location=here)
    await first.client.close()
    clock.advance(timedelta(minutes=30))
    second = await start_server(db=first.db)
    b = await Cases(second, county).new(location=there)
    assert b["possible_duplicates"] == [a["id"]]


async def test_a_merged_case_keeps_the_record_of_what_was_merged_into_it(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    cases = Cases(live, county)
    (here, there), = boundary_pairs(county, 1)  # fmt: skip
    a = await cases.new(location=here, description="路口垃圾堆积", reporter="居民张伟")
    clock.advance(timedelta(minutes=3))
    b = await cases.new(location=there, description="垃圾堆了三天", reporter="居民李梅")
    clock.advance(timedelta(minutes=2))
    code, merged = await cases.case(b["id"], "merge", into=a["id"])
    assert code == 200
    assert merged["status"] == "cancelled"
    assert merged["case"]["merged_into"] == a["id"]
    kept = await cases.get(a["id"])
    record = kept["case"]["merged"]
    assert len(record) == 1
    assert record[0]["id"] == b["id"]
    assert record[0]["by"]  # the operator who merged it
    assert record[0]["description"] == "垃圾堆了三天"
    assert record[0]["reporter"] == "居民李梅"
    cancelled = await cases.get(b["id"])
    assert cancelled["timeline"][-1]["type"] == "case.merged"
    assert record[0]["at"] == cancelled["timeline"][-1]["at"]
    assert record[0]["received_at"] == b["received_at"]  # in the county's time, like the rest
    assert [e["type"] for e in kept["timeline"]][-1] == "case.duplicate_merged"
    steps = [e for e in kept["timeline"] if e["type"] != "case.possible_duplicate"]
    assert kept["case"]["version"] == len(steps)
    # The case page shows it by number, with what was said, both ways.
    await live.app[ACCESS].add_user(
        name="调度员李娜", password=PASSWORD, role=Role.OPERATOR, scope=county.root, by="tests"
    )
    await log_in(live.client, "调度员李娜")
    page = await live.client.get(f"/cases/{a['id']}")
    text = await page.text()
    assert page.status == 200
    merged_in = text[text.index('class="merged"') :]
    assert f'href="/cases/{b["id"]}"' in merged_in
    assert "垃圾堆了三天" in merged_in
    assert "居民李梅" in merged_in
    page = await live.client.get(f"/cases/{b['id']}")
    text = await page.text()
    merged_into = text[text.index('class="merged-into"') :]
    assert f'href="/cases/{a["id"]}"' in merged_into
    assert "暴露垃圾" in merged_into  # the case it went into, by what it is


async def test_a_case_merged_away_takes_no_more_duplicates(live: Live, county: Hierarchy) -> None:
    cases = Cases(live, county)
    a, b, c = await cases.new(), await cases.new(), await cases.new()
    assert (await cases.case(b["id"], "merge", into=a["id"]))[0] == 200
    code, problem = await cases.case(c["id"], "merge", into=b["id"])
    assert code == 422
    assert problem["errors"][0]["field"] == "into"
    assert (await cases.get(c["id"]))["status"] == "dispatched"
