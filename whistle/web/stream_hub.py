"""The one bus subscription behind every open event stream (``GET /api/v1/stream``).

One :class:`StreamHub` per app subscribes to the bus once, whatever the number of open
streams. For each pass of the event loop (at most one per ``coalesce`` seconds, 10 ms, under
load) it takes what the bus delivered meanwhile, decides once per
*audience* (the connections that see the same events: same scope, or the same responder)
which events it sees, renders each visible event once (its ``id:/event:/data:`` bytes), and
appends the shared bytes to every matching connection's buffer. Each connection's handler
then wakes once and writes all it was given in one write.

The facts a stream filters on (the case's cell, status and 受理编号) come with the event
(:class:`whistle.events.StreamFacts`, set where the event is made). Events without them, read
back from the log or made by a path that does not set them, have theirs read in one batch
per pass (``Store.stream_facts``); a live event that carries its facts costs no store read.

A connection's buffer is bounded (``queue_size`` messages): a browser that cannot keep up is
marked lagging and its stream answers ``event: reset`` and ends, as before; the others are not
held up by it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

import orjson
import structlog
from aiohttp import web

from grids import Cell, Hierarchy
from whistle.auth import Principal, Role
from whistle.bus import Subscription
from whistle.events import Event, StreamFacts
from whistle.timefmt import rfc3339
from whistle.web.keys import BUS, HIERARCHY, STORE, TZ

__all__ = ["Audience", "Connection", "Message", "StreamHub", "render"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Message:
    """One event as every stream sends it: its sequence number and its rendered bytes."""

    seq: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Audience:
    """What decides which events a stream shows: connections with the same audience show the
    same events, so the hub decides once per audience, not once per connection."""

    scope: str | None  # the principal's subtree; None: everything
    responder_id: str | None = None  # a responder: its own notices only

    @classmethod
    def of(cls, principal: Principal) -> Audience:
        if principal.role is Role.RESPONDER:
            return cls(principal.scope, principal.responder_id or "")
        return cls(principal.scope)

    def sees(self, event: Event, cell: Cell | None) -> bool:
        """Whether a stream of this audience shows ``event``, whose case is at ``cell``."""
        if self.responder_id is not None:
            return mine(event, self.responder_id)
        return self.scope is None or (cell is not None and cell.is_within(self.scope))


def mine(event: Event, responder_id: str | None) -> bool:
    """Whether ``event`` is a responder's own news: a notice to it (a new assignment, an urge,
    a supervision), or its own step (a claim, an extension request)."""
    if not responder_id:
        return False
    if event.data.get("responder_id") == responder_id:
        return True
    notify = event.data.get("notify")
    return isinstance(notify, list) and any(
        isinstance(n, dict) and n.get("responder_id") == responder_id for n in notify
    )


def render(event: Event, facts: StreamFacts, tz: tzinfo) -> bytes:
    """The SSE message of ``event`` in summary (the client fetches the case for more)."""
    summary: dict[str, Any] = {
        "seq": event.seq,
        "whistle_id": event.whistle_id,
        "case_number": facts.case_number,
        "type": event.type,
        "at": rfc3339(event.at, tz),
        "status": facts.status,
        "grid": facts.grid,
        "actor": event.actor,
    }
    if event.type == "assignment.added":
        # Why the new assignment exists: escalation and backstop rows stand out in the queue.
        summary["reason"] = event.data.get("reason")
    data = orjson.dumps(summary)
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event.seq, event.type.encode(), data)


def unknown_facts(event: Event) -> StreamFacts:
    """The facts of an event whose case is not stored: its cell when the event names one."""
    grid = event.data.get("grid") if event.type == "whistle.received" else None
    return StreamFacts(grid if isinstance(grid, str) else None, None)


@dataclass(eq=False)
class Connection:
    """One open stream: what the hub gave it and its handler has not written yet.

    ``queued`` is the highest sequence number taken in (the replay's last, then the live
    ones): anything at or below it is a repeat and is dropped (the bus delivers at least
    once, and the live events of a replay's time are also in the replay).
    """

    principal: Principal
    audience: Audience
    limit: int
    queued: int = 0
    sent: int = 0
    lagging: bool = False
    closed: bool = False
    buffered: list[Message] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def offer(self, messages: Sequence[Message]) -> None:
        """Take ``messages`` (ascending) in; mark the connection lagging past its bound."""
        if self.lagging or self.closed:
            return
        if messages[0].seq <= self.queued:
            messages = [m for m in messages if m.seq > self.queued]
            if not messages:
                return
        self.queued = messages[-1].seq
        if len(self.buffered) + len(messages) > self.limit:
            # Never hold the others up for one slow browser: it resets and reloads instead.
            self.lagging = True
            self.buffered.clear()
        else:
            self.buffered.extend(messages)
        self.wake.set()

    def replayed(self, seq: int) -> None:
        """The replay sent everything up to ``seq``: drop what the hub gave meanwhile up to it."""
        self.sent = max(self.sent, seq)
        self.queued = max(self.queued, seq)
        self.buffered = [m for m in self.buffered if m.seq > seq]

    def take(self) -> bytes:
        """Everything buffered, as one write, and clear the wake-up."""
        self.wake.clear()
        if not self.buffered:
            return b""
        batch, self.buffered = self.buffered, []
        self.sent = batch[-1].seq
        return b"".join([m.payload for m in batch])

    def close(self) -> None:
        """Wake the stream's handler to end it."""
        self.closed = True
        self.wake.set()


class StreamHub:
    """The open streams of one app and their one bus subscription (made with the first
    stream, kept until shutdown). ``renders`` counts the messages rendered, and
    ``fact_reads`` the batched reads of facts for events that carried none."""

    def __init__(
        self,
        *,
        heartbeat: float = 15.0,
        recheck: float = 2.0,
        queue_size: int = 1000,
        replay_limit: int = 1000,
        coalesce: float = 0.01,
    ) -> None:
        self.heartbeat = heartbeat
        self.recheck = recheck
        self.queue_size = queue_size
        self.replay_limit = replay_limit
        # At most one delivery per ``coalesce`` seconds: under load each stream wakes and
        # writes at most 1/coalesce times a second, however many commits the writer makes
        # (a console refreshes a row 150 ms after its event anyway). When quiet, an event
        # goes out at once.
        self.coalesce = coalesce
        self.renders = 0
        self.fact_reads = 0
        self.closing = False
        self._groups: dict[Audience, set[Connection]] = {}
        self._open = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._pending: list[Event] = []
        self._ready = asyncio.Event()
        self._subscription: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._app: web.Application | None = None

    def __repr__(self) -> str:
        return f"StreamHub(open={self._open}, audiences={len(self._groups)})"

    @property
    def open_streams(self) -> int:
        return self._open

    @property
    def subscription(self) -> Subscription | None:
        """The hub's one bus subscription (None before the first stream)."""
        return self._subscription

    def connections(self) -> tuple[Connection, ...]:
        """The open streams' connections."""
        return tuple(c for group in self._groups.values() for c in group)

    def connect(self, app: web.Application, principal: Principal, after: int) -> Connection:
        """A new stream of ``principal``, fed from now on with the events after ``after``
        (subscribed before the caller's replay reads the store: nothing falls in between)."""
        if self._subscription is None:
            self._app = app
            self._subscription = app[BUS].subscribe("*", self._feed, name="stream-hub")
            self._task = asyncio.create_task(self._run(), name="stream-hub")
        connection = Connection(principal, Audience.of(principal), self.queue_size)
        connection.queued = connection.sent = after
        self._groups.setdefault(connection.audience, set()).add(connection)
        self._open += 1
        self._idle.clear()
        return connection

    def discard(self, connection: Connection) -> None:
        group = self._groups.get(connection.audience)
        if group is None or connection not in group:
            return
        group.discard(connection)
        if not group:
            del self._groups[connection.audience]
        self._open -= 1
        if not self._open:
            self._idle.set()

    async def wait_idle(self) -> None:
        """Return once no stream is open."""
        await self._idle.wait()

    async def close_all(self) -> None:
        """End every open stream and leave the bus (the app is shutting down)."""
        self.closing = True
        for group in list(self._groups.values()):
            for connection in list(group):
                connection.close()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        subscription, self._subscription = self._subscription, None
        if subscription is not None and self._app is not None:
            with contextlib.suppress(Exception):
                await self._app[BUS].unsubscribe(subscription)

    async def facts(self, app: web.Application, events: Sequence[Event]) -> dict[str, StreamFacts]:
        """The stored facts of the cases of those ``events`` that carry none, in one read."""
        ids = {e.whistle_id for e in events if e.case is None}
        if not ids:
            return {}
        self.fact_reads += 1
        return await app[STORE].stream_facts(sorted(ids))

    def messages(
        self, events: Sequence[Event], known: dict[str, StreamFacts], audiences: Sequence[Audience]
    ) -> dict[Audience, list[Message]]:
        """Each audience's messages of ``events``, every event rendered at most once."""
        assert self._app is not None
        tz: tzinfo = self._app[TZ]
        hierarchy: Hierarchy = self._app[HIERARCHY]
        out: dict[Audience, list[Message]] = {a: [] for a in audiences}
        for event in events:
            facts = event.case or known.get(event.whistle_id) or unknown_facts(event)
            cell = None if facts.grid is None else hierarchy.get(facts.grid)
            message: Message | None = None
            for audience, mine_ in out.items():
                if not audience.sees(event, cell):
                    continue
                if message is None:
                    message = Message(event.seq, render(event, facts, tz))
                    self.renders += 1
                mine_.append(message)
        return out

    async def _feed(self, event: Event) -> None:
        if self._open:
            self._pending.append(event)
            self._ready.set()

    async def _run(self) -> None:
        """Once per loop pass: what the bus delivered meanwhile, to every stream at once."""
        assert self._app is not None
        loop = asyncio.get_running_loop()
        last = 0.0
        while True:
            await self._ready.wait()
            wait = last + self.coalesce - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)  # what arrives meanwhile goes in the same delivery
            last = loop.time()
            self._ready.clear()
            events, self._pending = self._pending, []
            try:
                known = await self.facts(self._app, events)
                self._deliver(events, known)
            except Exception:
                # Nothing may be lost silently: every stream resets, reloads and replays.
                log.exception("stream.hub_failed", events=len(events))
                self._lag_all()

    def _deliver(self, events: Sequence[Event], known: dict[str, StreamFacts]) -> None:
        if not self._groups or not events:
            return
        for audience, messages in self.messages(events, known, list(self._groups)).items():
            if messages:
                for connection in self._groups.get(audience, ()):
                    connection.offer(messages)

    def _lag_all(self) -> None:
        for group in self._groups.values():
            for connection in group:
                connection.lagging = True
                connection.wake.set()
