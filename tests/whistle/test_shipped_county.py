"""The shipped config/ as `make run` serves it: the sample county routes as DOMAIN.md says."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from grids import Level, ResponderKind
from grids.loader import load_hierarchy
from tests.support.harness import SHIPPED, StartServer
from whistle.cli import main


async def test_citizen_at_a_micro_grid_point_reaches_its_grid_pair_and_police(
    start_server: StartServer, tmp_path: Path
) -> None:
    """The 1+1 pair and the officer must report; the grid's 网格长 and the micro-grid's 联户长
    are informed (知会)."""
    county = load_hierarchy(SHIPPED)
    live = await start_server(config=SHIPPED)
    micro_grids = list(county.cells(level=Level.MICRO_GRID))
    for micro in random.Random(530524).sample(micro_grids, 5):
        centroid = county.centroid(micro.code)
        assert centroid is not None
        grid = county.at_level(micro.code, Level.GRID)
        community = county.at_level(micro.code, Level.COMMUNITY)
        status, _, doc = await live.post(
            {
                "source": "citizen",
                "category": "E0101",
                "description": "楼道堆放杂物",
                "location": {"lat": centroid[0], "lon": centroid[1]},
            }
        )
        assert status == 201, doc
        assert doc["grid"]["code"] == micro.code
        got = {(a["kind"], a["responder"]["id"]) for a in doc["assignments"]}
        assert got == {
            (
                "registered_member",
                county.responders_at(grid.code, ResponderKind.REGISTERED_MEMBER)[0].id,
            ),
            (
                "unposted_member",
                county.responders_at(grid.code, ResponderKind.UNPOSTED_MEMBER)[0].id,
            ),
            (
                "community_police",
                county.responders_at(community.code, ResponderKind.COMMUNITY_POLICE)[0].id,
            ),
        }
        leader = county.responders_at(grid.code, ResponderKind.GRID_LEADER)[0].id
        household = county.responders_at(micro.code, ResponderKind.HOUSEHOLD_LEADER)[0].id
        assert [(i["kind"], i["responder"]["id"]) for i in doc["informed"]] == [
            ("grid_leader", leader),
            ("household_leader", household),
        ]
        assert all(t["explain"] for t in doc["trace"])


def test_shipped_config_passes_check_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(SHIPPED)]) == 0
    assert "ok" in capsys.readouterr().out


def test_sample_county_command_writes_a_complete_config_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "county"
    args = ["sample-county", str(out), "--seed", "3", "--towns", "2", "--communities", "3"]
    args += ["--grids", "9", "--micro-grids", "40"]
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [
            "grids.csv",
            "grids.geojson",
            "responders.csv",
            "rules.toml",
            "categories.toml",
            "calendar.toml",
            "lifecycle.toml",
            "duty.csv",
            "teams.csv",
            "places.csv",  # the gazetteer's address aliases, derived from the county
        ]
    )
    capsys.readouterr()
    assert main(["check-config", str(out)]) == 0
    county = load_hierarchy(out)
    assert len(list(county.cells(level=Level.GRID))) == 9
    assert len(list(county.cells(level=Level.MICRO_GRID))) == 40


def test_check_config_names_the_broken_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "county"
    main(
        [
            "sample-county",
            str(out),
            "--towns",
            "1",
            "--communities",
            "1",
            "--grids",
            "2",
            "--micro-grids",
            "4",
        ]
    )
    rules = out / "rules.toml"
    rules.write_text(
        rules.read_text(encoding="utf-8").replace('kind = "police_station"', 'kind = "sheriff"'),
        encoding="utf-8",
    )
    capsys.readouterr()
    assert main(["check-config", str(out)]) == 1
    err = capsys.readouterr().err
    assert "rules.toml" in err
    assert "unknown responder kind 'sheriff'" in err


async def test_town_committee_whistles_are_spread_over_the_towns_units_not_all_to_one_company(
    start_server: StartServer,
) -> None:
    # The audit: in 田园镇 the same company got 3 of 3 committee whistles. Four companies
    # there take 市容环境 (E01); each whistle goes to the one with the fewest open cases.
    county = load_hierarchy(SHIPPED)
    live = await start_server(config=SHIPPED)
    town = "530524101"
    micro = next(c for c in county.cells(level=Level.MICRO_GRID) if town in c.path)
    chosen = []
    for n in range(3):
        status, _, doc = await live.post(
            {
                "source": "town_committee",
                "category": "E0101",
                "description": f"镇区主街暴露垃圾 {n}",
                "location": {"grid": micro.code},
            }
        )
        assert status == 201, doc
        (unit,) = [a for a in doc["assignments"] if a["kind"] == "jurisdiction_unit"]
        chosen.append(unit["responder"]["id"])
        spread = [s for s in doc["trace"][0]["steps"] if s["result"] == "spread"]
        assert spread, doc["trace"]
    assert len(set(chosen)) == 3, chosen
    fitting = {
        r.id
        for r in county.responders_at(town, ResponderKind.JURISDICTION_UNIT)
        if "E01" in r.categories
    }
    assert set(chosen) <= fitting  # the companies for 市容环境, not the credit union (*)
