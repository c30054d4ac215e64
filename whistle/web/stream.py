"""``GET /api/v1/stream``: the event log as Server-Sent Events, for the operator console
(and, filtered to its own notices, for a responder's 我的任务).

Each connection subscribes to the bus with its own bounded queue, and unsubscribes when the
browser goes away. It sees only events of cases inside the principal's subtree (operators,
committees; admins see all). Every message is one event in summary::

    id: 42
    event: assignment.added
    data: {"seq": 42, "whistle_id": "…", "case_number": "DX2612-0042",
           "type": "assignment.added", "at": "…+08:00",
           "status": "dispatched", "grid": "…", "actor": "…", "reason": "escalation"}

The client fetches the case itself for more. A comment line (``: ping``) goes out every
``heartbeat`` seconds so that proxies keep the connection and a closed one is noticed.

A stream lives no longer than its credential. Every ``recheck`` seconds it authenticates its
request again, as a new request would be: through the token cache (a revocation made by this
process is seen at once, one made by another process within the cache's 5 s) or the
session in the store (a logout anywhere is seen at once). When the token was revoked or has
expired, the session ended, or the principal changed, it sends ``event: revoked`` with the
reason and ends.

Nothing is lost across reconnects: the browser's ``EventSource`` sends ``Last-Event-ID`` and
the stream first replays the log after it from the store, then goes live (the bus delivers
at least once, so the stream drops repeats by ``seq``). When a connection falls too far
behind (its queue fills) or the gap is longer than ``replay_limit``, it sends ``event: reset``
and ends: the client reloads its list and reconnects.

Wiring: :func:`install` adds the route, the hub (``app[STREAMS]``) and an ``on_shutdown``
hook that ends every open stream, so that a graceful shutdown does not wait for browsers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from aiohttp import web

from whistle.auth import Principal, Role
from whistle.bounds import whole_number
from whistle.bus import Subscription
from whistle.events import Event
from whistle.exceptions import FieldError, Forbidden, InvalidWhistle, Unauthenticated
from whistle.timefmt import rfc3339
from whistle.web.access import ACCESS, allow
from whistle.web.keys import BUS, HIERARCHY, STORE, TZ

__all__ = ["STREAMS", "StreamHub", "close_streams", "install", "routes"]

log = structlog.get_logger(__name__)

routes = web.RouteTableDef()

# Who may follow the live queue (committee reads, operators act, admins see everything);
# a responder follows its own notices only (see :func:`_mine`), for 我的任务.
READERS = (Role.OPERATOR, Role.COMMITTEE, Role.ADMIN, Role.RESPONDER)


@dataclass(frozen=True, slots=True)
class _Facts:
    """What a stream needs to know of an event's case: where it is and how it stands."""

    grid: str | None
    status: str | None
    case_number: str | None = None  # 受理编号


@dataclass(eq=False)
class _Connection:
    """One open stream: its queue, and whether it fell behind."""

    principal: Principal
    queue: asyncio.Queue[Event | None]
    lagging: bool = False
    sent: int = 0
    subscription: Subscription | None = field(default=None, repr=False)

    def offer(self, event: Event) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            # Never block the bus for one slow browser: mark it, it will reset and replay.
            self.lagging = True

    def close(self) -> None:
        """Wake the stream with the end marker, even when its queue is full."""
        while True:
            try:
                self.queue.put_nowait(None)
                return
            except asyncio.QueueFull:
                self.queue.get_nowait()


class StreamHub:
    """The open streams of one app, and a small shared memo of each event's case facts, so
    that N open consoles cost one store read per event, not N."""

    def __init__(
        self,
        *,
        heartbeat: float = 15.0,
        recheck: float = 2.0,
        queue_size: int = 1000,
        replay_limit: int = 1000,
        memo_size: int = 4096,
    ) -> None:
        self.heartbeat = heartbeat
        self.recheck = recheck
        self.queue_size = queue_size
        self.replay_limit = replay_limit
        self._memo_size = memo_size
        self._memo: OrderedDict[int, asyncio.Task[_Facts]] = OrderedDict()
        self._open: set[_Connection] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self.closing = False

    def __repr__(self) -> str:
        return f"StreamHub(open={len(self._open)}, heartbeat={self.heartbeat})"

    @property
    def open_streams(self) -> int:
        return len(self._open)

    def add(self, connection: _Connection) -> None:
        self._open.add(connection)
        self._idle.clear()

    def discard(self, connection: _Connection) -> None:
        self._open.discard(connection)
        if not self._open:
            self._idle.set()

    async def wait_idle(self) -> None:
        """Return once no stream is open (each has also left the bus by then)."""
        await self._idle.wait()

    async def facts(self, app: web.Application, event: Event) -> _Facts:
        """The case's grid and status for ``event`` (read once per event, shared)."""
        task = self._memo.get(event.seq)
        if task is None:
            task = asyncio.create_task(_read_facts(app, event), name=f"stream-facts:{event.seq}")
            self._memo[event.seq] = task
            while len(self._memo) > self._memo_size:
                self._memo.popitem(last=False)
        # Shielded: one stream going away must not cancel a read that others wait for.
        return await asyncio.shield(task)

    async def close_all(self) -> None:
        """End every open stream (the app is shutting down)."""
        self.closing = True
        for connection in list(self._open):
            connection.close()
        for task in self._memo.values():
            task.cancel()
        self._memo.clear()


STREAMS = web.AppKey("streams", StreamHub)


async def _read_facts(app: web.Application, event: Event) -> _Facts:
    stored = await app[STORE].get_whistle(event.whistle_id)
    grid = event.data.get("grid") if event.type == "whistle.received" else None
    if stored is None:
        return _Facts(grid if isinstance(grid, str) else None, None)
    return _Facts(
        str(stored.row_doc["grid"]["code"]), stored.status, stored.row_doc.get("case_number")
    )


def install(app: web.Application, *, heartbeat: float = 15.0) -> None:
    """Wire the stream into ``app``: its route, its hub and its shutdown hook."""
    app[STREAMS] = StreamHub(heartbeat=heartbeat)
    app.add_routes(routes)
    app.on_shutdown.append(close_streams)


async def close_streams(app: web.Application) -> None:
    """``on_shutdown`` hook: end every open stream so the server need not wait for them."""
    hub = app.get(STREAMS)
    if hub is not None:
        log.info("stream.closing", open=hub.open_streams)
        await hub.close_all()


_MAX_SEQ = 2**63 - 1  # SQLite's largest INTEGER: an event seq is never more


def _last_event_id(request: web.Request) -> int | None:
    """``Last-Event-ID`` (sent by EventSource on reconnect) or ``?last_event_id=``: an event
    ``seq`` (ASCII digits, at most 2^63 - 1, what SQLite's INTEGER holds). Anything else is
    400 naming the one that was sent, before the stream opens."""
    for name, raw in (
        ("Last-Event-ID", request.headers.get("Last-Event-ID")),
        ("last_event_id", request.query.get("last_event_id")),
    ):
        if raw is None or not raw.strip():
            continue
        try:
            return whole_number(raw.strip(), lo=0, hi=_MAX_SEQ)
        except ValueError as exc:
            raise InvalidWhistle([FieldError(name, str(exc))], status=400) from None
    return None


def _sse(event: Event, facts: _Facts, request: web.Request) -> bytes:
    summary: dict[str, Any] = {
        "seq": event.seq,
        "whistle_id": event.whistle_id,
        "case_number": facts.case_number,
        "type": event.type,
        "at": rfc3339(event.at, request.app[TZ]),
        "status": facts.status,
        "grid": facts.grid,
        "actor": event.actor,
    }
    if event.type == "assignment.added":
        # Why the new assignment exists: escalation and backstop rows stand out in the queue.
        summary["reason"] = event.data.get("reason")
    data = orjson.dumps(summary).decode()
    return f"id: {event.seq}\nevent: {event.type}\ndata: {data}\n\n".encode()


def _mine(event: Event, responder_id: str | None) -> bool:
    """Whether ``event`` is a responder's own news: a notice to it (a new assignment, an urge,
    a supervision), or its own step (a claim, an extension request)."""
    if responder_id is None:
        return False
    if event.data.get("responder_id") == responder_id:
        return True
    notify = event.data.get("notify")
    return isinstance(notify, list) and any(
        isinstance(n, dict) and n.get("responder_id") == responder_id for n in notify
    )


def _visible(request: web.Request, principal: Principal, facts: _Facts, event: Event) -> bool:
    if principal.role is Role.RESPONDER:
        return _mine(event, principal.responder_id)
    if principal.scope is None:
        return True
    cell = None if facts.grid is None else request.app[HIERARCHY].get(facts.grid)
    return cell is not None and principal.covers(cell)


async def _send(
    request: web.Request,
    response: web.StreamResponse,
    connection: _Connection,
    event: Event,
) -> None:
    if event.seq <= connection.sent:
        return  # a repeat: replayed already, or delivered twice by the bus
    hub = request.app[STREAMS]
    facts = await hub.facts(request.app, event)
    if _visible(request, connection.principal, facts, event):
        await response.write(_sse(event, facts, request))
    connection.sent = event.seq


async def _reset(response: web.StreamResponse, why: str, *, event: str = "reset") -> None:
    data = orjson.dumps({"why": why}).decode()
    await response.write(f"event: {event}\ndata: {data}\n\n".encode())


async def _credential_ended(request: web.Request, principal: Principal) -> str | None:
    """Why the stream's credential no longer holds (None: it still does)."""
    try:
        now = await request.app[ACCESS].authenticate(request)
    except (Unauthenticated, Forbidden) as exc:
        return str(exc)
    if now != principal:
        return "the login's role or scope changed; reconnect"
    return None


async def _replay(
    request: web.Request, response: web.StreamResponse, connection: _Connection, after: int
) -> bool:
    """Send the log after ``after`` from the store; False when the gap was too long."""
    hub = request.app[STREAMS]
    store = request.app[STORE]
    connection.sent = after
    remaining = hub.replay_limit
    while remaining > 0:
        size = min(200, remaining)
        batch = await store.events_after(connection.sent, size)
        for event in batch:
            await _send(request, response, connection, event)
        remaining -= len(batch)
        if len(batch) < size:
            return True
    return not await store.events_after(connection.sent, 1)


@routes.get("/api/v1/stream")
async def stream(request: web.Request) -> web.StreamResponse:
    """The live event stream of the principal's subtree (text/event-stream)."""
    principal = allow(request, *READERS)
    if request.method == "HEAD":
        # A HEAD answer has no body: stream bytes after its head would be read by the client
        # as the next response on the connection.
        return web.Response(headers={"Content-Type": "text/event-stream; charset=utf-8"})
    after = _last_event_id(request)  # a bad one is a 400, so before the stream opens
    hub = request.app[STREAMS]
    bus = request.app[BUS]
    connection = _Connection(principal, asyncio.Queue(hub.queue_size))

    async def feed(event: Event) -> None:
        connection.offer(event)

    # Subscribed before the replay reads the store, so that nothing falls in between.
    connection.subscription = bus.subscribe("*", feed, name=f"stream:{principal.id}")
    hub.add(connection)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache, no-transform",
            "X-Accel-Buffering": "no",  # nginx and friends: pass each message on at once
        }
    )
    log.info("stream.opened", principal=principal.id, scope=principal.scope)
    try:
        await response.prepare(request)
        await response.write(b"retry: 3000\n: connected\n\n")
        if after is not None and not await _replay(request, response, connection, after):
            await _reset(response, "too far behind: reload the list")
            return response
        loop = asyncio.get_running_loop()
        next_ping = loop.time() + hub.heartbeat
        next_check = loop.time() + hub.recheck
        while not hub.closing:
            if connection.lagging:
                await _reset(response, "fell behind: reload the list")
                break
            now = loop.time()
            if now >= next_check:
                # Checked on a timer, not only when idle: a busy stream must end as well.
                why = await _credential_ended(request, principal)
                if why is not None:
                    log.info("stream.revoked", principal=principal.id, why=why)
                    await _reset(response, why, event="revoked")
                    break
                next_check = now + hub.recheck
            if now >= next_ping:
                await response.write(b": ping\n\n")
                next_ping = now + hub.heartbeat
            try:
                async with asyncio.timeout(max(0.0, min(next_ping, next_check) - loop.time())):
                    event = await connection.queue.get()
            except TimeoutError:
                continue
            if event is None:
                break
            await _send(request, response, connection, event)
    except (ConnectionError, asyncio.CancelledError) as exc:
        # The browser went away (or the server is stopping): nothing to answer.
        log.info("stream.gone", principal=principal.id, why=type(exc).__name__)
        if isinstance(exc, asyncio.CancelledError):
            raise
    finally:
        with contextlib.suppress(Exception):
            await bus.unsubscribe(connection.subscription)
        hub.discard(connection)
        log.info("stream.closed", principal=principal.id, sent=connection.sent)
    return response
