"""调度台, the operator console: ``GET /console``.

The page carries the filters (town, community, level, source, category, state: only what
lies inside the principal's subtree), the counts per queue and the first page of the queue,
so it is useful before any script runs. ``/static/console.js`` then keeps it live: it lists
through ``GET /api/v1/whistles`` and follows ``GET /api/v1/stream`` (whistle/web/stream.py),
updating rows without a reload, and sends the operator's actions with the page's CSRF token.

Operators act; committees and admins see the same page without the action buttons (the API
refuses their actions anyway). Labels live in whistle/web/i18n.py, in Chinese and English
(``?lang=en``); times are shown in the county's zone (Asia/Shanghai).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from dispatch import Source
from grids import Level
from whistle.auth import Principal, Role
from whistle.store import WhistleQuery
from whistle.web.access import public
from whistle.web.i18n import ACTIONS, CONSOLE, QUEUE, SOURCES, STATUSES
from whistle.web.i18n import lang as _lang
from whistle.web.keys import CLOCK, HIERARCHY, LIVE, STORE
from whistle.web.pages import page_session, render
from whistle.web.queue import queue_row

__all__ = ["QUEUES", "routes"]

routes = web.RouteTableDef()

# The counts shown at the top, in this order: whistles waiting for a place (待定位), statuses,
# returns awaiting the dispatcher's decision (退单待定), then the two alarms.
QUEUES = (
    "unplaced",
    "dispatched",
    "acknowledged",
    "in_progress",
    "resolved",
    "on_hold",
    "returned",
    "overdue",
    "escalated",
)


def _subtree_path(request: web.Request, principal: Principal) -> str | None:
    if principal.scope is None:
        return None
    cell = request.app[HIERARCHY].cell(principal.scope)
    return "/" + "/".join(cell.path) + "/"


def _filters(request: web.Request, principal: Principal, lang: str) -> dict[str, Any]:
    """The options of each filter, limited to what the principal may list."""
    hierarchy = request.app[HIERARCHY]
    english = lang == "en"
    towns = [
        {"code": c.code, "name": c.name}
        for c in hierarchy.cells(level=Level.TOWN)
        if principal.covers(c)
    ]
    communities = [
        {"code": c.code, "name": c.name, "town": c.parent or ""}
        for c in hierarchy.cells(level=Level.COMMUNITY)
        if principal.covers(c)
    ]
    levels = [
        {"value": level.key, "name": level.key.replace("_", " ") if english else level.label_zh}
        for level in Level
    ]
    sources = [{"value": s.value, "name": SOURCES[lang][s.value]} for s in Source]
    majors: dict[str, dict[str, Any]] = {}
    for category in request.app[LIVE].catalog:
        group = majors.setdefault(
            category.major, {"code": category.major, "name": category.major_name, "items": []}
        )
        name = category.name_en if english and category.name_en else category.name
        group["items"].append({"code": category.code, "name": name})
    statuses = STATUSES[lang]
    return {
        "towns": towns,
        "communities": communities,
        "levels": levels,
        "sources": sources,
        "categories": list(majors.values()),
        # 退单待定 is a queue, not a status: the script lists it with ``queue=returned``.
        "states": [{"value": k, "name": v} for k, v in statuses.items()]
        + [{"value": "returned", "name": CONSOLE[lang]["queues"]["returned"]}],
    }


@routes.get("/console")
@public
async def console(request: web.Request) -> web.Response:
    """The live queue of the principal's subtree."""
    principal, csrf = await page_session(request, Role.OPERATOR, Role.ADMIN, Role.COMMITTEE)
    lang = _lang(request)
    store = request.app[STORE]
    path = _subtree_path(request, principal)
    now = request.app[CLOCK].now()
    counts = await store.queue_counts(path, now)
    # The open queue, the next deadline first (the script sorts the loaded rows by click).
    page = await store.list_whistles(
        WhistleQuery(grid_path=path, limit=100, open_only=True, order="due")
    )
    labels = CONSOLE[lang]
    # What the script needs, as data (the CSP allows no inline script).
    config = {
        "lang": lang,
        "can_act": principal.role is Role.OPERATOR,
        "labels": labels,
        # The dialogs' words (static/dialogs.js) and the name actions are recorded under.
        "actions": ACTIONS[lang],
        "actor": principal.actor,
        "statuses": STATUSES[lang],
        "scope": principal.scope,
        "queue": QUEUE[lang],
        "now": now.isoformat(),
    }
    scope_cell = None if principal.scope is None else request.app[HIERARCHY].get(principal.scope)
    return render(
        request,
        "console.html",
        title=labels["title"],
        principal=principal,
        csrf=csrf,
        scope_name="" if scope_cell is None else scope_cell.name,
        c=labels,
        can_act=principal.role is Role.OPERATOR,
        filters=_filters(request, principal, lang),
        queues=[(key, labels["queues"][key], counts.get(key, 0)) for key in QUEUES],
        items=[item.document() for item in page.items],
        rows=[queue_row(item.document(), now, lang) for item in page.items],
        q=QUEUE[lang],
        config=orjson.dumps(config).decode(),
    )
