"""The silence routes: ``POST /api/v1/silences``, ``GET /api/v1/silences`` and
``DELETE /api/v1/silences/{id}`` (expires it now, keeping the record). What a silence mutes,
and what it never mutes, is the service's (whistle/silences.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import Annotated

import orjson
from aiohttp import web
from pydantic import AwareDatetime, BaseModel, Field, ValidationError

from dispatch import Catalog, Source
from grids import Hierarchy
from whistle.auth import Principal, Role, allow_cell
from whistle.exceptions import FieldError, Forbidden, InvalidWhistle
from whistle.schema import INPUT, field_errors
from whistle.silences import MAX_SILENCE, Matcher, inert_reason
from whistle.store import Silence
from whistle.timefmt import rfc3339
from whistle.web import resources
from whistle.web.access import ACCESS, allow
from whistle.web.keys import SILENCES
from whistle.web.problems import problem

__all__ = ["SilenceMatchers", "present", "routes"]

routes = web.RouteTableDef()


class SilenceMatchers(BaseModel):
    """What a silence matches: every matcher given must hold; one of camera, category or
    source is required (a grid alone is too wide)."""

    model_config = INPUT

    camera: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    grid: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    category: Annotated[str, Field(min_length=1, max_length=16)] | None = None
    source: Source | None = None


class _SilenceIn(BaseModel):
    model_config = INPUT

    matchers: SilenceMatchers
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    duration_minutes: Annotated[int, Field(gt=0)] | None = None
    # Only an integration's token may name the author; a logged-in operator's silence is
    # recorded under their own name (see ``_author``).
    author: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    comment: Annotated[str, Field(min_length=1, max_length=500)]


def present(silence: Silence, now: datetime, tz: tzinfo) -> resources.Silence:
    inert = inert_reason(silence)
    return {
        "id": silence.id,
        "matchers": dict(silence.matchers),
        "starts_at": rfc3339(silence.starts_at, tz),
        "ends_at": rfc3339(silence.ends_at, tz),
        "author": silence.author,
        "comment": silence.comment,
        "created_at": rfc3339(silence.created_at, tz),
        "active": inert is None and silence.starts_at <= now < silence.ends_at,
        "inert": inert,
    }


def _may_silence(principal: Principal, matchers: dict[str, str], hierarchy: Hierarchy) -> None:
    """A silence with a grid must lie in the principal's subtree; one without reaches the
    whole county, so it needs a county-wide scope."""
    grid = matchers.get(Matcher.GRID.value)
    if grid is not None:
        allow_cell(principal, hierarchy.cell(grid), "the silenced cell")
    elif principal.scope not in (None, hierarchy.root):
        raise Forbidden(
            f"a silence without a grid reaches the whole county; scope is {principal.scope}"
        )


def _check_matchers(
    matchers: SilenceMatchers, hierarchy: Hierarchy, catalog: Catalog
) -> list[FieldError]:
    errors: list[FieldError] = []
    if matchers.camera is None and matchers.category is None and matchers.source is None:
        errors.append(
            FieldError(
                "matchers",
                "name a camera, category or source: a grid alone would mute everything there, "
                "emergencies too",
            )
        )
    if matchers.grid is not None and matchers.grid not in hierarchy:
        errors.append(FieldError("matchers.grid", f"unknown grid code {matchers.grid!r}"))
    if matchers.category is not None and not catalog.has_prefix(matchers.category):
        errors.append(FieldError("matchers.category", f"unknown category {matchers.category!r}"))
    return errors


def _author(principal: Principal, given: str | None) -> str:
    """Who a new silence is recorded under. A logged-in operator is that operator, whatever
    the page sends (the console used to send "console"); a token may name the person it
    acts for, and otherwise is its own name."""
    if principal.via == "session" or given is None:
        return principal.actor
    return given


@routes.post("/api/v1/silences")
async def create(request: web.Request) -> web.Response:
    principal = allow(request, Role.OPERATOR, Role.ADMIN)
    silences = request.app[SILENCES]
    try:
        body = _SilenceIn.model_validate(orjson.loads(await request.read() or b"{}"))
    except orjson.JSONDecodeError as exc:
        raise InvalidWhistle([FieldError("body", f"not valid JSON: {exc}")], status=400) from None
    except ValidationError as exc:
        raise InvalidWhistle(field_errors(exc)) from None
    now = silences.clock.now()
    errors = _check_matchers(body.matchers, silences.hierarchy, silences.catalog)
    starts = body.starts_at or now
    # A start far from now is a typo (a wrong year), and a date centuries away has no offset
    # RFC 3339 can write in the county's zone (local mean time: +08:05:43).
    if abs(starts - now) > MAX_SILENCE:
        errors.append(FieldError("starts_at", "must be within 90 days of now"))
        starts = now
    if (body.ends_at is None) == (body.duration_minutes is None):
        errors.append(FieldError("ends_at", "give ends_at or duration_minutes (one of them)"))
        ends = starts
    elif (body.duration_minutes or 0) > MAX_SILENCE // timedelta(minutes=1):
        # Checked before adding: a huge number of minutes overflows the date.
        errors.append(FieldError("ends_at", "a silence lasts at most 90 days"))
        ends = starts
    else:
        ends = body.ends_at or starts + timedelta(minutes=body.duration_minutes or 0)
        if ends <= starts:
            errors.append(FieldError("ends_at", "must be after starts_at"))
        elif ends - starts > MAX_SILENCE:
            errors.append(FieldError("ends_at", "a silence lasts at most 90 days"))
    if errors:
        raise InvalidWhistle(errors)
    matchers = body.matchers.model_dump(mode="json", exclude_none=True)
    _may_silence(principal, matchers, silences.hierarchy)
    silence = await silences.add(
        matchers=matchers,
        starts_at=starts,
        ends_at=ends,
        author=_author(principal, body.author),
        comment=body.comment,
    )
    await request.app[ACCESS].audit(
        principal.actor,
        "silence.create",
        silence.id,
        {"matchers": matchers},
    )
    return web.Response(
        status=201,
        body=orjson.dumps(present(silence, now, silences.tz)),
        content_type="application/json",
        headers={"Location": f"/api/v1/silences/{silence.id}"},
    )


@routes.get("/api/v1/silences")
async def list_silences(request: web.Request) -> web.Response:
    principal = allow(request, Role.OPERATOR, Role.ADMIN, Role.COMMITTEE)
    silences = request.app[SILENCES]
    now = silences.clock.now()
    hierarchy = silences.hierarchy
    # Silences without a grid reach the whole county; those with one only its subtree.
    items = [
        present(s, now, silences.tz)
        for s in silences.all()
        if (grid := s.matchers.get(Matcher.GRID.value)) is None
        or (grid in hierarchy and principal.covers(hierarchy.cell(grid)))
    ]
    return web.Response(body=orjson.dumps({"items": items}), content_type="application/json")


@routes.delete("/api/v1/silences/{id}")
async def expire(request: web.Request) -> web.Response:
    principal = allow(request, Role.OPERATOR, Role.ADMIN)
    silences = request.app[SILENCES]
    found = next((s for s in silences.all() if s.id == request.match_info["id"]), None)
    if found is None:
        return problem(404, "Not Found", detail=f"no silence {request.match_info['id']!r}")
    _may_silence(principal, found.matchers, silences.hierarchy)
    silence = await silences.expire(found.id)
    assert silence is not None
    await request.app[ACCESS].audit(principal.actor, "silence.expire", silence.id, {})
    now = silences.clock.now()
    return web.Response(
        body=orjson.dumps(present(silence, now, silences.tz)), content_type="application/json"
    )
