"""大屏, the command-centre wall: ``GET /wall`` and the figures it shows, ``GET /api/v1/wall``.

A full-screen page for the county's command centre (1920×1080, read from across the room):
the cells' polygons coloured by their open cases, today's whistles by the five sources, the
overdue cases by name, and the 三率 of the last seven days. ``/static/wall.js`` draws it from
``GET /api/v1/wall`` and reads it again whenever the live stream (``/api/v1/stream``) says
something happened, so the page never reloads.

The map shows the level that reads well for the principal's scope: the children of the
scope, or their children while those are at most :data:`MAP_CELLS` cells and not yet
micro-grids (a county shows its ~250 communities, a town its grids). The page fetches the
polygons from ``GET /api/v1/grids/{code}/shapes`` of each code in ``map.shapes``.

Operators, committees and admins, for a subtree inside their scope (``?grid=``; 403 outside).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import orjson
from aiohttp import web

from dispatch import Source
from grids import Cell, Hierarchy, Level
from whistle.auth import Principal, Role, allow_cell
from whistle.exceptions import FieldError, InvalidWhistle
from whistle.stats import Window, report
from whistle.store import OverdueCase
from whistle.timefmt import rfc3339
from whistle.web.access import allow, public
from whistle.web.i18n import SOURCES, STATUSES, WALL
from whistle.web.i18n import lang as _lang
from whistle.web.keys import CLOCK, HIERARCHY, LIVE, STORE, TZ
from whistle.web.numbers import case_number
from whistle.web.pages import page_session, render

__all__ = ["MAP_CELLS", "READERS", "map_cells", "routes"]

routes = web.RouteTableDef()

READERS = (Role.OPERATOR, Role.COMMITTEE, Role.ADMIN)
MAP_CELLS = 600  # more polygons than this no longer read as places on one screen
OVERDUE_SHOWN = 50
RATE_DAYS = 7
THREE_RATES = ("response", "resolution", "satisfaction")
_PARAMS = frozenset({"grid", "lang"})


def map_cells(hierarchy: Hierarchy, top: Cell) -> list[Cell]:
    """The cells the wall's map shows for ``top``: its children, then one level deeper at a
    time while that stays at most :data:`MAP_CELLS` cells above the micro-grids; ``top``
    itself when it has no children."""
    cells = hierarchy.children(top.code)
    if not cells:
        return [top]
    while True:
        deeper = [child for cell in cells for child in hierarchy.children(cell.code)]
        if not deeper or len(deeper) > MAP_CELLS or deeper[0].level is Level.MICRO_GRID:
            return cells
        cells = deeper


def _cell(request: web.Request, principal: Principal) -> Cell:
    hierarchy = request.app[HIERARCHY]
    q = request.query
    errors = [FieldError(name, "unknown parameter") for name in q if name not in _PARAMS]
    code = q.get("grid") or principal.scope or hierarchy.root
    cell = hierarchy.get(code)
    if cell is None:
        errors.append(FieldError("grid", f"unknown grid code {code!r}"))
    if errors or cell is None:
        raise InvalidWhistle(errors, status=400)
    allow_cell(principal, cell, "that subtree")
    return cell


def _path(cell: Cell) -> str:
    return "/" + "/".join(cell.path) + "/"


def _open_cells(
    hierarchy: Hierarchy, top: Cell, cells: list[Cell], by_path: Mapping[str, int]
) -> tuple[list[dict[str, Any]], int]:
    """Open cases per map cell (every map cell, zeros too, each named with its place from
    the wall's own level down: grids of different communities share names), and those
    placed above the map's level (at the scope itself, say), which no polygon shows."""
    counts = dict.fromkeys((c.code for c in cells), 0)
    above = 0
    for path, n in by_path.items():
        codes = path.strip("/").split("/")
        hit = next((code for code in codes if code in counts), None)
        if hit is None:
            above += n
        else:
            counts[hit] += n
    rows = [
        {
            "code": c.code,
            "name": c.name,
            "path": _place(hierarchy, top, c.code)["path"],
            "open": counts[c.code],
        }
        for c in cells
    ]
    return rows, above


def _shapes(cells: list[Cell], top: Cell) -> list[str]:
    """The codes whose ``/shapes`` (their children's polygons) cover the map cells."""
    if cells == [top]:
        return [top.code]
    return list(dict.fromkeys(c.parent for c in cells if c.parent is not None))


def _place(hierarchy: Hierarchy, top: Cell, code: str) -> dict[str, Any]:
    cell = hierarchy.get(code)
    if cell is None:
        return {"code": code, "name": code, "path": code}
    # From the level below the wall's own cell down to the case's: 田园镇 · 幸福社区 · 第3网格
    start = cell.path.index(top.code) + 1 if top.code in cell.path else 0
    names = [hierarchy.cell(c).name for c in cell.path[start:]] or [cell.name]
    return {"code": cell.code, "name": cell.name, "path": " · ".join(names)}


def _overdue_item(request: web.Request, top: Cell, case: OverdueCase, lang: str) -> dict[str, Any]:
    app = request.app
    tz, now = app[TZ], app[CLOCK].now()
    category = app[LIVE].catalog.get(case.category)
    name = case.category
    if category is not None:
        name = category.name_en if lang == "en" and category.name_en else category.name
    since = case.overdue_since
    return {
        "id": case.id,
        "case_number": case_number({"case_number": case.case_number}, case.id),
        "source": {"key": case.source, "name": SOURCES[lang].get(case.source, case.source)},
        "category": {"code": case.category, "name": name},
        "place": _place(app[HIERARCHY], top, case.grid_code),
        "status": {"key": case.status, "name": STATUSES[lang].get(case.status, case.status)},
        "resolve_due": rfc3339(case.resolve_due, tz),
        "overdue_since": rfc3339(since, tz),
        "overdue_seconds": None if since is None else int((now - since).total_seconds()),
    }


async def _figures(request: web.Request, top: Cell, now: datetime, lang: str) -> dict[str, Any]:
    """Today's whistles by source and the 三率 of the last seven days (Shanghai days)."""
    app = request.app
    tz = app[TZ]
    today = now.astimezone(tz).date()
    day = Window(top, today, today)
    week = Window(top, today - timedelta(days=RATE_DAYS - 1), today)
    store, hierarchy, catalog = app[STORE], app[HIERARCHY], app[LIVE].catalog
    raw_day = await store.statistics(day.query(tz, now, top=0))
    raw_week = await store.statistics(week.query(tz, now, top=0))
    today_doc = report(raw_day, day, hierarchy=hierarchy, catalog=catalog, lang=lang)
    week_doc = report(raw_week, week, hierarchy=hierarchy, catalog=catalog, lang=lang)
    by_source = {row["key"]: int(row["total"]) for row in today_doc["sources"]}
    sources = [
        {"key": s.value, "name": SOURCES[lang][s.value], "count": by_source.get(s.value, 0)}
        for s in Source
    ]
    rates = [
        {k: r[k] for k in ("key", "name", "numerator", "denominator", "rate")}
        for r in week_doc["rates"]
        if r["key"] in THREE_RATES
    ]
    return {
        "today": today.isoformat(),
        "sources": sources,
        "today_total": sum(s["count"] for s in sources),
        "rates": {"since": week.since.isoformat(), "until": week.until.isoformat(), "items": rates},
    }


async def wall_document(request: web.Request, top: Cell, lang: str) -> dict[str, Any]:
    """Everything the wall shows for the subtree under ``top``."""
    app = request.app
    hierarchy, store = app[HIERARCHY], app[STORE]
    now = app[CLOCK].now()
    shown = map_cells(hierarchy, top)
    cells, above = _open_cells(hierarchy, top, shown, await store.open_by_path(_path(top)))
    overdue = await store.overdue(_path(top), now)
    level = shown[0].level
    return {
        "grid": {"code": top.code, "name": top.name, "level": top.level.key},
        "now": rfc3339(now, app[TZ]),
        "timezone": "Asia/Shanghai",
        "map": {
            "level": level.key,
            "level_name": level.label_zh if lang == "zh" else level.key.replace("_", " "),
            "shapes": _shapes(shown, top),
        },
        "cells": cells,
        "open_total": sum(c["open"] for c in cells) + above,
        "open_elsewhere": above,
        **await _figures(request, top, now, lang),
        "overdue": {
            "count": len(overdue),
            "items": [_overdue_item(request, top, c, lang) for c in overdue[:OVERDUE_SHOWN]],
        },
    }


@routes.get("/api/v1/wall")
async def get_wall(request: web.Request) -> web.Response:
    """The wall's figures as JSON (see :func:`wall_document`)."""
    principal = allow(request, *READERS)
    top = _cell(request, principal)
    doc = await wall_document(request, top, _lang(request))
    return web.Response(
        body=orjson.dumps(doc),
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


@routes.get("/wall")
@public
async def wall_page(request: web.Request) -> web.Response:
    """The full-screen page; its script draws it from the API and keeps it live."""
    principal, csrf = await page_session(request, *READERS)
    top = _cell(request, principal)
    lang = _lang(request)
    words = WALL[lang]
    query = f"grid={top.code}&lang={lang}"
    config = {
        "api": f"/api/v1/wall?{query}",
        "stream": "/api/v1/stream",
        "lang": lang,
        "labels": words,
    }
    response = render(
        request,
        "wall.html",
        title=words["title"],
        principal=principal,
        csrf=csrf,
        w=words,
        top=top,
        config=config,
    )
    response.headers["Cache-Control"] = "no-store"
    return response
