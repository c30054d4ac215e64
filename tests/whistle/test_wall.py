"""大屏, the command-centre wall: ``GET /api/v1/wall`` counts what the page shows (open cases
per map cell, today's whistles by source, the overdue cases by name, the 三率 of seven days),
for one's own subtree; ``GET /wall`` is the page."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from grids import Hierarchy, Level
from tests.support.harness import Live
from tests.support.lifecycle import Cases
from tests.support.pages import add_user, log_in
from tests.support.requests import point_of
from whistle.auth import Role
from whistle.clock import FakeClock
from whistle.web.keys import LIVE
from whistle.web.wall import map_cells


def _micro_in(county: Hierarchy, cell: str) -> str:
    return next(c.code for c in county.cells(level=Level.MICRO_GRID) if c.is_within(cell))


async def _wall(live: Live, query: str = "", token: str | None = None) -> tuple[int, Any]:
    return await live.get(f"/api/v1/wall{query}", token=token)


def test_the_map_shows_a_level_that_reads_well(county: Hierarchy) -> None:
    root = county.cell(county.root)
    # The small county: 2 towns, 4 communities, 12 grids, 60 micro-grids: the grids.
    assert {c.level for c in map_cells(county, root)} == {Level.GRID}
    assert len(map_cells(county, root)) == 12
    grid = next(county.cells(level=Level.GRID))
    assert {c.level for c in map_cells(county, grid)} == {Level.MICRO_GRID}
    micro = next(county.cells(level=Level.MICRO_GRID))
    assert map_cells(county, micro) == [micro]


async def test_the_wall_counts_open_cases_per_cell_and_todays_whistles_by_source(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    cases = Cases(live, county)
    town_a, town_b = (c.code for c in county.cells(level=Level.TOWN))
    grid_a = next(c for c in county.cells(level=Level.GRID) if c.is_within(town_a))
    grid_b = next(c for c in county.cells(level=Level.GRID) if c.is_within(town_b))
    t0 = clock.now()
    # Yesterday's whistle is open, but not one of today's.
    await cases.new(location=point_of(county, _micro_in(county, grid_b.code)), source="police")
    clock.set(t0 + timedelta(days=1))
    first = await cases.new(location=point_of(county, _micro_in(county, grid_a.code)))
    await cases.new(location=point_of(county, _micro_in(county, grid_a.code)), source="community")
    await cases.new(location=point_of(county, _micro_in(county, grid_b.code)))
    clock.set(t0 + timedelta(days=1, minutes=10))
    member = next(a for a in first["assignments"] if a["kind"] == "registered_member")
    status, _ = await cases.assignment(member, "acknowledge")
    assert status == 200

    status, doc = await _wall(live)
    assert status == 200, doc
    assert doc["grid"]["code"] == county.root
    assert doc["map"]["level"] == "grid"
    shown = map_cells(county, county.cell(county.root))
    assert doc["map"]["shapes"] == list(dict.fromkeys(c.parent for c in shown))
    cells = {c["code"]: c for c in doc["cells"]}
    assert len(cells) == 12
    assert cells[grid_a.code]["open"] == 2
    assert cells[grid_b.code]["open"] == 2
    assert cells[grid_a.code]["name"] == grid_a.name
    assert sum(c["open"] for c in doc["cells"]) == doc["open_total"] == 4
    sources = {s["key"]: s["count"] for s in doc["sources"]}
    assert sources == {
        "citizen": 2,
        "community": 1,
        "town_committee": 0,
        "police": 0,
        "camera": 0,
    }
    assert doc["sources"][0]["name"] == "群众吹哨"
    assert doc["today_total"] == 3
    rates = {r["key"]: r for r in doc["rates"]["items"]}
    assert list(rates) == ["response", "resolution", "satisfaction"]
    assert rates["response"]["name"] == "响应率"
    # Of the last seven days: one case answered in time, yesterday's never (its deadline has
    # passed); the deadlines of today's others have not yet.
    assert (rates["response"]["numerator"], rates["response"]["denominator"]) == (1, 2)
    assert (doc["rates"]["since"], doc["rates"]["until"]) == ("2026-11-18", "2026-11-24")

    # A town's operator sees its own town only, and may not ask for the other.
    town = await live.token("operator", scope=town_a)
    status, mine = await _wall(live, token=town)
    assert status == 200
    assert mine["grid"]["code"] == town_a
    assert mine["open_total"] == 2
    assert sum(s["count"] for s in mine["sources"]) == 2
    assert {c["code"] for c in mine["cells"]} == {
        c.code for c in map_cells(county, county.cell(town_a))
    }
    status, problem = await _wall(live, f"?grid={town_b}", token=town)
    assert status == 403, problem


async def test_the_overdue_list_names_the_category_the_place_and_how_late(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    cases = Cases(live, county)
    micro = _micro_in(county, county.root)
    doc = await cases.new(location=point_of(county, micro))
    status, empty = await _wall(live)
    assert (status, empty["overdue"]["count"], empty["overdue"]["items"]) == (200, 0, [])
    # Overdue as the console counts it: once the case's next deadline (here its first
    # 报到) has passed, by how long since then.
    due = datetime.fromisoformat(doc["case"]["next_due"]["at"])
    assert due < datetime.fromisoformat(doc["case"]["resolve_due"])
    clock.set(due + timedelta(hours=3))
    status, wall = await _wall(live)
    assert status == 200
    assert wall["overdue"]["count"] == 1
    (item,) = wall["overdue"]["items"]
    assert item["id"] == doc["id"]
    assert item["category"]["name"] == live.app[LIVE].catalog.get("E0101").name
    cell = county.cell(doc["grid"]["code"])
    assert item["place"]["name"] == cell.name
    # the place reads from the town down: 田园镇 · 某社区 · 某网格 · 某微网格
    assert item["place"]["path"].split(" · ")[-1] == cell.name
    assert item["place"]["path"].split(" · ")[0] == county.cell(cell.path[1]).name
    assert item["overdue_seconds"] == 3 * 3600
    assert item["case_number"] == doc.get("case_number", doc["id"][-8:])
    assert item["source"]["name"] == "群众吹哨"


async def test_the_wall_is_for_operators_committees_and_admins(
    live: Live, county: Hierarchy
) -> None:
    for role, scope in (("committee", "root"), ("admin", None)):
        status, _ = await _wall(live, token=await live.token(role, scope=scope))
        assert status == 200, role
    status, _ = await _wall(live, token=await live.token("reporter"))
    assert status == 403
    for query in ("?grid=nowhere", "?colour=red"):
        status, problem = await _wall(live, query)
        assert status == 400, (query, problem)
    response = await live.client.get("/wall", allow_redirects=False)
    assert (response.status, response.headers["Location"]) == (303, "/login")
    await add_user(live, "op1", Role.OPERATOR, county.root)
    assert (await log_in(live.client, "op1")).status == 303
    html = await (await live.client.get("/wall")).text()
    assert "指挥中心" in html
    assert '<script src="/vendor/echarts.min.js"></script>' in html
    assert '<script src="/static/wall.js"></script>' in html
    assert "/api/v1/wall?grid=" in html
    english = await (await live.client.get("/wall?lang=en")).text()
    assert "command centre" in english
