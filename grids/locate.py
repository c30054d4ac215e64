"""Point location: (lat, lon) -> the deepest cell containing it, through an R-tree."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import shapely
from shapely import Point, STRtree

__all__ = ["Locator"]


class Locator:
    """Find the deepest cell whose shape covers a point.

    ``items`` are ``(code, level, geometry)`` with shapely (multi)polygons in GeoJSON axis
    order: x is longitude, y is latitude. A point on a boundary belongs to every cell that
    shares the boundary; the deepest level wins, and among cells of the same level the
    smallest code, so every lookup has one deterministic answer.

    The geometries are held in priority order (deepest level first, then code), so the winner
    among the cells covering a point is simply the one with the smallest index: no per-lookup
    sorting, only an R-tree query and a few point-in-polygon tests.
    """

    def __init__(self, items: Iterable[tuple[str, int, Any]]) -> None:
        ranked = sorted(items, key=lambda item: (-int(item[1]), item[0]))
        self._codes: list[str] = [code for code, _, _ in ranked]
        geometries = np.array([geometry for _, _, geometry in ranked], dtype=object)
        # Prepared geometries make the point-in-polygon test cheap for polygons with many
        # vertices; the tree only narrows the candidates down to those whose box holds the point.
        shapely.prepare(geometries)
        self._geometries = geometries
        self._tree = STRtree(geometries)

    def __len__(self) -> int:
        return len(self._codes)

    def __repr__(self) -> str:
        return f"Locator(cells={len(self._codes)})"

    def locate(self, lat: float, lon: float) -> str | None:
        """The code of the deepest cell covering (lat, lon), or None when no cell covers it."""
        point = Point(lon, lat)
        candidates = self._tree.query(point)
        if candidates.size == 0:
            return None
        # The tree returns indices in no useful order; testing them in priority order lets
        # the first hit stop the search.
        candidates.sort()
        hits = shapely.covers(self._geometries[candidates], point)
        if not hits.any():
            return None
        return self._codes[int(candidates[hits.argmax()])]

    def locate_many(self, points: Sequence[tuple[float, float]]) -> list[str | None]:
        """:meth:`locate` for many (lat, lon) pairs at once, answers in input order."""
        if not points:
            return []
        coords = np.asarray(points, dtype=float)
        query_points = shapely.points(coords[:, 1], coords[:, 0])
        point_index, tree_index = self._tree.query(query_points, predicate="covered_by")
        # Smallest tree index per point = highest priority; len(codes) marks "none".
        best = np.full(len(points), len(self._codes), dtype=np.int64)
        np.minimum.at(best, point_index, tree_index)
        return [self._codes[i] if i < len(self._codes) else None for i in best.tolist()]
