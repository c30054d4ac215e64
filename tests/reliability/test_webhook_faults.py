"""Slow or dead webhook receivers slow neither intake nor the deadline scheduler.

Every responder of the small county has a webhook to one real local receiver, which is, in
turn: healthy (answers at once), hanging (takes the request and never answers), dead (a port
nothing listens on: connection refused) and slow (answers after 3 s, within the 5 s attempt
timeout). For each, a burst of whistles is timed and then the fake clock is moved past every
acknowledgement deadline and the scheduler's tick is timed. Bounds are generous (a shared
machine is noisy); what they catch is intake or the tick waiting for a delivery, which would
show as multiples of the webhook timeout.
"""

from __future__ import annotations

import asyncio
import csv
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from reliability_support import FULL, body, stored_ids
from whistle_support import StartServer

from grids import Hierarchy
from whistle.clock import FakeClock
from whistle.events import Event
from whistle.testing import free_port
from whistle.web.keys import CASES, WEBHOOKS
from whistle.webhooks import Endpoint, WebhookNotifier

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

SECRET = "s3cret-s3cret-s3cret"
BURST = 400 if FULL else 150  # whistles per receiver kind
CLIENTS = 32  # concurrent intake clients
TIMEOUT = 5.0  # the notifier's per-attempt timeout (WebhookNotifier's default)
SLOW = 3.0  # the slow receiver's delay: within the timeout


@dataclass
class Receiver:
    """A local webhook receiver that behaves as ``kind`` says, counting what it sees."""

    kind: str
    url: str = ""
    server: TestServer | None = None
    received: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
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
                await self.release.wait()  # never, until the test ends
            elif self.kind == "slow":
                await asyncio.sleep(SLOW)
            return web.Response(status=200)
        finally:
            self.in_flight -= 1


async def open_receiver(kind: str) -> Receiver:
    recv = Receiver(kind)
    if kind == "dead":
        recv.url = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens: refused
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


@dataclass
class Run:
    p99: float
    tick: float
    fired: int
    due: int


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
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(BURST):
        queue.put_nowait(n)
    durations: list[float] = []
    ids: list[str] = []

    async def client() -> None:
        while not queue.empty():
            n = queue.get_nowait()
            started = time.monotonic()
            status, _, doc = await live.post(
                body(county, n), **{"Idempotency-Key": f"{recv.kind}-{n}"}
            )
            durations.append(time.monotonic() - started)
            assert status == 201, doc
            ids.append(doc["id"])

    async with asyncio.timeout(120):
        await asyncio.gather(*(client() for _ in range(CLIENTS)))
    assert sorted(ids) == sorted(stored_ids(live.db))
    durations.sort()
    p99 = durations[int(0.99 * (len(durations) - 1))]

    # Every acknowledgement deadline (30 min for a normal whistle) passes; the scheduler's
    # tick fires them while the receiver still holds, refuses or delays the notices.
    cases = live.app[CASES]
    due = sum(1 for _ in _pending_acknowledgements(cases, ids))
    clock.advance(timedelta(hours=1))
    started = time.monotonic()
    async with asyncio.timeout(120):
        fired = await cases.tick()
    tick = time.monotonic() - started
    notifier = live.app[WEBHOOKS]
    counts = notifier.counts
    assert counts.pending <= 10_000  # the notifier's bound on undelivered notices
    if recv.kind != "dead":
        # At most per_receiver (4) attempts at once to one receiver, however many wait.
        assert recv.max_in_flight <= 4
    return Run(p99=p99, tick=tick, fired=fired, due=due)


def _pending_acknowledgements(cases: Any, ids: list[str]) -> list[tuple[str, str]]:
    return [
        (whistle_id, key)
        for whistle_id in ids
        for key in cases.timer.pending(whistle_id)
        if key.endswith(":acknowledge")
    ]


HEALTHY: dict[str, Run] = {}


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
    if receiver.kind == "healthy":
        HEALTHY["run"] = run
        return
    assert receiver.kind == "dead" or receiver.received > 0  # the receiver was reached
    # Well under the webhook timeout: intake never waits for a delivery. Compared with the
    # healthy run of this session when there was one (parametrized ids run in order).
    assert run.p99 < TIMEOUT / 2, run
    healthy = HEALTHY.get("run")
    if healthy is not None:
        assert run.p99 < 4 * healthy.p99 + 0.5, (run, healthy)
        assert run.tick < 4 * healthy.tick + 1.0, (run, healthy)
    # The tick does not wait on deliveries either: each firing sends notices to the bad
    # receiver, and took far less than one webhook timeout (one wait per firing would be
    # seconds each; a firing is a write, milliseconds).
    assert run.tick / run.fired < TIMEOUT / 20, run


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
        started = time.monotonic()
        for n in range(200):
            await notifier.handle(_event(n))
        assert time.monotonic() - started < 1.0  # handle() never waits for a delivery
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
