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
store. The routes that add, list and expire silences are whistle/web/silences.py.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum

import structlog

from dispatch import Catalog, Source, Urgency
from grids import Cell, Hierarchy
from whistle.clock import Clock
from whistle.documents import SilenceNamed
from whistle.exceptions import StoreUnavailable
from whistle.ids import IdFactory
from whistle.store import Silence, Store
from whistle.timefmt import rfc3339

__all__ = [
    "PROTECTED_SOURCES",
    "Matcher",
    "SilenceMatch",
    "Silences",
    "describe",
    "inert_reason",
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


def describe(silence: Silence, tz: tzinfo) -> SilenceNamed:
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
        self._changed = asyncio.Event()
        self._follower: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"Silences(active={len(self.active())}, total={len(self._all)})"

    async def load(self) -> None:
        self._all = {s.id: s for s in await self._store.silences()}
        for silence in self._all.values():
            if inert_reason(silence) is not None and silence.ends_at > self.clock.now():
                log.warning("silence.inert", silence_id=silence.id, matchers=silence.matchers)

    def follow(self, poll: float = 1.0) -> None:
        """Keep up with silences other processes add or expire (several processes on one
        PostgreSQL database): read them again when the store says they changed, and every
        ``poll`` seconds regardless. Nothing to follow on SQLite."""
        if self._store.watch_silences(self._changed.set):
            self._follower = asyncio.create_task(self._follow(poll), name="silences")

    async def stop(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
            self._follower = None

    async def _follow(self, poll: float) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), poll)
            self._changed.clear()
            try:
                stored = await self._store.silences()
            except StoreUnavailable as exc:
                log.warning("silences.reload_failed", error=str(exc))
                continue
            # Merged, not replaced: a silence this process added or expired while the read
            # ran may be missing from it or older in it. A silence only ever ends earlier.
            fresh = {s.id: s for s in stored}
            for sid, mine in self._all.items():
                theirs = fresh.get(sid)
                if theirs is None or mine.ends_at < theirs.ends_at:
                    fresh[sid] = mine
            self._all = fresh

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
