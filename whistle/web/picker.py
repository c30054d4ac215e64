"""Who a case can be given to: ``GET /api/v1/whistles/{id}/candidates``, for the assignee
picker of 改派, an accepted 退单 and the console's bulk reassign.

The answer lists the responders of the case's cell and of every cell above it up to the
county, who handle the case's category and work inside the operator's subtree, grouped by
kind (in the order the ladder meets them) and by name within a kind. Each says whether it is
on duty now (the duty roster, 值班表), how many open tasks it holds (live assignments of any
case) and whether it is already on this case. ``?q=`` keeps those whose name, id or cell name
contains the words (every word, case-insensitively), so the picker filters as one types.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from grids.model import Responder
from whistle.auth import Role
from whistle.exceptions import FieldError, InvalidWhistle
from whistle.web.access import allow
from whistle.web.api import may_read
from whistle.web.i18n import lang as _lang
from whistle.web.keys import CASES, CLOCK, HIERARCHY, STORE
from whistle.web.problems import problem

__all__ = ["routes"]

routes = web.RouteTableDef()

_LIVE = ("dispatched", "open", "acknowledged", "in_progress")
_Q_MAX = 100


def _kind_name(responder: Responder, lang: str) -> str:
    return responder.kind.value.replace("_", " ") if lang == "en" else responder.kind.label_zh


def _matches(words: list[str], *texts: str) -> bool:
    haystack = " ".join(texts).casefold()
    return all(word in haystack for word in words)


@routes.get("/api/v1/whistles/{id}/candidates")
async def candidates(request: web.Request) -> web.Response:
    """The responders a case may be reassigned to, grouped by kind, with duty and load."""
    principal = allow(request, Role.OPERATOR)
    query = request.query.get("q", "")
    if len(query) > _Q_MAX:
        raise InvalidWhistle([FieldError("q", f"at most {_Q_MAX} characters")], status=400)
    whistle_id = request.match_info["id"]
    stored = await request.app[STORE].get_whistle(whistle_id)
    if stored is None:
        return problem(404, "Not Found", detail=f"no whistle with id {whistle_id!r}")
    may_read(request, stored)
    hierarchy = request.app[HIERARCHY]
    lang = _lang(request)
    category = stored.row_doc["category"]["code"]
    on_case = {
        (a.get("responder") or {}).get("id") for a in stored.assignments if a.get("status") in _LIVE
    }
    words = query.casefold().split()
    found: list[tuple[Responder, str]] = []
    # The case's own cell first, then up the ladder: the order the router climbs.
    for cell in hierarchy.ancestors(stored.row_doc["grid"]["code"]):
        if not principal.covers(cell):
            continue
        for responder in hierarchy.responders_at(cell.code):
            if responder.handles(category) and _matches(
                words, responder.name, responder.id, cell.name
            ):
                found.append((responder, cell.name))
    load = await request.app[STORE].open_load([r.id for r, _ in found])
    duty = request.app[CASES].duty
    now = request.app[CLOCK].now()
    groups: dict[str, dict[str, Any]] = {}
    for responder, cell_name in found:
        group = groups.setdefault(
            responder.kind.value,
            {"kind": responder.kind.value, "kind_name": _kind_name(responder, lang), "items": []},
        )
        group["items"].append(
            {
                "id": responder.id,
                "name": responder.name,
                "cell": responder.grid,
                "cell_name": cell_name,
                "on_duty": duty.on_duty(responder.id, now),
                "open_tasks": load.get(responder.id, 0),
                "on_case": responder.id in on_case,
            }
        )
    for group in groups.values():
        group["items"].sort(key=lambda item: (item["name"], item["id"]))
    body = {"whistle_id": whistle_id, "q": query, "groups": list(groups.values())}
    return web.Response(body=orjson.dumps(body), content_type="application/json")
