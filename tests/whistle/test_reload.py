"""Reloading the grids of a running server: swapped with whistles flowing, kept on a problem."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from grids.model import Level
from tests.support.harness import Live, StartServer
from tests.support.requests import body
from whistle.cli import main
from whistle.reload import reload_hierarchy
from whistle.web.keys import HIERARCHY, LIVE


def _config(county_dir: Path, tmp_path: Path) -> Path:
    config = tmp_path / "config"
    shutil.copytree(county_dir, config)
    return config


def _rename_first_town(config: Path, name: str) -> str:
    grids = config / "grids.csv"
    lines = grids.read_text(encoding="utf-8").splitlines()
    code, parent, level, _ = lines[2].split(",")
    lines[2] = ",".join([code, parent, level, name])
    grids.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return code


async def _whistles_while(live: Live, reload: asyncio.Task[object]) -> list[int]:
    """Post whistles one after another until ``reload`` has finished (and a few after)."""
    statuses: list[int] = []
    hierarchy = live.app[HIERARCHY]
    while not reload.done() or len(statuses) < 5:
        status, _, _ = await live.post(body(hierarchy, source="citizen", category="E0101"))
        statuses.append(status)
        if len(statuses) > 2000:
            break
    return statuses


async def test_a_reload_swaps_the_new_grids_in_while_whistles_keep_being_taken(
    start_server: StartServer, county_dir: Path, tmp_path: Path
) -> None:
    config = _config(county_dir, tmp_path)
    live = await start_server(config=config, grid_cache=tmp_path / "cache")
    hierarchy = live.app[HIERARCHY]
    town = _rename_first_town(config, "新城镇")
    assert hierarchy.cell(town).name != "新城镇"

    reload = asyncio.ensure_future(reload_hierarchy(live.app))
    statuses = await _whistles_while(live, reload)
    outcome = await reload
    assert outcome.swapped
    assert not outcome.problems
    assert set(statuses) == {201}, "no whistle is refused during the reload"
    # The same object every component holds, now reading the new grids.
    assert live.app[HIERARCHY] is hierarchy
    assert live.app[LIVE].current.router.hierarchy is hierarchy
    assert hierarchy.cell(town).name == "新城镇"
    status, doc = await live.get(f"/api/v1/grids/{town}")
    assert status == 200
    assert doc["name"] == "新城镇"


def _rename_last_micro_grid(config: Path, name: str) -> str:
    grids = config / "grids.csv"
    lines = grids.read_text(encoding="utf-8").splitlines()
    at = max(i for i, line in enumerate(lines) if line.split(",")[2] == "5")
    code, parent, level, _ = lines[at].split(",")
    lines[at] = ",".join([code, parent, level, name])
    grids.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return code


async def test_a_reload_places_addresses_by_the_new_grids_names(
    start_server: StartServer, county_dir: Path, tmp_path: Path
) -> None:
    config = _config(county_dir, tmp_path)
    live = await start_server(config=config, grid_cache=tmp_path / "cache")
    address = {
        "source": "citizen",
        "category": "E0101",
        "description": "楼道堆放杂物",
        "location": {"address": "滨河新苑9栋门口"},
    }
    status, _, doc = await live.post(address)
    assert status == 201, doc
    assert doc["status"] == "unplaced"  # no such place yet: held for an operator
    cell = _rename_last_micro_grid(config, "滨河新苑9栋")

    outcome = await reload_hierarchy(live.app)
    assert outcome.swapped
    status, _, doc = await live.post(address)
    assert status == 201, doc
    assert doc["placement"]["by"] == "gazetteer"
    assert doc["grid"]["code"] == cell
    # And the other names still name their own cells: the gazetteer reads the new columns.
    town = live.app[HIERARCHY].cell(live.app[HIERARCHY].codes(Level.TOWN)[-1])
    status, _, doc = await live.post({**address, "location": {"address": f"{town.name}某处"}})
    assert (doc["status"], doc["grid"]["code"]) == ("unplaced", town.code)  # held at the town


async def test_a_reload_with_a_problem_keeps_the_running_grids(
    start_server: StartServer, county_dir: Path, tmp_path: Path
) -> None:
    config = _config(county_dir, tmp_path)
    live = await start_server(config=config, grid_cache=tmp_path / "cache")
    hierarchy = live.app[HIERARCHY]
    town = _rename_first_town(config, "新城镇")
    with (config / "responders.csv").open("a", encoding="utf-8") as roster:
        roster.write("X1,某人,grid_leader,999999,*,,13800000000\n")

    reload = asyncio.ensure_future(reload_hierarchy(live.app))
    statuses = await _whistles_while(live, reload)
    outcome = await reload
    assert not outcome.swapped
    assert any("unknown grid 999999" in p.message for p in outcome.problems)
    assert set(statuses) == {201}
    assert hierarchy.cell(town).name != "新城镇", "the old hierarchy is kept"
    assert hierarchy.responder("X1") is None


async def test_the_admin_endpoint_reloads_and_answers_the_problems(
    start_server: StartServer, county_dir: Path, tmp_path: Path
) -> None:
    config = _config(county_dir, tmp_path)
    live = await start_server(config=config, grid_cache=tmp_path / "cache")
    admin = await live.token("admin", scope=None)
    town = _rename_first_town(config, "新城镇")

    response = await live.client.post(
        "/api/v1/admin/reload-grids", headers=await live.auth(await live.token("operator"))
    )
    assert response.status == 403
    response = await live.client.post("/api/v1/admin/reload-grids", headers=await live.auth(admin))
    doc = await response.json()
    assert response.status == 200, doc
    assert doc["swapped"] is True
    assert doc["cells"] == len(live.app[HIERARCHY])
    assert live.app[HIERARCHY].cell(town).name == "新城镇"

    (config / "grids.csv").write_text("code,parent,level,name\n", encoding="utf-8")
    response = await live.client.post("/api/v1/admin/reload-grids", headers=await live.auth(admin))
    problem = await response.json()
    assert response.status == 422
    assert problem["swapped"] is False
    assert problem["errors"][0]["field"] == "grids.csv"
    assert "no root" in problem["errors"][0]["reason"]
    assert live.app[HIERARCHY].cell(town).name == "新城镇"
    status, trail = await live.get("/api/v1/audit", token=admin)
    assert status == 200
    assert [e["action"] for e in trail["items"]][:2] == ["grids.reload", "grids.reload"]


def test_sample_province_is_deterministic_and_a_valid_config(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        assert main(["sample-province", str(out), "--seed", "5", "--scale", "5000"]) == 0
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(
        [
            "grids.csv",
            "grids.geojson",
            "responders.csv",
            "duty.csv",
            "teams.csv",
            "rules.toml",
            "categories.toml",
            "calendar.toml",
            "lifecycle.toml",
        ]
    )
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert main(["check-config", str(first)]) == 0
    third = tmp_path / "c"
    assert main(["sample-province", str(third), "--seed", "6", "--scale", "5000"]) == 0
    assert (third / "responders.csv").read_bytes() != (first / "responders.csv").read_bytes()
