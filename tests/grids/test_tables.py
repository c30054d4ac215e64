"""The columns keep every shape as it was: polygons with holes, multipolygons, no shape."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from shapely.geometry import MultiPolygon, Polygon, box, mapping

from grids.cache import load_compiled
from grids.loader import load_hierarchy
from grids.tables import Strings

SHAPES = {
    "530524": box(99.0, 24.0, 100.0, 25.0),
    # Two islands.
    "530524101": MultiPolygon([box(99.0, 24.0, 99.4, 24.4), box(99.6, 24.6, 99.9, 24.9)]),
    # A ring: the hole belongs to the town, not to the community.
    "530524101001": Polygon(
        [(99.0, 24.0), (99.4, 24.0), (99.4, 24.4), (99.0, 24.4)],
        [[(99.1, 24.1), (99.3, 24.1), (99.3, 24.3), (99.1, 24.3)]],
    ),
    # A triangle: settled by the exact test, not by its box.
    "530524101001001": Polygon([(99.0, 24.0), (99.2, 24.0), (99.0, 24.2)]),
}


def _config(tmp_path: Path) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "grids.csv").write_text(
        "code,parent,level,name\n"
        "530524,,1,昌宁县\n530524101,530524,2,田园镇\n530524101001,530524101,3,东社区\n"
        "530524101001001,530524101001,4,第一网格\n530524101001001001,530524101001001,5,第1联户\n",
        encoding="utf-8",
    )
    features = [
        {"type": "Feature", "properties": {"code": code}, "geometry": mapping(shape)}
        for code, shape in SHAPES.items()
    ]
    (tmp_path / "grids.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8"
    )
    (tmp_path / "responders.csv").write_text(
        "id,name,kind,grid,categories,backup,contact\n"
        "BS1,中心,backstop,530524,*,,1\nGL1,张伟,grid_leader,530524101001001,E01;E02,BS1,2\n",
        encoding="utf-8",
    )
    return tmp_path


def test_shapes_come_back_from_the_cache_as_they_were_written(tmp_path: Path) -> None:
    config = _config(tmp_path / "config")
    fresh = load_hierarchy(config)
    load_compiled(config, tmp_path / "cache")
    cached = load_compiled(config, tmp_path / "cache")
    for code, shape in SHAPES.items():
        for hierarchy in (fresh, cached):
            geometry = hierarchy.cell(code).geometry
            assert geometry.geom_type == shape.geom_type
            assert geometry.equals_exact(shape, 0), code
    assert cached.cell("530524101001001001").geometry is None
    grid = cached.cell("530524101001001")
    assert grid.geometry is grid.geometry, "built once, then kept"


def test_locate_takes_holes_islands_and_exact_edges_from_the_cache(tmp_path: Path) -> None:
    config = _config(tmp_path / "config")
    fresh = load_hierarchy(config)
    load_compiled(config, tmp_path / "cache")
    cached = load_compiled(config, tmp_path / "cache")
    points = {
        (24.05, 99.05): "530524101001001",  # in the triangle
        (24.18, 99.18): "530524101",  # in the ring's hole: the town
        (24.35, 99.35): "530524101001",  # in the ring, outside the triangle's box
        (24.15, 99.15): "530524101",  # the triangle's box, past its diagonal: in the hole
        (24.7, 99.7): "530524101",  # the second island
        (24.5, 99.5): "530524",  # between the islands: the county
        (23.0, 99.5): None,
    }
    for (lat, lon), expected in points.items():
        for hierarchy in (fresh, cached):
            found = hierarchy.locate(lat, lon)
            assert (found.code if found else None) == expected, (lat, lon)


def test_responders_keep_their_backup_categories_and_line(tmp_path: Path) -> None:
    config = _config(tmp_path / "config")
    load_compiled(config, tmp_path / "cache")
    cached = load_compiled(config, tmp_path / "cache")
    leader = cached.responder("GL1")
    assert leader is not None
    assert (leader.backup, leader.categories, leader.line, leader.contact) == (
        "BS1",
        frozenset({"E01", "E02"}),
        3,
        "2",
    )
    assert leader.handles("E0101")
    assert not leader.handles("E03")
    assert cached.responder("nobody") is None
    assert cached.responder("") is None
    assert cached.responders_at("530524101001001") == (leader,)


def test_strings_keep_any_text_and_the_empty_string() -> None:
    values = ["", "昌宁县", "a,b", "第1联户", "\u2028"]
    strings = Strings.of(values)
    reader = strings.reader()
    assert [reader[i] for i in range(len(strings))] == values
    assert strings.offsets.dtype == np.uint32
