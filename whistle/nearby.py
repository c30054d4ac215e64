"""Likely duplicates (疑似重复): open whistles of one category near each other in place and time.

Two whistles are possible duplicates when they are of the same category, came in within the
category's ``duplicate_window`` of each other, and

- both have a point, and the points lie within the category's ``duplicate_radius``, whatever
  cells they fell in (two points 7 m apart across a grid boundary are nearby); or
- one of them was placed by a grid code alone: then its grid (the level-4 cell, or its own
  cell when placed higher) is all that is known of where it is, and the two must share it.

Distances are great-circle (haversine on a sphere of the Earth's mean radius): exact enough at
these distances and cheap. The radius and the window are per category, in the catalog; a
category without a window of its own takes ``lifecycle.toml``'s ``duplicate_window``.

Only citizens' and community party organisations' whistles take part (the 12345 hotline, the
citizens' door and Open311 file citizen whistles). Camera repeats have their own grouping
(``whistle.grouping``); police alerts come deduplicated from the police system; a town
committee's whistle is a decision to summon units, not a report to match. Only open cases are
suggested: not closed, rated, merged or muted ones.

The lookup is an index in memory of the recent whistles' points by category, bucketed by
rounded latitude and longitude (a bucket is one radius tall), and by grid; it is rebuilt from
the store on start for the window, so a lookup reads no table. A whistle registers in the
index before its write is awaited, in the same step as its own lookup (no await in between),
so of two whistles filed at once the second to register always finds the first: it waits for
the first's write to settle, lists it, and the first case's document gains the second through
a ``case.possible_duplicate`` event written in the second's transaction (a note that leaves
the first case's version alone: see ``dispatch.case.NOTES``).
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from dispatch import Catalog, LifecyclePolicy, Source
from dispatch.case import CaseStatus
from whistle.clock import Clock
from whistle.events import NewEvent
from whistle.store import Store

__all__ = ["OPEN", "SOURCES", "Claim", "Match", "Nearby", "distance_m", "duplicate_links"]

SOURCES = frozenset({Source.CITIZEN, Source.COMMUNITY})
# Open: still being handled, or waiting for verification, or on hold (a held pothole reported
# again is still the same pothole).
OPEN = tuple(
    sorted(
        s.value
        for s in CaseStatus
        if s not in (CaseStatus.CLOSED, CaseStatus.RATED, CaseStatus.CANCELLED, CaseStatus.MUTED)
    )
)
EARTH_RADIUS_M = 6_371_008.8  # the mean radius (IUGG)
_M_PER_DEGREE = math.pi * EARTH_RADIUS_M / 180.0
_MOST = 20  # suggestions per whistle, newest first

_K = TypeVar("_K")


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True, slots=True)
class Match:
    """An earlier whistle this one may duplicate; ``distance_m`` None when matched by grid."""

    whistle_id: str
    distance_m: float | None


@dataclass(eq=False, slots=True)
class _Entry:
    whistle_id: str
    at: datetime
    near: str
    lat: float | None
    lon: float | None
    bucket: tuple[int, int] | None
    # While its write is under way: resolved once the write is queued in the store (True)
    # or given up (False). None once the whistle is known to be on disk.
    queued: asyncio.Future[bool] | None = None
    gone: bool = False  # its write failed: it is no duplicate of anything


@dataclass(eq=False, slots=True)
class _Category:
    """The index of one category: its recent whistles in arrival order, by bucket, by grid."""

    radius: float
    window: timedelta
    size: float  # the bucket's side in degrees: one radius of latitude
    order: deque[_Entry] = field(default_factory=deque)
    buckets: dict[tuple[int, int], list[_Entry]] = field(default_factory=dict)
    grids: dict[str, list[_Entry]] = field(default_factory=dict)

    def bucket(self, lat: float, lon: float) -> tuple[int, int]:
        return (math.floor(lat / self.size), math.floor(lon / self.size))

    def add(self, entry: _Entry) -> None:
        self.order.append(entry)
        self.grids.setdefault(entry.near, []).append(entry)
        if entry.bucket is not None:
            self.buckets.setdefault(entry.bucket, []).append(entry)

    def remove(self, entry: _Entry) -> None:
        _drop(self.grids, entry.near, entry)
        if entry.bucket is not None:
            _drop(self.buckets, entry.bucket, entry)

    def prune(self, now: datetime) -> None:
        """Forget whistles older than the window (they arrive in time order)."""
        since = now - self.window
        order = self.order
        while order and order[0].at < since:
            self.remove(order.popleft())

    def around(self, lat: float, lon: float) -> Iterable[_Entry]:
        """The entries of the buckets that can hold a point within the radius."""
        row, col = self.bucket(lat, lon)
        # A bucket is one radius of latitude tall, and narrower in metres the further north:
        # look as many buckets east and west as a radius spans at that latitude.
        cos = math.cos(math.radians(min(89.0, abs(lat) + self.size)))
        span = math.ceil(1.0 / max(cos, 0.01))
        for r in (row - 1, row, row + 1):
            for c in range(col - span, col + span + 1):
                yield from self.buckets.get((r, c), ())


def _drop(index: dict[_K, list[_Entry]], key: _K, entry: _Entry) -> None:
    entries = index.get(key)
    if entries is None:
        return
    try:
        entries.remove(entry)
    except ValueError:  # removed before (an abandoned write), now pruned
        return
    if not entries:
        del index[key]


class Claim:
    """A whistle's place in the index while it is being written: what it found, and its
    promises to say when its write is queued (:meth:`queued`) and whether it happened
    (:meth:`done`, always, once).

    Ordering: a whistle that matched others still being written waits until each of their
    writes is queued, and only then queues its own. The store's writer takes the queue in
    order, so the earlier whistle is written in the same transaction (where the whistles'
    rows go in before the links to them) or in an earlier one, never later. Waiting for
    the queue rather than the commit keeps a burst of whistles at one place in one batch.
    The price: when the earlier write fails after it was queued (the database refused the
    whole batch), the later whistle, if stored, lists a number that is not; its case page
    shows that number alone.
    """

    __slots__ = ("_entry", "_index", "_waiting", "found")

    def __init__(
        self,
        index: _Category | None,
        entry: _Entry | None,
        found: list[Match],
        waiting: Sequence[_Entry] = (),
    ) -> None:
        self._index = index
        self._entry = entry
        self._waiting = waiting
        self.found = found

    def __repr__(self) -> str:
        return f"Claim(found={len(self.found)})"

    async def settle(self, store: Store) -> list[Match]:
        """The matches to list: those on disk that are still open, and those being written
        once their writes are queued (each was registered before this one, so the waits
        never go round in a circle)."""
        for entry in self._waiting:
            if entry.queued is not None and not entry.queued.done():
                # shield: a caller that goes away must not cancel the other whistle's promise.
                await asyncio.shield(entry.queued)
        in_flight = {e.whistle_id for e in self._waiting if not e.gone}
        stored = [m.whistle_id for m in self.found if m.whistle_id not in in_flight]
        # A case on disk may have closed or been merged since it was indexed; one whistle
        # being written is new, so open (and not yet visible to a reader).
        still = await store.open_among(stored, OPEN) if stored else set()
        self.found = [m for m in self.found if m.whistle_id in in_flight or m.whistle_id in still]
        return self.found

    def queued(self) -> None:
        """Say that the whistle's write is about to be queued: call it right before awaiting
        the store's ``create_whistle``, which queues before it first yields, so whistles
        woken by this run only after the write is in the queue."""
        entry = self._entry
        if entry is not None and entry.queued is not None and not entry.queued.done():
            entry.queued.set_result(True)

    def done(self, written: bool) -> None:
        """Say whether the whistle is on disk; a whistle that is not leaves the index."""
        entry = self._entry
        if entry is None or entry.queued is None:
            return
        if not written:
            entry.gone = True
            if self._index is not None:
                self._index.remove(entry)
        if not entry.queued.done():
            entry.queued.set_result(written)
        entry.queued = None


class Nearby:
    """The index of recent open whistles by category, place and time."""

    def __init__(self, catalog: Catalog, policy: LifecyclePolicy, clock: Clock) -> None:
        self._clock = clock
        self._categories: dict[str, _Category] = {}
        for category in catalog:
            window = (category.duplicate_window or policy.duplicate_window).as_timedelta()
            size = category.duplicate_radius_m / _M_PER_DEGREE
            self._categories[category.code] = _Category(category.duplicate_radius_m, window, size)
        self._longest = max((c.window for c in self._categories.values()), default=timedelta(0))

    def __repr__(self) -> str:
        held = sum(len(c.order) for c in self._categories.values())
        return f"Nearby(categories={len(self._categories)}, held={held})"

    @staticmethod
    def applies(source: Source) -> bool:
        """True when whistles of ``source`` are matched at all."""
        return source in SOURCES

    async def load(self, store: Store) -> int:
        """Fill the index with the open whistles the store holds inside each category's
        window (on start); returns how many it holds."""
        now = self._clock.now()
        rows = await store.recent_whistles(now - self._longest, [s.value for s in SOURCES], OPEN)
        held = 0
        for row in rows:  # oldest first
            index = self._categories.get(row.category)
            if index is None or row.received_at < now - index.window:
                continue
            bucket = None
            if row.lat is not None and row.lon is not None:
                bucket = index.bucket(row.lat, row.lon)
            index.add(_Entry(row.id, row.received_at, row.near, row.lat, row.lon, bucket))
            held += 1
        return held

    def claim(
        self,
        whistle_id: str,
        category: str,
        at: datetime,
        near: str,
        lat: float | None,
        lon: float | None,
        *,
        register: bool = True,
    ) -> Claim:
        """Look up the earlier whistles ``whistle_id`` may duplicate and (unless
        ``register`` is false: a muted whistle is no case to suggest) enter it in the index,
        in one step with no await. Then :meth:`Claim.settle` the matches, write, and say
        :meth:`Claim.done`."""
        index = self._categories.get(category)
        if index is None:
            return Claim(None, None, [])
        index.prune(at)
        since = at - index.window
        matched: list[tuple[_Entry, float | None]] = []
        if lat is not None and lon is not None:
            for entry in index.around(lat, lon):
                if entry.lat is None or entry.lon is None or entry.at < since:
                    continue
                d = distance_m(lat, lon, entry.lat, entry.lon)
                if d <= index.radius:
                    matched.append((entry, round(d, 1)))
            for entry in index.grids.get(near, ()):
                if entry.lat is None and entry.at >= since:
                    matched.append((entry, None))
        else:
            matched = [(e, None) for e in index.grids.get(near, ()) if e.at >= since]
        matched.sort(key=lambda pair: pair[0].at, reverse=True)
        matched = matched[:_MOST]
        mine = None
        if register:
            bucket = None if lat is None or lon is None else index.bucket(lat, lon)
            mine = _Entry(whistle_id, at, near, lat, lon, bucket)
            mine.queued = asyncio.get_running_loop().create_future()
            index.add(mine)
        found = [Match(e.whistle_id, d) for e, d in matched]
        waiting = [e for e, _ in matched if e.queued is not None]
        return Claim(index, mine, found, waiting)


def duplicate_links(matches: Sequence[Match], whistle_id: str, at: datetime) -> list[NewEvent]:
    """The events that give each earlier case the new whistle as a possible duplicate (the
    store writes them with the new whistle, see ``NewWhistle.linked``)."""
    return [
        NewEvent(
            "case.possible_duplicate",
            m.whistle_id,
            at,
            "intake",
            {"whistle": whistle_id, "distance_m": m.distance_m},
        )
        for m in matches
    ]
