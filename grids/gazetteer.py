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

Matching finds every known name in the text with one Aho-Corasick automaton
(pyahocorasick), then keeps the longest ones leftmost-first without overlaps. The text is
placed at the deepest cell matched, provided every other match lies on that cell's own chain
(an ancestor of it); two matches on different branches (a street of one community and the
name of another) are a conflict, and the text is not placed: better by hand than wrong.
"""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import ahocorasick

from grids.configcsv import ConfigCsv
from grids.exceptions import ConfigError
from grids.hierarchy import Hierarchy
from grids.loader import gc_paused
from grids.model import Level

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
]

PLACES_FILE = "places.csv"
PLACES_HEADER = ("alias", "grid", "kind")
MIN_ALIAS = 2  # one character names half the county
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


# An automaton value: (row * kinds + kind) << _LENGTH_BITS | the name's length (a match's end
# and length give its start; iter reports only the end).
_KIND_NAMES = ("grid", *(kind.value for kind in AliasKind))
_KIND_NUMBER = {name: number for number, name in enumerate(_KIND_NAMES)}
_LENGTH_BITS = 16
_LENGTH_MASK = (1 << _LENGTH_BITS) - 1


def normalise(text: str) -> str:
    """Full-width digits and letters as ASCII (NFKC), spaces dropped: ``３号楼`` is ``3号楼``."""
    return "".join(unicodedata.normalize("NFKC", text).split())


class Gazetteer:
    """Known place names, matched longest first (see the module docstring).

    ``min_level``: a match shallower than it (a town alone) is not precise enough to place a
    whistle; ``place`` reports it as unplaced, naming the match.
    """

    def __init__(
        self, hierarchy: Hierarchy, entries: Iterable[Entry], *, min_level: Level = Level.COMMUNITY
    ) -> None:
        self._hierarchy = hierarchy
        # Rows are read back as codes through the columns the names were indexed from: a
        # grid reload swaps the hierarchy's columns (Hierarchy.adopt), not this gazetteer's.
        self._codes = hierarchy.tables.strings("cell_code").reader()
        self.min_level = min_level
        # The automaton holds one packed int per name (the cell's row, the kind), not an
        # Entry and its key string: a province has millions of names, and an object each was
        # most of the gigabytes its gazetteer took (docs/performance-large.md). The Entry of a
        # match is made from the matched text when a text is placed.
        automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        count = 0
        for entry in entries:
            automaton.add_word(entry.name, self._pack(entry))
            count += 1
        self._size = count
        if count:
            automaton.make_automaton()
        self._automaton = automaton

    def _pack(self, entry: Entry) -> int:
        """The cell's row, the kind's number and the name's length in one int."""
        row = self._hierarchy.row_of(entry.code)
        if row < 0:
            raise KeyError(entry.code)
        if len(entry.name) > _LENGTH_MASK:
            raise ValueError(f"a place name over {_LENGTH_MASK} characters: {entry.name[:20]}…")
        kind = _KIND_NUMBER[entry.kind]
        return ((row * len(_KIND_NAMES) + kind) << _LENGTH_BITS) | len(entry.name)

    def _entry(self, name: str, value: int) -> Entry:
        row, kind = divmod(value >> _LENGTH_BITS, len(_KIND_NAMES))
        return Entry(name, self._codes[row], _KIND_NAMES[kind])

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
    ) -> Gazetteer:
        """The gazetteer of ``hierarchy``'s names and chains, and ``aliases``.

        About 80,000 names for the sample county, built in about 0.4 s with the collector
        paused (1.3 s with it running: its full passes walk the county's million objects).
        """
        with gc_paused():
            return cls._build(hierarchy, aliases, min_level=min_level)

    @classmethod
    def _build(
        cls, hierarchy: Hierarchy, aliases: Sequence[Alias], *, min_level: Level
    ) -> Gazetteer:
        # text -> the one cell it names, or "" once a second cell shares it.
        named: dict[str, str] = {}
        # Each cell's chains are its parent's with its own name added, plus its name alone:
        # built top-down once, level by level.
        chains: dict[str, tuple[str, ...]] = {}
        for cell in sorted(hierarchy.cells(), key=lambda c: c.level):
            own = normalise(cell.name)
            above = chains.get(cell.parent, ()) if cell.parent is not None else ()
            texts = (*(text + own for text in above), own)
            chains[cell.code] = texts
            for text in texts:
                if len(text) >= MIN_ALIAS:
                    named[text] = cell.code if named.get(text, cell.code) == cell.code else ""
        del chains
        # An alias wins over a hierarchy name of the same text (the last of one text wins).
        by_alias = {
            text: Entry(text, a.grid, a.kind.value)
            for a in aliases
            for text in (normalise(a.name),)
        }
        # A name of several cells names none of them. A generator: a province's millions of
        # entries are never all objects at once.
        names = (
            Entry(text, code, "grid")
            for text, code in named.items()
            if code and text not in by_alias
        )
        return cls(hierarchy, itertools.chain(names, by_alias.values()), min_level=min_level)

    def matches(self, text: str) -> list[Match]:
        """The known names in ``text``, longest first where they overlap, in text order."""
        if not self._size:
            return []
        normal = normalise(text)
        found = [
            Match(start, end + 1, self._entry(normal[start : end + 1], value))
            for end, value in self._automaton.iter(normal)
            for start in (end + 1 - (value & _LENGTH_MASK),)
        ]
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
