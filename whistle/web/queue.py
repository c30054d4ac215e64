"""The console's queue (issue 17): what each row shows, and the exact counts per queue.

A row names the case by its 受理编号, its place by name (community › grid › micro-grid), who
holds it by name, and the time left to its next deadline (``case.next_due``, see
dispatch/due.py): the deadline shown is the one the overdue mark is computed from.
``/static/queue.js`` renders the same columns for the rows the stream brings in and keeps the
countdown running; this module renders the first page on the server.

``GET /api/v1/queue-counts`` answers the counts of the header, counted by the store over the
whole subtree (not from the rows a page has loaded); the script asks again after events.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web

from whistle.auth import Role, allow_cell
from whistle.exceptions import FieldError, InvalidWhistle
from whistle.web.access import allow
from whistle.web.i18n import QUEUE, STATUSES
from whistle.web.keys import CLOCK, HIERARCHY, STORE

__all__ = ["LIVE", "assignees", "case_label", "place_name", "queue_row", "routes"]

routes = web.RouteTableDef()

# The assignments that hold a case now (pushed and not yet done, or on a board).
LIVE = frozenset({"dispatched", "open", "acknowledged", "in_progress"})

# The place is named from the community down (the town is in the filters).
_PLACE_LEVELS = ("community", "grid", "micro_grid")


def case_label(doc: Mapping[str, Any]) -> str:
    """How a case is named in the queue: its 受理编号, or until it has one the last eight
    characters of its id (time-ordered ids differ at the end within one millisecond)."""
    number = doc.get("case_number")
    return str(number) if number else "#" + str(doc["id"])[-8:]


def place_name(doc: Mapping[str, Any]) -> str:
    """``田园社区 › 第3网格 › 1号楼栋``: the case's place from its community down."""
    grid = doc.get("grid") or {}
    names = [str(p["name"]) for p in grid.get("path") or () if p.get("level") in _PLACE_LEVELS]
    return " › ".join(names) or str(grid.get("name") or "")


def assignees(doc: Mapping[str, Any]) -> list[str]:
    """The names of who holds the case now: its owner (首问负责) once someone reported in,
    else everyone it is pushed to, and a claim board by its kind."""
    case = doc.get("case") or {}
    owner = (case.get("owner") or {}).get("assignment")
    live = [a for a in doc.get("assignments") or () if a.get("status") in LIVE]
    if owner is not None:
        live = [a for a in live if a.get("id") == owner] or live
    names: list[str] = []
    for a in live:
        responder = a.get("responder")
        name = str(responder["name"]) if responder else str(a.get("kind_name") or a.get("kind"))
        if name not in names:
            names.append(name)
    return names


def queue_row(doc: Mapping[str, Any], now: datetime, lang: str) -> dict[str, Any]:
    """One row of the queue, as the template shows it."""
    labels = QUEUE[lang]
    case = doc.get("case") or {}
    due = case.get("next_due")
    at = None if due is None else datetime.fromisoformat(due["at"])
    category = doc.get("category") or {}
    urgency = str(doc.get("urgency") or "normal")
    return {
        "id": doc["id"],
        "label": case_label(doc),
        "source": doc.get("source_name") or doc.get("source"),
        "category": category.get("name_en")
        if lang == "en" and category.get("name_en")
        else category.get("name"),
        "place": place_name(doc),
        "assignees": " · ".join(assignees(doc)) or labels["nobody"],
        "state": STATUSES[lang].get(str(doc.get("status")), doc.get("status")),
        "due_at": None if due is None else due["at"],
        "due_kind": None if due is None else labels["due_kinds"].get(due["kind"], due["kind"]),
        "due_shown": "" if due is None else due["at"][:16].replace("T", " "),
        "overdue": at is not None and at <= now,
        "urgency": urgency,
        "urgency_name": labels["urgency"].get(urgency, urgency),
    }


@routes.get("/api/v1/queue-counts")
async def queue_counts(request: web.Request) -> web.Response:
    """The exact counts per queue in a subtree (``grid``, default the principal's scope), as
    the console's header shows them."""
    from whistle.web.console import QUEUES  # the console owns the list and its order

    principal = allow(request, Role.OPERATOR, Role.ADMIN, Role.COMMITTEE)
    hierarchy = request.app[HIERARCHY]
    top = request.query.get("grid", principal.scope)
    path = None
    if top is not None:
        cell = hierarchy.get(top)
        if cell is None:
            raise InvalidWhistle([FieldError("grid", f"unknown grid code {top!r}")], status=400)
        allow_cell(principal, cell, "that subtree")
        path = "/" + "/".join(cell.path) + "/"
    counts = await request.app[STORE].queue_counts(path, request.app[CLOCK].now())
    body = {"counts": {key: counts.get(key, 0) for key in QUEUES}}
    return web.Response(body=orjson.dumps(body), content_type="application/json")
