"""The town's rule for silences (issue 14, Safety): a silence must never swallow an emergency.

Silences exist for camera repeats and planned works. Police, town-committee and urgent
whistles are never muted unless a silence names their source, and even then they are
dispatched, with a warning naming the silence; a silence must name something narrower than a
cell; the API, the timeline and the console show which silence matched.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from grids import Cell, Hierarchy, Level
from tests.support.harness import Live, StartServer
from tests.support.lifecycle import Cases
from tests.support.pages import add_user, log_in
from whistle.auth import Role
from whistle.cameras import camera_rows
from whistle.store._schema import MIGRATIONS
from whistle.web.keys import CAMERAS


def first_town(county: Hierarchy) -> Cell:
    return next(iter(county.cells(level=Level.TOWN)))


def micro_in(county: Hierarchy, town: Cell) -> str:
    return next(c.code for c in county.cells(level=Level.MICRO_GRID) if c.is_within(town.code))


async def silence(live: Live, matchers: dict[str, str], **body: Any) -> tuple[int, Any]:
    body.setdefault("author", "调度员李娜")
    body.setdefault("comment", "道路施工，临时屏蔽")
    body.setdefault("duration_minutes", 120)
    response = await live.client.post(
        "/api/v1/silences", json={"matchers": matchers, **body}, headers=await live.auth()
    )
    return response.status, await response.json()


async def file(cases: Cases, grid: str, source: str, category: str, **extra: Any) -> Any:
    return await cases.new(source=source, category=category, location={"grid": grid}, **extra)


# What the audit filed under a silence on its grid: each must still reach its responders.
EMERGENCIES = [
    ("police", "E0703"),  # 警情吹哨: a fight
    ("citizen", "E0501"),  # an urgent citizen report: a fire
    ("town_committee", "E0101"),  # 镇党委吹哨, of an ordinary category
]


async def test_a_silence_on_a_grid_alone_is_refused_naming_the_matchers(
    live: Live, county: Hierarchy
) -> None:
    status, problem = await silence(live, {"grid": first_town(county).code})
    assert status == 422
    (error,) = problem["errors"]
    assert error["field"] == "matchers"
    assert "a grid alone would mute everything there" in error["reason"]
    _, listing = await live.get("/api/v1/silences")
    assert listing["items"] == []


async def test_planned_works_never_mute_a_police_fight_an_urgent_fire_or_the_town_committee(
    live: Live, county: Hierarchy
) -> None:
    cases = Cases(live, county)
    town = first_town(county)
    grid = micro_in(county, town)
    # Planned works in the town: every category that works make people report, all sources.
    for major in ("E01", "E05", "E07"):
        status, _ = await silence(live, {"grid": town.code, "category": major})
        assert status == 201
    ordinary = await file(cases, grid, "citizen", "E0101")
    assert ordinary["status"] == "muted"  # the silence works for what it is meant for
    for source, category in EMERGENCIES:
        doc = await file(cases, grid, source, category)
        assert doc["status"] == "dispatched", (source, category)
        assert doc["assignments"], (source, category)
        assert doc["muted_by"] is None
        # The silence did not name the source: it is not about these at all.
        assert doc["silence_warning"] is None


async def test_a_silence_naming_the_police_still_dispatches_police_alerts_with_a_warning(
    live: Live, county: Hierarchy
) -> None:
    cases = Cases(live, county)
    town = first_town(county)
    status, named = await silence(
        live, {"grid": town.code, "source": "police"}, comment="派出所演练，重复警情"
    )
    assert status == 201
    doc = await file(cases, micro_in(county, town), "police", "E0703")
    assert doc["status"] == "dispatched"
    assert [a["kind"] for a in doc["assignments"]] == ["police_station"]
    assert doc["muted_by"] is None
    warning = doc["silence_warning"]
    assert warning["id"] == named["id"]
    assert warning["comment"] == "派出所演练，重复警情"
    assert warning["author"] == "调度员李娜"
    assert warning["matchers"] == {"grid": town.code, "source": "police"}
    assert "never muted" in warning["warning"]
    # The timeline names it too, on the routing that happened despite it.
    full = await cases.get(doc["id"])
    routed = next(e for e in full["timeline"] if e["type"] == "whistle.routed")
    assert routed["data"]["silence_warning"]["id"] == named["id"]


async def test_a_silence_naming_the_town_committee_still_dispatches_its_whistles_with_a_warning(
    live: Live, county: Hierarchy
) -> None:
    cases = Cases(live, county)
    town = first_town(county)
    _, named = await silence(live, {"grid": town.code, "source": "town_committee"})
    doc = await file(cases, micro_in(county, town), "town_committee", "E0101")
    assert doc["status"] == "dispatched"
    assert doc["assignments"]
    assert doc["silence_warning"]["id"] == named["id"]


async def test_a_silence_naming_citizens_mutes_ordinary_reports_but_dispatches_urgent_ones(
    live: Live, county: Hierarchy
) -> None:
    cases = Cases(live, county)
    town = first_town(county)
    grid = micro_in(county, town)
    _, named = await silence(live, {"grid": town.code, "source": "citizen"})
    ordinary = await file(cases, grid, "citizen", "E0101")
    assert ordinary["status"] == "muted"
    assert ordinary["muted_by"]["id"] == named["id"]
    fire = await file(cases, grid, "citizen", "E0501")
    assert fire["status"] == "dispatched"
    assert fire["assignments"]
    assert fire["silence_warning"]["id"] == named["id"]
    # An ordinary category marked urgent by the reporter is an emergency too.
    urgent = await file(cases, grid, "citizen", "E0101", urgency="urgent")
    assert urgent["status"] == "dispatched"
    assert urgent["silence_warning"]["id"] == named["id"]


async def test_a_camera_silence_still_mutes_the_cameras_repeats(
    live: Live, county: Hierarchy
) -> None:
    cases = Cases(live, county)
    camera = live.app[CAMERAS][sorted(live.app[CAMERAS])[0]]
    _, named = await silence(live, {"camera": camera.camera_id}, comment="摄像头误报，等待检修")
    doc = await file(cases, camera.grid, "camera", "E0403", camera_id=camera.camera_id)
    assert doc["status"] == "muted"
    assert doc["muted_by"]["comment"] == "摄像头误报，等待检修"
    assert doc["muted_by"]["id"] == named["id"]


async def test_the_console_row_names_the_silence_by_its_comment(
    live: Live, county: Hierarchy
) -> None:
    cases = Cases(live, county)
    town = first_town(county)
    grid = micro_in(county, town)
    await silence(live, {"grid": town.code, "category": "E01"}, comment="燃气管道施工")
    await silence(live, {"grid": town.code, "source": "police"}, comment="派出所演练")
    muted = await file(cases, grid, "citizen", "E0101")
    warned = await file(cases, grid, "police", "E0703")
    await add_user(live, "op", Role.OPERATOR, county.root)
    await log_in(live.client, "op")
    html = await (await live.client.get("/console")).text()
    muted_row = html[html.index(f'data-id="{muted["id"]}"') :].split("</tr>")[0]
    assert "静默: 燃气管道施工" in muted_row
    warned_row = html[html.index(f'data-id="{warned["id"]}"') :].split("</tr>")[0]
    assert "紧急不静默: 派出所演练" in warned_row
    # And the case page says who set it and what it matches.
    page = await (await live.client.get(f"/cases/{warned['id']}")).text()
    assert "紧急不静默" in page
    assert "派出所演练" in page
    assert "来源 警情" in page  # what it matches, by name
    assert "source=police" not in page


OLD_SCHEMA = 8


def _first_camera(county: Hierarchy) -> tuple[str, str]:
    rows = sorted(camera_rows(county))
    return rows[0][0], rows[0][1]


async def test_a_grid_only_silence_stored_before_the_rule_is_kept_but_mutes_nothing(
    start_server: StartServer, county: Hierarchy, tmp_path: Path
) -> None:
    # A database as the previous release left it, with a grid-only and a camera silence.
    db = tmp_path / "old.sqlite3"
    town = first_town(county)
    # A camera of the shared test county's cameras.csv (written by the start_server fixture).
    cam_id, cam_cell = _first_camera(county)
    with sqlite3.connect(db, isolation_level=None) as raw:
        # Schema version 8: the release before silences took several matchers.
        for migration in MIGRATIONS[:OLD_SCHEMA]:
            for statement in migration:
                raw.execute(statement)
        raw.execute(f"PRAGMA user_version = {OLD_SCHEMA}")
        past, future = "2000-01-01T00:00:00.000000+00:00", "2999-01-01T00:00:00.000000+00:00"
        for sid, matcher, value in (("S-GRID", "grid", town.code), ("S-CAM", "camera", cam_id)):
            raw.execute(
                "INSERT INTO silences VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (sid, matcher, value, past, future, "值班员", "旧静默", past),
            )
    live = await start_server(db=db)
    cases = Cases(live, county)
    _, listing = await live.get("/api/v1/silences")
    by_id = {s["id"]: s for s in listing["items"]}
    assert by_id["S-GRID"]["matchers"] == {"grid": town.code}
    assert by_id["S-GRID"]["active"] is False
    assert "grid alone" in by_id["S-GRID"]["inert"]
    assert by_id["S-CAM"]["matchers"] == {"camera": cam_id}
    assert by_id["S-CAM"]["active"] is True
    assert by_id["S-CAM"]["inert"] is None
    doc = await file(cases, micro_in(county, town), "citizen", "E0101")
    assert doc["status"] == "dispatched"
    camera = await file(cases, cam_cell, "camera", "E0403", camera_id=cam_id)
    assert camera["status"] == "muted"
