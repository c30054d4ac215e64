"""generate_county: deterministic, exact counts, a complete roster, shapes that tile and locate."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
import shapely

from dispatch.calendar import WorkCalendar
from dispatch.duty import DutyRoster, Shift
from dispatch.teams import Teams
from grids.hierarchy import Hierarchy
from grids.loader import load_hierarchy
from grids.model import Level, ResponderKind
from grids.sample import PROVINCE, SampleSummary, generate_county, generate_province

FILES = ("grids.csv", "grids.geojson", "responders.csv", "duty.csv", "teams.csv")
SHIPPED = Path(__file__).resolve().parents[2] / "config"
OFFICE_HOURS = Shift(("workdays",), 8 * 60 + 30, 17 * 60 + 30)
PATROL_HOURS = Shift(("daily",), 7 * 60, 23 * 60)
# The towns' duty rota (值班): three eight-hour shifts a day, 08-16, 16-24, 00-08.
ROTA = tuple(Shift(("daily",), start * 60, (start + 8) * 60) for start in (8, 16, 0))
DEPARTMENTS = {
    "城管中队": "E01;E02;E04;F04",
    "环卫站": "E01;F03",
    "住建服务中心": "E03;F01;F02;F05",
    "市场监管所": "E04;E09",
    "应急管理办公室": "E05",
    "民政办": "E08",
    "综治中心（司法所）": "E06;E07",
}


def generate_small(outdir: Path, seed: int) -> SampleSummary:
    """A county small enough to check cell by cell: 2 towns, 5 communities, 20 grids."""
    return generate_county(outdir, seed=seed, towns=2, communities=5, grids=20, micro_grids=150)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SampleSummary]:
    outdir = tmp_path_factory.mktemp("county") / "config"
    return outdir, generate_small(outdir, seed=7)


@pytest.fixture(scope="module")
def hierarchy(small: tuple[Path, SampleSummary]) -> Hierarchy:
    return load_hierarchy(small[0])


@pytest.fixture(scope="module")
def calendar() -> WorkCalendar:
    return WorkCalendar.load(SHIPPED / "calendar.toml")


def roster(outdir: Path) -> list[dict[str, str]]:
    with (outdir / "responders.csv").open(encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


def test_writes_exactly_the_five_config_files(small: tuple[Path, SampleSummary]) -> None:
    outdir, _ = small

    assert sorted(path.name for path in outdir.iterdir()) == sorted(FILES)


def test_same_seed_gives_identical_bytes(small: tuple[Path, SampleSummary], tmp_path: Path) -> None:
    generate_small(tmp_path, seed=7)

    for file in FILES:
        assert (tmp_path / file).read_bytes() == (small[0] / file).read_bytes(), file


def test_different_seed_gives_different_files(
    small: tuple[Path, SampleSummary], tmp_path: Path
) -> None:
    generate_small(tmp_path, seed=8)

    for file in FILES:
        assert (tmp_path / file).read_bytes() != (small[0] / file).read_bytes(), file


def test_counts_per_level_are_exact(
    small: tuple[Path, SampleSummary], hierarchy: Hierarchy
) -> None:
    expected = {Level.COUNTY: 1, Level.TOWN: 2, Level.COMMUNITY: 5, Level.GRID: 20}
    expected[Level.MICRO_GRID] = 150

    assert small[1].cells == expected
    assert Counter(cell.level for cell in hierarchy.cells()) == expected
    assert hierarchy.responder_count == small[1].total_responders
    assert Counter(r["kind"] for r in roster(small[0])) == {
        kind.value: count for kind, count in small[1].responders.items() if count
    }


def test_every_parent_gets_a_child(hierarchy: Hierarchy) -> None:
    for cell in hierarchy.cells():
        if cell.level < Level.MICRO_GRID:
            assert hierarchy.child_count(cell.code) >= 1, cell


def test_codes_extend_their_parents_code(hierarchy: Hierarchy) -> None:
    assert hierarchy.root == "530524"
    for cell in hierarchy.cells():
        if cell.parent is not None:
            assert cell.code.startswith(cell.parent), cell
            assert len(cell.code) == len(cell.parent) + 3, cell
    towns = [cell.code for cell in hierarchy.cells(level=Level.TOWN)]
    assert towns == ["530524101", "530524102"]


def test_names_follow_the_chinese_conventions(hierarchy: Hierarchy) -> None:
    assert hierarchy.cell("530524").name == "昌宁县"
    assert hierarchy.cell("530524101").name == "田园镇"
    assert hierarchy.cell("530524102").name == "柯街镇"
    for cell in hierarchy.cells(level=Level.COMMUNITY):
        suffix = cell.code[-3]
        assert cell.name.endswith("社区" if suffix == "0" else "村"), cell
    for cell in hierarchy.cells(level=Level.GRID):
        assert re.fullmatch(r"第\d+网格", cell.name), cell
    for cell in hierarchy.cells(level=Level.MICRO_GRID):
        assert re.fullmatch(r"\d+号楼栋|第\d+联户", cell.name), cell


def test_every_grid_has_a_one_plus_one_pair_backing_each_other(hierarchy: Hierarchy) -> None:
    for cell in hierarchy.cells(level=Level.GRID):
        (member,) = hierarchy.responders_at(cell.code, ResponderKind.REGISTERED_MEMBER)
        (unposted,) = hierarchy.responders_at(cell.code, ResponderKind.UNPOSTED_MEMBER)
        assert member.backup == unposted.id
        assert unposted.backup == member.id
        assert len(hierarchy.responders_at(cell.code, ResponderKind.GRID_LEADER)) == 1


def test_every_micro_grid_has_a_household_leader(hierarchy: Hierarchy) -> None:
    for cell in hierarchy.cells(level=Level.MICRO_GRID):
        (leader,) = hierarchy.responders_at(cell.code, ResponderKind.HOUSEHOLD_LEADER)
        if leader.backup is not None:
            backup = hierarchy.responder(leader.backup)
            assert backup is not None
            assert backup.kind is ResponderKind.HOUSEHOLD_LEADER
            assert hierarchy.cell(backup.grid).parent == cell.parent


def test_every_community_has_police_patrols_and_party_members(hierarchy: Hierarchy) -> None:
    for cell in hierarchy.cells(level=Level.COMMUNITY):
        assert len(hierarchy.responders_at(cell.code, ResponderKind.COMMUNITY_POLICE)) == 1
        patrols = hierarchy.responders_at(cell.code, ResponderKind.SAFETY_PATROL)
        assert 1 <= len(patrols) <= 2
        members = hierarchy.responders_at(cell.code, ResponderKind.REGISTERED_MEMBER)
        assert 5 <= len(members) <= 15


def test_every_town_has_a_police_station_departments_and_units(hierarchy: Hierarchy) -> None:
    for cell in hierarchy.cells(level=Level.TOWN):
        (station,) = hierarchy.responders_at(cell.code, ResponderKind.POLICE_STATION)
        assert station.name == f"{cell.name}派出所"
        assert station.backup == "PS530524"
        departments = {
            r.name.removeprefix(cell.name): ";".join(sorted(r.categories))
            for r in hierarchy.responders_at(cell.code, ResponderKind.GRID_DEPARTMENT)
        }
        assert departments == DEPARTMENTS
        units = hierarchy.responders_at(cell.code, ResponderKind.JURISDICTION_UNIT)
        assert 4 <= len(units) <= 8
        assert len({unit.name for unit in units}) == len(units)


def test_every_town_keeps_a_duty_rota_of_duty_officers_and_duty_police_around_the_clock(
    small: tuple[Path, SampleSummary], hierarchy: Hierarchy, calendar: WorkCalendar
) -> None:
    duty = DutyRoster.load(small[0], hierarchy, calendar)
    towns = list(hierarchy.cells(level=Level.TOWN))
    assert towns
    for town in towns:
        for kind, prefix in ((ResponderKind.DUTY_OFFICER, "DO"), (ResponderKind.DUTY_POLICE, "DP")):
            staff = hierarchy.responders_at(town.code, kind)
            assert [r.id for r in staff] == [f"{prefix}{town.code}-{n}" for n in (1, 2, 3)]
            assert all(r.categories == frozenset({"*"}) for r in staff)
            # Every hour of a holiday and of a working day, somebody of the rota is on duty.
            for day in ("2026-10-01", "2026-12-02"):
                for hour in range(24):
                    at = datetime.fromisoformat(f"{day}T{hour:02d}:30:00+08:00")
                    on = [r.id for r in staff if duty.on_duty(r.id, at)]
                    assert len(on) == 1, (town.code, kind, at, on)


def test_county_has_the_backstop_and_the_police_bureau(hierarchy: Hierarchy) -> None:
    (backstop,) = hierarchy.responders_at("530524", ResponderKind.BACKSTOP)
    assert backstop.name == "昌宁县网格化服务管理中心"
    assert backstop.categories == frozenset({"*"})
    (bureau,) = hierarchy.responders_at("530524", ResponderKind.POLICE_STATION)
    assert bureau.name == "昌宁县公安局"


def test_people_have_all_categories_and_mobile_numbers(small: tuple[Path, SampleSummary]) -> None:
    people = {"registered_member", "unposted_member", "grid_leader", "household_leader"}
    people |= {"community_police", "safety_patrol", "duty_officer", "duty_police", "backstop"}
    rows = roster(small[0])

    for row in rows:
        assert re.fullmatch(r"1[358]\d{9}", row["contact"]), row
        if row["kind"] in people:
            assert row["categories"] == "*", row
    assert len({row["id"] for row in rows}) == len(rows)


def test_children_tile_their_parent_exactly(hierarchy: Hierarchy) -> None:
    for cell in hierarchy.cells():
        if cell.level == Level.MICRO_GRID:
            continue
        children = hierarchy.children(cell.code)
        union = shapely.union_all([child.geometry for child in children])
        assert union.equals(cell.geometry), cell
        assert sum(child.geometry.area for child in children) == pytest.approx(
            cell.geometry.area, rel=1e-9
        )


def test_micro_grids_locate_back_to_themselves(hierarchy: Hierarchy) -> None:
    for cell in hierarchy.cells(level=Level.MICRO_GRID):
        point = cell.geometry.representative_point()
        located = hierarchy.locate(point.y, point.x)
        assert located is not None
        assert located.code == cell.code


def test_geojson_is_compact_with_six_decimals(small: tuple[Path, SampleSummary]) -> None:
    text = (small[0] / "grids.geojson").read_text(encoding="utf-8")

    assert ": " not in text
    assert ", " not in text
    assert "\n " not in text
    numbers = re.findall(r"-?\d+\.\d+", text)
    assert numbers
    assert max(len(number.split(".")[1]) for number in numbers) <= 6
    assert len(json.loads(text)["features"]) == 178


def test_more_towns_than_changning_has_get_synthetic_names(tmp_path: Path) -> None:
    summary = generate_county(tmp_path, seed=1, towns=15, communities=15, grids=15, micro_grids=15)
    hierarchy = load_hierarchy(tmp_path)

    names = [cell.name for cell in hierarchy.cells(level=Level.TOWN)]
    assert summary.cells[Level.TOWN] == 15
    assert names[11] == "珠街彝族乡"
    assert len(set(names)) == 15
    assert all(name.endswith(("镇", "乡")) for name in names)


def test_fewer_cells_than_the_level_above_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^grids \(4\) must be at least communities \(5\)$"):
        generate_county(tmp_path, seed=1, towns=2, communities=5, grids=4, micro_grids=10)


def test_summary_prints_counts_and_sizes(small: tuple[Path, SampleSummary]) -> None:
    text = str(small[1])

    assert text.startswith("昌宁县 (530524), seed 7\n")
    assert "cells: county 1, town 2, community 5, grid 20, micro_grid 150 (178 in all)" in text
    assert "grid_leader 20" in text
    assert f"duty shifts: {small[1].shifts}, service teams: {small[1].teams}\n" in text
    assert "files: grids.csv " in text
    assert "teams.csv " in text


def test_duty_roster_loads_and_gives_each_kind_its_hours(
    small: tuple[Path, SampleSummary], hierarchy: Hierarchy, calendar: WorkCalendar
) -> None:
    duty = DutyRoster.load(small[0], hierarchy, calendar)

    expected = {
        ResponderKind.COMMUNITY_POLICE: OFFICE_HOURS,
        ResponderKind.GRID_DEPARTMENT: OFFICE_HOURS,
        ResponderKind.SAFETY_PATROL: PATROL_HOURS,
    }
    with_shifts = 0
    for row in roster(small[0]):
        kind = ResponderKind(row["kind"])
        shift = expected.get(kind)
        if kind in (ResponderKind.DUTY_OFFICER, ResponderKind.DUTY_POLICE):
            # The rota: DO<town>-n / DP<town>-n each works one eight-hour shift every day.
            number = int(row["id"].rsplit("-", 1)[1])
            shift = ROTA[number - 1]
        # Everyone else (police stations, the backstop, the grid workers ...) is always on duty.
        assert duty.shifts(row["id"]) == (() if shift is None else (shift,)), row
        with_shifts += shift is not None
    assert len(duty) == with_shifts == small[1].shifts


def test_teams_load_from_each_communitys_registered_members(
    small: tuple[Path, SampleSummary], hierarchy: Hierarchy
) -> None:
    teams = Teams.load(small[0], hierarchy)

    assert len(teams) == small[1].teams
    for community in hierarchy.cells(level=Level.COMMUNITY):
        found = teams.for_community(community.code)
        assert 1 <= len(found) <= 2, community
        members = [member for team in found for member in team.members]
        assert len(set(members)) == len(members), community  # no member in two teams
        for number, team in enumerate(found, start=1):
            assert team.id == f"ST{community.code}-{number}"
            assert re.fullmatch(re.escape(community.name) + r"\w+服务队", team.name), team
            assert 3 <= len(team.members) <= 6, team
            assert team.captain == team.members[0]
            for member in team.members:
                responder = hierarchy.responder(member)
                assert responder is not None
                assert responder.kind is ResponderKind.REGISTERED_MEMBER
                assert responder.grid == community.code


def test_shipped_sample_is_what_the_generator_writes(tmp_path: Path) -> None:
    """``make sample`` reproduces config/ byte for byte.

    This also guards the older files against the newer ones: duty and teams were added after
    grids.csv, grids.geojson and responders.csv were shipped, without changing them.
    """
    generate_county(tmp_path, seed=530524)

    for file in FILES:
        assert (tmp_path / file).read_bytes() == (SHIPPED / file).read_bytes(), file


def test_shipped_sample_loads_with_the_documented_counts() -> None:
    hierarchy = load_hierarchy(SHIPPED)

    counts = Counter(cell.level for cell in hierarchy.cells())
    assert counts[Level.COUNTY] == 1
    assert counts[Level.TOWN] == 12
    assert counts[Level.COMMUNITY] == 250
    assert counts[Level.GRID] == 2502
    assert 24_000 <= counts[Level.MICRO_GRID] <= 26_000
    assert hierarchy.has_geometry
    assert len(hierarchy.responders_at(hierarchy.root, ResponderKind.BACKSTOP)) == 1
    assert len(DutyRoster.load(SHIPPED, hierarchy, WorkCalendar.load(SHIPPED / "calendar.toml")))
    assert len(Teams.load(SHIPPED, hierarchy)) >= 250


def test_a_province_is_the_same_five_levels_on_a_bigger_box(tmp_path: Path) -> None:
    summary = generate_province(tmp_path, seed=7, towns=3, communities=6, grids=12, micro_grids=40)
    hierarchy = load_hierarchy(tmp_path)

    assert summary.cells == {
        Level.COUNTY: 1,
        Level.TOWN: 3,
        Level.COMMUNITY: 6,
        Level.GRID: 12,
        Level.MICRO_GRID: 40,
    }
    root = hierarchy.cell(hierarchy.root)
    assert (root.code, root.level) == ("530000", Level.COUNTY)
    west, south, east, north = root.geometry.bounds
    # Degrees: a province, not a county.
    assert east - west > 5
    assert north - south > 5
    assert PROVINCE["grids"] == 250_000
    assert sum(PROVINCE.values()) + 1 == 2_800_501
