"""The citizens' door: file a ``citizen`` whistle without an account, follow it, rate it.

``POST /api/v1/public/whistles`` is rate-limited per address. The answer carries the case
number and a private link (``/track/{id}?key=...``); the key is shown once and only its hash
is kept. ``GET /api/v1/public/whistles/{id}?key=`` shows the case without anybody's personal
data; ``POST /api/v1/public/whistles/{id}/rate?key=`` rates it (好差评) once it is closed.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

import orjson
from aiohttp import web

from dispatch import lifecycle
from dispatch.lifecycle import IllegalTransition, InvalidAction
from whistle.auth import token_hash
from whistle.exceptions import FieldError, IdempotencyConflict, InvalidWhistle, RateLimited
from whistle.store import StoredWhistle
from whistle.web.access import ACCESS, client_address, public
from whistle.web.api import idempotency_key
from whistle.web.keys import CASES, INTAKE, STORE
from whistle.web.problems import problem, refused

__all__ = ["public_view", "routes"]

routes = web.RouteTableDef()

# What a citizen may send: a whistle of their own, nothing that names a system or a camera.
_ALLOWED = frozenset(
    {"category", "description", "location", "occurred_at", "media_urls", "reporter"}
)


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
    source = body.pop("source", "citizen")
    extra = [FieldError(k, "unknown field") for k in body if k not in _ALLOWED]
    if source != "citizen":
        extra.insert(0, FieldError("source", "the public endpoint files citizen whistles only"))
    if extra:
        raise InvalidWhistle(extra)
    body["source"] = "citizen"
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
    if submission.created:
        await store.save_citizen_link(submission.whistle_id, token_hash(secret))
        follow: str | None = f"/track/{submission.whistle_id}?key={secret}"
    else:
        follow = None  # a replay: the link was given with the first answer
    return web.Response(
        status=201,
        body=orjson.dumps(
            {
                "case_number": submission.whistle_id,
                "follow_url": follow,
                "key": secret if follow else None,
            }
        ),
        content_type="application/json",
    )


async def _authorised(request: web.Request) -> StoredWhistle | web.Response:
    whistle_id = request.match_info["id"]
    key = request.query.get("key", "")
    store = request.app[STORE]
    stored_hash = await store.citizen_link(whistle_id)
    # The same answer for an unknown case and a wrong key: the link is the only secret.
    if stored_hash is None or not hmac.compare_digest(stored_hash, token_hash(key)):
        refused(request, 404, "citizen link with a wrong key")
        return problem(404, "Not Found", detail="no case for this link")
    stored = await store.get_whistle(whistle_id)
    assert stored is not None
    return stored


def public_view(stored: StoredWhistle) -> dict[str, Any]:
    """What a citizen sees of their case: where it stands, not who works on it."""
    doc = stored.row_doc
    case = stored.case or {}
    resolution = case.get("resolution") or {}
    return {
        "case_number": doc["id"],
        "status": stored.status,
        "category": doc["category"]["name"],
        "description": doc["description"],
        "place": doc["grid"]["name"],
        "received_at": doc["received_at"],
        "resolve_due": case.get("resolve_due"),
        "handled_by": sorted({a["kind_name"] for a in stored.assignments}),
        "resolution": resolution.get("note"),
        "rating": case.get("rating"),
        "can_rate": "rate" in case.get("allowed", ()),
    }


@routes.get("/api/v1/public/whistles/{id}")
@public
async def follow(request: web.Request) -> web.Response:
    found = await _authorised(request)
    if isinstance(found, web.Response):
        return found
    return web.Response(body=orjson.dumps(public_view(found)), content_type="application/json")


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
    return web.Response(body=orjson.dumps(public_view(stored)), content_type="application/json")
