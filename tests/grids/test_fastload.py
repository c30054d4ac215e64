"""The fast path makes the same columns as the long way, array for array, and leaves every
config it does not take (and every invalid one) to the long way, which words the problems."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import grids.loader
from grids.columns import Unusual
from grids.exceptions import GridConfigError
from grids.fastload import load_columns
from grids.hierarchy import Hierarchy
from grids.loader import GEOJSON_FILE, GRIDS_FILE, RESPONDERS_FILE, load_hierarchy
from grids.sample import generate_county, generate_province
from grids.tables import Tables

FILES = (GRIDS_FILE, GEOJSON_FILE, RESPONDERS_FILE)


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outdir = tmp_path_factory.mktemp("province")
    generate_province(outdir, seed=5, towns=4, communities=40, grids=400, micro_grids=4000)
    return outdir


def _same(fast: Tables, slow: Tables) -> None:
    assert list(fast.arrays) == list(slow.arrays)
    for name, array in slow.arrays.items():
        twin = fast.arrays[name]
        assert (twin.dtype, twin.shape) == (array.dtype, array.shape), name
        assert np.array_equal(twin, array), name
    assert fast.meta == slow.meta


def _long_way(config: Path) -> Hierarchy:
    with grids.loader.gc_paused():
        return grids.loader._load(config)


def test_a_generated_province_compiles_to_the_long_ways_columns(province: Path) -> None:
    _same(load_columns(province, FILES), _long_way(province).tables)


def test_the_shipped_county_compiles_to_the_long_ways_columns() -> None:
    shipped = Path(__file__).resolve().parents[2] / "config"
    _same(load_columns(shipped, FILES), _long_way(shipped).tables)


def test_shapes_out_of_file_order_and_multipolygons_compile_alike(tmp_path: Path) -> None:
    generate_county(tmp_path, seed=9, towns=2, communities=4, grids=8, micro_grids=24)
    path = tmp_path / GEOJSON_FILE
    document = json.loads(path.read_text(encoding="utf-8"))
    features: list[dict[str, Any]] = document["features"]
    random.Random(1).shuffle(features)
    # A micro-grid as a MultiPolygon of its one part; one line per feature, as a GIS writes.
    features[0]["geometry"] = {
        "type": "MultiPolygon",
        "coordinates": [features[0]["geometry"]["coordinates"]],
    }
    lines = ",\n".join(json.dumps(f) for f in features)
    path.write_text('{"type": "FeatureCollection", "features": [\n' + lines + "\n]}\n", "utf-8")
    _same(load_columns(tmp_path, FILES), _long_way(tmp_path).tables)

    # Pretty-printed: a cut inside a feature does not parse, so it is read whole here.
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    _same(load_columns(tmp_path, FILES), _long_way(tmp_path).tables)


@pytest.mark.parametrize(
    ("file", "change"),
    [
        (GRIDS_FILE, lambda text: text.replace(",样例", ',"样例', 1).replace("\n", '"\n', 2)),
        (RESPONDERS_FILE, lambda text: text.replace(",*,", ", *,", 1)),
        (GEOJSON_FILE, lambda text: text.replace("},\n", "},\n,", 1)),
    ],
    ids=["quoted field", "padded field", "two commas"],
)
def test_what_the_fast_path_does_not_take_goes_the_long_way(
    province: Path, tmp_path: Path, file: str, change: Any
) -> None:
    config = tmp_path / "config"
    config.mkdir()
    for name in FILES:
        (config / name).write_bytes((province / name).read_bytes())
    path = config / file
    path.write_text(change(path.read_text(encoding="utf-8")), encoding="utf-8")

    with pytest.raises(Unusual):
        load_columns(config, FILES)
    try:
        expected: Any = _long_way(config).tables
    except GridConfigError as exc:
        expected = [str(p) for p in exc.problems]
    try:
        found: Any = load_hierarchy(config).tables
    except GridConfigError as exc:
        found = [str(p) for p in exc.problems]
    if isinstance(expected, Tables):
        assert isinstance(found, Tables)
        _same(found, expected)
    else:
        assert found == expected


def test_a_valid_config_never_goes_the_long_way(
    province: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(config: Path) -> Hierarchy:
        raise AssertionError("the long way was taken")

    monkeypatch.setattr(grids.loader, "_load", refuse)

    assert len(load_hierarchy(province)) == 1 + 4 + 40 + 400 + 4000
