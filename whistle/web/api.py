"""The JSON HTTP API under /api/v1: whistles, grids, categories, health."""

from __future__ import annotations

import base64
import binascii
import unicodedata
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web

from dispatch import Source, calendar_warnings
from grids import Cell, Level
from whistle.auth import Principal, Role, allow_cell
from whistle.bounds import bounded_instant, whole_number
from whistle.exceptions import FieldError, Forbidden, InvalidWhistle
from whistle.privacy import sees_phones, shown_to
from whistle.store import StoredWhistle, WhistleQuery
from whistle.store.case_numbers import CASE_NUMBER
from whistle.timefmt import rfc3339
from whistle.web.access import allow, public
from whistle.web.keys import CLOCK, HIERARCHY, INTAKE, LIVE, STORE, TZ
from whistle.web.problems import problem

__all__ = ["idempotency_key", "receipt", "routes", "wants_representation"]

routes = web.RouteTableDef()

_JSON = "application/json"
_MAX_KEY = 255


def _json(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type=_JSON, headers=headers)


# -- whistles ---------------------------------------------------------------------------


def idempotency_key(request: web.Request) -> str | None:
    """The request's Idempotency-Key header, if any; 400 unless 1-255 printable ASCII."""
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (0 < len(key) <= _MAX_KEY and key.isprintable() and key.isascii()):
        raise InvalidWhistle(
            [FieldError("Idempotency-Key", f"must be 1-{_MAX_KEY} printable ASCII characters")],
            status=400,
        )
    return key


@routes.post("/api/v1/whistles")
async def post_whistle(request: web.Request) -> web.Response:
    principal = allow(request, Role.REPORTER, Role.OPERATOR, Role.INTEGRATION)
    content_type = request.content_type
    json_like = content_type == "application/json" or content_type.endswith("+json")
    # aiohttp reports a missing Content-Type as application/octet-stream; accept that too.
    if request.body_exists and not json_like and content_type != "application/octet-stream":
        raise InvalidWhistle(
            [FieldError("Content-Type", f"expected application/json, got {content_type}")],
            status=415,
        )
    key = idempotency_key(request)
    raw = await request.read()
    if not raw:
        raise InvalidWhistle([FieldError("body", "empty: expected a JSON object")], status=400)
    intake = request.app[INTAKE]
    # Validated from the bytes in one pass; only a body that fails is decoded on its own, so
    # that the answer names each bad field (or says it is not JSON at all).
    body: Any = intake.parse(raw)
    if body is None:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidWhistle(
                [FieldError("body", f"not valid JSON: {exc}")], status=400
            ) from None
    submission = await intake.submit(body, idempotency_key=key, principal=principal)
    headers = {"Location": f"/api/v1/whistles/{submission.whistle_id}"}
    full = wants_representation(request)
    if full:
        headers["Preference-Applied"] = "return=representation"
    if submission.record is not None:
        if full:
            return _json(submission.document, status=201, headers=headers)
        return _json(
            receipt(submission.whistle_id, submission.case_number, submission.status),
            status=201,
            headers=headers,
        )
    # A replay, or a camera repeat: answer with the case as stored now.
    status = 201
    if submission.grouped:
        headers["Whistle-Grouped"] = "true"
        status = 200
    if submission.replayed or not submission.grouped:
        headers["Idempotent-Replayed"] = "true"
    stored = await request.app[STORE].get_whistle(submission.whistle_id)
    assert stored is not None  # committed before submit returned
    doc = stored.document()
    if not full:
        doc = receipt(doc["id"], doc.get("case_number"), doc["status"])
    return _json(doc, status=status, headers=headers)


def wants_representation(request: web.Request) -> bool:
    """True when the request asks for the whole whistle back (RFC 7240
    ``Prefer: return=representation``); otherwise a POST answers with :func:`receipt`."""
    for header in request.headers.getall("Prefer", ()):
        for preference in header.split(","):
            token = preference.split(";", 1)[0].strip().replace(" ", "").lower()
            if token == "return=representation":
                return True
    return False


def receipt(whistle_id: str, case_number: str | None, status: str | None) -> dict[str, Any]:
    """The short answer to a filed whistle: its id, 受理编号, status and where to read it.

    The whole whistle (assignments, trace, case) is a few kilobytes that most callers (feeds,
    imports, load) never read, and serialising and sending it was a tenth of what a whistle
    cost the event loop (issue 21); ``Prefer: return=representation`` asks for it.
    """
    return {
        "id": whistle_id,
        "case_number": case_number,
        "status": status,
        "links": {"self": f"/api/v1/whistles/{whistle_id}", "page": f"/cases/{whistle_id}"},
    }


@routes.get("/api/v1/whistles/{id}")
async def get_whistle(request: web.Request) -> web.Response:
    whistle_id = request.match_info["id"]
    store = request.app[STORE]
    stored = await store.get_whistle(whistle_id)
    if stored is None and CASE_NUMBER.fullmatch(whistle_id.upper()):
        # A 受理编号 in place of the id: the case it numbers.
        found = await store.find_case_number(whistle_id.upper())
        stored = None if found is None else await store.get_whistle(found)
    if stored is None:
        return problem(404, "Not Found", detail=f"no whistle with id {whistle_id!r}")
    whistle_id = stored.row_doc["id"]
    principal = may_read(request, stored)
    tz = request.app[TZ]
    doc = stored.document()
    doc["timeline"] = [
        {
            "seq": e.seq,
            "type": e.type,
            "at": rfc3339(e.at, tz),
            "actor": e.actor,
            "data": e.data,
        }
        for e in await store.timeline(whistle_id)
    ]
    return _json(for_viewer(principal, stored, doc))


_LIST_PARAMS = frozenset(
    {
        "status",
        "source",
        "category",
        "grid",
        "level",
        "queue",
        "since",
        "until",
        "limit",
        "cursor",
        "q",
        "sort",
        "case_number",
    }
)
# ``queue``: returned (退单待定), or open (not merged, closed, rated or verified).
_QUEUES = ("returned", "open")
# ``sort``: received (newest first, the default) or due (the next deadline first).
_SORTS = ("received", "due")
# A search longer than this is not a word someone typed.
_MAX_QUERY = 100


def _search_text(q: Mapping[str, str], errors: list[FieldError]) -> str:
    """The ``q`` parameter, stripped; its problems go to ``errors``."""
    text = q.get("q", "").strip()
    if len(text) > _MAX_QUERY:
        errors.append(FieldError("q", f"at most {_MAX_QUERY} characters"))
    elif any(unicodedata.category(c) == "Cc" for c in text):
        # 18: a NUL ended the FTS5 string early and SQLite failed (a 500); no text has them.
        errors.append(FieldError("q", "control characters (NUL, tab, newline) are not text"))
    return text


@routes.get("/api/v1/whistles")
async def list_whistles(request: web.Request) -> web.Response:
    principal = allow(request, *_READERS)
    q = request.query
    errors = [FieldError(name, "unknown parameter") for name in q if name not in _LIST_PARAMS]
    source = q.get("source")
    if source is not None and source not in Source.__members__.values():
        choices = ", ".join(s.value for s in Source)
        errors.append(FieldError("source", f"unknown source {source!r}; expected one of {choices}"))
    grid_path = None
    hierarchy = request.app[HIERARCHY]
    top = q.get("grid", principal.scope)
    if top is not None:
        cell = hierarchy.get(top)
        if cell is None:
            errors.append(FieldError("grid", f"unknown grid code {top!r}"))
        else:
            allow_cell(principal, cell, "that subtree")
            grid_path = "/" + "/".join(cell.path) + "/"
    level = None
    if "level" in q:
        try:
            level = int(Level.parse(q["level"]))
        except ValueError as exc:
            errors.append(FieldError("level", str(exc)))
    queue = q.get("queue")
    if queue is not None and queue not in _QUEUES:
        errors.append(FieldError("queue", f"unknown queue {queue!r}; expected returned or open"))
    sort = q.get("sort", "received")
    if sort not in _SORTS:
        errors.append(FieldError("sort", f"unknown sort {sort!r}; expected received or due"))
    text = _search_text(q, errors)
    since = _time_param(q, "since", errors)
    until = _time_param(q, "until", errors)
    limit = _int_param(q, "limit", 50, 1, 200, errors)
    before = after_due = None
    if "cursor" in q:
        if sort == "due":
            after_due = _decode_due_cursor(q["cursor"])
        else:
            before = _decode_cursor(q["cursor"])
        if before is None and after_due is None:
            errors.append(FieldError("cursor", "not a cursor this server gave out"))
    case_number = q.get("case_number")
    if case_number is not None:
        case_number = case_number.strip().upper()
        if not CASE_NUMBER.fullmatch(case_number):
            errors.append(
                FieldError("case_number", "not a 受理编号: two letters, YYMM, '-', 4-5 digits")
            )
    if errors:
        raise InvalidWhistle(errors, status=400)
    page = await request.app[STORE].list_whistles(
        WhistleQuery(
            status=q.get("status"),
            source=source,
            category=q.get("category"),
            grid_path=grid_path,
            level=level,
            returns_pending=queue == "returned",
            case_number=case_number,
            since=since,
            until=until,
            before=before,
            limit=limit,
            text=text or None,
            open_only=queue == "open",
            order="due" if sort == "due" else "id",
            after_due=after_due,
        )
    )
    cursor = None if page.next_before is None else _encode_cursor(page.next_before)
    if page.next_after_due is not None:
        cursor = _encode_cursor("\x1f".join(page.next_after_due), kind="d")
    items = [for_viewer(principal, item, item.document()) for item in page.items]
    return _json({"items": items, "next_cursor": cursor, "limit": limit})


_READERS = (Role.REPORTER, Role.OPERATOR, Role.COMMITTEE, Role.ADMIN)


def calls_back(principal: Principal, stored: StoredWhistle) -> bool:
    """Whether ``principal`` sees phone numbers on this case in full: those who call back
    (operators, the case's own responders); everyone else sees them masked (privacy.py)."""
    role = None if principal.role is None else principal.role.value
    return sees_phones(role, principal.responder_id, stored.assignments)


def for_viewer(principal: Principal, stored: StoredWhistle, doc: dict[str, Any]) -> dict[str, Any]:
    """A case's document as ``principal`` may see it (see :func:`calls_back`)."""
    return shown_to(doc, full=calls_back(principal, stored))


def may_read(request: web.Request, stored: StoredWhistle) -> Principal:
    """Readers see whistles in their subtree; a responder sees those it has a part in."""
    principal = allow(request, *_READERS, Role.RESPONDER)
    if principal.role is Role.RESPONDER:
        mine = principal.responder_id
        if not any(
            (a.get("responder") or {}).get("id") == mine or mine in (a.get("members") or ())
            for a in stored.assignments
        ):
            raise Forbidden(f"{mine} has no part in whistle {stored.row_doc['id']}")
        return principal
    allow_cell(principal, request.app[HIERARCHY].cell(stored.row_doc["grid"]["code"]), "it")
    return principal


def _encode_cursor(whistle_id: str, *, kind: str = "w") -> str:
    return base64.urlsafe_b64encode(f"{kind}:{whistle_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, *, kind: str = "w") -> str | None:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return text[2:] if text.startswith(f"{kind}:") and len(text) > 2 else None


def _decode_due_cursor(cursor: str) -> tuple[str, str] | None:
    """The (deadline key, id) of a ``sort=due`` cursor."""
    text = _decode_cursor(cursor, kind="d")
    if text is None or text.count("\x1f") != 1:
        return None
    key, whistle_id = text.split("\x1f")
    return key, whistle_id


def _time_param(q: Any, name: str, errors: list[FieldError]) -> datetime | None:
    if name not in q:
        return None
    try:
        return bounded_instant(q[name])
    except ValueError as exc:
        errors.append(FieldError(name, str(exc)))
        return None


def _int_param(q: Any, name: str, default: int, lo: int, hi: int, errors: list[FieldError]) -> int:
    if name not in q:
        return default
    try:
        return whole_number(q[name], lo=lo, hi=hi)
    except ValueError as exc:
        errors.append(FieldError(name, str(exc)))
        return default


# -- grids ------------------------------------------------------------------------------


def _cell_summary(cell: Cell, children: int) -> dict[str, Any]:
    return {
        "code": cell.code,
        "name": cell.name,
        "level": cell.level.key,
        "level_number": int(cell.level),
        "level_name": cell.level.label_zh,
        "parent": cell.parent,
        "children": children,
    }


@routes.get("/api/v1/grids/{code}")
async def get_grid(request: web.Request) -> web.Response:
    principal = allow(request, *Role)
    hierarchy = request.app[HIERARCHY]
    code = request.match_info["code"]
    cell = hierarchy.get(code)
    if cell is None:
        return problem(404, "Not Found", detail=f"unknown grid code {code!r}")
    doc = _cell_summary(cell, hierarchy.child_count(code))
    doc["path"] = [
        {"code": c.code, "name": c.name, "level": c.level.key}
        for c in (hierarchy.cell(p) for p in cell.path)
    ]
    centroid = hierarchy.centroid(code)
    doc["centroid"] = None if centroid is None else {"lat": centroid[0], "lon": centroid[1]}
    # The cells are public structure; who staffs them (names) is shown inside one's subtree.
    doc["responders"] = (
        None
        if not principal.covers(cell)
        else [
            {
                "id": r.id,
                "name": r.name,
                "kind": r.kind.value,
                "kind_name": r.kind.label_zh,
                "categories": sorted(r.categories),
                "backup": r.backup,
            }
            for r in hierarchy.responders_at(code)
        ]
    )
    return _json(doc)


@routes.get("/api/v1/grids")
async def list_grids(request: web.Request) -> web.Response:
    allow(request, *Role)
    hierarchy = request.app[HIERARCHY]
    q = request.query
    allowed = {"level", "parent", "limit", "offset"}
    errors = [FieldError(name, "unknown parameter") for name in q if name not in allowed]
    level = None
    if "level" in q:
        try:
            level = Level.parse(q["level"])
        except ValueError as exc:
            errors.append(FieldError("level", str(exc)))
    parent = q.get("parent")
    if parent is not None and parent not in hierarchy:
        errors.append(FieldError("parent", f"unknown grid code {parent!r}"))
    limit = _int_param(q, "limit", 100, 1, 1000, errors)
    offset = _int_param(q, "offset", 0, 0, 10_000_000, errors)
    if errors:
        raise InvalidWhistle(errors, status=400)
    if level is None and parent is None:
        level = Level.COUNTY
    cells = list(hierarchy.cells(level=level, parent=parent))
    window = cells[offset : offset + limit]
    items = [_cell_summary(c, hierarchy.child_count(c.code)) for c in window]
    following = offset + limit if offset + limit < len(cells) else None
    return _json({"items": items, "total": len(cells), "next_offset": following})


@routes.get("/api/v1/categories")
async def list_categories(request: web.Request) -> web.Response:
    allow(request, *Role)
    items = [category.to_dict(duplicates=True) for category in request.app[LIVE].catalog]
    return _json({"items": items})


# -- health -----------------------------------------------------------------------------


@routes.get("/healthz")
@public
async def healthz(request: web.Request) -> web.Response:
    return _json({"status": "ok"})


@routes.get("/readyz")
@public
async def readyz(request: web.Request) -> web.Response:
    """Ready: the hierarchy is loaded and the database takes writes (503 otherwise). Names
    the database it checked (``sqlite`` or ``postgresql``) and how many place names the
    gazetteer knows."""
    hierarchy = request.app[HIERARCHY]
    store = request.app[STORE]
    await store.ping()
    body: dict[str, Any] = {
        "status": "ready",
        "cells": len(hierarchy),
        "root": hierarchy.root,
        "database": store.backend,
        # 0 while a province's names are still being indexed (an address then waits for an
        # operator, 待定位): ready all the same, since every other whistle is placed.
        "place_names": len(request.app[INTAKE].gazetteer),
    }
    warnings = calendar_warnings(request.app[LIVE].router.calendar, request.app[CLOCK].now())
    if warnings:
        body["warnings"] = warnings  # still ready: someone has to add next year's holidays
    return _json(body)
