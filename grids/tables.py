"""The hierarchy as flat typed arrays: what a Hierarchy reads, and what the cache maps.

A county is tens of thousands of cells and a province millions; one Python object per cell,
responder and shape is what made a province cost 8 GB (docs/performance-large.md). Here every
attribute is one column: numbers in numpy arrays, strings in one UTF-8 blob with an offsets
column, lookups by code or id through a sorted fixed-width column and a binary search. The
columns hold no Python object, so :mod:`grids.cache` writes them to one file and maps them
back read-only: processes that map the same file share its pages.

Rows are cells in file order and responders in roster order; a cell or responder is its row
number ("index") everywhere below.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely

from grids.model import Responder, ResponderKind

__all__ = [
    "KINDS",
    "Strings",
    "Tables",
    "column_view",
    "compile_tables",
    "groups",
    "shape_at",
    "sorted_strings",
]

# Responder kinds by number, in declaration order: the kind column holds these numbers.
KINDS: tuple[ResponderKind, ...] = tuple(ResponderKind)
_KIND_NUMBER = {kind: number for number, kind in enumerate(KINDS)}

# Geometry kinds of the shape column: none, Polygon, MultiPolygon.
NO_SHAPE, POLYGON, MULTIPOLYGON = 0, 1, 2


def column_view(array: Any, code: str) -> Any:
    """A flat memoryview of a numpy column (``code`` as in :mod:`struct`): indexing it gives
    plain Python numbers, several times faster than indexing the array (numpy scalars)."""
    buffer: Any = np.ascontiguousarray(array)
    flat: Any = memoryview(buffer).cast("B")
    return flat.cast(code)


@dataclass(frozen=True, slots=True)
class Strings:
    """Many strings as one UTF-8 blob and an offsets column (``len + 1`` of them)."""

    blob: Any  # a bytes-like object: bytes, or a slice of a memory map
    offsets: Any  # uint32 (or int64) array

    @classmethod
    def of(cls, values: Iterable[str]) -> Strings:
        encoded = [value.encode("utf-8") for value in values]
        sizes = np.array([len(e) for e in encoded], dtype=np.int64)
        total = int(sizes.sum())
        # Four bytes an offset while the blob is under 4 GB: half the size of int64.
        offsets = np.zeros(len(encoded) + 1, dtype=np.uint32 if total < 2**32 else np.int64)
        offsets[1:] = np.cumsum(sizes)
        return cls(np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets)

    def reader(self) -> _StringReader:
        return _StringReader(self)

    def __len__(self) -> int:
        return len(self.offsets) - 1


class _StringReader:
    """Fast ``[i]`` over :class:`Strings`: memoryviews index without numpy's scalar cost."""

    __slots__ = ("_blob", "_offsets")

    def __init__(self, strings: Strings) -> None:
        self._blob = column_view(strings.blob, "B")
        wide = strings.offsets.dtype.itemsize == 8
        self._offsets = column_view(strings.offsets, "q" if wide else "I")

    def __getitem__(self, index: int) -> str:
        return str(self._blob[self._offsets[index] : self._offsets[index + 1]], "utf-8")


@dataclass(frozen=True, slots=True)
class Tables:
    """Every column of a hierarchy. ``arrays`` are numpy arrays by name; ``meta`` is what
    does not fit a column (the locator's grid, the category sets), JSON-able.

    Cells: ``cell_code``/``cell_name`` (Strings), ``cell_parent`` (int32, -1 for the root),
    ``cell_level`` (uint8), ``child_start``/``child_list`` (children in file order, CSR),
    ``code_sorted``/``code_rank`` (the codes sorted, as fixed-width bytes, and their rows).
    Shapes: ``shape_kind`` (uint8 per cell), ``shape_part``/``part_ring``/``ring_coord``
    offsets and ``coords`` (float64 x, y), the ragged layout of MultiPolygons
    (``shapely.to_ragged_array``), ``shape_first_part`` per cell. Responders: ``resp_*``
    columns, ``at_start``/``at_list`` (responders of each cell in roster order, CSR),
    ``id_sorted``/``id_rank``.
    """

    arrays: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)

    def strings(self, name: str) -> Strings:
        return Strings(self.arrays[f"{name}_blob"], self.arrays[f"{name}_offsets"])


def compile_tables(
    codes: Sequence[str],
    parents: Sequence[str | None],
    levels: Sequence[int],
    names: Sequence[str],
    responders: Sequence[Responder],
    geometries: Mapping[str, Any],
    locator: Mapping[str, Any],
) -> Tables:
    """The columns for validated cells (file order), responders (roster order) and shapes.

    ``locator`` holds the point index's arrays and grid (see ``grids.locate.Locator``).
    """
    arrays: dict[str, Any] = {}
    row = {code: index for index, code in enumerate(codes)}
    _put_strings(arrays, "cell_code", codes)
    _put_strings(arrays, "cell_name", names)
    parent = np.array([-1 if p is None else row[p] for p in parents], dtype=np.int32)
    arrays["cell_parent"] = parent
    arrays["cell_level"] = np.array(levels, dtype=np.uint8)
    arrays["child_start"], arrays["child_list"] = groups(parent, len(codes), skip_negative=True)
    arrays["code_sorted"], arrays["code_rank"] = _sorted_keys(codes)
    _put_shapes(arrays, row, len(codes), geometries)

    _put_strings(arrays, "resp_id", [r.id for r in responders])
    _put_strings(arrays, "resp_name", [r.name for r in responders])
    _put_strings(arrays, "resp_contact", [r.contact for r in responders])
    ids = {r.id: index for index, r in enumerate(responders)}
    arrays["resp_kind"] = np.array([_KIND_NUMBER[r.kind] for r in responders], dtype=np.uint8)
    grid = np.array([row[r.grid] for r in responders], dtype=np.int32)
    arrays["resp_grid"] = grid
    arrays["resp_backup"] = np.array(
        [-1 if r.backup is None else ids.get(r.backup, -1) for r in responders], dtype=np.int32
    )
    arrays["resp_line"] = np.array([r.line for r in responders], dtype=np.int32)
    category_sets: dict[frozenset[str], int] = {}
    arrays["resp_categories"] = np.array(
        [category_sets.setdefault(r.categories, len(category_sets)) for r in responders],
        dtype=np.int32,
    )
    arrays["at_start"], arrays["at_list"] = groups(grid, len(codes), skip_negative=False)
    arrays["id_sorted"], arrays["id_rank"] = _sorted_keys([r.id for r in responders])
    for name, value in locator.items():
        if isinstance(value, np.ndarray):
            arrays[f"loc_{name}"] = value
    meta = {
        "categories": [sorted(s) for s in category_sets],
        "locator": {k: v for k, v in locator.items() if not isinstance(v, np.ndarray)},
    }
    return Tables(arrays, meta)


def _put_strings(arrays: dict[str, Any], name: str, values: Iterable[str]) -> None:
    strings = Strings.of(values)
    arrays[f"{name}_blob"] = strings.blob
    arrays[f"{name}_offsets"] = strings.offsets


def groups(owner: Any, count: int, *, skip_negative: bool) -> tuple[Any, Any]:
    """CSR of rows by owner: ``start[o]:start[o+1]`` of ``rows`` are o's rows, in row order."""
    owner = np.asarray(owner, dtype=np.int64)
    keep = np.flatnonzero(owner >= 0) if skip_negative else np.arange(len(owner))
    order = keep[np.argsort(owner[keep], kind="stable")].astype(np.int32)
    start = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(np.bincount(owner[keep], minlength=count), out=start[1:])
    return start, order


def _sorted_keys(keys: Sequence[str]) -> tuple[Any, Any]:
    """Keys as sorted fixed-width UTF-8 bytes and the row of each (:func:`sorted_strings`)."""
    return sorted_strings(Strings.of(keys))


def sorted_strings(strings: Strings) -> tuple[Any, Any]:
    """The values of ``strings`` as sorted fixed-width bytes (padded as numpy pads them) and
    the row of each (a stable order), for np.searchsorted; built from the blob without a
    bytes object per value."""
    count = len(strings)
    if not count:
        return np.zeros(0, dtype="S1"), np.zeros(0, dtype=np.int32)
    offsets = strings.offsets.astype(np.int64)
    sizes = np.diff(offsets)
    width = max(int(sizes.max()), 1)
    # Each value's first ``width`` bytes, one byte of every value at a time (the blob padded
    # so the last one can be read that far), then the bytes past each value's end zeroed.
    padded = np.concatenate([np.asarray(strings.blob, dtype=np.uint8), np.zeros(width, np.uint8)])
    fixed = np.empty((count, width), dtype=np.uint8)
    starts = offsets[:-1].copy()
    for column in range(width):
        fixed[:, column] = padded[starts]
        starts += 1
    fixed[np.arange(width) >= sizes[:, None]] = 0
    keys = fixed.view(f"S{width}").ravel()
    order = np.argsort(keys, kind="stable")
    return keys[order], order.astype(np.int32)


def _put_shapes(
    arrays: dict[str, Any], row: Mapping[str, int], count: int, geometries: Mapping[str, Any]
) -> None:
    """Shapes as the ragged arrays of MultiPolygons, one per cell that has one."""
    kind = np.zeros(count, dtype=np.uint8)
    first_part = np.zeros(count + 1, dtype=np.int64)
    rows = np.array([row[code] for code in geometries], dtype=np.int64)
    shapes = np.array(list(geometries.values()), dtype=object)
    if len(shapes):
        types = shapely.get_type_id(shapes)
        kind[rows] = np.where(types == shapely.GeometryType.POLYGON, POLYGON, MULTIPOLYGON)
        # Cells in row order, so a cell's parts are first_part[i]:first_part[i + 1].
        order = np.argsort(rows, kind="stable")
        # Polygons and MultiPolygons together come out as MultiPolygons; Polygons alone as
        # Polygons, each one part.
        found, coords, offsets = shapely.to_ragged_array(shapes[order], include_z=False)
        if found == shapely.GeometryType.POLYGON:
            ring_coord, part_ring = offsets
            shape_part = np.arange(len(shapes) + 1, dtype=np.int64)
        else:
            ring_coord, part_ring, shape_part = offsets
        parts = np.diff(shape_part)
        counts = np.zeros(count, dtype=np.int64)
        counts[rows[order]] = parts
        np.cumsum(counts, out=first_part[1:])
    else:
        coords = np.zeros((0, 2))
        ring_coord = part_ring = np.zeros(1, dtype=np.int64)
    arrays["shape_kind"] = kind
    arrays["shape_first_part"] = first_part
    arrays["part_ring"] = np.asarray(part_ring, dtype=np.int64)
    arrays["ring_coord"] = np.asarray(ring_coord, dtype=np.int64)
    arrays["coords"] = np.ascontiguousarray(coords, dtype=np.float64)


def shape_at(tables: Tables, index: int) -> Any:
    """The shapely geometry of cell ``index`` rebuilt from the packed coordinates, or None."""
    a = tables.arrays
    kind = int(a["shape_kind"][index])
    if kind == NO_SHAPE:
        return None
    p0, p1 = int(a["shape_first_part"][index]), int(a["shape_first_part"][index + 1])
    polygons = []
    for part in range(p0, p1):
        r0, r1 = int(a["part_ring"][part]), int(a["part_ring"][part + 1])
        rings = [
            a["coords"][int(a["ring_coord"][r]) : int(a["ring_coord"][r + 1])]
            for r in range(r0, r1)
        ]
        polygons.append(shapely.Polygon(rings[0], rings[1:]))
    return polygons[0] if kind == POLYGON else shapely.MultiPolygon(polygons)
