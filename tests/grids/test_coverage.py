"""The coverage checks: a config whose children overlap, leave a gap or reach outside their
parent is refused, naming the cells and the area; a generated county passes them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from grids.exceptions import GridConfigError
from grids.loader import load_hierarchy
from grids.sample import generate_county


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outdir = tmp_path_factory.mktemp("county")
    generate_county(outdir, seed=3, towns=2, communities=4, grids=12, micro_grids=60)
    return outdir


def _features(config: Path) -> list[dict[str, Any]]:
    document = json.loads((config / "grids.geojson").read_text(encoding="utf-8"))
    features: list[dict[str, Any]] = document["features"]
    return features


def _write(config: Path, features: list[dict[str, Any]]) -> None:
    document = {"type": "FeatureCollection", "features": features}
    (config / "grids.geojson").write_text(json.dumps(document), encoding="utf-8")


def _box(feature: dict[str, Any]) -> tuple[float, float, float, float]:
    ring = feature["geometry"]["coordinates"][0]
    xs, ys = [x for x, _ in ring], [y for _, y in ring]
    return min(xs), min(ys), max(xs), max(ys)


def _set_box(feature: dict[str, Any], west: float, south: float, east: float, north: float) -> None:
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    feature["geometry"] = {"type": "Polygon", "coordinates": [ring]}


def _siblings(config: Path) -> tuple[str, str, str]:
    """(parent, first child, second child): two micro-grids of one grid."""
    rows = [line.split(",") for line in (config / "grids.csv").read_text("utf-8").splitlines()]
    by_parent: dict[str, list[str]] = {}
    for code, parent, level, _ in rows[1:]:
        if level == "5":
            by_parent.setdefault(parent, []).append(code)
    parent, children = next((p, c) for p, c in by_parent.items() if len(c) >= 2)
    return parent, children[0], children[1]


def _problems(config: Path) -> list[str]:
    with pytest.raises(GridConfigError) as caught:
        load_hierarchy(config)
    return [str(problem) for problem in caught.value.problems]


def test_a_generated_county_tiles_every_parent(county: Path) -> None:
    hierarchy = load_hierarchy(county)

    assert len(hierarchy) == 1 + 2 + 4 + 12 + 60


def test_children_that_overlap_are_refused_naming_both_and_the_area(
    county: Path, tmp_path: Path
) -> None:
    parent, first, second = _siblings(county)
    features = _features(county)
    by_code = {f["properties"]["code"]: f for f in features}
    a, b = _box(by_code[first]), _box(by_code[second])
    # The first micro-grid grows over the whole of the second (both inside their grid).
    _set_box(by_code[first], min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
    config = tmp_path / "config"
    config.mkdir()
    for name in ("grids.csv", "responders.csv"):
        (config / name).write_bytes((county / name).read_bytes())
    _write(config, features)

    problems = _problems(config)

    assert len(problems) == 1, problems
    assert problems[0].startswith(f"grids.geojson: {first}: {first} and {second} ")
    assert f"(children of {parent}) overlap by about " in problems[0]
    assert "m² (100.00% of the smaller)" in problems[0]


def test_children_that_leave_a_gap_are_refused_naming_the_parent_and_the_area(
    county: Path, tmp_path: Path
) -> None:
    parent, first, _ = _siblings(county)
    features = _features(county)
    by_code = {f["properties"]["code"]: f for f in features}
    west, south, east, north = _box(by_code[first])
    # Half of the first micro-grid is gone: the grid's points there are in no micro-grid.
    _set_box(by_code[first], west, south, (west + east) / 2, north)
    config = tmp_path / "config"
    config.mkdir()
    for name in ("grids.csv", "responders.csv"):
        (config / name).write_bytes((county / name).read_bytes())
    _write(config, features)

    problems = _problems(config)

    assert len(problems) == 1, problems
    assert problems[0].startswith(f"grids.geojson: {parent}: the children of {parent} leave ")
    assert "m² (" in problems[0]
    assert "of it uncovered" in problems[0]


def test_a_child_reaching_outside_its_parent_is_refused(county: Path, tmp_path: Path) -> None:
    parent, first, _ = _siblings(county)
    features = _features(county)
    by_code = {f["properties"]["code"]: f for f in features}
    root = _box(features[0])
    west, south, east, north = _box(by_code[first])
    # Moved south of the whole county: the grid loses it (a gap) and it lies outside.
    height = north - south
    _set_box(by_code[first], west, root[1] - 2 * height, east, root[1] - height)
    config = tmp_path / "config"
    config.mkdir()
    for name in ("grids.csv", "responders.csv"):
        (config / name).write_bytes((county / name).read_bytes())
    _write(config, features)

    problems = _problems(config)

    assert any(
        p.startswith(f"grids.geojson: {first}: {first} reaches about ")
        and f"(100.00% of it) outside its parent {parent}" in p
        for p in problems
    ), problems
    assert any(p.startswith(f"grids.geojson: {parent}: the children of ") for p in problems)
