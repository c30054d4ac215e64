"""Other processes' events onto this process's bus: LISTEN/NOTIFY with a polling fallback.

Every write batch that stores events notifies the channel ``whistle_events`` in its own
transaction (PostgreSQL delivers it at COMMIT). Each process listens on a connection of its
own; on a notification, and at least every ``poll`` seconds whatever arrives (a notification
is lost while the listening connection is down), it reads the log after the last sequence
number it saw and publishes, in log order, the events other processes wrote (its own writer
published its own already, after their commit). The log has one database-wide order with no
gaps (whistle/store/postgres/backend.py), so reading after a sequence number misses nothing.

A broken listening connection is opened again with exponential backoff (``backoff`` doubling
up to ``max_backoff``); meanwhile, and after, the reads catch up from the cursor.

The same connection listens on ``whistle_silences``, which a silence's write notifies: the
callbacks given to ``on_silences`` are called (whistle/silences.py reads them again).

The events' ``origin`` column (the writing connection's ``whistle.origin`` setting) says which
process wrote each one.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
from collections.abc import Callable
from typing import Any

import asyncpg
import structlog

from whistle.bus import Bus
from whistle.exceptions import StoreUnavailable
from whistle.store.postgres._common import ERRORS, EVENT_COLUMNS, Readers, connect, event_of

__all__ = ["CHANNEL", "SILENCES_CHANNEL", "Listener"]

log = structlog.get_logger("whistle.store.postgres")

CHANNEL = "whistle_events"
SILENCES_CHANNEL = "whistle_silences"
_DOWN: tuple[type[Exception], ...] = (StoreUnavailable, *ERRORS)
# How many relayed sequence numbers ``relayed`` remembers.
_REMEMBERED = 100_000
# One read's worth: a burst larger than this is read in several.
_PAGE = 1_000


def _ended(lost: asyncio.Event, _conn: object) -> None:
    lost.set()


class Listener:
    """Feeds ``bus`` with the events other processes write, from ``after`` on."""

    def __init__(
        self,
        dsn: str,
        readers: Readers,
        bus: Bus,
        origin: str,
        *,
        poll: float = 1.0,
        backoff: float = 0.1,
        max_backoff: float = 5.0,
    ) -> None:
        self._dsn = dsn
        self._readers = readers
        self._bus = bus
        self._origin = origin
        self._poll = poll
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self.cursor = 0  # the last sequence number read
        # The sequence numbers of the last events relayed (others' events), oldest first.
        self._relayed: collections.deque[int] = collections.deque(maxlen=_REMEMBERED)
        self._relayed_set: set[int] = set()
        self.received = 0  # events of other processes published here
        self.reconnects = 0
        self._silence_watchers: list[Callable[[], None]] = []

    def __repr__(self) -> str:
        return f"Listener(cursor={self.cursor}, received={self.received})"

    def start(self, after: int) -> None:
        """Start listening and reading after sequence number ``after``."""
        self.cursor = after
        self._stopping = False
        self._tasks = [
            asyncio.create_task(self._listen(), name="store-listen"),
            asyncio.create_task(self._follow(), name="store-follow"),
        ]

    async def stop(self) -> None:
        # The flag as well as the cancel: the follower ends at its next turn even if a
        # cancellation were lost (see _follow).
        self._stopping = True
        self._wake.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def _notified(self, *_: Any) -> None:
        self._wake.set()

    def on_silences(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` whenever a process changes the silences (and once on each
        reconnect, for what changed while the connection was down)."""
        self._silence_watchers.append(wake)

    def _silences_changed(self, *_: Any) -> None:
        for wake in self._silence_watchers:
            wake()

    async def _listen(self) -> None:
        """Hold a LISTEN connection, opening it again with backoff when it breaks."""
        delay = self._backoff
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await connect(self._dsn)
                await conn.add_listener(CHANNEL, self._notified)
                await conn.add_listener(SILENCES_CHANNEL, self._silences_changed)
                self._silences_changed()
                lost = asyncio.Event()
                conn.add_termination_listener(functools.partial(_ended, lost))
                delay = self._backoff
                self._wake.set()  # catch up with what was written while not listening
                await lost.wait()
            except _DOWN as exc:
                log.warning("store.listener_down", error=str(exc), retry_in=delay)
            finally:
                if conn is not None and not conn.is_closed():
                    conn.terminate()
            self.reconnects += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_backoff)

    async def _follow(self) -> None:
        """Read after the cursor on each notification, and every ``poll`` seconds."""
        while not self._stopping:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for returns the wake-up and
            # drops a cancellation that arrives in the same turn of the loop as a NOTIFY (the
            # store closing right after a write), which left close() waiting forever on a
            # follower that kept polling.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll):
                    await self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            try:
                while await self._read_page() == _PAGE:
                    pass
            except _DOWN as exc:
                log.warning("store.listener_read_failed", error=str(exc))

    def relayed(self, seq: int) -> bool:
        """Whether event ``seq`` is another process's, relayed here (among the last
        :data:`_REMEMBERED`: far more than a bus queue holds)."""
        return seq in self._relayed_set

    def _remember(self, seq: int) -> None:
        if len(self._relayed) == self._relayed.maxlen:
            self._relayed_set.discard(self._relayed[0])
        self._relayed.append(seq)
        self._relayed_set.add(seq)

    async def _read_page(self) -> int:
        rows = await self._readers.fetch(
            f"SELECT {EVENT_COLUMNS}, origin FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
            self.cursor,
            _PAGE,
        )
        for row in rows:
            if row["origin"] != self._origin:
                self._remember(int(row["seq"]))
                self._bus.publish(event_of(tuple(row)[:6]))
                self.received += 1
            self.cursor = int(row["seq"])
        return len(rows)
