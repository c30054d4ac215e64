"""Admin endpoints: API tokens, logins and the audit trail (admin only; every call audited).

``POST /api/v1/tokens`` answers the new token once; only its hash is kept.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import orjson
from aiohttp import web
from pydantic import BaseModel, Field, ValidationError

from dispatch import Duration
from whistle.auth import Role
from whistle.exceptions import FieldError, InvalidWhistle
from whistle.reload import reload_hierarchy
from whistle.schema import INPUT, field_errors
from whistle.store import TokenRecord
from whistle.timefmt import rfc3339
from whistle.web import resources
from whistle.web.access import ACCESS, allow
from whistle.web.keys import STORE, TZ
from whistle.web.problems import problem

__all__ = ["parse_expiry", "routes"]

routes = web.RouteTableDef()

_Code = Annotated[str, Field(min_length=1, max_length=64)]


class _TokenIn(BaseModel):
    model_config = INPUT

    role: Role
    scope: _Code | None = None
    responder: _Code | None = None
    source: _Code | None = None
    expires: Annotated[str, Field(max_length=16)] | None = None
    label: Annotated[str, Field(max_length=200)] = ""


class _UserIn(BaseModel):
    model_config = INPUT

    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\w.@-]+$")]
    password: Annotated[str, Field(min_length=8, max_length=200)]
    role: Role
    scope: _Code | None = None
    responder: _Code | None = None


def parse_expiry(text: str | None) -> timedelta | None:
    """``30d``, ``12h`` ... as a wall-time span; None for no expiry. ValueError otherwise."""
    if text is None:
        return None
    duration = Duration.parse(text)
    if duration.is_working:
        raise ValueError("an expiry is wall time (s, m, h, d), not working time")
    return duration.as_timedelta()


async def _model(request: web.Request, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate(orjson.loads(await request.read() or b"{}"))
    except orjson.JSONDecodeError as exc:
        raise InvalidWhistle([FieldError("body", f"not valid JSON: {exc}")], status=400) from None
    except ValidationError as exc:
        raise InvalidWhistle(field_errors(exc)) from None


def _token_doc(record: TokenRecord, request: web.Request) -> resources.Token:
    tz = request.app[TZ]
    return {
        "id": record.id,
        "role": record.role,
        "scope": record.scope,
        "responder": record.responder_id,
        "source": record.source,
        "label": record.label,
        "created_at": rfc3339(record.created_at, tz),
        "expires_at": rfc3339(record.expires_at, tz),
        "revoked_at": rfc3339(record.revoked_at, tz),
    }


@routes.post("/api/v1/tokens")
async def create_token(request: web.Request) -> web.Response:
    principal = allow(request, Role.ADMIN)
    body: _TokenIn = await _model(request, _TokenIn)
    try:
        expires = parse_expiry(body.expires)
    except ValueError as exc:
        raise InvalidWhistle([FieldError("expires", str(exc))]) from None
    issued = await request.app[ACCESS].issue_token(
        role=body.role,
        scope=body.scope,
        responder_id=body.responder,
        source=body.source,
        expires=expires,
        label=body.label,
        by=principal.actor,
    )
    return web.Response(
        status=201,
        body=orjson.dumps({"id": issued.id, "token": issued.token}),
        content_type="application/json",
    )


@routes.get("/api/v1/tokens")
async def list_tokens(request: web.Request) -> web.Response:
    allow(request, Role.ADMIN)
    items = [_token_doc(t, request) for t in await request.app[STORE].tokens()]
    return web.Response(body=orjson.dumps({"items": items}), content_type="application/json")


@routes.delete("/api/v1/tokens/{id}")
async def revoke_token(request: web.Request) -> web.Response:
    principal = allow(request, Role.ADMIN)
    record = await request.app[ACCESS].revoke_token(request.match_info["id"], by=principal.actor)
    if record is None:
        return problem(404, "Not Found", detail=f"no token {request.match_info['id']!r}")
    return web.Response(
        body=orjson.dumps(_token_doc(record, request)), content_type="application/json"
    )


@routes.post("/api/v1/users")
async def add_user(request: web.Request) -> web.Response:
    principal = allow(request, Role.ADMIN)
    body: _UserIn = await _model(request, _UserIn)
    await request.app[ACCESS].add_user(
        name=body.name,
        password=body.password,
        role=body.role,
        scope=body.scope,
        responder_id=body.responder,
        by=principal.actor,
    )
    return web.Response(
        status=201,
        body=orjson.dumps({"name": body.name, "role": body.role.value, "scope": body.scope}),
        content_type="application/json",
    )


@routes.get("/api/v1/audit")
async def audit_trail(request: web.Request) -> web.Response:
    allow(request, Role.ADMIN)
    items = await request.app[STORE].audit_trail()
    return web.Response(body=orjson.dumps({"items": items}), content_type="application/json")


@routes.post("/api/v1/admin/reload-grids")
async def reload_grids(request: web.Request) -> web.Response:
    """Load the grid files again and swap them in; 422 with the problems keeps the old."""
    principal = allow(request, Role.ADMIN)
    await request.read()  # none is used; one over the limit is a 413, as on every POST
    outcome = await reload_hierarchy(request.app)
    await request.app[ACCESS].audit(
        principal.actor, "grids.reload", None, {"swapped": outcome.swapped}
    )
    doc = {"swapped": outcome.swapped, "cells": outcome.cells, "responders": outcome.responders}
    if not outcome.swapped:
        # The field is the file (and line) at fault; the reason names the code and what.
        errors = [
            FieldError(p.file if p.line is None else f"{p.file}:{p.line}", str(p))
            for p in outcome.problems[:100]
        ]
        return problem(
            422,
            "Invalid config",
            detail="the grids were not reloaded; the running ones are kept",
            errors=errors,
            extra=doc,
        )
    return web.Response(body=orjson.dumps(doc), content_type="application/json")
