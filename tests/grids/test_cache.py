"""The compiled cache: same answers as a fresh load, invalidated by any change, never trusted
when corrupt, and the checks' outcome cached with the columns."""

from __future__ import annotations

import random
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import grids.cache
from dispatch import Router, RouteRequest, Source, load_dispatch_config
from grids.cache import CACHE_SUFFIX, cache_path, content_hash, load_compiled
from grids.exceptions import GridConfigError
from grids.hierarchy import Hierarchy
from grids.loader import load_hierarchy
from grids.model import Level
from grids.sample import generate_county

SHIPPED = Path(__file__).resolve().parents[2] / "config"
HAND_WRITTEN = ("rules.toml", "categories.toml", "calendar.toml", "lifecycle.toml")
RECEIVED = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in the county


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated county of 3 towns and 900 micro-grids with the shipped rules."""
    outdir = tmp_path_factory.mktemp("small")
    generate_county(outdir, seed=7, towns=3, communities=12, grids=90, micro_grids=900)
    for name in HAND_WRITTEN:
        shutil.copyfile(SHIPPED / name, outdir / name)
    return outdir


class Loads:
    """Counts the fresh loads load_compiled makes (a hit makes none)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        monkeypatch.setattr(grids.cache, "load_hierarchy", self._load)

    def _load(self, config_dir: Path) -> Hierarchy:
        self.count += 1
        return load_hierarchy(config_dir)


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> Loads:
    return Loads(monkeypatch)


def _copy(config: Path, tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(config, target)
    return target


def _decision(router: Router, cell: str, category: str, source: Source) -> tuple[Any, Any]:
    decision = router.route(
        RouteRequest(source=source, category=category, cell=cell, received_at=RECEIVED)
    )
    return decision.to_dict(), decision.explain()


def test_a_hit_answers_every_lookup_locate_and_route_as_a_fresh_load(
    config: Path, tmp_path: Path, loads: Loads
) -> None:
    fresh = load_hierarchy(config)
    load_compiled(config, tmp_path)  # the miss writes the cache
    assert loads.count == 1
    cached = load_compiled(config, tmp_path)
    assert loads.count == 1, "the second load is a hit"

    assert len(cached) == len(fresh)
    assert cached.root == fresh.root
    assert cached.responder_count == fresh.responder_count
    for cell in fresh.cells():
        twin = cached.cell(cell.code)
        assert (twin.code, twin.name, twin.level, twin.parent, twin.path) == (
            cell.code,
            cell.name,
            cell.level,
            cell.parent,
            cell.path,
        )
        assert twin.geometry.equals_exact(cell.geometry, 0)
        assert cached.responders_at(cell.code) == fresh.responders_at(cell.code)
        assert [c.code for c in cached.children(cell.code)] == [
            c.code for c in fresh.children(cell.code)
        ]
    assert cached.cell("530524") == fresh.cell("530524")
    assert "nope" not in cached
    assert cached.get("5305241") is None

    rng = random.Random(22)
    west, south, east, north = fresh.bounds(fresh.root) or (0.0, 0.0, 0.0, 0.0)
    micro = list(fresh.cells(level=Level.MICRO_GRID))
    for _ in range(4000):
        # Some points outside the county, some on the micro-grids' shared edges.
        lat, lon = rng.uniform(south - 0.05, north + 0.05), rng.uniform(west - 0.05, east + 0.05)
        if rng.random() < 0.2:
            edge = fresh.bounds(rng.choice(micro).code)
            assert edge is not None
            lat, lon = edge[1], edge[0]
        assert cached.locate(lat, lon) == fresh.locate(lat, lon)

    dispatch = load_dispatch_config(config)
    routers = Router.compile(fresh, dispatch), Router.compile(cached, dispatch)
    categories = [c.code for c in dispatch.catalog]
    codes = [c.code for c in fresh.cells()]
    for _ in range(3000):
        cell, category, source = rng.choice(codes), rng.choice(categories), rng.choice(list(Source))
        assert _decision(routers[1], cell, category, source) == _decision(
            routers[0], cell, category, source
        )


def test_a_changed_file_misses_and_serves_the_change(
    config: Path, tmp_path: Path, loads: Loads
) -> None:
    config = _copy(config, tmp_path)
    cache = tmp_path / "cache"
    first = load_compiled(config, cache)
    old = cache_path(cache, content_hash(config))
    grids_csv = config / "grids.csv"
    grids_csv.write_text(
        grids_csv.read_text(encoding="utf-8").replace("田园镇", "新田园镇", 1), encoding="utf-8"
    )
    second = load_compiled(config, cache)
    assert loads.count == 2
    assert first.cell("530524101").name == "田园镇"
    assert second.cell("530524101").name == "新田园镇"
    assert not old.exists(), "the outcome of the old content is pruned"
    assert [p.name for p in cache.glob(f"*{CACHE_SUFFIX}")] == [
        cache_path(cache, content_hash(config)).name
    ]


@pytest.mark.parametrize(
    "damage",
    ["flip a byte", "truncate", "empty", "garbage", "another content's file"],
)
def test_a_corrupt_cache_file_is_rebuilt_never_trusted(
    config: Path, tmp_path: Path, loads: Loads, damage: str
) -> None:
    cache = tmp_path / "cache"
    load_compiled(config, cache)
    path = cache_path(cache, content_hash(config))
    raw = bytearray(path.read_bytes())
    if damage == "flip a byte":
        raw[len(raw) // 2] ^= 0x40
    elif damage == "truncate":
        raw = raw[: len(raw) - 100]
    elif damage == "empty":
        raw = bytearray()
    elif damage == "garbage":
        raw = bytearray(b"not a cache" * 100)
    else:
        other = tmp_path / "other"
        shutil.copytree(config, other)
        (other / "responders.csv").write_text(
            (config / "responders.csv").read_text(encoding="utf-8") + "\n", encoding="utf-8"
        )
        load_compiled(other, tmp_path / "other-cache")
        raw = bytearray(cache_path(tmp_path / "other-cache", content_hash(other)).read_bytes())
    path.write_bytes(bytes(raw))

    rebuilt = load_compiled(config, cache)
    assert loads.count == 3 if damage == "another content's file" else loads.count == 2
    assert rebuilt.cell("530524101").name == "田园镇"
    assert len(rebuilt) == len(load_hierarchy(config))
    assert path.read_bytes() != bytes(raw), "the damaged file is replaced"
    load_compiled(config, cache)
    assert loads.count == (3 if damage == "another content's file" else 2), "now a hit"


def test_an_invalid_config_is_refused_from_the_cache_with_the_same_problems(
    config: Path, tmp_path: Path, loads: Loads
) -> None:
    config = _copy(config, tmp_path)
    with (config / "responders.csv").open("a", encoding="utf-8") as roster:
        roster.write("X1,某人,grid_leader,999999,*,,13800000000\n")
    with pytest.raises(GridConfigError) as first:
        load_compiled(config, tmp_path / "cache")
    with pytest.raises(GridConfigError) as second:
        load_compiled(config, tmp_path / "cache")
    assert loads.count == 1, "the second refusal comes from the cache"
    assert second.value.problems == first.value.problems
    assert "unknown grid 999999" in str(second.value)


def test_an_unwritable_cache_directory_still_loads(config: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory", encoding="utf-8")
    hierarchy = load_compiled(config, blocker / "cache")
    assert len(hierarchy) == len(load_hierarchy(config))
