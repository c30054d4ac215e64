"""Slow or dead webhook receivers slow neither intake nor the deadline scheduler.

Every responder of the small county has a webhook to one real local receiver, which is, in
turn: healthy (answers at once), hanging (takes the request and never answers), dead (a port
nothing listens on: connection refused) and slow (answers after 3 s, within the 5 s attempt
timeout). For each, a burst of whistles goes in and then the fake clock is moved past every
acknowledgement deadline and the scheduler ticks. What is checked is what happened, not how
long it took: a whistle answered 201 while the receiver held an earlier notice and before any
attempt to it had ended (so intake did not wait for a delivery), every deadline fired once,
and the notifier counted what the receiver did to it.
"""

from __future__ import annotations

import asyncio
import csv
import shutil
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from grids import Hierarchy
from tests.support.harness import Live, StartServer
from tests.support.reliability import FULL, body, stored_ids
from whistle.clock import FakeClock
from whistle.events import Event
from whistle.web.keys import CASES, WEBHOOKS
from whistle.webhooks import Endpoint, WebhookCounts, WebhookNotifier

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

SECRET = "s3cret-s3cret-s3cret"
BURST = 400 if FULL else 150  # whistles per receiver kind
CLIENTS = 32  # concurrent intake clients
SLOW = 3.0  # the slow receiver's delay: within the notifier's 5 s attempt timeout


@dataclass
class Receiver:
    """A local webhook receiver that behaves as ``kind`` says, counting what it sees."""

    kind: str
    url: str = ""
    server: TestServer | None = None
    refusing: socket.socket | None = None  # the dead receiver's bound, unlistening port
    received: int = 0
    answered: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    holding: asyncio.Event = field(default_factory=asyncio.Event)  # a request is held
    four_in_flight: asyncio.Event = field(default_factory=asyncio.Event)

    async def hook(self, request: web.Request) -> web.Response:
        self.received += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        if self.in_flight >= 4:
            self.four_in_flight.set()
        try:
            await request.read()
            if self.kind == "hanging":
                self.holding.set()
                await self.release.wait()  # never, until the test ends
            elif self.kind == "slow":
                self.holding.set()
                await asyncio.sleep(SLOW)
            self.answered += 1
            return web.Response(status=200)
        finally:
            self.in_flight -= 1


async def open_receiver(kind: str) -> Receiver:
    recv = Receiver(kind)
    if kind == "dead":
        # Bound but never listening: connections are refused, and no other process can take
        # the port while the test runs (a port merely found free could be).
        recv.refusing = socket.socket()
        recv.refusing.bind(("127.0.0.1", 0))
        recv.url = f"http://127.0.0.1:{recv.refusing.getsockname()[1]}/hook"
        return recv
    app = web.Application()
    app.router.add_post("/hook", recv.hook)
    recv.server = TestServer(app, host="127.0.0.1")
    await recv.server.start_server()
    recv.url = str(recv.server.make_url("/hook"))
    return recv


async def close_receiver(recv: Receiver) -> None:
    recv.release.set()
    if recv.server is not None:
        await recv.server.close()
    if recv.refusing is not None:
        recv.refusing.close()


@pytest.fixture
async def receiver(request: pytest.FixtureRequest) -> AsyncIterator[Receiver]:
    recv = await open_receiver(str(request.param))
    try:
        yield recv
    finally:
        await close_receiver(recv)


def config_with_hooks(county_dir: Path, target: Path, url: str) -> Path:
    """The county with every responder's webhook going to ``url``."""
    shutil.copytree(county_dir, target)
    with (county_dir / "responders.csv").open(encoding="utf-8", newline="") as stream:
        ids = [row["id"] for row in csv.DictReader(stream)]
    lines = ["responder,url,secret", *(f"{rid},{url},{SECRET}" for rid in ids)]
    (target / "webhooks.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def ended(counts: WebhookCounts) -> int:
    """Attempts that have come to an end, whichever way (a retry follows a failed attempt)."""
    return counts.delivered + counts.failed + counts.retries


@dataclass
class Run:
    live: Live
    ids: list[str]
    fired: int
    due: int


async def whistle(live: Live, county: Hierarchy, kind: str, n: int) -> str:
    status, _, doc = await live.post(body(county, n), **{"Idempotency-Key": f"{kind}-{n}"})
    assert status == 201, doc
    return str(doc["id"])


async def burst_then_tick(
    start_server: StartServer,
    county: Hierarchy,
    county_dir: Path,
    clock: FakeClock,
    tmp_path: Path,
    recv: Receiver,
) -> Run:
    config = config_with_hooks(county_dir, tmp_path / f"config-{recv.kind}", recv.url)
    live = await start_server(db=tmp_path / f"{recv.kind}.sqlite3", config=config)
    await live.auth()
    notifier = live.app[WEBHOOKS]
    ids = [await whistle(live, county, recv.kind, 0)]
    if recv.kind in ("hanging", "slow"):
        # The first whistle's notice reaches the receiver, which holds it. A second whistle
        # is answered 201 while it is held: nothing answered, no attempt ended. An intake
        # that waited for its delivery could answer only once an attempt had ended (the
        # slow receiver's 3 s, or the hanging one's 5 s timeout).
        async with asyncio.timeout(30):
            await recv.holding.wait()
        assert recv.answered == 0
        ids.append(await whistle(live, county, recv.kind, 1))
        assert recv.answered == 0, "intake waited for a delivery"
        assert ended(notifier.counts) == 0, "intake waited for a delivery"
        assert recv.in_flight > 0
    elif recv.kind == "dead":
        # The first whistle's notices are refused and wait for their retries (six attempts,
        # backing off from 1 s: some 15 s at least before one is given up). A second
        # whistle is answered while they wait; an intake that waited for its delivery would
        # answer only once the notifier had given up on it.
        await counted(notifier, lambda c: c.retries > 0)
        ids.append(await whistle(live, county, recv.kind, 1))
        assert notifier.counts.failed == 0, "intake waited for a delivery"
        assert notifier.counts.delivered == 0

    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(len(ids), BURST):
        queue.put_nowait(n)

    async def client() -> None:
        while not queue.empty():
            ids.append(await whistle(live, county, recv.kind, queue.get_nowait()))

    async with asyncio.timeout(120):
        await asyncio.gather(*(client() for _ in range(CLIENTS)))
    assert sorted(ids) == sorted(stored_ids(live.db))

    # Every acknowledgement deadline (30 min for a normal whistle) passes; the scheduler's
    # tick fires them while the receiver still holds, refuses or delays the notices. A tick
    # that waited for deliveries would wait a timeout per firing (5 s for the hanging
    # receiver, at least BURST of them): far past this bound.
    cases = live.app[CASES]
    due = sum(1 for _ in _pending_acknowledgements(cases, ids))
    clock.advance(timedelta(hours=1))
    async with asyncio.timeout(120):
        fired = await cases.tick()
    counts = notifier.counts
    assert counts.pending <= 10_000  # the notifier's bound on undelivered notices
    if recv.kind != "dead":
        # At most per_receiver (4) attempts at once to one receiver, however many wait.
        assert recv.max_in_flight <= 4
    if recv.kind == "hanging":
        assert recv.answered == 0  # it held everything, through the burst and the tick
    return Run(live=live, ids=ids, fired=fired, due=due)


def _pending_acknowledgements(cases: Any, ids: list[str]) -> list[tuple[str, str]]:
    return [
        (whistle_id, key)
        for whistle_id in ids
        for key in cases.timer.pending(whistle_id)
        if key.endswith(":acknowledge")
    ]


async def counted(
    notifier: WebhookNotifier, until: Callable[[WebhookCounts], bool]
) -> WebhookCounts:
    """The notifier's counts once ``until(counts)`` holds (within 60 s)."""
    async with asyncio.timeout(60):
        while not until(notifier.counts):  # noqa: ASYNC110 -- polls a counter
            await asyncio.sleep(0.05)
    return notifier.counts


@pytest.mark.parametrize(
    "receiver", ["healthy", "hanging", "dead", "slow"], indirect=True, ids=lambda k: str(k)
)
async def test_a_bad_receiver_slows_neither_intake_nor_the_scheduler(
    start_server: StartServer,
    county: Hierarchy,
    county_dir: Path,
    clock: FakeClock,
    tmp_path: Path,
    receiver: Receiver,
) -> None:
    run = await burst_then_tick(start_server, county, county_dir, clock, tmp_path, receiver)
    # Every acknowledgement deadline fired, once, at the tick that found it past.
    assert run.due > 0
    assert run.fired == run.due
    notifier = run.live.app[WEBHOOKS]
    # What each receiver did shows in the notifier's counts.
    if receiver.kind == "healthy":
        counts = await counted(notifier, lambda c: c.delivered > 0 and c.pending == 0)
        assert counts.failed == counts.retries == 0
        assert receiver.answered == counts.delivered
    elif receiver.kind == "slow":
        counts = await counted(notifier, lambda c: c.delivered > 0)
        assert receiver.answered > 0
    elif receiver.kind == "dead":
        counts = await counted(notifier, lambda c: c.retries + c.failed > 0)
        assert counts.delivered == 0
    else:
        assert receiver.received > 0  # reached, and holding
        assert notifier.counts.delivered == 0


# ------------------------------------------------------ the notifier's own bounds, directly


def _event(n: int, responder: str = "R1") -> Event:
    from datetime import UTC, datetime

    notify = [{"responder_id": responder, "notice": "assignment", "summary": "x"}]
    return Event(
        n, "whistle.routed", f"W{n}", datetime(2026, 11, 23, tzinfo=UTC), None, {"notify": notify}
    )


@pytest.mark.parametrize("receiver", ["hanging"], indirect=True)
async def test_a_hanging_receiver_holds_at_most_its_slots_and_the_pending_bound(
    receiver: Receiver,
) -> None:
    """200 notices to a receiver that never answers: 4 attempts in flight (per receiver), 50
    pending (max_pending), the rest dropped and counted; and handing them over is instant."""
    notifier = WebhookNotifier(
        {"R1": Endpoint("R1", receiver.url, SECRET)},
        FakeClock(),
        timeout=30.0,
        per_receiver=4,
        max_pending=50,
    )
    await notifier.start()
    try:
        for n in range(200):
            await notifier.handle(_event(n))
            # handle() never waits for a delivery: each notice is taken before any attempt
            # to the receiver (which answers nothing, with a 30 s timeout) could end.
            assert ended(notifier.counts) == 0, n
        async with asyncio.timeout(10):
            await receiver.four_in_flight.wait()
        await asyncio.sleep(0.2)  # room for a fifth attempt, if the bound were broken
        assert receiver.max_in_flight == 4
        counts = notifier.counts
        assert counts.pending == 50
        assert counts.dropped == 150
    finally:
        await notifier.stop(drain_timeout=0)
    assert notifier.counts.cancelled == 50


@pytest.mark.parametrize("receiver", ["hanging"], indirect=True)
async def test_a_dead_receivers_backlog_does_not_get_other_receivers_notices_dropped(
    receiver: Receiver,
) -> None:
    """The hanging receiver fills its own bound (20), not the common one (100): notices to a
    healthy receiver that come after are all delivered."""
    healthy = await open_receiver("healthy")
    notifier = WebhookNotifier(
        {
            "R1": Endpoint("R1", receiver.url, SECRET),
            "R2": Endpoint("R2", healthy.url, SECRET),
        },
        FakeClock(),
        timeout=30.0,
        max_pending=100,
        max_pending_per_receiver=20,
    )
    await notifier.start()
    try:
        for n in range(200):
            await notifier.handle(_event(n, "R1"))
        assert notifier.counts.pending == 20
        for n in range(200, 210):
            await notifier.handle(_event(n, "R2"))
        async with asyncio.timeout(10):
            while notifier.counts.delivered < 10:  # noqa: ASYNC110 -- polls a counter
                await asyncio.sleep(0.01)
        assert healthy.received == 10
        assert notifier.counts.dropped == 180  # all of them the dead receiver's
    finally:
        await notifier.stop(drain_timeout=0)
        await close_receiver(healthy)
