"""Load and validate the grid hierarchy and roster from a config directory.

Three files, read in this order:

``grids.csv`` (required)
    ``code,parent,level,name``: one row per cell; the county leaves ``parent`` empty; ``level``
    is 1-5 or a level name (``county`` ... ``micro_grid``).
``grids.geojson`` (optional)
    A FeatureCollection; each feature has ``properties.code`` and a Polygon or MultiPolygon
    in GeoJSON axis order ([lon, lat]).
``responders.csv`` (required)
    ``id,name,kind,grid,categories,backup,contact``: ``categories`` is ``;``-separated
    category codes or prefixes, or ``*`` for every category; ``backup`` may be empty.

Validation collects every problem before failing, so one run shows everything to fix.
Problems come in file order and name the file, the line (the header is line 1) and the code
or id; GeoJSON features are named by their index (``features[3]``) because a compact file
is one long line. Category codes are not checked here: the category catalog belongs to
another package.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import shapely
from shapely.errors import ShapelyError
from shapely.geometry import shape

from grids.configcsv import ConfigCsv
from grids.exceptions import GridConfigError, Problem
from grids.hierarchy import CellRecord, Hierarchy
from grids.model import ALL_CATEGORIES, Level, Responder, ResponderKind

__all__ = [
    "GEOJSON_FILE",
    "GRIDS_FILE",
    "GRIDS_HEADER",
    "RESPONDERS_FILE",
    "RESPONDERS_HEADER",
    "gc_paused",
    "load_hierarchy",
]

GRIDS_FILE = "grids.csv"
GEOJSON_FILE = "grids.geojson"
RESPONDERS_FILE = "responders.csv"
GRIDS_HEADER = ("code", "parent", "level", "name")
RESPONDERS_HEADER = ("id", "name", "kind", "grid", "categories", "backup", "contact")

_POLYGON_TYPES = ("Polygon", "MultiPolygon")
_KINDS = {kind.value: kind for kind in ResponderKind}
_KIND_NAMES = ", ".join(kind.value for kind in ResponderKind)
_UNREADABLE = object()  # what _read_json gives for a file it could not read (JSON null is None)
_Report = Callable[[int, str | None, str], None]


def load_hierarchy(config_dir: Path) -> Hierarchy:
    """Read ``grids.csv``, ``grids.geojson`` and ``responders.csv`` from ``config_dir``.

    Raises GridConfigError carrying every problem found, in file order.
    """
    with gc_paused():
        return _load(config_dir)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while loading.

    A county is a few hundred thousand small objects, none of them in reference cycles; with
    the collector running, its repeated full passes over the growing heap take more than half
    the load time (measured: about 2.4 s against 1.0 s for the sample county).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _load(config_dir: Path) -> Hierarchy:
    problems: list[Problem] = []
    cells = _read_cells(config_dir / GRIDS_FILE, problems)
    # Cross-references are only checked against a cells file that could be read at all;
    # otherwise every reference would be reported as unknown. Code to itself: a responder
    # keeps the cell's own string for its grid, not a copy (millions of them in a province).
    known = None if cells is None else {code: code for code in cells}
    geometries = _read_geometries(config_dir / GEOJSON_FILE, known, problems)
    responders = _read_responders(config_dir / RESPONDERS_FILE, known, problems)
    if problems or cells is None:
        raise GridConfigError(problems)
    records = [
        CellRecord(code=c.code, parent=c.parent, level=c.level, name=c.name, line=c.line)
        for c in cells.values()
        if c.level is not None  # always true here: a bad level is a problem
    ]
    return Hierarchy.build(records, responders, geometries)


# -- grids.csv ---------------------------------------------------------------------------


@dataclass(slots=True)
class _CellRow:
    line: int
    code: str
    parent: str | None
    level: Level | None  # None: the level could not be read (already reported)
    name: str


def _read_cells(path: Path, problems: list[Problem]) -> dict[str, _CellRow] | None:
    """Every distinct code's first row, in file order; None when the file could not be read."""
    sheet = ConfigCsv.read(path, GRIDS_HEADER)
    if sheet.rows is None:
        problems.extend(sheet.problems)
        return None
    cells: dict[str, _CellRow] = {}
    for line, code, (_, parent, level_text, name) in sheet.keyed("code"):
        try:
            level: Level | None = Level.parse(level_text)
        except ValueError as exc:
            sheet.problem(line, code, f"bad level: {exc}")
            level = None
        cells[code] = _CellRow(line, code, parent or None, level, name)

    sheet.problems.extend(_check_tree(sheet.file, cells))
    # Row checks and tree checks find problems in different passes; report them by line, with
    # the whole-file ones (no line) last.
    problems.extend(sheet.sorted_problems())
    return cells


def _check_tree(file: str, cells: dict[str, _CellRow]) -> list[Problem]:
    """One root at level 1, known parents, each level one below its parent's, no cycles."""
    found: list[Problem] = []
    roots = [cell for cell in cells.values() if cell.parent is None]
    if not roots:
        found.append(Problem(file, None, None, "no root: the county must have an empty parent"))
    elif len(roots) > 1:
        listed = ", ".join(f"{root.code} (line {root.line})" for root in roots)
        found.append(
            Problem(
                file,
                roots[1].line,
                None,
                f"more than one root: {listed}; only the county may have an empty parent",
            )
        )
    on_cycle = _find_cycles(file, cells, found)
    for cell in cells.values():
        if cell.parent is None:
            if cell.level is not None and cell.level != Level.COUNTY:
                found.append(
                    Problem(
                        file,
                        cell.line,
                        cell.code,
                        f"root must be level 1 (county), got {_level(cell.level)}",
                    )
                )
            continue
        parent = cells.get(cell.parent)
        if parent is None:
            found.append(
                Problem(
                    file,
                    cell.line,
                    cell.code,
                    f"unknown parent {cell.parent}: no cell has this code",
                )
            )
            continue
        if cell.level is None or parent.level is None or cell.code in on_cycle:
            continue
        if parent.level == Level.MICRO_GRID:
            found.append(
                Problem(
                    file,
                    cell.line,
                    cell.code,
                    f"parent {parent.code} is level {_level(parent.level)}, "
                    "which cannot have children",
                )
            )
        elif cell.level != parent.level + 1:
            expected = Level(parent.level + 1)
            found.append(
                Problem(
                    file,
                    cell.line,
                    cell.code,
                    f"level {_level(cell.level)} does not follow parent {parent.code} at level "
                    f"{_level(parent.level)}; expected {_level(expected)}",
                )
            )
    return found


def _find_cycles(file: str, cells: dict[str, _CellRow], found: list[Problem]) -> set[str]:
    """Report each cycle of parents once; return the codes on cycles.

    Cells that merely hang below a cycle are not reported: they are fixed with the cycle.
    An unknown parent ends a chain (it is reported on its own).
    """
    reaches_end: dict[str, bool] = {}
    on_cycle: set[str] = set()
    for start in cells.values():
        chain: list[str] = []
        position: dict[str, int] = {}
        cursor: str | None = start.code
        result = True
        while cursor is not None and cursor in cells:
            if cursor in reaches_end:
                result = reaches_end[cursor]
                break
            if cursor in position:
                cycle = chain[position[cursor] :]
                # Name the cycle from its member that comes first in the file.
                first = min(range(len(cycle)), key=lambda i: cells[cycle[i]].line)
                cycle = cycle[first:] + cycle[:first]
                on_cycle.update(cycle)
                head = cells[cycle[0]]
                path = " -> ".join([*cycle, cycle[0]])
                found.append(
                    Problem(
                        file,
                        head.line,
                        head.code,
                        f"cycle of parents: {path} never reaches the root",
                    )
                )
                result = False
                break
            position[cursor] = len(chain)
            chain.append(cursor)
            cursor = cells[cursor].parent
        for code in chain:
            reaches_end[code] = result
    return on_cycle


def _level(level: Level) -> str:
    return f"{int(level)} ({level.key})"


# -- grids.geojson -----------------------------------------------------------------------


def _read_geometries(
    path: Path, known: dict[str, str] | None, problems: list[Problem]
) -> dict[str, Any]:
    """Shapes by cell code. The file is optional: without it nothing can be located."""
    file = path.name
    if not path.exists():
        return {}
    data = _read_json(file, path.read_bytes(), problems)
    features = None if data is _UNREADABLE else _features(file, data, problems)
    if features is None:
        return {}
    found_problems: list[tuple[int, Problem]] = []

    def report(index: int, code: str | None, message: str) -> None:
        found_problems.append((index, Problem(file, None, code, f"features[{index}]: {message}")))

    first_index, polygons = _polygon_features(features, known, report)
    geometries = _valid_geometries(polygons, first_index, report)
    found_problems.sort(key=lambda item: item[0])
    problems.extend(problem for _, problem in found_problems)
    return geometries


def _read_json(file: str, raw: bytes, problems: list[Problem]) -> Any:
    """The parsed document, or ``_UNREADABLE`` after recording why it cannot be read."""
    try:
        # orjson is several times faster than json on a province's half a gigabyte and
        # takes exactly the JSON documents json takes, except a few that json allows beyond
        # the standard (NaN, 1e400, lone surrogates): those, and every broken file, go
        # through json, whose messages name the line and column.
        return orjson.loads(memoryview(raw)[3:] if raw.startswith(b"\xef\xbb\xbf") else raw)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        problems.append(
            Problem(
                file, None, None, f"unreadable JSON: not UTF-8: {exc.reason} at byte {exc.start}"
            )
        )
    except json.JSONDecodeError as exc:
        problems.append(
            Problem(file, exc.lineno, None, f"unreadable JSON: {exc.msg} (column {exc.colno})")
        )
    return _UNREADABLE


def _features(file: str, data: Any, problems: list[Problem]) -> list[Any] | None:
    """The features of a FeatureCollection, or None after recording why ``data`` is not one."""
    if not isinstance(data, dict):
        found = f"the top level is {_json_kind(data)}"
        problems.append(Problem(file, None, None, f"not a FeatureCollection: {found}"))
        return None
    if data.get("type") != "FeatureCollection":
        found = f'"type" is {json.dumps(data.get("type"), ensure_ascii=False)}'
        problems.append(Problem(file, None, None, f"not a FeatureCollection: {found}"))
        return None
    features = data.get("features")
    if not isinstance(features, list):
        problems.append(
            Problem(file, None, None, 'not a FeatureCollection: "features" is not an array')
        )
        return None
    return features


def _polygon_features(
    features: list[Any], known: dict[str, str] | None, report: _Report
) -> tuple[dict[str, int], list[tuple[int, str, Any]]]:
    """Each code's first feature index, and the (index, code, GeoJSON geometry) of every
    feature that names a code once and has a polygon; the others are reported."""
    first_index: dict[str, int] = {}
    polygons: list[tuple[int, str, Any]] = []
    for index, feature in enumerate(features):
        properties = feature.get("properties") if isinstance(feature, dict) else None
        code = properties.get("code") if isinstance(properties, dict) else None
        # A GIS tool may have typed the code column as a number.
        if isinstance(code, int) and not isinstance(code, bool):
            code = str(code)
        if not isinstance(code, str) or not code.strip():
            report(index, None, "feature without properties.code")
            continue
        code = code.strip()
        if known is not None and code not in known:
            report(
                index, code, f"geometry for unknown code {code}: no cell in grids.csv has this code"
            )
        if code in first_index:
            report(index, code, f"duplicate geometry; first at features[{first_index[code]}]")
            continue
        first_index[code] = index
        geometry = feature.get("geometry")
        kind = geometry.get("type") if isinstance(geometry, dict) else None
        if kind not in _POLYGON_TYPES:
            shown = kind if isinstance(kind, str) else json.dumps(kind)
            report(index, code, f"non-polygon geometry {shown}; expected Polygon or MultiPolygon")
            continue
        polygons.append((index, code, geometry))
    return first_index, polygons


def _valid_geometries(
    polygons: list[tuple[int, str, Any]], first_index: dict[str, int], report: _Report
) -> dict[str, Any]:
    """The shapes that could be built and are valid polygons, by code; the others reported."""
    geometries: dict[str, Any] = {}
    built = _build(polygons, report)
    for (index, code, _), geometry in zip(polygons, built, strict=True):
        if geometry is None:
            continue
        if geometry.is_empty:
            report(index, code, "invalid polygon: empty")
            continue
        geometries[code] = geometry
    shapes = np.array(list(geometries.values()), dtype=object)
    if len(shapes):
        valid = shapely.is_valid(shapes)
        if not valid.all():
            for (code, geometry), ok in zip(geometries.items(), valid, strict=True):
                if not ok:
                    reason = shapely.is_valid_reason(geometry)
                    report(first_index[code], code, f"invalid polygon: {reason}")
    return geometries


def _build(polygons: list[tuple[int, str, Any]], report: _Report) -> list[Any]:
    """Shapely geometries for the features, None where one cannot be built (reported).

    The common case, simple Polygons, is built in one vectorised call (several times faster
    than one ``shape`` call per feature on a county's ~28,000 cells); anything the fast path
    cannot take, such as MultiPolygons or malformed coordinates, is built one by one so each
    failure names its feature.
    """
    result: list[Any] = [None] * len(polygons)
    fast = [i for i, (_, _, g) in enumerate(polygons) if g.get("type") == "Polygon"]
    built = _polygons_at_once([polygons[i][2].get("coordinates") for i in fast])
    if built is not None:
        for i, geometry in zip(fast, built, strict=True):
            result[i] = geometry
    for i, (index, code, geometry) in enumerate(polygons):
        if result[i] is not None:
            continue
        if "coordinates" not in geometry:
            report(index, code, "invalid polygon: no coordinates")
            continue
        try:
            result[i] = shape(geometry)
        except (ValueError, TypeError, AttributeError, IndexError, KeyError, ShapelyError) as exc:
            report(index, code, f"invalid polygon: {exc}")
    return result


def _polygons_at_once(coordinates: list[Any]) -> list[Any] | None:
    """Build Polygons from GeoJSON coordinate lists in one call; None if any is malformed."""
    if not coordinates:
        return []
    points: list[Any] = []
    ring_ends = [0]
    polygon_ends = [0]
    try:
        for rings in coordinates:
            for ring in rings:
                points.extend(ring)
                ring_ends.append(len(points))
            polygon_ends.append(len(ring_ends) - 1)
        array = np.array(points, dtype=float)
        if array.ndim != 2 or array.shape[1] not in (2, 3):
            return None
        built = shapely.from_ragged_array(
            shapely.GeometryType.POLYGON,
            array,
            (np.array(ring_ends, dtype=np.int64), np.array(polygon_ends, dtype=np.int64)),
        )
    except (ValueError, TypeError, ShapelyError):
        return None
    return list(built)


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    return "null" if value is None else "a number"


# -- responders.csv ----------------------------------------------------------------------


def _read_responders(
    path: Path, known: dict[str, str] | None, problems: list[Problem]
) -> list[Responder]:
    """The valid responders in file order; every problem (by line) goes to ``problems``."""
    sheet = ConfigCsv.read(path, RESPONDERS_HEADER)
    if sheet.rows is None:
        problems.extend(sheet.problems)
        return []
    responders: list[Responder] = []
    backups: list[tuple[int, str, str]] = []
    # Most responders share a handful of category lists ("*" above all): one frozenset each.
    category_sets: dict[str, frozenset[str]] = {}
    for line, rid, fields in sheet.keyed("id"):
        responder = _responder(sheet, line, rid, fields, known, category_sets)
        backup = fields[5]
        if backup:
            backups.append((line, rid, backup))
        if responder is not None:
            responders.append(responder)
    # A backup may be defined further down, so these wait until every id is known.
    for line, rid, backup in backups:
        if backup == rid:
            sheet.problem(line, rid, "backup is the responder itself")
        elif backup not in sheet.first_line:
            sheet.problem(line, rid, f"backup {backup} is not a known responder id")
    problems.extend(sheet.sorted_problems())
    return responders


def _responder(
    sheet: ConfigCsv,
    line: int,
    rid: str,
    fields: list[str],
    known: dict[str, str] | None,
    category_sets: dict[str, frozenset[str]],
) -> Responder | None:
    """The responder on one row of ``responders.csv``, or None after recording every problem
    in it. ``category_sets`` shares one frozenset between rows with the same categories."""
    _, name, kind_text, grid, categories_text, backup, contact = fields
    ok = True
    if not name:
        sheet.problem(line, rid, "empty name")
        ok = False
    kind = _KINDS.get(kind_text)
    if kind is None:
        sheet.problem(line, rid, f"unknown kind {kind_text!r}; expected one of {_KIND_NAMES}")
        ok = False
    if not grid:
        sheet.problem(line, rid, "empty grid")
        ok = False
    elif known is not None:
        if grid in known:
            grid = known[grid]
        else:
            sheet.problem(line, rid, f"unknown grid {grid}: no cell in grids.csv has this code")
            ok = False
    categories = category_sets.get(categories_text)
    if categories is None:
        categories = frozenset(c.strip() for c in categories_text.split(";") if c.strip())
        category_sets[categories_text] = categories
    if not categories:
        sheet.problem(line, rid, f"empty categories; use {ALL_CATEGORIES} for every category")
        ok = False
    if not ok or kind is None:
        return None
    return Responder(
        id=rid,
        name=name,
        kind=kind,
        grid=grid,
        categories=categories,
        backup=backup or None,
        contact=contact,
        line=line,
    )
