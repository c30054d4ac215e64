"""``GET /api/v1/stream``: the event log as Server-Sent Events, for the operator console
(and, filtered to its own notices, for a responder's 我的任务).

All connections share one bus subscription, the hub (whistle/web/stream_hub.py): it renders
each event once and hands the bytes to every stream that shows it, once per loop pass, and
each stream writes what it was given in one write. A stream sees only events of cases inside
the principal's subtree (operators, committees; admins see all). Every message is one event
in summary::

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
behind (its bounded buffer fills) or the gap is longer than ``replay_limit``, it sends
``event: reset`` and ends: the client reloads its list and reconnects.

Wiring: :func:`install` adds the route, the hub (``app[STREAMS]``) and an ``on_shutdown``
hook that ends every open stream, so that a graceful shutdown does not wait for browsers.
"""

from __future__ import annotations

import asyncio
import contextlib

import orjson
import structlog
from aiohttp import web

from whistle.auth import Principal, Role
from whistle.bounds import whole_number
from whistle.exceptions import FieldError, Forbidden, InvalidWhistle, Unauthenticated
from whistle.web.access import ACCESS, allow
from whistle.web.keys import STORE
from whistle.web.stream_hub import Connection, StreamHub

__all__ = ["STREAMS", "StreamHub", "close_streams", "install", "routes"]

log = structlog.get_logger(__name__)

routes = web.RouteTableDef()

# Who may follow the live queue (committee reads, operators act, admins see everything);
# a responder follows its own notices only (see stream_hub.mine), for 我的任务.
READERS = (Role.OPERATOR, Role.COMMITTEE, Role.ADMIN, Role.RESPONDER)

STREAMS = web.AppKey("streams", StreamHub)


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
    request: web.Request, response: web.StreamResponse, connection: Connection, after: int
) -> bool:
    """Send the log after ``after`` from the store, a batch of events (and one read of their
    cases' facts) per write; False when the gap was too long."""
    hub = request.app[STREAMS]
    store = request.app[STORE]
    sent = after
    remaining = hub.replay_limit
    while remaining > 0:
        size = min(200, remaining)
        batch = await store.events_after(sent, size)
        if batch:
            known = await hub.facts(request.app, batch)
            messages = hub.messages(batch, known, [connection.audience])[connection.audience]
            if messages:
                await response.write(b"".join([m.payload for m in messages]))
            sent = batch[-1].seq
            connection.replayed(sent)
        remaining -= len(batch)
        if len(batch) < size:
            return True
    return not await store.events_after(sent, 1)


async def _follow(
    request: web.Request, response: web.StreamResponse, connection: Connection
) -> None:
    """Write what the hub gives, with heartbeats and credential rechecks, until the stream
    ends: it fell behind, its credential ended, the browser went or the server stops."""
    hub = request.app[STREAMS]
    principal = connection.principal
    loop = asyncio.get_running_loop()
    next_ping = loop.time() + hub.heartbeat
    next_check = loop.time() + hub.recheck
    while not hub.closing and not connection.closed:
        if connection.lagging:
            await _reset(response, "fell behind: reload the list")
            return
        now = loop.time()
        if now >= next_check:
            # Checked on a timer, not only when idle: a busy stream must end as well.
            why = await _credential_ended(request, principal)
            if why is not None:
                log.info("stream.revoked", principal=principal.id, why=why)
                await _reset(response, why, event="revoked")
                return
            next_check = now + hub.recheck
        if now >= next_ping:
            await response.write(b": ping\n\n")
            next_ping = now + hub.heartbeat
        if not connection.wake.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, min(next_ping, next_check) - loop.time())):
                    await connection.wake.wait()
        data = connection.take()
        if data:
            await response.write(data)


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
    # Fed by the hub before the replay reads the store, so that nothing falls in between.
    connection = hub.connect(request.app, principal, after or 0)
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
        await _follow(request, response, connection)
    except (ConnectionError, asyncio.CancelledError) as exc:
        # The browser went away (or the server is stopping): nothing to answer.
        log.info("stream.gone", principal=principal.id, why=type(exc).__name__)
        if isinstance(exc, asyncio.CancelledError):
            raise
    finally:
        hub.discard(connection)
        log.info("stream.closed", principal=principal.id, sent=connection.sent)
    return response
