"""A valid ``grids.geojson`` read in batches of features straight into packed coordinates.

``orjson.loads`` of a province's 620 MB file made 6 GB of dicts, lists and floats before
the first shape was built, and shapely then held 2.8 million geometries beside them. Here
the features array is cut at line ends into batches of a few tens of thousands of features
(a JSON string holds no raw line end, so a cut falls between two tokens, and a batch that
does not parse on its own means the cut fell inside a feature: the file goes the long way);
each batch is parsed, its rings appended to flat coordinate columns and dropped. The shapes
are checked in bulk: rings closed and of four points or more, finite coordinates, and
``shapely.is_valid`` for every shape that is not an axis-parallel rectangle (a closed
four-corner box with an area is valid by construction).

Like ``grids.columns``, nothing here words a problem: anything unusual raises Unusual and
``grids.loader`` reads the file again and says what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import shapely

from grids.columns import Unusual
from grids.locate import rectangle_corners

__all__ = [
    "Packed",
    "bounds_of",
    "ragged_take",
    "read_shapes",
    "rectangles_of",
    "shapes_of",
]

_BLOCK = 8 * 1024 * 1024
_FEATURES = re.compile(rb'"features"\s*:\s*\[')
_TAIL = 1 << 16
POLYGON, MULTIPOLYGON = 1, 2


@dataclass(slots=True)
class Packed:
    """Shapes as counts and coordinates: shape i has ``parts[i]`` parts, part j ``rings[j]``
    rings, ring k ``points[k]`` coordinates (rows of ``coords``); ``kind`` is 1 for a
    Polygon, 2 for a MultiPolygon; ``rows`` the cells they belong to."""

    rows: Any
    kind: Any
    parts: Any
    rings: Any
    points: Any
    coords: Any


def _offsets(counts: Any) -> Any:
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def _ranges(starts: Any, lengths: Any) -> Any:
    """The indices ``starts[i] .. starts[i] + lengths[i]`` of every i, concatenated."""
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    before = np.cumsum(lengths) - lengths
    return np.repeat(np.asarray(starts, dtype=np.int64) - before, lengths) + np.arange(total)


def ragged_take(parts: Any, rings: Any, points: Any, coords: Any, pick: Any) -> tuple[Any, ...]:
    """The shapes ``pick`` (indices, any order) of a packed layout, as a packed layout."""
    part_at, ring_at, point_at = _offsets(parts), _offsets(rings), _offsets(points)
    part_index = _ranges(part_at[pick], parts[pick])
    ring_index = _ranges(ring_at[part_index], rings[part_index])
    point_index = _ranges(point_at[ring_index], points[ring_index])
    return parts[pick], rings[part_index], points[ring_index], coords[point_index]


def read_shapes(path: Path, row: dict[str, int]) -> Packed:
    """The shapes of ``grids.geojson`` in cell row order; raises Unusual unless all is sound."""
    seen = np.zeros(len(row), dtype=bool)
    batches = [_batch(features, row, seen) for features in _features(path)]
    if not batches:
        empty = np.zeros(0, dtype=np.int64)
        return Packed(empty, empty.astype(np.uint8), empty, empty, empty, np.zeros((0, 2)))
    rows, kind, parts, rings, points, coords = (
        np.concatenate(column) for column in zip(*batches, strict=True)
    )
    order = np.argsort(rows, kind="stable")
    if (np.diff(rows) < 0).any():
        parts, rings, points, coords = ragged_take(parts, rings, points, coords, order)
        rows, kind = rows[order], kind[order]
    return Packed(rows, kind, parts, rings, points, coords)


def _features(path: Path) -> Iterator[list[Any]]:
    """The features of the file, a batch at a time."""
    with path.open("rb") as stream:
        head = stream.read(_BLOCK)
        found = _FEATURES.search(head)
        size = stream.seek(0, 2)
        stream.seek(max(0, size - _TAIL))
        tail = stream.read()
        end = max(0, size - _TAIL) + tail.rfind(b"]")
        if found is None or b"]" not in tail or end < found.end():
            raise Unusual(path.name)
        _check_frame(path.name, head[: found.end()], tail[tail.rfind(b"]") :])
        stream.seek(found.end())
        left, carry, state = end - found.end(), b"", _START
        while left > 0 or carry:
            block = stream.read(min(_BLOCK, left)) if left > 0 else b""
            left -= len(block)
            data = carry + block
            cut = data.rfind(b"\n") + 1 if left > 0 else len(data)
            data, carry = data[:cut], data[cut:]
            batch, state = _items(path.name, data, state)
            if batch is not None:
                yield batch
        if state == _COMMA:
            raise Unusual(path.name)  # a comma after the last feature


def _check_frame(file: str, head: bytes, tail: bytes) -> None:
    """The text around the features array is a FeatureCollection with that one array."""
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    try:
        frame = orjson.loads(head + tail)
    except orjson.JSONDecodeError:
        raise Unusual(file) from None
    if not (isinstance(frame, dict) and frame.get("type") == "FeatureCollection"):
        raise Unusual(file)
    if frame.get("features") != []:
        raise Unusual(file)


# Where the cuts stand: nothing yet, the last one ended with the comma between two items,
# or it ended with an item (so the next must start with that comma).
_START, _COMMA, _ITEM = 0, 1, 2


def _items(file: str, data: bytes, state: int) -> tuple[Any, int]:
    """Parse one cut of the array's items: exactly one comma between two items."""
    text = data.strip()
    if not text:
        return None, state
    starts = text.startswith(b",")
    if starts != (state == _ITEM):
        raise Unusual(file)
    text = text[1:] if starts else text
    ends = text.endswith(b",")
    try:
        batch = orjson.loads(b"[" + (text[:-1] if ends else text) + b"]")
    except orjson.JSONDecodeError:
        raise Unusual(file) from None
    return batch, _COMMA if ends else _ITEM


def _batch(features: list[Any], row: dict[str, int], seen: Any) -> tuple[Any, ...]:
    """One batch's (rows, kind, parts, rings, points, coords); raises Unusual."""
    codes: list[int] = []
    kinds: list[int] = []
    parts: list[int] = []
    rings: list[int] = []
    points: list[int] = []
    flat: list[Any] = []
    try:
        for feature in features:
            properties = feature["properties"]
            code = properties["code"]
            if type(code) is int:
                code = str(code)
            number = row.get(code.strip(), -1)
            geometry = feature["geometry"]
            kind = geometry["type"]
            coordinates = geometry["coordinates"]
            if number < 0 or kind not in ("Polygon", "MultiPolygon") or not coordinates:
                raise Unusual("grids.geojson")
            polygons = (coordinates,) if kind == "Polygon" else coordinates
            for polygon in polygons:
                if not polygon:
                    raise Unusual("grids.geojson")
                for ring in polygon:
                    flat.extend(ring)
                    points.append(len(ring))
                rings.append(len(polygon))
            codes.append(number)
            kinds.append(POLYGON if kind == "Polygon" else MULTIPOLYGON)
            parts.append(len(polygons))
    except (TypeError, KeyError, AttributeError):
        raise Unusual("grids.geojson") from None
    rows = np.array(codes, dtype=np.int64)
    if seen[rows].any() or len(np.unique(rows)) != len(rows):
        raise Unusual("grids.geojson")  # a second shape for a cell
    seen[rows] = True
    coords = _coordinates(flat)
    packed = (np.array(parts), np.array(rings), np.array(points), coords)
    _check_shapes(*packed, kind=np.array(kinds, dtype=np.uint8))
    return (rows, np.array(kinds, dtype=np.uint8), *packed)


def _coordinates(flat: list[Any]) -> Any:
    """The points as an (n, 2) array: every point two numbers, all finite."""
    if not flat:
        return np.zeros((0, 2))
    try:
        # Several times faster than np.array over the nested lists; the sizes are checked.
        if set(map(len, flat)) != {2}:
            raise Unusual("grids.geojson")
        coords = np.fromiter(chain.from_iterable(flat), dtype=np.float64, count=2 * len(flat))
    except (ValueError, TypeError):
        raise Unusual("grids.geojson") from None
    coords = coords.reshape(-1, 2)
    if not np.isfinite(coords).all():
        raise Unusual("grids.geojson")
    return coords


def _check_shapes(parts: Any, rings: Any, points: Any, coords: Any, *, kind: Any) -> None:
    """Closed rings of four points or more, and valid shapes; raises Unusual."""
    point_at = _offsets(points)
    if (points < 4).any():
        raise Unusual("grids.geojson")
    if (coords[point_at[:-1]] != coords[point_at[1:] - 1]).any():
        raise Unusual("grids.geojson")  # a ring that does not end where it starts
    rect = rectangles_of(parts, rings, points, coords, kind)
    other = np.flatnonzero(~rect)
    if len(other):
        shapes = shapely.from_ragged_array(
            shapely.GeometryType.MULTIPOLYGON,
            *_pack(*ragged_take(parts, rings, points, coords, other)),
        )
        if not shapely.is_valid(shapes).all():
            raise Unusual("grids.geojson")


def _pack(parts: Any, rings: Any, points: Any, coords: Any) -> tuple[Any, Any]:
    """(coords, offsets) for ``shapely.from_ragged_array`` of MultiPolygons."""
    return coords, (_offsets(points), _offsets(rings), _offsets(parts))


def shapes_of(packed: Packed, pick: Any) -> Any:
    """Shapely MultiPolygons of the shapes ``pick`` (same areas and extents as the shapes)."""
    taken = ragged_take(packed.parts, packed.rings, packed.points, packed.coords, pick)
    return shapely.from_ragged_array(shapely.GeometryType.MULTIPOLYGON, *_pack(*taken))


def bounds_of(parts: Any, rings: Any, points: Any, coords: Any) -> Any:
    """(west, south, east, north) of each shape."""
    point_at = _offsets(points)
    ring_at = _offsets(rings)
    part_at = _offsets(parts)
    starts = point_at[ring_at[part_at[:-1]]]
    if not len(starts):
        return np.zeros((0, 4))
    low = np.minimum.reduceat(coords, starts, axis=0)
    high = np.maximum.reduceat(coords, starts, axis=0)
    return np.column_stack([low, high])


def rectangles_of(parts: Any, rings: Any, points: Any, coords: Any, kind: Any) -> Any:
    """Whether each shape is a Polygon that equals its box (``grids.locate.rectangles``)."""
    count = len(parts)
    result = np.zeros(count, dtype=bool)
    part_at = _offsets(parts)
    ring_at = _offsets(rings)
    first_ring = ring_at[part_at[:-1]]
    simple = (kind == POLYGON) & (parts == 1)
    simple[simple] &= rings[part_at[:-1][simple]] == 1
    simple[simple] &= points[first_ring[simple]] == 5
    candidates = np.flatnonzero(simple)
    if not len(candidates):
        return result
    starts = _offsets(points)[first_ring[candidates]]
    corners = coords[starts[:, None] + np.arange(5)]
    box = np.column_stack([corners.min(axis=1), corners.max(axis=1)])
    result[candidates] = rectangle_corners(corners, box)
    return result
