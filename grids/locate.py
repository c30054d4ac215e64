"""Point location: (lat, lon) -> the deepest cell containing it, through a bucket grid."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import shapely

from grids.tables import column_view

__all__ = ["Locator"]

# Buckets per cell, and how many bucket entries per cell the index may hold before it is
# made coarser: a few cells that span the whole extent (the county, its towns) add one entry
# to every bucket, which is fine; thousands of overlapping big cells would not be.
_BUCKETS_PER_CELL = 0.5
_ENTRIES_PER_CELL = 24


class Locator:
    """Find the deepest cell whose shape covers a point.

    ``items`` are ``(code, level, geometry)`` with shapely (multi)polygons in GeoJSON axis
    order: x is longitude, y is latitude. A point on a boundary belongs to every cell that
    shares the boundary; the deepest level wins, and among cells of the same level the
    smallest code, so every lookup has one deterministic answer.

    The extent is cut into a grid of buckets; each bucket lists, in priority order (deepest
    level first, then code), the cells whose bounding box touches it. A lookup is plain
    arithmetic to find the bucket, then box tests down that short list until one cell covers
    the point. Axis-parallel rectangles (every cell of a generated county, and many real
    ones) are settled by the box test alone; any other shape is then tested exactly, with
    ``shapely.intersects_xy`` on its prepared geometry (for a point, intersecting a polygon
    is being covered by it). Only those other shapes are prepared, which saves memory and
    load time on a province of millions of rectangles.
    """

    def __init__(self, items: Iterable[tuple[str, int, Any]]) -> None:
        ranked = sorted(items, key=lambda item: (-int(item[1]), item[0]))
        geometries = np.array([geometry for _, _, geometry in ranked], dtype=object)
        arrays = self.index_arrays(geometries)
        shapes = {int(i): geometries[i] for i in np.flatnonzero(arrays["rect"] == 0)}
        self._adopt(arrays, [code for code, _, _ in ranked], shapes.__getitem__)

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, Any], keys: Sequence[Any], shape_of: Callable[[int], Any]
    ) -> Locator:
        """A locator over index arrays made by :meth:`index_arrays` (or mapped from a cache).

        ``keys[i]`` is what a lookup answers for the i-th shape in priority order;
        ``shape_of(i)`` gives that shape, asked only for shapes that are not rectangles.
        """
        locator = cls.__new__(cls)
        locator._adopt(arrays, keys, shape_of)
        return locator

    def _adopt(
        self, arrays: Mapping[str, Any], keys: Sequence[Any], shape_of: Callable[[int], Any]
    ) -> None:
        self._keys = keys
        self._shape_of = shape_of
        # Prepared on first use: a province of rectangles never builds one.
        self._prepared: dict[int, Any] = {}
        view = column_view
        self._west, self._south = view(arrays["west"], "d"), view(arrays["south"], "d")
        self._east, self._north = view(arrays["east"], "d"), view(arrays["north"], "d")
        self._rect = view(arrays["rect"], "B")
        self._entries, self._starts = view(arrays["entries"], "i"), view(arrays["starts"], "q")
        grid = arrays["grid"]
        self._extent = (float(grid[0]), float(grid[1]), float(grid[2]), float(grid[3]))
        self._scale = (float(grid[4]), float(grid[5]))
        self._columns, self._rows = int(grid[6]), int(grid[7])

    @classmethod
    def index_arrays(cls, geometries: Any) -> dict[str, Any]:
        """The point index of shapes already in priority order, as numpy arrays."""
        count = len(geometries)
        bounds = shapely.bounds(geometries) if count else np.zeros((0, 4))
        arrays: dict[str, Any] = {
            "west": np.ascontiguousarray(bounds[:, 0]),
            "south": np.ascontiguousarray(bounds[:, 1]),
            "east": np.ascontiguousarray(bounds[:, 2]),
            "north": np.ascontiguousarray(bounds[:, 3]),
            "rect": _rectangles(geometries, bounds).astype(np.uint8),
        }
        arrays.update(cls._grid(bounds, count))
        return arrays

    @classmethod
    def _grid(cls, bounds: Any, count: int) -> dict[str, Any]:
        """The bucket grid: ``grid`` (extent, scale, columns, rows), ``starts``, ``entries``."""
        finite = np.isfinite(bounds).all(axis=1)
        if not count or not finite.any():
            return {
                "grid": np.array([math.inf, math.inf, -math.inf, -math.inf, 0, 0, 1, 1]),
                "starts": np.zeros(2, dtype=np.int64),
                "entries": np.zeros(0, dtype=np.int32),
            }
        # An empty geometry has NaN bounds: it covers nothing, so it is left out of the grid.
        west = float(bounds[finite, 0].min())
        south = float(bounds[finite, 1].min())
        east = float(bounds[finite, 2].max())
        north = float(bounds[finite, 3].max())
        width, height = max(east - west, 1e-12), max(north - south, 1e-12)
        buckets = max(1.0, count * _BUCKETS_PER_CELL)
        while True:
            columns = max(1, min(1 << 15, round(math.sqrt(buckets * width / height))))
            rows = max(1, min(1 << 15, round(buckets / columns)))
            scale = (columns / width, rows / height)
            cells, first_col, first_row, spans_col, spans_row = cls._spans(
                bounds, finite, west, south, scale, columns, rows
            )
            sizes = spans_col * spans_row
            total = int(sizes.sum())
            if total <= count * _ENTRIES_PER_CELL + columns * rows * 8 or buckets <= 1:
                break
            buckets /= 4
        # One entry per (cell, bucket its box touches), generated cell by cell in priority
        # order; a stable sort by bucket keeps that order within each bucket.
        owner = np.repeat(cells, sizes)
        offset = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        span = np.repeat(spans_col, sizes)
        bucket = (np.repeat(first_row, sizes) + offset // span) * columns + (
            np.repeat(first_col, sizes) + offset % span
        )
        order = np.argsort(bucket, kind="stable")
        starts = np.zeros(columns * rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(bucket, minlength=columns * rows), out=starts[1:])
        grid = [west, south, east, north, scale[0], scale[1], columns, rows]
        return {
            "grid": np.array(grid, dtype=np.float64),
            "starts": starts,
            "entries": owner[order].astype(np.int32),
        }

    @staticmethod
    def _spans(
        bounds: Any,
        finite: Any,
        west: float,
        south: float,
        scale: tuple[float, float],
        columns: int,
        rows: int,
    ) -> tuple[Any, Any, Any, Any, Any]:
        """Per located cell: its index and the first column, row and spans of its buckets."""
        cells = np.flatnonzero(finite)
        box = bounds[cells]
        first_col = _bucket(box[:, 0], west, scale[0], columns)
        last_col = _bucket(box[:, 2], west, scale[0], columns)
        first_row = _bucket(box[:, 1], south, scale[1], rows)
        last_row = _bucket(box[:, 3], south, scale[1], rows)
        return cells, first_col, first_row, last_col - first_col + 1, last_row - first_row + 1

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"Locator(cells={len(self._keys)})"

    def locate(self, lat: float, lon: float) -> Any:
        """The key (code) of the deepest cell covering (lat, lon), or None when none does."""
        west, south, east, north = self._extent
        # NaN fails every comparison, so it is outside too.
        if not (west <= lon <= east and south <= lat <= north):
            return None
        # The same arithmetic as the index used for the cells' boxes (see _bucket), so a
        # point on a box's edge lands in a bucket that lists the box.
        column = min(int((lon - west) * self._scale[0]), self._columns - 1)
        row = min(int((lat - south) * self._scale[1]), self._rows - 1)
        bucket = row * self._columns + column
        w, s, e, n, rect = self._west, self._south, self._east, self._north, self._rect
        for index in self._entries[self._starts[bucket] : self._starts[bucket + 1]]:
            inside = w[index] <= lon <= e[index] and s[index] <= lat <= n[index]
            if inside and (rect[index] or shapely.intersects_xy(self._exact(index), lon, lat)):
                return self._keys[index]
        return None

    def _exact(self, index: int) -> Any:
        shape = self._prepared.get(index)
        if shape is None:
            shape = self._shape_of(index)
            shapely.prepare(shape)
            self._prepared[index] = shape
        return shape

    def locate_many(self, points: Sequence[tuple[float, float]]) -> list[Any]:
        """:meth:`locate` for many (lat, lon) pairs at once, answers in input order."""
        return [self.locate(lat, lon) for lat, lon in points]


def _bucket(values: Any, origin: float, scale: float, count: int) -> Any:
    """Bucket numbers of coordinates, as :meth:`Locator.locate` computes them one by one.

    Truncation of a non-negative float is its floor, and ``(v - origin) * scale`` rounds
    monotonically in ``v``, so a point inside a box falls between the box's first and last
    bucket.
    """
    return np.minimum(((values - origin) * scale).astype(np.int64), count - 1)


def _rectangles(geometries: Any, bounds: Any) -> Any:
    """True where a geometry is a Polygon without holes that equals its bounding box.

    Such a polygon covers exactly the points of its closed box, so the box test decides.
    """
    count = len(geometries)
    result = np.zeros(count, dtype=bool)
    if not count:
        return result
    simple = (
        (shapely.get_type_id(geometries) == shapely.GeometryType.POLYGON)
        & (shapely.get_num_interior_rings(geometries) == 0)
        & (shapely.get_num_coordinates(geometries) == 5)
    )
    candidates = np.flatnonzero(simple)
    if not len(candidates):
        return result
    # A hole-free polygon's coordinates are its exterior ring's.
    rings = shapely.get_coordinates(geometries[candidates])
    corners = rings.reshape(len(candidates), 5, 2)
    box = bounds[candidates]
    xs, ys = corners[:, :, 0], corners[:, :, 1]
    on_x = (xs == box[:, [0]]) | (xs == box[:, [2]])
    on_y = (ys == box[:, [1]]) | (ys == box[:, [3]])
    # Each step along the ring changes exactly one coordinate, and the box has an area:
    # then the four corners are the box's four corners, in one order or the other.
    steps_x = xs[:, 1:] != xs[:, :-1]
    steps_y = ys[:, 1:] != ys[:, :-1]
    one_axis = (steps_x ^ steps_y).all(axis=1)
    # Opposite corners differ in both coordinates: no corner is visited twice.
    diagonal = (
        (xs[:, 0] != xs[:, 2])
        & (ys[:, 0] != ys[:, 2])
        & (xs[:, 1] != xs[:, 3])
        & (ys[:, 1] != ys[:, 3])
    )
    proper = (box[:, 2] > box[:, 0]) & (box[:, 3] > box[:, 1])
    result[candidates] = on_x.all(axis=1) & on_y.all(axis=1) & one_axis & diagonal & proper
    return result
