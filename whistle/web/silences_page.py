"""静默管理, the silences page: ``GET /silences`` and ``GET /silences/new?from=<case>``.

Operators list the active and expired silences of their subtree, create one in the page
(matchers: camera, area, category, source; a duration; a required comment) and expire one
early. The page's script (``/static/silences.js``) calls the silence API
(whistle/web/silences.py) with the page's CSRF token; the API records each silence under the
logged-in operator's own name.

``/silences/new?from=<case>`` fills the form in from a case: a camera's repeats by that camera
in its cell and category (the camera's other detections, and the cell's other cases, still
come through); any other case by its category in its cell, never the cell alone.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from dispatch import Source
from grids import Hierarchy, Level
from whistle.auth import Principal, Role, allow_cell
from whistle.silences import Matcher, inert_reason
from whistle.store import Silence
from whistle.web.access import public
from whistle.web.i18n import SILENCES_PAGE, SOURCES
from whistle.web.i18n import lang as _lang
from whistle.web.keys import CAMERAS, HIERARCHY, LIVE, SILENCES, STORE, TZ
from whistle.web.matchers import matchers_named
from whistle.web.pages import page_session, render
from whistle.web.queue import case_label

__all__ = ["routes"]

routes = web.RouteTableDef()


def _row(silence: Silence, request: web.Request, lang: str) -> dict[str, Any]:
    tz = request.app[TZ]
    return {
        "id": silence.id,
        "matchers": matchers_named(
            dict(silence.matchers), request.app[HIERARCHY], request.app[LIVE].catalog, lang
        ),
        "starts": silence.starts_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
        "ends": silence.ends_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
        "author": silence.author,
        "comment": silence.comment,
        "inert": inert_reason(silence) is not None,
    }


def _visible(silence: Silence, hierarchy: Hierarchy, principal: Principal) -> bool:
    grid = silence.matchers.get(Matcher.GRID.value)
    return grid is None or (grid in hierarchy and principal.covers(hierarchy.cell(grid)))


def _areas(hierarchy: Hierarchy, principal: Principal, case_cells: list[str]) -> list[Any]:
    """The cells a silence may be limited to: the case's own chain first (when filled in from
    a case), then the towns and communities in the principal's scope."""
    seen: set[str] = set()
    areas: list[dict[str, str]] = []
    chain = [hierarchy.cell(code) for code in case_cells]
    wide = [*hierarchy.cells(level=Level.TOWN), *hierarchy.cells(level=Level.COMMUNITY)]
    for cell in [*chain, *wide]:
        if cell.code in seen or not principal.covers(cell) or cell.level is Level.COUNTY:
            continue
        seen.add(cell.code)
        areas.append({"code": cell.code, "name": f"{cell.name} ({cell.level.label_zh})"})
    return areas


async def _prefill(request: web.Request, case_id: str) -> tuple[dict[str, str], list[str], str]:
    """The matchers a case suggests, the codes of its cell's chain, and its label."""
    stored = await request.app[STORE].get_whistle(case_id)
    if stored is None:
        raise web.HTTPNotFound(text=f"no case {case_id}")
    doc = stored.row_doc
    hierarchy = request.app[HIERARCHY]
    cell = hierarchy.cell(doc["grid"]["code"])
    matchers = {"grid": cell.code, "category": doc["category"]["code"]}
    if doc.get("source") == Source.CAMERA.value and doc.get("camera_id"):
        # A camera's repeats: that camera, in its cell, for that category.
        matchers["camera"] = doc["camera_id"]
    chain = [code for code in reversed(cell.path) if code != hierarchy.root]
    return matchers, chain, case_label(doc)


@routes.get("/silences")
@routes.get("/silences/new")
@public
async def silences_page(request: web.Request) -> web.Response:
    """The silences of the principal's subtree, and the form to create one."""
    principal, csrf = await page_session(request, Role.OPERATOR, Role.ADMIN, Role.COMMITTEE)
    lang = _lang(request)
    labels = SILENCES_PAGE[lang]
    hierarchy = request.app[HIERARCHY]
    silences = request.app[SILENCES]
    now = silences.clock.now()
    prefill: dict[str, str] = {}
    chain: list[str] = []
    from_label = ""
    if "from" in request.query:
        prefill, chain, from_label = await _prefill(request, request.query["from"])
        allow_cell(principal, hierarchy.cell(prefill["grid"]), "that case")
    visible = [s for s in silences.all() if _visible(s, hierarchy, principal)]
    active = [s for s in visible if s.starts_at <= now < s.ends_at]
    expired = [s for s in visible if not s.starts_at <= now < s.ends_at]
    cameras = sorted(
        cid for cid in request.app[CAMERAS] if principal.covers(request.app[CAMERAS].home(cid))
    )
    catalog = request.app[LIVE].catalog
    majors: dict[str, dict[str, Any]] = {}
    for category in catalog:
        group = majors.setdefault(
            category.major, {"code": category.major, "name": category.major_name, "items": []}
        )
        name = category.name_en if lang == "en" and category.name_en else category.name
        group["items"].append({"code": category.code, "name": name})
    config = {"labels": labels, "can_act": principal.role is not Role.COMMITTEE}
    return render(
        request,
        "silences.html",
        title=labels["title"],
        principal=principal,
        csrf=csrf,
        s=labels,
        can_act=principal.role is not Role.COMMITTEE,
        active=[_row(x, request, lang) for x in active],
        expired=[_row(x, request, lang) for x in expired[:100]],
        prefill=prefill,
        from_label=from_label,
        areas=_areas(hierarchy, principal, chain),
        cameras=cameras,
        categories=list(majors.values()),
        sources=[{"value": x.value, "name": SOURCES[lang][x.value]} for x in Source],
        config=orjson.dumps(config).decode(),
    )
