"""The citizens' door: file a ``citizen`` whistle without an account, follow it, rate it.

``POST /api/v1/public/whistles`` is rate-limited per address. Besides the whistle's fields it
takes ``phone`` (optional, for a call back: kept in the whistle's ``reporter`` for the
operators, never shown to the public) and ``website``, a honeypot the page hides: a body
that fills it is refused with 400. The answer carries the 受理编号 (``case_number``), the
whistle's id and a private link (``/track/{case_number}?key=...``); the key is shown once and
only its hash is kept. ``GET /api/v1/public/whistles/{number}?key=`` (the 受理编号 or the id)
shows the case without anybody's personal data, with a citizen's timeline;
``POST /api/v1/public/whistles/{number}/rate?key=`` rates it (好差评) once it is closed.

For the citizen's page, two public views of the grid (public structure, no people):
``GET /api/v1/public/locate?lat=&lon=`` names the deepest cell holding a point, and
``GET /api/v1/public/grids/{code}/shapes`` gives a cell's children as polygons.
"""

from __future__ import annotations

import hmac
import re
import secrets
from typing import Any

import orjson
from aiohttp import web
from shapely.geometry import mapping

from dispatch import lifecycle
from dispatch.lifecycle import IllegalTransition, InvalidAction
from whistle.auth import token_hash
from whistle.exceptions import FieldError, IdempotencyConflict, InvalidWhistle, RateLimited
from whistle.store import StoredWhistle
from whistle.store.case_numbers import CASE_NUMBER
from whistle.web.access import ACCESS, client_address, public
from whistle.web.api import idempotency_key
from whistle.web.citizen_view import citizen_timeline, place_name, public_view
from whistle.web.i18n import lang as _lang
from whistle.web.keys import CASES, HIERARCHY, INTAKE, STORE, TZ
from whistle.web.problems import problem, refused

__all__ = ["find_citizen_case", "public_view", "routes"]

routes = web.RouteTableDef()

# What a citizen may send: a whistle of their own, nothing that names a system or a camera.
_ALLOWED = frozenset(
    {"category", "description", "location", "occurred_at", "media_urls", "reporter"}
)
_HONEYPOT = "website"  # hidden on the page: only a bot fills it
# A mainland mobile number (11 digits from 1), or a landline with its area code; spaces and
# hyphens are dropped first.
_PHONE = re.compile(r"1\d{10}|0\d{9,11}")


def _phone(body: dict[str, Any]) -> tuple[str | None, list[FieldError]]:
    """The call-back number a citizen left, or the error naming it."""
    raw = body.pop("phone", None)
    if raw is None or raw == "":
        return None, []
    if not isinstance(raw, str):
        return None, [FieldError("phone", "expected a string")]
    phone = re.sub(r"[\s-]", "", raw)
    if not _PHONE.fullmatch(phone):
        return None, [FieldError("phone", "not a phone number: 11 digits (1...) or 0 + area code")]
    return phone, []


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.read() or b"{}")
    except orjson.JSONDecodeError as exc:
        raise InvalidWhistle([FieldError("body", f"not valid JSON: {exc}")], status=400) from None
    if not isinstance(body, dict):
        raise InvalidWhistle([FieldError("body", "expected a JSON object")])
    return body


@routes.post("/api/v1/public/whistles")
@public
async def file(request: web.Request) -> web.Response:
    address = client_address(request)
    wait = request.app[ACCESS].public_limit.take(address)
    if wait:
        raise RateLimited(wait, f"citizen {address}")
    body = await _json_object(request)
    if body.pop(_HONEYPOT, None):
        refused(request, 400, "citizen form with its honeypot filled")
        raise InvalidWhistle([FieldError(_HONEYPOT, "must be left empty")], status=400)
    source = body.pop("source", "citizen")
    phone, extra = _phone(body)
    extra += [FieldError(k, "unknown field") for k in body if k not in _ALLOWED]
    if source != "citizen":
        extra.insert(0, FieldError("source", "the public endpoint files citizen whistles only"))
    if extra:
        raise InvalidWhistle(extra)
    body["source"] = "citizen"
    if phone is not None:
        # For the operators who call back; the public views never show the reporter.
        body["reporter"] = f"{body.get('reporter') or '市民'} 回电 {phone}"[:100]
    key = idempotency_key(request)
    try:
        # A citizen's keys are their address's: a retry from there gets its case number
        # back, and nobody else's key ever finds it.
        submission = await request.app[INTAKE].submit(
            body, idempotency_key=key, namespace=f"public:{address}"
        )
    except IdempotencyConflict as exc:
        # Many citizens can share an address (a carrier's NAT): name no case.
        raise IdempotencyConflict(exc.key, None) from None
    secret = secrets.token_urlsafe(18)
    store = request.app[STORE]
    number = submission.case_number
    if submission.created:
        await store.save_citizen_link(submission.whistle_id, token_hash(secret))
        follow: str | None = f"/track/{number or submission.whistle_id}?key={secret}"
    else:
        follow = None  # a replay: the link was given with the first answer
        stored = await store.get_whistle(submission.whistle_id)
        number = None if stored is None else stored.row_doc.get("case_number")
    return web.Response(
        status=201,
        body=orjson.dumps(
            {
                "case_number": number or submission.whistle_id,
                "whistle_id": submission.whistle_id,
                "follow_url": follow,
                "key": secret if follow else None,
            }
        ),
        content_type="application/json",
    )


async def find_citizen_case(request: web.Request, ref: str, key: str) -> StoredWhistle | None:
    """The case a citizen's link names (its 受理编号 or its id) when ``key`` is the link's
    key; None for an unknown case and a wrong key alike (the link is the only secret: the
    numbers run in sequence)."""
    store = request.app[STORE]
    whistle_id: str | None = ref
    if CASE_NUMBER.fullmatch(ref.upper()):
        whistle_id = await store.find_case_number(ref.upper())
    stored_hash = None if whistle_id is None else await store.citizen_link(whistle_id)
    if stored_hash is None or not hmac.compare_digest(stored_hash, token_hash(key)):
        return None
    assert whistle_id is not None
    return await store.get_whistle(whistle_id)


async def _authorised(request: web.Request) -> StoredWhistle | web.Response:
    found = await find_citizen_case(request, request.match_info["id"], request.query.get("key", ""))
    if found is None:
        refused(request, 404, "citizen link with a wrong key")
        return problem(404, "Not Found", detail="no case for this link")
    return found


async def _view(request: web.Request, stored: StoredWhistle) -> dict[str, Any]:
    lang = _lang(request)
    view = public_view(stored, lang)
    events = await request.app[STORE].timeline(stored.row_doc["id"])
    view["timeline"] = citizen_timeline(events, stored, request.app[TZ], lang)
    return view


@routes.get("/api/v1/public/whistles/{id}")
@public
async def follow(request: web.Request) -> web.Response:
    found = await _authorised(request)
    if isinstance(found, web.Response):
        return found
    return web.Response(
        body=orjson.dumps(await _view(request, found)), content_type="application/json"
    )


@routes.post("/api/v1/public/whistles/{id}/rate")
@public
async def rate(request: web.Request) -> web.Response:
    found = await _authorised(request)
    if isinstance(found, web.Response):
        return found
    body = await _json_object(request)
    grade, comment = body.get("grade"), body.get("comment")
    if not isinstance(grade, str) or (comment is not None and not isinstance(comment, str)):
        raise InvalidWhistle([FieldError("grade", "expected a grade string")])
    if comment is not None and len(comment) > 2000:
        raise InvalidWhistle([FieldError("comment", "too long: at most 2000 characters")])
    try:
        await request.app[CASES].act(
            found.row_doc["id"],
            "citizen",
            lambda state, ctx: lifecycle.rate(state, "citizen", ctx, grade=grade, comment=comment),
        )
    except IllegalTransition as exc:
        refused(request, 409, str(exc))
        return problem(
            409, "Conflict", detail=str(exc), extra={"current": exc.status, "allowed": exc.allowed}
        )
    except InvalidAction as exc:
        raise InvalidWhistle([FieldError(exc.field, exc.reason)]) from None
    stored = await request.app[STORE].get_whistle(found.row_doc["id"])
    assert stored is not None
    return web.Response(
        body=orjson.dumps(await _view(request, stored)), content_type="application/json"
    )


# -- the grid, for the citizen's page: public structure, no people --------------------------


def _coordinate(request: web.Request, name: str, lo: float, hi: float) -> float:
    raw = request.query.get(name, "")
    try:
        value = float(raw)
    except ValueError:
        raise InvalidWhistle([FieldError(name, "expected a number")], status=400) from None
    if not lo <= value <= hi:
        raise InvalidWhistle([FieldError(name, f"must be between {lo} and {hi}")], status=400)
    return value


@routes.get("/api/v1/public/locate")
@public
async def locate(request: web.Request) -> web.Response:
    """The deepest cell holding ``lat``/``lon``, by name; 404 outside the county."""
    lat = _coordinate(request, "lat", -90.0, 90.0)
    lon = _coordinate(request, "lon", -180.0, 180.0)
    hierarchy = request.app[HIERARCHY]
    cell = hierarchy.locate(lat, lon)
    if cell is None:
        return problem(404, "Not Found", detail="the point is outside every grid cell")
    path = [
        {"code": c.code, "name": c.name, "level": c.level.key}
        for c in (hierarchy.cell(code) for code in cell.path)
    ]
    doc = {"code": cell.code, "name": cell.name, "level": cell.level.key, "path": path}
    return web.Response(
        body=orjson.dumps({**doc, "place": place_name({"grid": doc})}),
        content_type="application/json",
    )


@routes.get("/api/v1/public/grids/{code}/shapes")
@public
async def shapes(request: web.Request) -> web.Response:
    """A cell's children as GeoJSON polygons (the cell itself for a leaf), with each one's
    code, name, level and whether it has children: what a map to tap needs, nothing more."""
    hierarchy = request.app[HIERARCHY]
    code = request.match_info["code"]
    cell = hierarchy.get(code)
    if cell is None:
        return problem(404, "Not Found", detail=f"unknown grid code {code!r}")
    features = []
    for child in hierarchy.children(code) or [cell]:
        if child.geometry is None:
            continue
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "code": child.code,
                    "name": child.name,
                    "level": child.level.key,
                    "children": hierarchy.child_count(child.code),
                },
                "geometry": mapping(child.geometry),
            }
        )
    parent = cell.path[-2] if len(cell.path) > 1 else None
    body = {
        "type": "FeatureCollection",
        "code": code,
        "name": cell.name,
        "parent": parent,
        "features": features,
    }
    return web.Response(
        body=orjson.dumps(body),
        content_type="application/json",
        headers={"Cache-Control": "public, max-age=300"},
    )
