"""load_hierarchy: one test per validation rule, asserting the exact message a user reads."""

from __future__ import annotations

import gc
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from grids.exceptions import GridConfigError, Problem
from grids.loader import load_hierarchy
from grids.model import Level, ResponderKind

GRIDS = """\
    code,parent,level,name
    530524,,1,昌宁县
    530524101,530524,2,田园镇
    530524101001,530524101,3,文化社区
    530524101001001,530524101001,4,第1网格
    530524101001001001,530524101001001,5,1号楼栋
    530524101001001002,530524101001001,5,2号楼栋
"""

RESPONDERS = """\
    id,name,kind,grid,categories,backup,contact
    BS530524,昌宁县网格化服务管理中心,backstop,530524,*,,13800000000
    GD1,田园镇城管中队,grid_department,530524101,E01;E02; F04,,13800000001
    RM1,张伟,registered_member,530524101001001,*,UM1,13800000002
    UM1,李娜,unposted_member,530524101001001,*,RM1,13800000003
"""

MICRO_1 = "530524101001001001"
MICRO_2 = "530524101001001002"


def box(west: float, south: float, east: float, north: float) -> list[list[list[float]]]:
    """GeoJSON Polygon coordinates of a box, [lon, lat], counter-clockwise."""
    return [[[west, south], [east, south], [east, north], [west, north], [west, south]]]


def feature(code: object, geometry: object) -> dict[str, Any]:
    return {"type": "Feature", "properties": {"code": code}, "geometry": geometry}


def polygon(coordinates: object) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": coordinates}


def collection(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def valid_features() -> list[dict[str, Any]]:
    return [
        feature("530524", polygon(box(99.0, 24.0, 100.0, 25.0))),
        feature("530524101", polygon(box(99.0, 24.0, 99.5, 25.0))),
        feature("530524101001", polygon(box(99.0, 24.0, 99.5, 24.5))),
        feature("530524101001001", polygon(box(99.0, 24.0, 99.5, 24.5))),
        feature(MICRO_1, polygon(box(99.0, 24.0, 99.25, 24.5))),
        feature(MICRO_2, polygon(box(99.25, 24.0, 99.5, 24.5))),
    ]


def write(
    config: Path,
    *,
    grids: str | None = GRIDS,
    responders: str | None = RESPONDERS,
    geojson: object = None,
) -> Path:
    """Write a config dir: the valid defaults unless a file's text is given (None: leave out).

    CSV text is dedented so tests can indent it; ``geojson`` is a JSON-able object or raw text.
    """
    if grids is not None:
        (config / "grids.csv").write_text(textwrap.dedent(grids), encoding="utf-8")
    if responders is not None:
        text = textwrap.dedent(responders)
        (config / "responders.csv").write_text(text, encoding="utf-8")
    if geojson is not None:
        text = geojson if isinstance(geojson, str) else json.dumps(geojson, ensure_ascii=False)
        (config / "grids.geojson").write_text(text, encoding="utf-8")
    return config


def problems(config: Path) -> list[str]:
    """The problems load_hierarchy reports, as the lines a user reads."""
    with pytest.raises(GridConfigError) as caught:
        load_hierarchy(config)
    return [str(problem) for problem in caught.value.problems]


def replace_line(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new)


# -- a valid config ----------------------------------------------------------------------


def test_valid_config_loads_cells_responders_and_shapes(tmp_path: Path) -> None:
    hierarchy = load_hierarchy(write(tmp_path, geojson=collection(*valid_features())))

    assert hierarchy.root == "530524"
    assert len(hierarchy) == 6
    micro = hierarchy.cell(MICRO_2)
    assert micro.level is Level.MICRO_GRID
    assert micro.name == "2号楼栋"
    assert micro.parent == "530524101001001"
    assert hierarchy.responder_count == 4
    department = hierarchy.responder("GD1")
    assert department is not None
    assert department.kind is ResponderKind.GRID_DEPARTMENT
    assert department.categories == frozenset({"E01", "E02", "F04"})
    assert department.backup is None
    assert department.line == 3
    member = hierarchy.responder("RM1")
    assert member is not None
    assert member.backup == "UM1"
    assert member.contact == "13800000002"
    located = hierarchy.locate(24.25, 99.4)
    assert located is not None
    assert located.code == MICRO_2


def test_geojson_is_optional(tmp_path: Path) -> None:
    hierarchy = load_hierarchy(write(tmp_path))

    assert len(hierarchy) == 6
    assert not hierarchy.has_geometry


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    write(tmp_path)
    for name in ("grids.csv", "responders.csv"):
        path = tmp_path / name
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    geojson = json.dumps(collection(*valid_features())).encode()
    (tmp_path / "grids.geojson").write_bytes(b"\xef\xbb\xbf" + geojson)

    assert len(load_hierarchy(tmp_path)) == 6


def test_level_names_are_accepted(tmp_path: Path) -> None:
    grids = """\
        code,parent,level,name
        530524,,county,昌宁县
        530524101,530524,town,田园镇
        530524101001,530524101,Community,文化社区
        530524101001001,530524101001,grid,第1网格
        530524101001001001,530524101001001,micro-grid,1号楼栋
        530524101001001002,530524101001001,micro_grid,2号楼栋
    """
    hierarchy = load_hierarchy(write(tmp_path, grids=grids))

    assert [cell.level for cell in hierarchy.cells()] == [1, 2, 3, 4, 5, 5]


def test_blank_lines_are_skipped_and_still_counted(tmp_path: Path) -> None:
    grids = """\
        code,parent,level,name
        530524,,1,昌宁县

        530524101,530524,2,田园镇
        530524101,530524,2,田园镇
    """
    assert problems(write(tmp_path, grids=grids, responders=None)) == [
        "grids.csv:5: 530524101: duplicate code; first defined on line 4",
        f"responders.csv: missing required file (looked in {tmp_path})",
    ]


def test_parent_may_come_after_its_child(tmp_path: Path) -> None:
    grids = """\
        code,parent,level,name
        530524101,530524,2,田园镇
        530524,,1,昌宁县
    """
    responders = """\
        id,name,kind,grid,categories,backup,contact
        BS1,兜底,backstop,530524,*,,
    """
    hierarchy = load_hierarchy(write(tmp_path, grids=grids, responders=responders))

    assert hierarchy.cell("530524101").path == ("530524", "530524101")


# -- files and headers -------------------------------------------------------------------


def test_missing_required_files_are_reported(tmp_path: Path) -> None:
    assert problems(write(tmp_path, grids=None, responders=None)) == [
        f"grids.csv: missing required file (looked in {tmp_path})",
        f"responders.csv: missing required file (looked in {tmp_path})",
    ]


def test_wrong_grids_header(tmp_path: Path) -> None:
    grids = """\
        code,parent,name
        530524,,昌宁县
    """
    assert problems(write(tmp_path, grids=grids)) == [
        "grids.csv:1: wrong header: expected code,parent,level,name, got code,parent,name",
    ]


def test_wrong_responders_header(tmp_path: Path) -> None:
    responders = """\
        id,name,kind,grid,categories,contact
    """
    assert problems(write(tmp_path, responders=responders)) == [
        "responders.csv:1: wrong header: expected id,name,kind,grid,categories,backup,contact, "
        "got id,name,kind,grid,categories,contact",
    ]


def test_empty_file_has_no_header(tmp_path: Path) -> None:
    assert problems(write(tmp_path, grids="")) == [
        "grids.csv:1: wrong header: expected code,parent,level,name, got nothing",
    ]


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    write(tmp_path)
    (tmp_path / "grids.csv").write_bytes("code,parent,level,name\n530524,,1,昌宁县\n".encode("gbk"))

    assert problems(tmp_path) == [
        "grids.csv: not UTF-8: invalid start byte at byte 33",
    ]


def test_csv_the_reader_cannot_parse(tmp_path: Path) -> None:
    grids = GRIDS + f"    530524102,530524,2,{'镇' * 200_000}\n"

    assert problems(write(tmp_path, grids=grids)) == [
        "grids.csv:8: unreadable CSV: field larger than field limit (131072)",
    ]


def test_row_with_wrong_number_of_fields(tmp_path: Path) -> None:
    grids = GRIDS + "    530524102,530524,2\n"

    assert problems(write(tmp_path, grids=grids)) == [
        "grids.csv:8: 530524102: expected 4 fields (code,parent,level,name), got 3",
    ]


# -- grids.csv rows ----------------------------------------------------------------------


def test_empty_code(tmp_path: Path) -> None:
    grids = GRIDS + "    ,530524,2,柯街镇\n"

    assert problems(write(tmp_path, grids=grids)) == ["grids.csv:8: empty code"]


def test_duplicate_code_names_both_lines(tmp_path: Path) -> None:
    grids = GRIDS + "    530524101,530524,2,柯街镇\n"

    assert problems(write(tmp_path, grids=grids)) == [
        "grids.csv:8: 530524101: duplicate code; first defined on line 3",
    ]


def test_bad_level_number(tmp_path: Path) -> None:
    grids = GRIDS + "    530524101001001001001,530524101001001001,6,户\n"

    assert problems(write(tmp_path, grids=grids)) == [
        "grids.csv:8: 530524101001001001001: bad level: level 6 is not between 1 and 5",
    ]


def test_bad_level_name(tmp_path: Path) -> None:
    grids = replace_line(GRIDS, "530524101,530524,2,田园镇", "530524101,530524,township,田园镇")

    assert problems(write(tmp_path, grids=grids)) == [
        "grids.csv:3: 530524101: bad level: unknown level 'township'; "
        "expected 1-5 or one of county, town, community, grid, micro_grid",
    ]


# -- grids.csv tree ----------------------------------------------------------------------


def test_no_root(tmp_path: Path) -> None:
    grids = replace_line(GRIDS, "530524,,1,昌宁县", "530524,530000,1,昌宁县")
    responders = """\
        id,name,kind,grid,categories,backup,contact
    """
    assert problems(write(tmp_path, grids=grids, responders=responders)) == [
        "grids.csv:2: 530524: unknown parent 530000: no cell has this code",
        "grids.csv: no root: the county must have an empty parent",
    ]


def test_more_than_one_root_names_every_root(tmp_path: Path) -> None:
    grids = GRIDS + "    530525,,1,施甸县\n    530526,,1,龙陵县\n"

    assert problems(write(tmp_path, grids=grids)) == [
        "grids.csv:8: more than one root: 530524 (line 2), 530525 (line 8), 530526 (line 9); "
        "only the county may have an empty parent",
    ]


def test_root_must_be_a_county(tmp_path: Path) -> None:
    grids = """\
        code,parent,level,name
        530524101,,2,田园镇
    """
    responders = """\
        id,name,kind,grid,categories,backup,contact
    """
    assert problems(write(tmp_path, grids=grids, responders=responders)) == [
        "grids.csv:2: 530524101: root must be level 1 (county), got 2 (town)",
    ]


def test_unknown_parent(tmp_path: Path) -> None:
    grids = GRIDS + "    530524102001,530524102,3,大村\n"

    assert problems(write(tmp_path, grids=grids)) == [
        "grids.csv:8: 530524102001: unknown parent 530524102: no cell has this code",
    ]


def test_level_must_follow_the_parents_level(tmp_path: Path) -> None:
    grids = GRIDS + "    530524101002001,530524101,4,第1网格\n"

    assert problems(write(tmp_path, grids=grids)) == [
        "grids.csv:8: 530524101002001: level 4 (grid) does not follow parent 530524101 "
        "at level 2 (town); expected 3 (community)",
    ]


def test_micro_grid_cannot_have_children(tmp_path: Path) -> None:
    grids = GRIDS + f"    {MICRO_1}001,{MICRO_1},5,户\n"

    assert problems(write(tmp_path, grids=grids)) == [
        f"grids.csv:8: {MICRO_1}001: parent {MICRO_1} is level 5 (micro_grid), "
        "which cannot have children",
    ]


def test_cycle_reports_the_cycles_codes_once(tmp_path: Path) -> None:
    grids = GRIDS + (
        "    530524102001,530524102,3,甲村\n"  # hangs below the cycle: not reported itself
        "    530524102,530524103,2,甲镇\n"
        "    530524103,530524104,2,乙镇\n"
        "    530524104,530524102,2,丙镇\n"
    )
    assert problems(write(tmp_path, grids=grids)) == [
        "grids.csv:9: 530524102: cycle of parents: 530524102 -> 530524103 -> 530524104 "
        "-> 530524102 never reaches the root",
    ]


def test_cell_that_is_its_own_parent_is_a_cycle(tmp_path: Path) -> None:
    grids = GRIDS + "    530524102,530524102,2,甲镇\n"

    assert problems(write(tmp_path, grids=grids)) == [
        "grids.csv:8: 530524102: cycle of parents: 530524102 -> 530524102 never reaches the root",
    ]


# -- grids.geojson -----------------------------------------------------------------------


def test_unreadable_json(tmp_path: Path) -> None:
    text = '{"type": "FeatureCollection",\n "features": [}'

    assert problems(write(tmp_path, geojson=text)) == [
        "grids.geojson:2: unreadable JSON: Expecting value (column 15)",
    ]


def test_geojson_that_is_not_a_feature_collection(tmp_path: Path) -> None:
    assert problems(write(tmp_path, geojson=valid_features()[0])) == [
        'grids.geojson: not a FeatureCollection: "type" is "Feature"',
    ]


def test_geojson_whose_top_level_is_an_array(tmp_path: Path) -> None:
    assert problems(write(tmp_path, geojson=valid_features())) == [
        "grids.geojson: not a FeatureCollection: the top level is an array",
    ]


def test_feature_collection_without_features_array(tmp_path: Path) -> None:
    geojson = {"type": "FeatureCollection", "features": {}}

    assert problems(write(tmp_path, geojson=geojson)) == [
        'grids.geojson: not a FeatureCollection: "features" is not an array',
    ]


def test_feature_without_code(tmp_path: Path) -> None:
    features = valid_features()
    features[1]["properties"] = {"name": "田园镇"}
    features[2]["properties"]["code"] = ""
    features[3] = {"type": "Feature", "geometry": None}

    assert problems(write(tmp_path, geojson=collection(*features))) == [
        "grids.geojson: features[1]: feature without properties.code",
        "grids.geojson: features[2]: feature without properties.code",
        "grids.geojson: features[3]: feature without properties.code",
    ]


def test_numeric_feature_code_is_read_as_text(tmp_path: Path) -> None:
    features = valid_features()
    features[0]["properties"]["code"] = 530524

    hierarchy = load_hierarchy(write(tmp_path, geojson=collection(*features)))

    assert hierarchy.cell("530524").geometry is not None


def test_geometry_for_unknown_code(tmp_path: Path) -> None:
    features = [*valid_features(), feature("530524999", polygon(box(99.5, 24, 100, 25)))]

    assert problems(write(tmp_path, geojson=collection(*features))) == [
        "grids.geojson: 530524999: features[6]: geometry for unknown code 530524999: "
        "no cell in grids.csv has this code",
    ]


def test_duplicate_geometry(tmp_path: Path) -> None:
    features = [*valid_features(), feature(MICRO_1, polygon(box(99.0, 24.0, 99.1, 24.1)))]

    assert problems(write(tmp_path, geojson=collection(*features))) == [
        f"grids.geojson: {MICRO_1}: features[6]: duplicate geometry; first at features[4]",
    ]


def test_non_polygon_geometry(tmp_path: Path) -> None:
    features = valid_features()
    features[4]["geometry"] = {"type": "Point", "coordinates": [99.1, 24.1]}
    features[5]["geometry"] = None

    assert problems(write(tmp_path, geojson=collection(*features))) == [
        f"grids.geojson: {MICRO_1}: features[4]: non-polygon geometry Point; "
        "expected Polygon or MultiPolygon",
        f"grids.geojson: {MICRO_2}: features[5]: non-polygon geometry null; "
        "expected Polygon or MultiPolygon",
    ]


def test_invalid_polygon_gives_shapelys_reason(tmp_path: Path) -> None:
    features = valid_features()
    bow_tie = [[[99.0, 24.0], [99.25, 24.5], [99.25, 24.0], [99.0, 24.5], [99.0, 24.0]]]
    features[4]["geometry"] = polygon(bow_tie)

    assert problems(write(tmp_path, geojson=collection(*features))) == [
        f"grids.geojson: {MICRO_1}: features[4]: invalid polygon: Self-intersection[99.125 24.25]",
    ]


def test_polygon_that_cannot_be_built(tmp_path: Path) -> None:
    features = valid_features()
    features[4]["geometry"] = polygon([[[99.0, 24.0], [99.25, 24.5]]])
    features[5]["geometry"] = polygon([[["east", "north"]]])

    assert problems(write(tmp_path, geojson=collection(*features))) == [
        f"grids.geojson: {MICRO_1}: features[4]: invalid polygon: "
        "A linearring requires at least 4 coordinates.",
        f"grids.geojson: {MICRO_2}: features[5]: invalid polygon: "
        "could not convert string to float: 'east'",
    ]


def test_polygon_without_coordinates(tmp_path: Path) -> None:
    features = valid_features()
    features[4]["geometry"] = {"type": "Polygon"}

    assert problems(write(tmp_path, geojson=collection(*features))) == [
        f"grids.geojson: {MICRO_1}: features[4]: invalid polygon: no coordinates",
    ]


def test_empty_polygon(tmp_path: Path) -> None:
    features = valid_features()
    features[4]["geometry"] = polygon([])

    assert problems(write(tmp_path, geojson=collection(*features))) == [
        f"grids.geojson: {MICRO_1}: features[4]: invalid polygon: empty",
    ]


def test_multipolygon_is_accepted_and_located(tmp_path: Path) -> None:
    features = valid_features()
    # Two separate pieces: a micro-grid on both sides of its sibling.
    features[4]["geometry"] = {
        "type": "MultiPolygon",
        "coordinates": [box(99.0, 24.0, 99.1, 24.5), box(99.4, 24.0, 99.5, 24.5)],
    }
    features[5]["geometry"] = polygon(box(99.1, 24.0, 99.4, 24.5))

    hierarchy = load_hierarchy(write(tmp_path, geojson=collection(*features)))

    located = [hierarchy.locate(24.2, lon) for lon in (99.05, 99.2, 99.45)]
    assert [cell.code if cell else None for cell in located] == [MICRO_1, MICRO_2, MICRO_1]


# -- responders.csv ----------------------------------------------------------------------


def test_empty_responder_id(tmp_path: Path) -> None:
    responders = RESPONDERS + "    ,王芳,grid_leader,530524101001001,*,,\n"

    assert problems(write(tmp_path, responders=responders)) == ["responders.csv:6: empty id"]


def test_duplicate_responder_id(tmp_path: Path) -> None:
    responders = RESPONDERS + "    RM1,王芳,registered_member,530524101001001,*,,\n"

    assert problems(write(tmp_path, responders=responders)) == [
        "responders.csv:6: RM1: duplicate id; first defined on line 4",
    ]


def test_unknown_kind_lists_the_valid_kinds(tmp_path: Path) -> None:
    responders = RESPONDERS + "    X1,王芳,volunteer,530524101001001,*,,\n"

    assert problems(write(tmp_path, responders=responders)) == [
        "responders.csv:6: X1: unknown kind 'volunteer'; expected one of grid_leader, "
        "registered_member, unposted_member, household_leader, community_police, "
        "police_station, grid_department, jurisdiction_unit, safety_patrol, duty_officer, "
        "duty_police, backstop",
    ]


def test_responder_on_unknown_grid(tmp_path: Path) -> None:
    responders = RESPONDERS + "    GL1,王芳,grid_leader,530524101001009,*,,\n"

    assert problems(write(tmp_path, responders=responders)) == [
        "responders.csv:6: GL1: unknown grid 530524101001009: no cell in grids.csv has this code",
    ]


def test_responder_without_grid(tmp_path: Path) -> None:
    responders = RESPONDERS + "    GL1,王芳,grid_leader,,*,,\n"

    assert problems(write(tmp_path, responders=responders)) == [
        "responders.csv:6: GL1: empty grid",
    ]


def test_empty_responder_name(tmp_path: Path) -> None:
    responders = RESPONDERS + "    GL1, ,grid_leader,530524101001001,*,,\n"

    assert problems(write(tmp_path, responders=responders)) == [
        "responders.csv:6: GL1: empty name",
    ]


def test_empty_categories_suggest_star(tmp_path: Path) -> None:
    responders = RESPONDERS + "    GL1,王芳,grid_leader,530524101001001, ; ,,\n"

    assert problems(write(tmp_path, responders=responders)) == [
        "responders.csv:6: GL1: empty categories; use * for every category",
    ]


def test_category_codes_are_not_checked_here(tmp_path: Path) -> None:
    responders = RESPONDERS + "    GD2,田园镇环卫站,grid_department,530524101,Z99,,\n"

    responder = load_hierarchy(write(tmp_path, responders=responders)).responder("GD2")

    assert responder is not None
    assert responder.categories == frozenset({"Z99"})


def test_backup_that_is_not_a_responder(tmp_path: Path) -> None:
    responders = RESPONDERS + "    GL1,王芳,grid_leader,530524101001001,*,GL2,\n"

    assert problems(write(tmp_path, responders=responders)) == [
        "responders.csv:6: GL1: backup GL2 is not a known responder id",
    ]


def test_backup_that_is_the_responder_itself(tmp_path: Path) -> None:
    responders = RESPONDERS + "    GL1,王芳,grid_leader,530524101001001,*,GL1,\n"

    assert problems(write(tmp_path, responders=responders)) == [
        "responders.csv:6: GL1: backup is the responder itself",
    ]


def test_backup_may_be_defined_further_down(tmp_path: Path) -> None:
    responders = RESPONDERS + (
        "    GL1,王芳,grid_leader,530524101001001,*,GL2,\n"
        "    GL2,赵强,grid_leader,530524101001001,*,,\n"
    )
    responder = load_hierarchy(write(tmp_path, responders=responders)).responder("GL1")

    assert responder is not None
    assert responder.backup == "GL2"


# -- collecting ---------------------------------------------------------------------------


def test_every_problem_is_collected_in_file_order(tmp_path: Path) -> None:
    grids = GRIDS + (
        "    530524102001,530524102,3,大村\n"
        "    530524101,530524,2,柯街镇\n"
        "    530524101002,530524101,9,小村\n"
    )
    features = [*valid_features(), feature("530524999", polygon(box(99, 24, 99.1, 24.1)))]
    features[0]["geometry"] = {"type": "Point", "coordinates": [99.1, 24.1]}
    responders = RESPONDERS + (
        "    GL1,,grid_leader,530524101001009,,GL1,\n"
        "    RM1,王芳,registered_member,530524101001001,*,,\n"
    )
    assert problems(
        write(tmp_path, grids=grids, responders=responders, geojson=collection(*features))
    ) == [
        "grids.csv:8: 530524102001: unknown parent 530524102: no cell has this code",
        "grids.csv:9: 530524101: duplicate code; first defined on line 3",
        "grids.csv:10: 530524101002: bad level: level 9 is not between 1 and 5",
        "grids.geojson: 530524: features[0]: non-polygon geometry Point; "
        "expected Polygon or MultiPolygon",
        "grids.geojson: 530524999: features[6]: geometry for unknown code 530524999: "
        "no cell in grids.csv has this code",
        "responders.csv:6: GL1: empty name",
        "responders.csv:6: GL1: unknown grid 530524101001009: no cell in grids.csv has this code",
        "responders.csv:6: GL1: empty categories; use * for every category",
        "responders.csv:6: GL1: backup is the responder itself",
        "responders.csv:7: RM1: duplicate id; first defined on line 4",
    ]


def test_references_are_not_checked_against_an_unreadable_grids_file(tmp_path: Path) -> None:
    features = [feature("530524999", polygon(box(99, 24, 99.1, 24.1)))]
    responders = RESPONDERS + "    GL1,王芳,grid_leader,530524101001009,*,,\n"

    assert problems(
        write(tmp_path, grids=None, responders=responders, geojson=collection(*features))
    ) == [f"grids.csv: missing required file (looked in {tmp_path})"]


def test_error_carries_structured_problems(tmp_path: Path) -> None:
    grids = GRIDS + "    530524101,530524,2,柯街镇\n"

    with pytest.raises(GridConfigError) as caught:
        load_hierarchy(write(tmp_path, grids=grids))

    assert caught.value.problems == [
        Problem("grids.csv", 8, "530524101", "duplicate code; first defined on line 3"),
    ]
    assert str(caught.value) == "grids.csv:8: 530524101: duplicate code; first defined on line 3"


@pytest.mark.parametrize("enabled", [True, False])
def test_garbage_collector_is_left_as_it_was(tmp_path: Path, enabled: bool) -> None:
    write(tmp_path)
    was_enabled = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        load_hierarchy(tmp_path)
        with pytest.raises(GridConfigError):
            load_hierarchy(write(tmp_path, grids=""))
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was_enabled else gc.disable)()


def test_quoted_and_unquoted_files_read_the_same(tmp_path: Path) -> None:
    # Unquoted files take a fast path; a quoted field sends the file through the csv module.
    (tmp_path / "plain").mkdir()
    (tmp_path / "quoted").mkdir()
    plain = write(tmp_path / "plain", geojson=collection(*valid_features()))
    quoted = write(
        tmp_path / "quoted",
        grids=replace_line(GRIDS, ",田园镇", ',"田园镇"'),
        geojson=collection(*valid_features()),
    )

    first, second = load_hierarchy(plain), load_hierarchy(quoted)

    assert [(c.code, c.name, c.level, c.path) for c in first.cells()] == [
        (c.code, c.name, c.level, c.path) for c in second.cells()
    ]
    assert second.cell("530524101").name == "田园镇"


def test_children_and_graph_follow_file_order(tmp_path: Path) -> None:
    hierarchy = load_hierarchy(write(tmp_path))
    root = hierarchy.root

    children = [cell.code for cell in hierarchy.children("530524101001001")]
    assert children == [MICRO_1, MICRO_2]
    assert hierarchy.child_count(root) == 1
    # The graph holds the upper levels (down to the communities); the rest is in columns.
    graph = hierarchy.graph
    upper = [c.code for c in hierarchy.cells() if c.level <= Level.COMMUNITY]
    assert list(graph.nodes) == upper
    assert list(graph.successors(root)) == [c.code for c in hierarchy.children(root)]
    assert graph.nodes[root]["cell"] is hierarchy.cell(root)
