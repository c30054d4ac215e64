"""The fast path makes the same columns as the long way, array for array, and leaves every
config it does not take (and every invalid one) to the long way, which words the problems."""

from __future__ import annotations

import json
import random
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import grids.loader
from dispatch import Router, RouteRequest, Source, load_dispatch_config
from grids.columns import Unusual
from grids.exceptions import GridConfigError
from grids.fastload import load_columns
from grids.hierarchy import Hierarchy
from grids.loader import GEOJSON_FILE, GRIDS_FILE, RESPONDERS_FILE, load_hierarchy
from grids.model import Level
from grids.sample import generate_county, generate_province
from grids.tables import Tables

FILES = (GRIDS_FILE, GEOJSON_FILE, RESPONDERS_FILE)
SHIPPED = Path(__file__).resolve().parents[2] / "config"
RECEIVED = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in the county


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outdir = tmp_path_factory.mktemp("province")
    generate_province(outdir, seed=5, towns=4, communities=40, grids=400, micro_grids=4000)
    for name in ("rules.toml", "categories.toml", "calendar.toml", "lifecycle.toml"):
        shutil.copyfile(SHIPPED / name, outdir / name)
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
        (GRIDS_FILE, lambda text: text.replace(",样例", ",\u3000样例", 1)),
        (RESPONDERS_FILE, lambda text: text.replace("\n", "\n\n", 2)),
        (RESPONDERS_FILE, lambda text: text.replace(",*,", ",*,,", 1)),
        (RESPONDERS_FILE, lambda text: text.replace(",*,PS", ",*,XX", 1)),
    ],
    ids=[
        "quoted field",
        "padded field",
        "two commas",
        "ideographic space before a name",
        "blank line",
        "a field too many",
        "unknown backup",
    ],
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


def test_the_cold_path_answers_locate_trace_and_routing_as_the_long_way(province: Path) -> None:
    old, new = _long_way(province), load_hierarchy(province)
    rng = random.Random(22)
    west, south, east, north = old.bounds(old.root) or (0.0, 0.0, 0.0, 0.0)
    micro = old.codes(Level.MICRO_GRID)
    for _ in range(4000):
        lat, lon = rng.uniform(south - 0.05, north + 0.05), rng.uniform(west - 0.05, east + 0.05)
        if rng.random() < 0.2:  # on a micro-grid's corner: shared by up to four
            edge = old.bounds(rng.choice(micro))
            assert edge is not None
            lat, lon = edge[1], edge[0]
        assert new.locate(lat, lon) == old.locate(lat, lon)

    dispatch = load_dispatch_config(province)
    routers = Router.compile(old, dispatch), Router.compile(new, dispatch)
    categories = [c.code for c in dispatch.catalog]
    codes = old.codes()
    for _ in range(3000):
        request = RouteRequest(
            source=rng.choice(list(Source)),
            category=rng.choice(categories),
            cell=rng.choice(codes),
            received_at=RECEIVED,
        )
        decisions = [router.route(request) for router in routers]
        assert decisions[1].to_dict() == decisions[0].to_dict()
        assert decisions[1].explain() == decisions[0].explain(), "the same trace"


def test_whitespace_inside_a_name_stays_on_the_fast_path(province: Path, tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    for name in FILES:
        (config / name).write_bytes((province / name).read_bytes())
    path = config / GRIDS_FILE
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(",田园镇", ",田园\u3000镇", 1), encoding="utf-8")

    fast = load_columns(config, FILES)

    _same(fast, _long_way(config).tables)
    assert "田园\u3000镇".encode() in bytes(fast.arrays["cell_name_blob"])
