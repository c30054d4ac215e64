"""The hashed place names (grids.names) and their cache file: the shipped county's gazetteer
against the definition, hits checked against the names they stand for, a name of two cells
dropped, and the names' cache mapped warm, rebuilt when corrupt, renewed with the grids."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from grids.cache import CACHE_SUFFIX, load_compiled, load_names
from grids.gazetteer import Gazetteer, load_aliases, normalise
from grids.hierarchy import Hierarchy
from grids.model import Level
from grids.names import NameTable, name_keys, substring_keys
from grids.sample import generate_county
from tests.grids.test_gazetteer_compact import addresses, brute_matches, definition

SHIPPED = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture(scope="module")
def county() -> Hierarchy:
    return load_compiled(SHIPPED, None)


def test_the_shipped_countys_gazetteer_matches_the_definition(county: Hierarchy) -> None:
    # 27,765 cells and 5,723 aliases: rows far past what a 32-bit packed value held (the
    # automaton's STORE_INTS truncated row * kinds << 16, and placed addresses of cells past
    # row 5,461 on another cell, or on none).
    aliases = load_aliases(SHIPPED, county)
    gazetteer = Gazetteer.build(county, aliases)
    names = definition(county, aliases)
    assert len(gazetteer) == len(names)
    rng = random.Random(5)
    texts = addresses(county, rng)[:1500]
    texts += [f"{a.name}3号" for a in rng.sample(aliases, 500)]
    placed = 0
    for text in texts:
        got = [(m.start, m.end, m.entry) for m in gazetteer.matches(text)]
        assert got == brute_matches(names, text), text
        placed += gazetteer.place(text).code is not None
    assert placed > len(texts) // 3


def test_a_deep_cell_placed_by_its_full_chain(county: Hierarchy) -> None:
    gazetteer = Gazetteer.build(county)
    last = county.codes(Level.MICRO_GRID)[-1]  # the last rows of the county
    chain = "".join(c.name for c in reversed(county.ancestors(last)))
    assert gazetteer.place(chain + "东侧").code == last


def test_a_hit_that_stands_for_another_name_is_not_a_match(county: Hierarchy) -> None:
    true = Gazetteer.build(county)
    text = "".join(c.name for c in reversed(county.ancestors(county.codes(Level.GRID)[40])))
    assert true.place(text).code is not None
    # The same keys pointing at the wrong cells: what a hash collision would look like.
    real = NameTable.build(county.tables)
    wrong = NameTable(real.keys, np.roll(real.rows, 1), real.longest)
    lying = Gazetteer(county, wrong)
    assert lying.matches(text) == []
    assert lying.place(text).code is None


def test_a_name_of_two_cells_and_a_key_of_two_names_are_dropped() -> None:
    keys = np.array([7, 5, 5, 9, 9, 3], dtype=np.int64)
    rows = np.array([1, 2, 2, 4, 6, 8], dtype=np.int64)
    table = NameTable._unique(keys, rows, 4)
    # (5, 2) twice is one name; 9 stands for two rows: neither.
    assert table.keys.tolist() == [3, 5, 7]
    assert table.rows.tolist() == [8, 2, 1]


def test_a_substring_hashes_as_the_name_it_spells() -> None:
    text = normalise("云南省昌宁县田园镇金华社区建设路３号")
    starts, ends, keys = substring_keys(text, 64)
    spelled, _ = name_keys([text[s:e] for s, e in zip(starts.tolist(), ends.tolist(), strict=True)])
    assert keys.tolist() == spelled.tolist()
    assert len(set(zip(starts.tolist(), ends.tolist(), strict=True))) == len(keys)
    assert (ends - starts).min() == 2


# -- the names' cache file ---------------------------------------------------------------


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outdir = tmp_path_factory.mktemp("small")
    generate_county(outdir, seed=3, towns=2, communities=6, grids=30, micro_grids=300)
    return outdir


def names_files(cache: Path) -> list[Path]:
    return sorted(cache.glob(f"names-*{CACHE_SUFFIX}"))


def test_the_names_are_written_once_and_mapped_after(small: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    hierarchy = load_compiled(small, cache)
    first = load_names(hierarchy.tables, cache)
    assert len(names_files(cache)) == 1
    written = names_files(cache)[0].stat().st_mtime_ns
    again = load_names(load_compiled(small, cache).tables, cache)
    assert names_files(cache)[0].stat().st_mtime_ns == written  # read, not written again
    assert not again.keys.flags.writeable  # a read-only map of the file, shared
    assert again.keys.tolist() == first.keys.tolist()
    assert again.rows.tolist() == NameTable.build(hierarchy.tables).rows.tolist()


def test_a_corrupt_names_file_is_rebuilt_never_trusted(small: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    hierarchy = load_compiled(small, cache)
    load_names(hierarchy.tables, cache)
    path = names_files(cache)[0]
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # one byte of the rows
    path.write_bytes(bytes(data))
    names = load_names(hierarchy.tables, cache)
    assert names.rows.tolist() == NameTable.build(hierarchy.tables).rows.tolist()
    assert path.read_bytes() != bytes(data)  # written again, whole


def test_changed_grids_get_their_own_names(small: Path, tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(small, config)
    cache = tmp_path / "cache"
    before = load_names(load_compiled(config, cache).tables, cache)
    grids_csv = config / "grids.csv"
    lines = grids_csv.read_text(encoding="utf-8").splitlines()
    code, parent, level, _ = lines[-1].split(",")
    lines[-1] = ",".join((code, parent, level, "改名楼栋"))
    grids_csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    hierarchy = load_compiled(config, cache)
    after = load_names(hierarchy.tables, cache)
    assert len(names_files(cache)) == 1  # the old content's file pruned
    assert after.keys.tolist() != before.keys.tolist()
    gazetteer = Gazetteer(hierarchy, after)
    parent_name = hierarchy.cell(parent).name
    assert gazetteer.place(f"{parent_name}改名楼栋").code == code
