"""The compact gazetteer (one packed int per name in the automaton) against the definition:
for a small generated province and thousands of random addresses, the same matches and the
same placing as every substring looked up in a dict of the names written out in full."""

from __future__ import annotations

import random

import pytest

from grids.cache import load_compiled
from grids.gazetteer import MIN_ALIAS, Alias, AliasKind, Entry, Gazetteer, normalise
from grids.hierarchy import Hierarchy
from grids.model import Level
from grids.sample import generate_province

ADDRESSES = 3000


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> Hierarchy:
    config = tmp_path_factory.mktemp("province")
    generate_province(config, seed=22, towns=3, communities=12, grids=60, micro_grids=600)
    # Through the compiled cache, as a server maps it.
    load_compiled(config, config / "cache")
    return load_compiled(config, config / "cache")


def definition(hierarchy: Hierarchy, aliases: list[Alias]) -> dict[str, Entry]:
    """Every name written out: each chain from an ancestor down to a cell, kept when it
    names one cell only; an alias over a hierarchy name of the same text."""
    cells: dict[str, set[str]] = {}
    for cell in hierarchy.cells():
        names = [normalise(c.name) for c in reversed(hierarchy.ancestors(cell.code))]
        for top in range(len(names)):
            cells.setdefault("".join(names[top:]), set()).add(cell.code)
    out = {t: Entry(t, next(iter(c)), "grid") for t, c in cells.items() if len(c) == 1}
    out = {t: e for t, e in out.items() if len(t) >= MIN_ALIAS}
    for alias in aliases:
        out[normalise(alias.name)] = Entry(normalise(alias.name), alias.grid, alias.kind.value)
    return out


def brute_matches(names: dict[str, Entry], text: str) -> list[tuple[int, int, Entry]]:
    normal = normalise(text)
    found = [
        (start, end, names[normal[start:end]])
        for start in range(len(normal))
        for end in range(start + 1, len(normal) + 1)
        if normal[start:end] in names
    ]
    found.sort(key=lambda m: (m[0] - m[1], m[0]))
    taken: list[tuple[int, int, Entry]] = []
    for m in found:
        if all(m[1] <= t[0] or m[0] >= t[1] for t in taken):
            taken.append(m)
    return sorted(taken)


def addresses(hierarchy: Hierarchy, rng: random.Random) -> list[str]:
    cells = list(hierarchy.cells())
    noise = ["3号", "东侧", "附近", "２单元", " ", "路口", "小区"]
    out = []
    for _ in range(ADDRESSES):
        parts: list[str] = []
        for _ in range(rng.randint(1, 3)):
            cell = rng.choice(cells)
            chain = [c.name for c in reversed(hierarchy.ancestors(cell.code))]
            parts.append("".join(chain[rng.randint(0, len(chain) - 1) :]))
            parts.append(rng.choice(noise))
        out.append("".join(parts))
    return out


def test_the_compact_gazetteer_matches_the_definition(province: Hierarchy) -> None:
    micro = province.codes(Level.MICRO_GRID)
    grid = province.codes(Level.GRID)
    aliases = [
        Alias("建设路", micro[0], AliasKind.STREET),
        Alias("中心小学", grid[3], AliasKind.LANDMARK),
        # Over a hierarchy name: the alias wins.
        Alias(normalise(province.cell(grid[5]).name) + "1号楼栋", micro[7], AliasKind.BUILDING),
    ]
    gazetteer = Gazetteer.build(province, aliases)
    names = definition(province, aliases)
    assert len(gazetteer) == len(names)
    rng = random.Random(22)
    placed = 0
    for text in [*addresses(province, rng), "建设路12号", "中心小学门口"]:
        got = [(m.start, m.end, m.entry) for m in gazetteer.matches(text)]
        assert got == brute_matches(names, text), text
        found = gazetteer.place(text)
        placed += found.code is not None
        assert found.best is None or found.best.entry.code == found.code
    assert placed > ADDRESSES // 10  # the addresses do place, not only fail alike
