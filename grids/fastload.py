"""A valid config's grid files straight into the compiled columns, without a row of objects.

``grids.loader`` reads every row into an object and every shape into a shapely geometry,
then checks them and compiles the columns (``grids.tables``): for a province that was two
minutes and 9.7 GB at its peak (docs/performance-large.md). This module makes the same
columns, array for array, from ``grids.columns`` (the CSV files) and ``grids.geostream``
(the shapes), runs the coverage checks (``grids.coverage``) over them, and raises Unusual
at the first sign of anything wrong; ``grids.loader.load_hierarchy`` then loads the config
the long way, which finds and words every problem. The long way is also what a config this
path does not take goes through (quoted CSV fields, a pretty-printed GeoJSON): slower, never
different.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from grids.columns import CellColumns, ResponderColumns, Unusual, read_cells, read_responders
from grids.coverage import check_coverage
from grids.geostream import Packed, bounds_of, read_shapes, rectangles_of, shapes_of
from grids.locate import Locator
from grids.tables import Tables, groups

__all__ = ["load_columns"]


def load_columns(config_dir: Path, files: tuple[str, str, str]) -> Tables:
    """The compiled columns of ``config_dir``'s (grids, geojson, responders) ``files``.

    Raises Unusual when anything is wrong or out of the ordinary: then load the long way.
    """
    grids_file, geojson_file, responders_file = files
    cells = read_cells(config_dir / grids_file)
    geojson = config_dir / geojson_file
    packed = read_shapes(geojson, cells.row) if geojson.exists() else None
    arrays: dict[str, Any] = {}
    _put_cells(arrays, cells)
    if packed is not None and len(packed.rows):
        bounds, rect = _shape_boxes(packed)
        _check_coverage(geojson_file, cells, packed, bounds, rect)
        _put_shapes(arrays, len(cells.codes), packed)
    else:
        bounds = rect = None
        _put_shapes(arrays, len(cells.codes), None)
    del cells.row  # the biggest of the lookups: 2.8 million entries in a province
    responders = read_responders(config_dir / responders_file, cells)
    _put_responders(arrays, len(cells.codes), responders)
    if packed is not None and len(packed.rows):
        _put_locator(arrays, cells, packed, bounds, rect)
    meta = {"categories": [sorted(s) for s in responders.category_sets], "locator": {}}
    return Tables(arrays, meta)


def _put_cells(arrays: dict[str, Any], cells: CellColumns) -> None:
    count = len(cells.codes)
    arrays["cell_code_blob"] = cells.code_strings.blob
    arrays["cell_code_offsets"] = cells.code_strings.offsets
    arrays["cell_name_blob"] = cells.name_strings.blob
    arrays["cell_name_offsets"] = cells.name_strings.offsets
    arrays["cell_parent"] = cells.parent
    arrays["cell_level"] = cells.level
    arrays["child_start"], arrays["child_list"] = groups(cells.parent, count, skip_negative=True)
    arrays["code_sorted"], arrays["code_rank"] = cells.code_sorted, cells.code_rank


def _put_shapes(arrays: dict[str, Any], count: int, packed: Packed | None) -> None:
    """The shape columns ``grids.tables`` makes from shapely's ragged arrays."""
    kind = np.zeros(count, dtype=np.uint8)
    first_part = np.zeros(count + 1, dtype=np.int64)
    if packed is None or not len(packed.rows):
        coords = np.zeros((0, 2))
        ring_coord = part_ring = np.zeros(1, dtype=np.int64)
    else:
        kind[packed.rows] = packed.kind
        parts = np.zeros(count, dtype=np.int64)
        parts[packed.rows] = packed.parts
        np.cumsum(parts, out=first_part[1:])
        part_ring = _offsets(packed.rings)
        ring_coord = _offsets(packed.points)
        coords = packed.coords
    arrays["shape_kind"] = kind
    arrays["shape_first_part"] = first_part
    arrays["part_ring"] = part_ring
    arrays["ring_coord"] = ring_coord
    arrays["coords"] = np.ascontiguousarray(coords, dtype=np.float64)


def _offsets(counts: Any) -> Any:
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def _shape_boxes(packed: Packed) -> tuple[Any, Any]:
    """Each shape's box and whether it is exactly its box, in packed (row) order."""
    layout = (packed.parts, packed.rings, packed.points, packed.coords)
    return bounds_of(*layout), rectangles_of(*layout, packed.kind)


def _check_coverage(file: str, cells: CellColumns, packed: Packed, bounds: Any, rect: Any) -> None:
    count = len(cells.codes)
    full_bounds = np.full((count, 4), np.nan)
    full_bounds[packed.rows] = bounds
    full_rect = np.zeros(count, dtype=bool)
    full_rect[packed.rows] = rect

    def shapes(rows: Any) -> Any:
        return shapes_of(packed, np.searchsorted(packed.rows, rows))

    found = check_coverage(
        file, cells.parent, full_bounds, full_rect, shapes, cells.codes.__getitem__
    )
    if found:
        raise Unusual(file)  # the long way words them, with whatever else is wrong


def _put_responders(arrays: dict[str, Any], count: int, responders: ResponderColumns) -> None:
    for name, strings in (
        ("resp_id", responders.id_strings),
        ("resp_name", responders.name_strings),
        ("resp_contact", responders.contact_strings),
    ):
        arrays[f"{name}_blob"], arrays[f"{name}_offsets"] = strings.blob, strings.offsets
    arrays["resp_kind"] = responders.kind
    arrays["resp_grid"] = responders.grid
    arrays["resp_backup"] = responders.backup
    arrays["resp_line"] = responders.line
    arrays["resp_categories"] = responders.categories
    arrays["at_start"], arrays["at_list"] = groups(responders.grid, count, skip_negative=False)
    arrays["id_sorted"], arrays["id_rank"] = responders.id_sorted, responders.id_rank


def _put_locator(
    arrays: dict[str, Any], cells: CellColumns, packed: Packed, bounds: Any, rect: Any
) -> None:
    """The point index (``grids.locate``): shapes deepest level first, then by code."""
    count = len(cells.codes)
    rank = np.empty(count, dtype=np.int64)
    rank[arrays["code_rank"]] = np.arange(count)
    located = packed.rows
    level = cells.level[located].astype(np.int64)
    ranked = located[np.lexsort((rank[located], -level))]
    at = np.searchsorted(packed.rows, ranked)
    arrays["loc_ranked"] = ranked.astype(np.int32)
    for name, value in Locator.index_from_bounds(bounds[at], rect[at]).items():
        arrays[f"loc_{name}"] = value
