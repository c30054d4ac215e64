"""A map of a place as inline SVG, drawn from the hierarchy's cell shapes: no tiles, no
network (the machines that run this have no internet), nothing for the browser to fetch.

:func:`place_svg` draws the cell a case was placed in, highlighted, among its siblings (the
micro-grids of its grid), with the reported point when the case has one. Longitude is scaled
by cos(latitude) so that shapes keep their proportions at the county's latitude.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from markupsafe import Markup, escape
from shapely.geometry.base import BaseGeometry

from grids import Cell, Hierarchy

__all__ = ["place_svg"]

_SIZE = 320  # the viewBox's longer side; the SVG itself scales to the page's width


def _rings(geometry: BaseGeometry) -> Iterable[list[tuple[float, float]]]:
    polygons = getattr(geometry, "geoms", None) or [geometry]
    for polygon in polygons:
        exterior = getattr(polygon, "exterior", None)
        if exterior is not None:
            yield list(exterior.coords)


def place_svg(hierarchy: Hierarchy, code: str, location: Mapping[str, Any]) -> Markup:
    """The SVG of ``code`` among its siblings, with the point of ``location`` (lat/lon)."""
    cell = hierarchy.get(code)
    if cell is None or cell.geometry is None:
        return Markup("")
    parent = cell.path[-2] if len(cell.path) > 1 else None
    siblings = [c for c in hierarchy.children(parent) if c.geometry is not None] if parent else []
    cells: list[Cell] = siblings or [cell]
    minx, miny, maxx, maxy = cells[0].geometry.bounds
    for other in cells[1:]:
        b = other.geometry.bounds
        minx, miny, maxx, maxy = min(minx, b[0]), min(miny, b[1]), max(maxx, b[2]), max(maxy, b[3])
    lat, lon = location.get("lat"), location.get("lon")
    point = None
    if isinstance(lat, int | float) and isinstance(lon, int | float):
        point = (float(lon), float(lat))
    else:
        centre = cell.geometry.representative_point()
        point = (centre.x, centre.y)
    kx = math.cos(math.radians((miny + maxy) / 2))
    width, height = max((maxx - minx) * kx, 1e-9), max(maxy - miny, 1e-9)
    scale = _SIZE / max(width, height)
    w, h = round(width * scale) + 8, round(height * scale) + 8

    def xy(x: float, y: float) -> str:
        return f"{(x - minx) * kx * scale + 4:.1f},{(maxy - y) * scale + 4:.1f}"

    shapes = []
    for other in cells:
        here = other.code == cell.code
        for ring in _rings(other.geometry):
            points = " ".join(xy(x, y) for x, y in ring)
            css = "cell here" if here else "cell"
            shapes.append(
                f'<polygon class="{css}" points="{points}"><title>{escape(other.name)}</title>'
                "</polygon>"
            )
    px, py = xy(*point).split(",")
    shapes.append(f'<circle class="point" cx="{px}" cy="{py}" r="6"></circle>')
    return Markup(
        f'<svg id="place-map" class="place-map" viewBox="0 0 {w} {h}" role="img" '
        f'aria-label="{escape(cell.name)}" data-code="{escape(cell.code)}">'
        + "".join(shapes)
        + "</svg>"
    )
