"""The grid CSV files read straight into columns, for a config that has nothing wrong with it.

A province's ``grids.csv`` and ``responders.csv`` are 2.8 and 3.6 million rows. Read the way
``grids.loader`` reads them, one object per row and one per field, they took half a minute
and two gigabytes before a single check; split into fields in Python, block by block, still
twenty seconds. Here Apache Arrow's CSV reader (C++, on every core, the GIL released) reads
each file into string columns, and the checks are asked of the columns, in Arrow's compute
kernels: is anything at all wrong? Names and contacts stay in Arrow's UTF-8 buffers, which
are exactly :class:`grids.tables.Strings` (a blob and its offsets); kinds, levels and
categories become numbers through their few distinct texts; grids, parents and backups
become rows through one hash lookup each.

Nothing here words a problem. Whatever the fast path does not take, from a quoted field to
an unknown parent, raises :class:`Unusual`, and the config is loaded again by
``grids.loader``, which finds and words every problem exactly as before. So a valid config
is loaded fast, and an invalid one is refused with the same messages as ever.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from grids.model import Level
from grids.tables import KINDS, Strings, sorted_strings

__all__ = ["CellColumns", "ResponderColumns", "Unusual", "read_cells", "read_responders"]

# The spellings Level.parse takes in one lookup; any other (" 4", "Grid") goes the long way.
_LEVEL_NUMBER = {text: int(level) for level in Level for text in (str(int(level)), level.key)}
_KIND_NUMBER = {kind.value: number for number, kind in enumerate(KINDS)}
# What str.strip() takes off a field (str.isspace): the loader strips every field, so a field
# with any of these at either end is left to it.
_SPACE = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())
# Quotes (the csv module's business), other line ends and NUL: the loader reads these its own
# way (the csv module), so the fast path does not guess.
_SPECIAL = (b'"', b"\r", b"\0")
_BLOCK = 16 * 1024 * 1024


class Unusual(Exception):
    """The fast path does not take this config: load it with ``grids.loader`` instead."""


def _table(path: Path, header: Sequence[str]) -> pa.Table:
    """The data rows of a CSV file as string columns; raises Unusual for anything
    ``grids.loader`` would have to look at closely: a missing file, a wrong header, quotes,
    other line ends, blank lines, padding, a row of another width, a field over the csv
    module's limit, bytes that are not UTF-8."""
    try:
        data = path.read_bytes()
    except OSError:
        raise Unusual(path.name) from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    first, _, body = data.partition(b"\n")
    if first != ",".join(header).encode("utf-8"):
        raise Unusual(path.name)
    if any(token in data for token in _SPECIAL):
        raise Unusual(path.name)
    if body.startswith(b"\n") or b"\n\n" in body:
        raise Unusual(path.name)  # blank lines: rare, and left to the loader
    names = list(header)
    if not body:
        return pa.table({name: pa.array([], pa.string()) for name in names})
    try:
        table = pacsv.read_csv(
            pa.py_buffer(body),
            read_options=pacsv.ReadOptions(column_names=names, block_size=_BLOCK),
            parse_options=pacsv.ParseOptions(
                quote_char=False,
                double_quote=False,
                escape_char=False,
                newlines_in_values=False,
                ignore_empty_lines=False,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid:
        raise Unusual(path.name) from None  # a row of another width, or not UTF-8
    longest = 0
    for name in names:
        column = table[name]
        if not pc.all(pc.equal(pc.utf8_trim(column, characters=_SPACE), column)).as_py():
            raise Unusual(path.name)  # padded: the loader strips it
        longest += pc.max(pc.binary_length(column)).as_py() or 0
    # A line longer than the csv module's field limit is read, and worded, by the loader.
    if longest + len(names) - 1 > csv.field_size_limit():
        raise Unusual(path.name)
    return table


def _array(table: pa.Table, name: str) -> Any:
    """One column as a single Arrow array."""
    column = table[name]
    return column.chunk(0) if column.num_chunks == 1 else pa.concat_arrays(column.chunks)


def _strings(array: Any) -> Strings:
    """An Arrow string array as Strings, byte for byte as ``Strings.of`` of its values."""
    if not len(array):
        return Strings(np.zeros(0, dtype=np.uint8), np.zeros(1, dtype=np.uint32))
    _, offset_buffer, data_buffer = array.buffers()
    wide = pa.types.is_large_string(array.type)
    offsets = np.frombuffer(offset_buffer, dtype=np.int64 if wide else np.int32)
    offsets = offsets[array.offset : array.offset + len(array) + 1]
    start, end = int(offsets[0]), int(offsets[-1])
    total = end - start
    blob = (
        np.frombuffer(data_buffer, dtype=np.uint8)[start:end]
        if data_buffer is not None
        else np.zeros(0, dtype=np.uint8)
    )
    return Strings(blob, (offsets - start).astype(np.uint32 if total < 2**32 else np.int64))


def _numbers(file: str, array: Any, number: Callable[[str], int | None], dtype: Any) -> Any:
    """Each value's ``number``, asked once per distinct value, in the order the values first
    appear (Arrow's dictionary keeps that order); Unusual for a value that has none."""
    encoded = array.dictionary_encode()
    found = [number(text) for text in encoded.dictionary.to_pylist()]
    if None in found:
        raise Unusual(file)
    return np.asarray(found, dtype=dtype)[encoded.indices.to_numpy(zero_copy_only=False)]


def _rows(array: Any, of: Any) -> Any:
    """The row of each value of ``array`` in ``of`` (distinct values), -1 for none."""
    return pc.index_in(array, value_set=of).fill_null(-1).to_numpy().astype(np.int32)


def _empty(array: Any) -> Any:
    return pc.equal(pc.binary_length(array), 0).to_numpy(zero_copy_only=False)


@dataclass(slots=True)
class CellColumns:
    """The cells of a valid ``grids.csv``: codes (file order), their rows, the columns."""

    codes: list[str]
    row: dict[str, int]
    code_array: Any  # the codes as an Arrow array, for the responders' lookups
    code_sorted: Any  # the codes as sorted fixed-width bytes, and their rows (grids.tables)
    code_rank: Any
    code_strings: Strings
    name_strings: Strings
    parent: Any  # int32, -1 for the root
    level: Any  # uint8


def read_cells(path: Path) -> CellColumns:
    """Read ``grids.csv``; raises Unusual unless every row and the tree are sound."""
    table = _table(path, ("code", "parent", "level", "name"))
    code, parent_code = _array(table, "code"), _array(table, "parent")
    if not len(code) or _empty(code).any():
        raise Unusual(path.name)
    level = _numbers(path.name, _array(table, "level"), _LEVEL_NUMBER.get, np.uint8)
    codes = code.to_pylist()
    row = dict(zip(codes, range(len(codes)), strict=True))
    if len(row) != len(codes):
        raise Unusual(path.name)  # a duplicate code
    parent = _rows(parent_code, code)
    parent[parent < 0] = -2
    parent[_empty(parent_code)] = -1
    _check_tree(path.name, parent, level)
    code_strings = _strings(code)
    code_sorted, code_rank = sorted_strings(code_strings)
    return CellColumns(
        codes,
        row,
        code,
        code_sorted,
        code_rank,
        code_strings,
        _strings(_array(table, "name")),
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


def read_responders(path: Path, cells: CellColumns) -> ResponderColumns:
    """Read ``responders.csv`` against the cells; raises Unusual unless all is sound."""
    header = ("id", "name", "kind", "grid", "categories", "backup", "contact")
    table = _table(path, header)
    rid, name, backup = _array(table, "id"), _array(table, "name"), _array(table, "backup")
    count = len(rid)
    if _empty(rid).any() or _empty(name).any():
        raise Unusual(path.name)
    kind = _numbers(path.name, _array(table, "kind"), _KIND_NUMBER.get, np.uint8)
    grid = _rows(_array(table, "grid"), cells.code_array)
    if (grid < 0).any():
        raise Unusual(path.name)  # a grid that is not a cell (or none)
    # The ids and the backups looked up in one table of the ids: an id found at another row
    # than its own is a duplicate.
    found = _rows(pa.concat_arrays([rid, backup]), rid)
    if (found[:count] != np.arange(count)).any():
        raise Unusual(path.name)  # a duplicate id
    backup_rows = found[count:]
    if ((backup_rows < 0) & ~_empty(backup)).any() or (backup_rows == np.arange(count)).any():
        raise Unusual(path.name)  # an unknown backup, or one's own
    sets = _CategorySets(path.name)
    categories = _numbers(path.name, _array(table, "categories"), sets.number, np.int32)
    id_strings = _strings(rid)
    id_sorted, id_rank = sorted_strings(id_strings)
    return ResponderColumns(
        id_sorted,
        id_rank,
        id_strings,
        _strings(name),
        _strings(_array(table, "contact")),
        kind,
        grid,
        backup_rows,
        np.arange(2, count + 2, dtype=np.int32),  # line 1 is the header; no blank lines
        categories,
        sets.sets,
    )


class _CategorySets:
    """Numbers the distinct sets of categories in roster order, as ``compile_tables`` does."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.sets: list[frozenset[str]] = []
        self._number: dict[frozenset[str], int] = {}

    def number(self, text: str) -> int:
        """The number of the set ``text`` names (a new one for a set not seen before)."""
        categories = frozenset(c.strip() for c in text.split(";") if c.strip())
        if not categories:
            raise Unusual(self.file)
        number = self._number.get(categories)
        if number is None:
            number = self._number[categories] = len(self.sets)
            self.sets.append(categories)
        return number
