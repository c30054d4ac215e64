"""The gazetteer: place names in free text -> the grid cell they name.

An address from the 12345 hotline, a phone call or a resident reads like
``田园镇金华社区建设路3号2单元``. The gazetteer knows two kinds of names:

- the hierarchy's own, each cell under its name and under every chain of names from an
  ancestor down to it (``金华社区第1网格``, ``田园镇金华社区``,
  ``昌宁县田园镇金华社区第1网格1号楼栋``);
- the aliases of ``places.csv`` (streets, buildings, landmarks, villages' other names), each
  naming one cell: ``alias,grid,kind``.

A name that stands for more than one cell (``第1网格`` is in every community) is no entry at
all: matching it would place a whistle in one of them at random. An alias is the county's
own word and wins over a hierarchy name of the same text.

Matching finds every known name in the text (every substring of it hashed and looked up in
the sorted name columns of ``grids.names``, each hit checked against the names it stands
for), then keeps the longest ones leftmost-first without overlaps. The text is
placed at the deepest cell matched, provided every other match lies on that cell's own chain
(an ancestor of it); two matches on different branches (a street of one community and the
name of another) are a conflict, and the text is not placed: better by hand than wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np

from grids.cache import load_names
from grids.configcsv import ConfigCsv
from grids.exceptions import ConfigError
from grids.hierarchy import Hierarchy
from grids.loader import gc_paused
from grids.model import Level
from grids.names import MIN_NAME, NameTable, name_keys, normalise, substring_keys
from grids.tables import column_view

__all__ = [
    "PLACES_FILE",
    "PLACES_HEADER",
    "Alias",
    "AliasKind",
    "Entry",
    "Found",
    "Gazetteer",
    "Match",
    "PlacesConfigError",
    "load_aliases",
    "normalise",
]

PLACES_FILE = "places.csv"
PLACES_HEADER = ("alias", "grid", "kind")
MIN_ALIAS = MIN_NAME  # one character names half the county
MAX_ALIAS = 64


class PlacesConfigError(ConfigError):
    """``places.csv`` (the gazetteer's aliases) is invalid."""


class AliasKind(StrEnum):
    """What an alias names."""

    STREET = "street"  # 街路巷
    BUILDING = "building"  # 楼栋, 门牌
    LANDMARK = "landmark"  # 学校, 市场, 医院
    VILLAGE = "village"  # a village's other name (自然村, 旧称)
    OTHER = "other"

    @property
    def label_zh(self) -> str:
        """The kind as an operator reads it."""
        return _KIND_ZH[self]


_KIND_ZH = {
    AliasKind.STREET: "街路",
    AliasKind.BUILDING: "楼栋门牌",
    AliasKind.LANDMARK: "地标",
    AliasKind.VILLAGE: "村名别称",
    AliasKind.OTHER: "别名",
}


@dataclass(frozen=True, slots=True)
class Alias:
    """One row of ``places.csv``."""

    name: str
    grid: str
    kind: AliasKind
    line: int | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    """A known name: the text, the cell it names, and where it comes from (``grid``: the
    hierarchy's names; otherwise the alias kind)."""

    name: str
    code: str
    kind: str

    def __repr__(self) -> str:
        return f"Entry({self.name!r} -> {self.code}, {self.kind})"


@dataclass(frozen=True, slots=True)
class Match:
    """One known name found in a text: where (``start``, ``end`` in the normalised text)."""

    start: int
    end: int
    entry: Entry


@dataclass(frozen=True, slots=True)
class Found:
    """The outcome of placing a text: ``code`` is the cell (None: not placed), ``matches``
    what was found, ``reason`` why it was not placed (empty when it was), and ``hint`` the
    place it named that was too coarse to place it (a town), if any."""

    code: str | None
    matches: tuple[Match, ...]
    reason: str = ""
    hint: str | None = None

    @property
    def best(self) -> Match | None:
        """The match that placed it (the deepest), if any."""
        return next((m for m in self.matches if m.entry.code == self.code), None)


class Gazetteer:
    """Known place names, matched longest first (see the module docstring).

    ``names`` holds the hierarchy's chain names (``grids.names``: hashed, checked on every
    hit), ``aliases`` those of ``places.csv``. ``min_level``: a match shallower than it (a
    town alone) is not precise enough to place a whistle; ``place`` reports it as unplaced,
    naming the match.
    """

    def __init__(
        self,
        hierarchy: Hierarchy,
        names: NameTable,
        aliases: Sequence[Alias] = (),
        *,
        min_level: Level = Level.COMMUNITY,
    ) -> None:
        self._hierarchy = hierarchy
        # Rows are read back through the columns the names were indexed from: a grid reload
        # swaps the hierarchy's columns (Hierarchy.adopt) and then this gazetteer for one
        # built on the new ones (whistle/reload.py).
        tables = hierarchy.tables
        self._codes = tables.strings("cell_code").reader()
        self._cell_names = tables.strings("cell_name").reader()
        self._parent = column_view(np.asarray(tables.arrays["cell_parent"], np.int32), "i")
        self._names = names
        self.min_level = min_level
        # An alias wins over a hierarchy name of the same text (the last of one text wins).
        self._aliases = {
            text: Entry(text, a.grid, a.kind.value)
            for a in aliases
            for text in (normalise(a.name),)
        }
        texts = list(self._aliases)
        keys, lengths = name_keys(texts)
        self._alias_table = NameTable._unique(
            keys, np.arange(len(texts), dtype=np.int64), int(lengths.max()) if texts else 0
        )
        self._alias_texts = texts
        self._longest = max(names.longest, self._alias_table.longest)
        hit, rows = names.find(keys)
        shadowed = sum(
            self._is_chain(row, texts[i])
            for i, row in zip(hit.tolist(), rows.tolist(), strict=True)
        )
        self._size = len(names) - shadowed + len(texts)

    @classmethod
    def empty(cls, hierarchy: Hierarchy, *, min_level: Level = Level.COMMUNITY) -> Gazetteer:
        """A gazetteer that knows no name (a province's, until its own is built)."""
        nothing = np.zeros(0, dtype=np.int64)
        return cls(hierarchy, NameTable(nothing, nothing.astype(np.int32), 0), min_level=min_level)

    def __len__(self) -> int:
        return self._size

    def __repr__(self) -> str:
        return f"Gazetteer({self._size} names, min_level={self.min_level.key})"

    @classmethod
    def build(
        cls,
        hierarchy: Hierarchy,
        aliases: Sequence[Alias] = (),
        *,
        min_level: Level = Level.COMMUNITY,
        cache_dir: Path | None = None,
    ) -> Gazetteer:
        """The gazetteer of ``hierarchy``'s names and chains, and ``aliases``.

        With ``cache_dir`` and a hierarchy mapped from the compiled cache, the names are
        mapped from their own cache file (built and written on a miss), shared by every
        process that maps it. The sample county's 84,000 names build in about 0.1 s.
        """
        names = load_names(hierarchy.tables, cache_dir)
        return cls(hierarchy, names, aliases, min_level=min_level)

    def _is_chain(self, row: int, text: str) -> bool:
        """Whether ``text`` is one of the chains of names ending at cell ``row``: the check
        that makes a hashed name a name (grids.names)."""
        chain = ""
        while row >= 0 and len(chain) < len(text):
            chain = normalise(self._cell_names[row]) + chain
            row = self._parent[row]
        return chain == text

    def matches(self, text: str) -> list[Match]:
        """The known names in ``text``, longest first where they overlap, in text order."""
        if not self._size:
            return []
        normal = normalise(text)
        starts, ends, keys = substring_keys(normal, self._longest)
        found: list[Match] = []
        hit, rows = self._names.find(keys)
        for i, row in zip(hit.tolist(), rows.tolist(), strict=True):
            start, end = int(starts[i]), int(ends[i])
            name = normal[start:end]
            if name not in self._aliases and self._is_chain(row, name):
                found.append(Match(start, end, Entry(name, self._codes[row], "grid")))
        hit, rows = self._alias_table.find(keys)
        for i, row in zip(hit.tolist(), rows.tolist(), strict=True):
            start, end = int(starts[i]), int(ends[i])
            name = normal[start:end]
            if name == self._alias_texts[row]:
                found.append(Match(start, end, self._aliases[name]))
        found.sort(key=lambda m: (m.start - m.end, m.start))
        taken: list[Match] = []
        for match in found:
            if all(match.end <= t.start or match.start >= t.end for t in taken):
                taken.append(match)
        return sorted(taken, key=lambda m: m.start)

    def place(self, text: str) -> Found:
        """The cell ``text`` names, or why it names none (nothing known, too coarse, or two
        names on different branches of the county)."""
        found = tuple(self.matches(text))
        if not found:
            return Found(None, found, "no known place name")
        cells = [self._hierarchy.cell(m.entry.code) for m in found]
        deepest = max(cells, key=lambda c: (c.level, len(c.path)))
        others = [c for c in cells if not deepest.is_within(c.code)]
        if others:
            names = "、".join(dict.fromkeys(m.entry.name for m in found))
            return Found(None, found, f"names on different branches: {names}")
        if deepest.level < self.min_level:
            why = f"only {deepest.name} ({deepest.level.label_zh}) is known"
            return Found(None, found, why, hint=deepest.code)
        return Found(deepest.code, found)


def load_aliases(config_dir: Path, hierarchy: Hierarchy) -> list[Alias]:
    """The aliases of ``config_dir/places.csv`` (none when the file is absent), checked:
    every problem with its line (PlacesConfigError)."""
    path = config_dir / PLACES_FILE
    if not path.exists():
        return []
    # Read beside a loaded county: with the collector running, its full passes over the
    # county's objects took most of the time (2.6 s against 0.05 s for the sample's 5,723).
    with gc_paused():
        return _read_aliases(path, hierarchy)


def _read_aliases(path: Path, hierarchy: Hierarchy) -> list[Alias]:
    sheet = ConfigCsv.read(path, PLACES_HEADER)
    out: list[Alias] = []
    kinds = ", ".join(k.value for k in AliasKind)
    for line, name, fields in sheet.keyed("alias", duplicate="duplicate alias", check=_alias_check):
        _, grid, kind = fields
        problems = len(sheet.problems)
        if grid not in hierarchy:
            sheet.problem(line, name, f"unknown grid {grid!r}")
        elif hierarchy.cell(grid).level is Level.COUNTY:
            sheet.problem(line, name, "an alias of the whole county places nothing")
        if kind not in AliasKind.__members__.values():
            sheet.problem(line, name, f"unknown kind {kind!r}; expected one of {kinds}")
        if len(sheet.problems) == problems:
            out.append(Alias(name, grid, AliasKind(kind), line))
    sheet.raise_problems(PlacesConfigError)
    return out


def _alias_check(name: str) -> str | None:
    size = len(normalise(name))
    if size < MIN_ALIAS:
        return f"too short: an alias has at least {MIN_ALIAS} characters"
    if size > MAX_ALIAS:
        return f"too long: at most {MAX_ALIAS} characters"
    return None
