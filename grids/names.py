"""The hierarchy's place names as sorted number columns: every chain, hashed, mapped shared.

A cell is named by its own name and by every chain of names from an ancestor down to it
(``金华社区第1网格``, ``田园镇金华社区第1网格``). A province has 2.8 million cells and about
12 million such chains; held as Python strings, or as the nodes of an Aho-Corasick trie,
they took each server 2-3 GB of private memory (docs/performance-large.md). Here each
chain is one 62-bit key (two polynomial hashes, modulo two primes below 2**31, side by side)
and the cell's row: 12 bytes a name, in two numpy columns sorted by key, which
:mod:`grids.cache` writes to a file that every process maps read-only and shares.

The keys are computed without a string per chain: the names' code points in one array, each
name's hash in a handful of vectorised passes, and a chain's hash from its parent chain's,
``h(a + b) = h(a) * B**len(b) + h(b)``, level by level. A text is matched by hashing every
substring of it the same way (one vectorised pass) and looking the keys up with a binary
search. A hash is not the name: every key found is checked against the cell's names before
it counts (:meth:`NameTable.verify`), so a collision can cost a name (two texts with one key
name neither, like a name of two cells) but can never place a text wrongly.

A text that names more than one cell (``第1网格`` is in every community) is no entry: its key
is dropped, as is any key shared by two different texts.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np

from grids.tables import Tables

__all__ = ["MIN_NAME", "NameTable", "name_keys", "normalise", "substring_keys"]

MIN_NAME = 2  # one character names half the county

# Two primes below 2**31, so that a hash times a base or a power stays below 2**62 (int64),
# and their bases. Fixed rather than drawn: every process and every cache file must agree,
# and a collision is caught by the check of each hit anyway.
_P1, _P2 = 2_147_483_647, 2_147_483_629
_B1, _B2 = 1_000_003, 911_382_323
_SHIFT = 31
_LAYOUT = 1  # bumped when the keys change meaning: the cache file's key includes it


def normalise(text: str) -> str:
    """Full-width digits and letters as ASCII (NFKC), spaces dropped: ``３号楼`` is ``3号楼``."""
    return "".join(unicodedata.normalize("NFKC", text).split())


def _powers(base: int, prime: int, count: int) -> Any:
    out = np.ones(count + 1, dtype=np.int64)
    value = 1
    for i in range(1, count + 1):
        value = value * base % prime
        out[i] = value
    return out


def _code_points(text: str) -> Any:
    return np.frombuffer(text.encode("utf-32-le"), dtype="<u4").astype(np.int64)


def name_keys(names: list[str]) -> tuple[Any, Any]:
    """The key and the length of each (normalised) name: two arrays in the names' order."""
    lengths = np.fromiter(map(len, names), dtype=np.int64, count=len(names))
    codes = _code_points("".join(names))
    starts = np.zeros(len(names), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    h1 = np.zeros(len(names), dtype=np.int64)
    h2 = np.zeros(len(names), dtype=np.int64)
    # One pass per character position, over the names that long: names are short, so a
    # province's 2.8 million take about ten passes.
    for k in range(int(lengths.max()) if len(names) else 0):
        live = np.flatnonzero(lengths > k)
        c = codes[starts[live] + k]
        h1[live] = (h1[live] * _B1 + c) % _P1
        h2[live] = (h2[live] * _B2 + c) % _P2
    return (h1 << _SHIFT) | h2, lengths


def substring_keys(text: str, longest: int) -> tuple[Any, Any, Any]:
    """Every substring of ``text`` (normalised) from MIN_NAME to ``longest`` characters:
    its start, its end and its key, in three arrays."""
    n = len(text)
    top = min(longest, n)
    if top < MIN_NAME:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    codes = _code_points(text)
    h1 = np.zeros(n + 1, dtype=np.int64)
    h2 = np.zeros(n + 1, dtype=np.int64)
    a = b = 0
    for i, c in enumerate(codes.tolist()):
        a = (a * _B1 + c) % _P1
        b = (b * _B2 + c) % _P2
        h1[i + 1] = a
        h2[i + 1] = b
    starts, ends = _spans(n, top)
    size = ends - starts
    k1 = (h1[ends] - h1[starts] * _POW1[size]) % _P1
    k2 = (h2[ends] - h2[starts] * _POW2[size]) % _P2
    return starts, ends, (k1 << _SHIFT) | k2


@functools.lru_cache(maxsize=512)
def _spans(n: int, top: int) -> tuple[Any, Any]:
    """Starts and ends of the substrings of a text of ``n`` characters, MIN_NAME to ``top``
    (kept: addresses come in a few lengths; the arrays are only read)."""
    sizes = np.arange(MIN_NAME, top + 1)
    counts = n - sizes + 1
    size = np.repeat(sizes, counts)
    # Within each size, starts run 0 .. n - size.
    first = np.zeros(len(sizes), dtype=np.int64)
    np.cumsum(counts[:-1], out=first[1:])
    starts = np.arange(len(size)) - np.repeat(first, counts)
    return starts, starts + size


# Powers up to any chain a table holds: the longest chain is five names of at most a few
# dozen characters; a longer one extends the table when it is built (_powers_for).
_POW1 = _powers(_B1, _P1, 1024)
_POW2 = _powers(_B2, _P2, 1024)


def _powers_for(count: int) -> None:
    global _POW1, _POW2
    if count >= len(_POW1):
        _POW1 = _powers(_B1, _P1, count)
        _POW2 = _powers(_B2, _P2, count)


@dataclass(frozen=True, slots=True)
class NameTable:
    """Every unambiguous chain name of a hierarchy: ``keys`` (int64, sorted) and the
    ``rows`` of the cells they name (int32); ``longest`` is the longest name's length."""

    keys: Any
    rows: Any
    longest: int

    @classmethod
    def build(cls, tables: Tables) -> NameTable:
        """The names of the hierarchy whose columns are ``tables``."""
        reader = tables.strings("cell_name").reader()
        parent = np.asarray(tables.arrays["cell_parent"], dtype=np.int64)
        level = np.asarray(tables.arrays["cell_level"], dtype=np.int64)
        n = len(parent)
        names = _normalised([reader[i] for i in range(n)])
        own, own_len = name_keys(names)
        del names
        deepest = int(level.max()) if n else 0
        _powers_for(int(own_len.max()) * deepest if n else 0)
        # chain[row, top]: the key of the names from the ancestor at level ``top`` down to
        # row; size[row, top] its length, -1 where row has no ancestor at that level.
        h1 = np.zeros((n, deepest + 1), dtype=np.int64)
        h2 = np.zeros((n, deepest + 1), dtype=np.int64)
        size = np.full((n, deepest + 1), -1, dtype=np.int64)
        o1, o2 = own >> _SHIFT, own & ((1 << _SHIFT) - 1)
        for lv in range(1, deepest + 1):
            rows = np.flatnonzero(level == lv)
            size[rows, lv] = own_len[rows]
            h1[rows, lv], h2[rows, lv] = o1[rows], o2[rows]
            up = parent[rows]
            if lv == 1 or not len(rows):
                continue
            length = own_len[rows]
            for top in range(1, lv):
                size[rows, top] = size[up, top] + length
                h1[rows, top] = (h1[up, top] * _POW1[length] + o1[rows]) % _P1
                h2[rows, top] = (h2[up, top] * _POW2[length] + o2[rows]) % _P2
        longest = int(size.max()) if n else 0
        named = size >= MIN_NAME
        keys = ((h1 << _SHIFT) | h2)[named]
        rows_of = np.broadcast_to(np.arange(n, dtype=np.int64)[:, None], size.shape)[named]
        del h1, h2, size, named
        return cls._unique(keys, rows_of, longest)

    @classmethod
    def _unique(cls, keys: Any, rows: Any, longest: int) -> NameTable:
        """Sorted by key, each key kept only when it stands for one cell."""
        order = np.lexsort((rows, keys))
        keys, rows = keys[order], rows[order]
        if len(keys):
            # One (key, row) twice is one name (a cell whose own name is empty repeats its
            # parent's chains); one key with two rows is a name of two cells: none of them.
            same = np.concatenate(([False], (keys[1:] == keys[:-1]) & (rows[1:] == rows[:-1])))
            keys, rows = keys[~same], rows[~same]
            dup = keys[1:] == keys[:-1]
            shared = np.concatenate(([False], dup)) | np.concatenate((dup, [False]))
            keys, rows = keys[~shared], rows[~shared]
        return cls(np.ascontiguousarray(keys), rows.astype(np.int32), longest)

    def __len__(self) -> int:
        return len(self.keys)

    def find(self, keys: Any) -> tuple[Any, Any]:
        """Which of ``keys`` are in the table (their indexes in ``keys``) and their rows."""
        if not len(self.keys) or not len(keys):
            none = np.zeros(0, dtype=np.int64)
            return none, none
        at = np.searchsorted(self.keys, keys)
        at[at == len(self.keys)] = 0
        hit = np.flatnonzero(self.keys[at] == keys)
        return hit, self.rows[at[hit]]

    def as_tables(self) -> Tables:
        """The columns to write to the cache."""
        return Tables({"name_keys": self.keys, "name_rows": self.rows}, {"longest": self.longest})

    @classmethod
    def from_tables(cls, tables: Tables) -> NameTable:
        """The table read back from the cache's columns."""
        a = tables.arrays
        return cls(a["name_keys"], a["name_rows"], int(tables.meta["longest"]))

    @staticmethod
    def layout() -> str:
        """What the cache key of a table adds to its hierarchy's: this module's layout."""
        return f"names/{_LAYOUT}"


def _normalised(names: list[str]) -> list[str]:
    """``normalise`` of each name, in one call for them all when that is the same."""
    joined = normalise("\0".join(names))
    parts = joined.split("\0")
    # NUL is neither a space nor changed by NFKC; a name holding one is done one by one.
    return parts if len(parts) == len(names) else [normalise(name) for name in names]
