"""Do a parent's children tile it? Overlaps, gaps and spills between the shapes of a tree.

A whistle is placed in the deepest cell whose shape holds its point (``grids.locate``). Two
sibling cells that overlap would each claim the points they share, a parent its children
do not cover leaves points that reach the parent's people but no grid's, and a child that
reaches outside its parent takes points the parent's neighbour owns. So for each parent
with a shape, its children that have one are checked against each other and against it:

- no two siblings overlap by more than ``TOLERANCE`` of the smaller one's area;
- the children leave no more than ``TOLERANCE`` of the parent's area uncovered (checked
  only when every child has a shape: a child without one cannot be placed anyway);
- no child lies outside its parent by more than ``TOLERANCE`` of its own area.

The tolerance is relative because digitised boundaries meet at slivers a few metres wide,
and a province's cells differ in area by six orders of magnitude. Each problem names the
cells and the area in square metres (from degrees at the parent's latitude).

Everything is vectorised: the candidate pairs come from one ``shapely.STRtree`` per level
over the cells' boxes, axis-parallel rectangles (every generated cell, many real ones) are
settled with box arithmetic in numpy, and only the other shapes go through GEOS, in bulk.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import shapely

from grids.exceptions import Problem

__all__ = ["TOLERANCE", "check_coverage", "shapes_from"]

TOLERANCE = 1e-4  # a share of an area: 0.01 %
_METRES_PER_DEGREE = 111_320.0
_BATCH = 262_144  # cells queried against a level's tree at once: bounds the pair arrays
_Shapes = Callable[[Any], Any]  # rows (int array) -> object array of their geometries


def check_coverage(
    file: str,
    parent: Any,
    bounds: Any,
    rect: Any,
    shapes_of: _Shapes,
    code_of: Callable[[int], str],
) -> list[Problem]:
    """Every overlap, gap and spill among the cells' shapes, by parent then child.

    ``parent`` is each cell's parent row (-1 for the root), ``bounds`` its shape's box
    (west, south, east, north; NaN without a shape), ``rect`` whether the shape is exactly
    its box; ``shapes_of(rows)`` gives the shapely shapes of those rows.
    """
    parent = np.asarray(parent, dtype=np.int64)
    bounds = np.asarray(bounds, dtype=np.float64)
    rect = np.asarray(rect, dtype=bool)
    shaped = np.isfinite(bounds).all(axis=1)
    area = _areas(bounds, rect, shaped, shapes_of)
    context = _Context(file, parent, bounds, rect, area, shapes_of, code_of)
    found = context.overlaps(shaped) + context.outside(shaped)
    found.sort(key=lambda item: item[0])
    return [problem for _, problem in found]


def _areas(bounds: Any, rect: Any, shaped: Any, shapes_of: _Shapes) -> Any:
    area = np.full(len(bounds), np.nan)
    area[rect] = (bounds[rect, 2] - bounds[rect, 0]) * (bounds[rect, 3] - bounds[rect, 1])
    other = np.flatnonzero(shaped & ~rect)
    for at in range(0, len(other), _BATCH):
        rows = other[at : at + _BATCH]
        area[rows] = shapely.area(shapes_of(rows))
    return area


def _box_overlap(a: Any, b: Any) -> Any:
    """Area shared by the boxes of rows ``a`` and ``b`` (bounds rows, pairwise)."""
    width = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    height = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    return np.clip(width, 0, None) * np.clip(height, 0, None)


class _Context:
    """The columns one check reads, and how it words what it finds."""

    def __init__(
        self,
        file: str,
        parent: Any,
        bounds: Any,
        rect: Any,
        area: Any,
        shapes_of: _Shapes,
        code_of: Callable[[int], str],
    ) -> None:
        self.file, self.parent, self.bounds, self.rect = file, parent, bounds, rect
        self.area, self.shapes_of, self.code_of = area, shapes_of, code_of

    def shared(self, a: Any, b: Any) -> Any:
        """Area shared by the shapes of rows ``a`` and ``b`` (pairwise)."""
        result = _box_overlap(self.bounds[a], self.bounds[b])
        exact = np.flatnonzero(~(self.rect[a] & self.rect[b]) & (result > 0))
        for at in range(0, len(exact), _BATCH):
            pick = exact[at : at + _BATCH]
            meet = shapely.intersection(self.shapes_of(a[pick]), self.shapes_of(b[pick]))
            result[pick] = shapely.area(meet)
        return result

    def square_metres(self, degrees: float, row: int) -> float:
        middle = (self.bounds[row, 1] + self.bounds[row, 3]) / 2
        return degrees * _METRES_PER_DEGREE**2 * math.cos(math.radians(middle))

    def overlaps(self, shaped: Any) -> list[tuple[tuple[int, int], Problem]]:
        """Sibling pairs sharing more than the tolerance of the smaller one's area."""
        found: list[tuple[tuple[int, int], Problem]] = []
        candidates = np.flatnonzero(shaped & (self.parent >= 0))
        depth = self._level_of(candidates)
        for level in np.unique(depth).tolist():
            rows = candidates[depth == level]
            for a, b in self._pairs(rows):
                shared = self.shared(a, b)
                smaller = np.minimum(self.area[a], self.area[b])
                for i in np.flatnonzero(shared > TOLERANCE * smaller).tolist():
                    found.append(self._overlap(int(a[i]), int(b[i]), float(shared[i])))
        return found

    def _level_of(self, rows: Any) -> Any:
        """How deep each row is (0 for the root): siblings are always at one depth."""
        depth = np.zeros(len(rows), dtype=np.int64)
        cursor = rows.copy()
        while (alive := cursor >= 0).any():
            depth[alive] += 1
            cursor[alive] = self.parent[cursor[alive]]
        return depth

    def _pairs(self, rows: Any) -> Any:
        """Batches of (a, b): siblings among ``rows`` whose boxes meet, a < b."""
        boxes = shapely.box(*self.bounds[rows].T)
        tree = shapely.STRtree(boxes)
        for at in range(0, len(rows), _BATCH):
            left, right = tree.query(boxes[at : at + _BATCH])
            a, b = rows[left + at], rows[right]
            keep = (a < b) & (self.parent[a] == self.parent[b])
            yield a[keep], b[keep]

    def _overlap(self, a: int, b: int, shared: float) -> tuple[tuple[int, int], Problem]:
        up = int(self.parent[a])
        smaller = min(self.area[a], self.area[b])
        message = (
            f"{self.code_of(a)} and {self.code_of(b)} (children of {self.code_of(up)}) overlap "
            f"by about {self.square_metres(shared, a):,.0f} m² "
            f"({shared / smaller:.2%} of the smaller)"
        )
        return (up, a), Problem(self.file, None, self.code_of(a), message)

    def outside(self, shaped: Any) -> list[tuple[tuple[int, int], Problem]]:
        """Children reaching outside their parent; parents their children leave uncovered."""
        found: list[tuple[tuple[int, int], Problem]] = []
        child = np.flatnonzero(shaped & (self.parent >= 0))
        child = child[shaped[self.parent[child]]]
        up = self.parent[child]
        inside = self.shared(child, up)
        spill = self.area[child] - inside
        for i in np.flatnonzero(spill > TOLERANCE * self.area[child]).tolist():
            row, above = int(child[i]), int(up[i])
            message = (
                f"{self.code_of(row)} reaches about {self.square_metres(spill[i], row):,.0f} m² "
                f"({spill[i] / self.area[row]:.2%} of it) outside its parent {self.code_of(above)}"
            )
            found.append(((above, row), Problem(self.file, None, self.code_of(row), message)))
        count = len(self.parent)
        children = np.bincount(self.parent[self.parent >= 0], minlength=count)
        with_shape = np.bincount(up, minlength=count)
        covered = np.bincount(up, weights=inside, minlength=count)
        whole = shaped & (children > 0) & (children == with_shape)
        gap = np.where(whole, self.area - covered, 0.0)
        for row in np.flatnonzero(gap > TOLERANCE * np.where(whole, self.area, 0.0)).tolist():
            message = (
                f"the children of {self.code_of(row)} leave about "
                f"{self.square_metres(gap[row], row):,.0f} m² ({gap[row] / self.area[row]:.2%}) "
                "of it uncovered: a point there is in no child"
            )
            found.append(((row, -1), Problem(self.file, None, self.code_of(row), message)))
        return found


def shapes_from(geometries: Any) -> _Shapes:
    """``shapes_of`` over an object array of geometries, one per row (None without)."""
    array = np.asarray(geometries, dtype=object)
    return lambda rows: array[rows]
