"""The grid CSV files read straight into columns, for a config that has nothing wrong with it.

A province's ``grids.csv`` and ``responders.csv`` are 2.8 and 3.6 million rows. Read the way
``grids.loader`` reads them, one object per row and one per field, they took half a minute
and two gigabytes before a single check. Here each file is read in blocks of whole lines,
each block split into fields and turned into columns at once (names and contacts straight
into UTF-8 blobs, kinds and categories into numbers, grids into rows), and the checks are
asked of the columns: is anything at all wrong?

Nothing here words a problem. Whatever the fast path does not take, from a quoted field to
an unknown parent, raises :class:`Unusual`, and the config is loaded again by
``grids.loader``, which finds and words every problem exactly as before. So a valid config
is loaded fast, and an invalid one is refused with the same messages as ever.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from grids.model import Level
from grids.tables import KINDS, Strings, sorted_keys

__all__ = [
    "CellColumns",
    "ResponderColumns",
    "StringsBuilder",
    "Unusual",
    "blocks",
    "read_cells",
    "read_responders",
]

_BLOCK = 16 * 1024 * 1024
# The spellings Level.parse takes in one lookup; any other (" 4", "Grid") goes the long way.
_LEVEL_NUMBER = {text: int(level) for level in Level for text in (str(int(level)), level.key)}
_KIND_NUMBER = {kind.value: number for number, kind in enumerate(KINDS)}
# Whitespace str.strip() would take off a field (str.isspace), as UTF-8, other than the line
# end and the plain space (which only matters next to a comma or a line end): looked for in
# the bytes, before they are decoded, where a search is several times faster.
_OTHER_SPACE = re.compile(
    rb"[\t\x0b\x0c\x1c-\x1f]|\xc2[\x85\xa0]|\xe1\x9a\x80|\xe2\x80[\x80-\x8a\xa8\xa9\xaf]"
    rb"|\xe2\x81\x9f|\xe3\x80\x80"
)
_UNUSUAL_BYTES = (b'"', b"\r", b"\0", b", ", b" ,", b"\n ", b" \n")


class Unusual(Exception):
    """The fast path does not take this config: load it with ``grids.loader`` instead."""


class StringsBuilder:
    """:class:`grids.tables.Strings` built block by block, byte for byte as ``Strings.of``."""

    def __init__(self) -> None:
        self._blobs: list[bytes] = []
        self._sizes: list[Any] = []

    def add(self, values: Sequence[str]) -> list[bytes]:
        """Append ``values`` (none holds a line end); their UTF-8 bytes, one each."""
        if not values:
            return []
        # One encode of them all, line ends between: their sizes are the gaps between the
        # line ends, found by numpy, instead of one encode and one len per value.
        joined = "\n".join(values).encode("utf-8")
        ends = np.flatnonzero(np.frombuffer(joined, dtype=np.uint8) == 10)
        bounds = np.concatenate(([-1], ends, [len(joined)]))
        self._sizes.append(np.diff(bounds) - 1)
        self._blobs.append(joined.replace(b"\n", b""))
        return joined.split(b"\n")

    def build(self) -> Strings:
        sizes = np.concatenate(self._sizes) if self._sizes else np.zeros(0, dtype=np.int64)
        total = int(sizes.sum())
        offsets = np.zeros(len(sizes) + 1, dtype=np.uint32 if total < 2**32 else np.int64)
        np.cumsum(sizes, out=offsets[1:])
        blob = np.frombuffer(b"".join(self._blobs), dtype=np.uint8)
        self._blobs, self._sizes = [], []
        return Strings(blob, offsets)


def _unusual(data: bytes) -> bool:
    """Quotes, other line ends, NUL, or a field that may have whitespace around it (the
    loader strips it): what the csv module or ``str.strip`` would have to see to."""
    if data.startswith(b" ") or any(token in data for token in _UNUSUAL_BYTES):
        return True
    return _OTHER_SPACE.search(data) is not None


def blocks(path: Path, header: Sequence[str]) -> Iterator[tuple[Any, list[list[str]]]]:
    """(line numbers, the columns: one list of fields each) of a CSV file, block by block.

    Raises Unusual for anything ``grids.loader`` would have to look at closely: a missing
    file, a wrong header, quotes, other line ends, padding, a row of another width.
    """
    try:
        stream = path.open("rb")
    except OSError:
        raise Unusual(path.name) from None
    with stream:
        carry, number = b"", 0
        while True:
            block = stream.read(_BLOCK)
            data = carry + block
            if block:
                cut = data.rfind(b"\n") + 1
                data, carry = data[:cut], data[cut:]
                if not data:
                    continue
            if number == 0:
                data = _header(path.name, data, header)
                number = 1
            if data:
                numbers, columns = _columns(path.name, data, len(header), number)
                yield numbers, columns
                number += data.count(b"\n") + (not data.endswith(b"\n"))
            if not block:
                return


def _header(file: str, data: bytes, header: Sequence[str]) -> bytes:
    """The block after the header line, which must be exactly ``header``."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    first, _, rest = data.partition(b"\n")
    if first != ",".join(header).encode("utf-8"):
        raise Unusual(file)
    return rest


def _columns(file: str, data: bytes, width: int, number: int) -> tuple[Any, list[list[str]]]:
    """The rows of a block of whole lines as columns, and their line numbers."""
    if _unusual(data):
        raise Unusual(file)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Unusual(file) from None
    body = text[:-1] if text.endswith("\n") else text
    if not body or "\n\n" in body or body.startswith("\n"):
        raise Unusual(file)  # blank lines: rare, and left to the loader
    fields = body.replace("\n", ",").split(",")
    lines = body.count("\n") + 1
    # As many fields as the header on every line: the commas of each line, counted at once.
    raw = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(raw == 10)
    commas = np.bincount(np.searchsorted(ends, np.flatnonzero(raw == 44)), minlength=lines)
    if len(fields) != width * lines or len(commas) != lines or (commas != width - 1).any():
        raise Unusual(file)
    # A line longer than the csv module's field limit is an error the loader words.
    if np.diff(ends, prepend=-1).max(initial=len(data) - 1 - (ends[-1] if len(ends) else -1)) > (
        csv.field_size_limit()
    ):
        raise Unusual(file)
    numbers = np.arange(number + 1, number + 1 + lines, dtype=np.int32)
    return numbers, [fields[column::width] for column in range(width)]


@dataclass(slots=True)
class CellColumns:
    """The cells of a valid ``grids.csv``: codes (file order), their rows, the columns."""

    codes: list[str]
    row: dict[str, int]
    code_sorted: Any  # the codes as sorted fixed-width bytes, and their rows (grids.tables)
    code_rank: Any
    code_strings: Strings
    name_strings: Strings
    parent: Any  # int32, -1 for the root
    level: Any  # uint8


def read_cells(path: Path) -> CellColumns:
    """Read ``grids.csv``; raises Unusual unless every row and the tree are sound."""
    codes: list[str] = []
    parents: list[str] = []
    levels: list[Any] = []
    code_builder, name_builder = StringsBuilder(), StringsBuilder()
    encoded: list[bytes] = []
    for _, rows in blocks(path, ("code", "parent", "level", "name")):
        if not rows:
            continue
        code, parent_code, level_text, name = rows
        numbers = list(map(_LEVEL_NUMBER.get, level_text))
        if "" in code or None in numbers:
            raise Unusual(path.name)
        codes.extend(code)
        parents.extend(parent_code)
        levels.append(np.array(numbers, dtype=np.uint8))
        encoded.extend(code_builder.add(code))
        name_builder.add(name)
    row = dict(zip(codes, range(len(codes)), strict=True))
    if len(row) != len(codes) or not codes:
        raise Unusual(path.name)  # a duplicate code, or no cell at all
    parent = np.array([row.get(p, -2) if p else -1 for p in parents], dtype=np.int32)
    del parents
    level = np.concatenate(levels)
    _check_tree(path.name, parent, level)
    code_sorted, code_rank = sorted_keys(encoded)
    del encoded
    return CellColumns(
        codes,
        row,
        code_sorted,
        code_rank,
        code_builder.build(),
        name_builder.build(),
        parent,
        level,
    )


def _check_tree(file: str, parent: Any, level: Any) -> None:
    """One root, at level 1; every parent known and one level up. Then there is no cycle
    either: the level falls by one at every step up, so every chain ends at the root."""
    roots = np.flatnonzero(parent == -1)
    if len(roots) != 1 or level[roots[0]] != 1 or (parent == -2).any():
        raise Unusual(file)
    children = np.flatnonzero(parent >= 0)
    if (level[children] != level[parent[children]] + 1).any():
        raise Unusual(file)


@dataclass(slots=True)
class ResponderColumns:
    """The responders of a valid ``responders.csv``, roster order."""

    id_sorted: Any  # the ids as sorted fixed-width bytes, and their rows (grids.tables)
    id_rank: Any
    id_strings: Strings
    name_strings: Strings
    contact_strings: Strings
    kind: Any  # uint8
    grid: Any  # int32 rows
    backup: Any  # int32 rows, -1 for none
    line: Any  # int32
    categories: Any  # int32: the number of the responder's set
    category_sets: list[frozenset[str]]


def read_responders(path: Path, row: dict[str, int]) -> ResponderColumns:
    """Read ``responders.csv`` against the cells' rows; raises Unusual unless all is sound."""
    header = ("id", "name", "kind", "grid", "categories", "backup", "contact")
    ids: list[str] = []
    backups: list[str] = []
    columns: dict[str, list[Any]] = {"kind": [], "grid": [], "line": [], "categories": []}
    strings = {name: StringsBuilder() for name in ("id", "name", "contact")}
    encoded: list[bytes] = []
    sets = _CategorySets()
    for lines, rows in blocks(path, header):
        if not rows:
            continue
        rid, name, kind, grid, categories, backup, contact = rows
        kinds = list(map(_KIND_NUMBER.get, kind))
        grids = list(map(row.get, grid))
        if "" in rid or "" in name or None in kinds or None in grids:
            raise Unusual(path.name)
        columns["kind"].append(np.array(kinds, dtype=np.uint8))
        columns["grid"].append(np.array(grids, dtype=np.int32))
        columns["line"].append(lines)
        columns["categories"].append(sets.numbers(path.name, categories))
        ids.extend(rid)
        backups.extend(backup)
        encoded.extend(strings["id"].add(rid))
        strings["name"].add(name)
        strings["contact"].add(contact)
    id_sorted, id_rank = sorted_keys(encoded)
    del encoded
    index = dict(zip(ids, range(len(ids)), strict=True))
    if len(index) != len(ids):
        raise Unusual(path.name)  # a duplicate id
    backup_rows = np.array([index.get(b, -2) if b else -1 for b in backups], dtype=np.int32)
    del backups, index, ids
    if (backup_rows == -2).any() or (backup_rows == np.arange(len(backup_rows))).any():
        raise Unusual(path.name)  # an unknown backup, or one's own
    stacked = {k: _concat(v, np.int32 if k != "kind" else np.uint8) for k, v in columns.items()}
    return ResponderColumns(
        id_sorted,
        id_rank,
        strings["id"].build(),
        strings["name"].build(),
        strings["contact"].build(),
        stacked["kind"],
        stacked["grid"],
        backup_rows,
        stacked["line"],
        stacked["categories"],
        sets.sets,
    )


def _concat(parts: list[Any], dtype: Any) -> Any:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


class _CategorySets:
    """Numbers the distinct sets of categories in roster order, as ``compile_tables`` does."""

    def __init__(self) -> None:
        self.sets: list[frozenset[str]] = []
        self._number: dict[frozenset[str], int] = {}
        self._by_text: dict[str, int] = {}

    def numbers(self, file: str, texts: Sequence[str]) -> Any:
        by_text = self._by_text
        numbers = list(map(by_text.get, texts))
        if None in numbers:
            for at, text in enumerate(texts):
                if numbers[at] is None:
                    number = by_text.get(text)
                    if number is None:
                        number = by_text[text] = self._new(file, text)
                    numbers[at] = number
        return np.array(numbers, dtype=np.int32)

    def _new(self, file: str, text: str) -> int:
        categories = frozenset(c.strip() for c in text.split(";") if c.strip())
        if not categories:
            raise Unusual(file)
        number = self._number.get(categories)
        if number is None:
            number = self._number[categories] = len(self.sets)
            self.sets.append(categories)
        return number
