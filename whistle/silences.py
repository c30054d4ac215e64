"""Silences: an operator mutes a camera, a grid cell (with its subtree) or a category for a
time window. Whistles that match are stored and shown, but not dispatched.

The set is small and read on every intake, so it lives in memory, written through to the
store: ``POST /api/v1/silences``, ``GET /api/v1/silences``, ``DELETE /api/v1/silences/{id}``
(expires it now, keeping the record).
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Annotated, Any

import orjson
from aiohttp import web
from pydantic import AwareDatetime, BaseModel, Field, ValidationError

from dispatch import Catalog
from grids import Cell, Hierarchy
from whistle.access import ACCESS, allow, allow_cell
from whistle.auth import Principal, Role
from whistle.clock import Clock
from whistle.exceptions import FieldError, Forbidden, InvalidWhistle
from whistle.ids import IdFactory
from whistle.problems import problem
from whistle.schema import INPUT, field_errors
from whistle.store import Silence, Store
from whistle.timefmt import rfc3339

__all__ = ["Matcher", "Silences", "routes"]

MAX_SILENCE = timedelta(days=90)


class Matcher(StrEnum):
    CAMERA = "camera"
    GRID = "grid"
    CATEGORY = "category"


class Silences:
    """The silences, kept in memory and in the store."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        ids: IdFactory,
        *,
        hierarchy: Hierarchy,
        catalog: Catalog,
        tz: tzinfo,
    ) -> None:
        self._store = store
        self.clock = clock
        self._ids = ids
        self.hierarchy = hierarchy
        self.catalog = catalog
        self.tz = tz
        self._all: dict[str, Silence] = {}

    def __repr__(self) -> str:
        return f"Silences(active={len(self.active())}, total={len(self._all)})"

    async def load(self) -> None:
        self._all = {s.id: s for s in await self._store.silences()}

    def all(self) -> list[Silence]:
        """Every silence, newest first, expired ones too."""
        return sorted(self._all.values(), key=lambda s: s.created_at, reverse=True)

    def active(self, at: datetime | None = None) -> list[Silence]:
        now = at or self.clock.now()
        return [s for s in self._all.values() if s.starts_at <= now < s.ends_at]

    def match(
        self, *, camera_id: str | None, cell: Cell, category: str, at: datetime
    ) -> Silence | None:
        """The first active silence that covers a whistle, or None."""
        for silence in self.active(at):
            if (
                (silence.matcher == Matcher.CAMERA and silence.value == camera_id)
                or (silence.matcher == Matcher.GRID and cell.is_within(silence.value))
                or (silence.matcher == Matcher.CATEGORY and category.startswith(silence.value))
            ):
                return silence
        return None

    async def add(
        self,
        *,
        matcher: Matcher,
        value: str,
        starts_at: datetime,
        ends_at: datetime,
        author: str,
        comment: str,
    ) -> Silence:
        silence = Silence(
            id=self._ids.new(),
            matcher=matcher.value,
            value=value,
            starts_at=starts_at,
            ends_at=ends_at,
            author=author,
            comment=comment,
            created_at=self.clock.now(),
        )
        await self._store.save_silence(silence)
        self._all[silence.id] = silence
        return silence

    async def expire(self, silence_id: str) -> Silence | None:
        """End a silence now (its record stays)."""
        silence = self._all.get(silence_id)
        if silence is None:
            return None
        now = self.clock.now()
        if silence.ends_at > now:
            silence = Silence(
                silence.id,
                silence.matcher,
                silence.value,
                silence.starts_at,
                max(now, silence.starts_at),
                silence.author,
                silence.comment,
                silence.created_at,
            )
            await self._store.save_silence(silence)
            self._all[silence.id] = silence
        return silence


# -- HTTP ----------------------------------------------------------------------------------

SILENCES = web.AppKey("silences", Silences)

routes = web.RouteTableDef()


class _SilenceIn(BaseModel):
    model_config = INPUT

    matcher: Matcher
    value: Annotated[str, Field(min_length=1, max_length=64)]
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    duration_minutes: Annotated[int, Field(gt=0)] | None = None
    author: Annotated[str, Field(min_length=1, max_length=64)]
    comment: Annotated[str, Field(min_length=1, max_length=500)]


def present(silence: Silence, now: datetime, tz: tzinfo) -> dict[str, Any]:
    return {
        "id": silence.id,
        "matcher": silence.matcher,
        "value": silence.value,
        "starts_at": rfc3339(silence.starts_at, tz),
        "ends_at": rfc3339(silence.ends_at, tz),
        "author": silence.author,
        "comment": silence.comment,
        "created_at": rfc3339(silence.created_at, tz),
        "active": silence.starts_at <= now < silence.ends_at,
    }


def _may_silence(principal: Principal, matcher: Matcher, value: str, hierarchy: Hierarchy) -> None:
    """A grid silence must lie in the principal's subtree; a camera or category silence
    reaches the whole county, so it needs a county-wide scope."""
    if matcher is Matcher.GRID:
        allow_cell(principal, hierarchy.cell(value), "the silenced cell")
    elif principal.scope not in (None, hierarchy.root):
        raise Forbidden(f"a {matcher} silence reaches the whole county; scope is {principal.scope}")


def _check_value(body: _SilenceIn, hierarchy: Hierarchy, catalog: Catalog) -> FieldError | None:
    if body.matcher is Matcher.GRID and body.value not in hierarchy:
        return FieldError("value", f"unknown grid code {body.value!r}")
    if body.matcher is Matcher.CATEGORY and not catalog.has_prefix(body.value):
        return FieldError("value", f"unknown category {body.value!r}")
    return None


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
    errors: list[FieldError] = []
    bad = _check_value(body, silences.hierarchy, silences.catalog)
    if bad is not None:
        errors.append(bad)
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
    _may_silence(principal, body.matcher, body.value, silences.hierarchy)
    silence = await silences.add(
        matcher=body.matcher,
        value=body.value,
        starts_at=starts,
        ends_at=ends,
        author=body.author,
        comment=body.comment,
    )
    await request.app[ACCESS].audit(
        principal.actor,
        "silence.create",
        silence.id,
        {"matcher": body.matcher, "value": body.value},
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
    # Camera and category silences reach the whole county; grid silences only their subtree.
    items = [
        present(s, now, silences.tz)
        for s in silences.all()
        if s.matcher != Matcher.GRID
        or (s.value in hierarchy and principal.covers(hierarchy.cell(s.value)))
    ]
    return web.Response(body=orjson.dumps({"items": items}), content_type="application/json")


@routes.delete("/api/v1/silences/{id}")
async def expire(request: web.Request) -> web.Response:
    principal = allow(request, Role.OPERATOR, Role.ADMIN)
    silences = request.app[SILENCES]
    found = next((s for s in silences.all() if s.id == request.match_info["id"]), None)
    if found is None:
        return problem(404, "Not Found", detail=f"no silence {request.match_info['id']!r}")
    _may_silence(principal, Matcher(found.matcher), found.value, silences.hierarchy)
    silence = await silences.expire(found.id)
    assert silence is not None
    await request.app[ACCESS].audit(principal.actor, "silence.expire", silence.id, {})
    now = silences.clock.now()
    return web.Response(
        body=orjson.dumps(present(silence, now, silences.tz)), content_type="application/json"
    )
