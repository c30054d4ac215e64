"""Silences: an operator mutes camera repeats or planned works for a time window. Whistles
that match are stored and shown, but not dispatched.

A silence names matchers, all of which must hold: a ``camera``, a ``category`` (with its
subcategories), a ``source``, and optionally a ``grid`` cell (with its subtree). A grid alone
is refused: it would mute everything there, the fight the police report and the fire a
citizen calls in among it. The town's rule (issue 14) is that a silence never swallows an
emergency: police and town-committee whistles and urgent ones are never muted by a silence
that does not name their source, and when one does, they are dispatched all the same, with a
warning that names the silence.

Silences stored before that rule with a grid alone are kept, for the record, but are inert:
they match nothing and are listed with ``inert`` saying why.

The set is small and read on every intake, so it lives in memory, written through to the
store: ``POST /api/v1/silences``, ``GET /api/v1/silences``, ``DELETE /api/v1/silences/{id}``
(expires it now, keeping the record).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Annotated, Any

import orjson
import structlog
from aiohttp import web
from pydantic import AwareDatetime, BaseModel, Field, ValidationError

from dispatch import Catalog, Source, Urgency
from grids import Cell, Hierarchy
from whistle.access import ACCESS, allow
from whistle.auth import Principal, Role, allow_cell
from whistle.clock import Clock
from whistle.exceptions import FieldError, Forbidden, InvalidWhistle
from whistle.ids import IdFactory
from whistle.problems import problem
from whistle.schema import INPUT, field_errors
from whistle.store import Silence, Store
from whistle.timefmt import rfc3339

__all__ = [
    "PROTECTED_SOURCES",
    "Matcher",
    "SilenceMatch",
    "SilenceMatchers",
    "Silences",
    "describe",
    "routes",
]

log = structlog.get_logger(__name__)

MAX_SILENCE = timedelta(days=90)


class Matcher(StrEnum):
    CAMERA = "camera"
    GRID = "grid"
    CATEGORY = "category"
    SOURCE = "source"


# A silence must name one of these: each is narrower than a cell of the grid.
NARROW = (Matcher.CAMERA, Matcher.CATEGORY, Matcher.SOURCE)

# Whistles that a silence mutes only when it names their source, and even then dispatches
# (with a warning): the police's alerts and the town committee's summons, like any urgent
# whistle, are the emergencies that silences for camera repeats and planned works must let by.
PROTECTED_SOURCES = frozenset({Source.POLICE, Source.TOWN_COMMITTEE})

INERT = (
    "a grid alone no longer mutes anything (it would mute emergencies too): "
    "name a camera, category or source"
)


def inert_reason(silence: Silence) -> str | None:
    """Why a stored silence matches nothing, or None when it may match."""
    return None if any(m.value in silence.matchers for m in NARROW) else INERT


def describe(silence: Silence, tz: tzinfo) -> dict[str, Any]:
    """The silence as a whistle names it (``muted_by``, ``silence_warning``, the timeline):
    enough for an operator to recognise it without looking its id up."""
    return {
        "id": silence.id,
        "matchers": dict(silence.matchers),
        "author": silence.author,
        "comment": silence.comment,
        "until": rfc3339(silence.ends_at, tz),
    }


@dataclass(frozen=True, slots=True)
class SilenceMatch:
    """A silence that covers a whistle. ``muted`` False: the whistle is an emergency (a
    protected source or urgent) and is dispatched anyway; ``warning`` says so."""

    silence: Silence
    muted: bool
    warning: str | None = None


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
        for silence in self._all.values():
            if inert_reason(silence) is not None and silence.ends_at > self.clock.now():
                log.warning("silence.inert", silence_id=silence.id, matchers=silence.matchers)

    def all(self) -> list[Silence]:
        """Every silence, newest first, expired ones too."""
        return sorted(self._all.values(), key=lambda s: s.created_at, reverse=True)

    def active(self, at: datetime | None = None) -> list[Silence]:
        """The silences in force at ``at`` (inert ones are never in force)."""
        now = at or self.clock.now()
        return [
            s
            for s in self._all.values()
            if s.starts_at <= now < s.ends_at and inert_reason(s) is None
        ]

    def match(
        self,
        *,
        camera_id: str | None,
        cell: Cell,
        category: str,
        source: Source,
        urgency: Urgency,
        at: datetime,
    ) -> SilenceMatch | None:
        """The first active silence that covers a whistle, or None.

        An emergency (a protected source, or urgent) is covered only by a silence that names
        its source, and is then dispatched with a warning rather than muted.
        """
        emergency = source in PROTECTED_SOURCES or urgency is Urgency.URGENT
        for silence in self.active(at):
            m = silence.matchers
            if (
                ("camera" in m and m["camera"] != camera_id)
                or ("grid" in m and not cell.is_within(m["grid"]))
                or ("category" in m and not category.startswith(m["category"]))
                or ("source" in m and m["source"] != source.value)
            ):
                continue
            if not emergency:
                return SilenceMatch(silence, muted=True)
            if m.get("source") == source.value:
                what = source.value if source in PROTECTED_SOURCES else "urgent"
                warning = f"{what} whistles are never muted: dispatched despite the silence"
                return SilenceMatch(silence, muted=False, warning=warning)
        return None

    async def add(
        self,
        *,
        matchers: dict[str, str],
        starts_at: datetime,
        ends_at: datetime,
        author: str,
        comment: str,
    ) -> Silence:
        silence = Silence(
            id=self._ids.new(),
            matchers=matchers,
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
            silence = replace(silence, ends_at=max(now, silence.starts_at))
            await self._store.save_silence(silence)
            self._all[silence.id] = silence
        return silence


# -- HTTP ----------------------------------------------------------------------------------

SILENCES = web.AppKey("silences", Silences)

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
    author: Annotated[str, Field(min_length=1, max_length=64)]
    comment: Annotated[str, Field(min_length=1, max_length=500)]


def present(silence: Silence, now: datetime, tz: tzinfo) -> dict[str, Any]:
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
        author=body.author,
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
