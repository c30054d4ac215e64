"""The webhook outbox across three real processes on one PostgreSQL database: every notice
of the event log reaches a real receiver at least once, never twice at the same time, and
the notices of a process SIGKILLed while delivering are delivered by the others."""

from __future__ import annotations

import asyncio
import shutil
import signal
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from grids import Hierarchy, Level
from tests.support.cluster import cluster, eventually, post, query
from tests.support.postgres import fresh_database
from tests.support.requests import body
from tests.support.webhooks import SECRET
from whistle.testing import ServerProcess

pytestmark = pytest.mark.slow

WHISTLES = 60
LEASE = "2"  # seconds: a killed process's rows are taken over this long after


class Receiver:
    """Counts each delivery id's attempts and how many of them were in flight at once.

    It answers after a pause, as a receiver that does some work does, so that deliveries are
    under way (rows held) when a process is killed."""

    def __init__(self, pause: float) -> None:
        self.pause = pause
        self.attempts: Counter[str] = Counter()
        self.in_flight: Counter[str] = Counter()
        self.most_at_once: Counter[str] = Counter()

    async def hook(self, request: web.Request) -> web.Response:
        delivery = request.headers["X-Whistle-Delivery"]
        await request.read()
        self.attempts[delivery] += 1
        self.in_flight[delivery] += 1
        self.most_at_once[delivery] = max(self.most_at_once[delivery], self.in_flight[delivery])
        try:
            await asyncio.sleep(self.pause)  # the receiver's own work, not a wait in the test
        finally:
            self.in_flight[delivery] -= 1
        return web.Response(status=200)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    counting = Receiver(pause=0.2)
    app = web.Application()
    app.router.add_post("/hook", counting.hook)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield counting, str(server.make_url("/hook"))
    finally:
        await server.close()


def every_responder_hooked(county_dir: Path, county: Hierarchy, into: Path, url: str) -> Path:
    """The county with a webhook for every responder, all to ``url``."""
    shutil.copytree(county_dir, into)
    ids = sorted({r.id for cell in county.cells() for r in county.responders_at(cell.code)})
    lines = "".join(f"{rid},{url},{SECRET}\n" for rid in ids)
    (into / "webhooks.csv").write_text(f"responder,url,secret\n{lines}", encoding="utf-8")
    return into


async def notices(database: str) -> set[str]:
    """The delivery id of every notice in the event log."""
    rows = await query(
        database,
        "SELECT whistle_id, seq, jsonb_array_length(data->'notify') AS n FROM events "
        "WHERE jsonb_typeof(data->'notify') = 'array'",
    )
    return {f"{r['whistle_id']}.{r['seq']}.{i}" for r in rows for i in range(int(r["n"]))}


async def held_by(database: str, pid: int) -> int:
    rows = await query(
        database,
        "SELECT count(*) AS n FROM webhook_outbox WHERE split_part(claimed_by, '-', 1) = $1",
        str(pid),
    )
    return int(rows[0]["n"])


async def test_each_notice_is_delivered_once_at_a_time_across_three_processes_and_a_kill(
    receiver: tuple[Receiver, str], tmp_path: Path, county_dir: Path, county: Hierarchy
) -> None:
    counting, url = receiver
    config = every_responder_hooked(county_dir, county, tmp_path / "config", url)
    micro = [c.code for c in county.cells(level=Level.MICRO_GRID)]
    async with (
        fresh_database() as database,
        cluster(database, config, tmp_path, 3, extra_args=("--deadline-lease", LEASE)) as servers,
        aiohttp.ClientSession() as session,
    ):
        victim: ServerProcess = servers[0]
        assert victim.proc is not None
        token = victim.create_token("operator", county.root)
        answers = await asyncio.gather(
            *(
                post(
                    session,
                    servers[n % 3].url,
                    token,
                    body(county, location={"grid": micro[n % len(micro)]}, description=f"#{n}"),
                    f"k{n}",
                )
                for n in range(WHISTLES)
            )
        )
        assert [status for status, _ in answers] == [201] * WHISTLES
        # Mid-stream: the victim is delivering (holds outbox rows) when it is killed.
        holding = await eventually(lambda: held_by(database, victim.proc.pid), bool, within=20)
        assert holding, "the victim never held an outbox row"
        victim.signal(signal.SIGKILL)
        expected = await notices(database)
        assert len(expected) >= WHISTLES  # every whistle notifies its responders

        async def delivered() -> set[str]:
            return set(counting.attempts)

        seen = await eventually(delivered, lambda got: got >= expected, within=90, every=0.2)
        left = await eventually(
            lambda: query(database, "SELECT seq FROM webhook_outbox"),
            lambda rows: not rows,
            within=30,
        )
    assert expected - seen == set()  # at least once each, the killed process's too
    assert left == []  # and each row settled
    # Never two attempts of one notice at the same time, whichever processes made them.
    assert max(counting.most_at_once.values()) == 1
    # The killed process's attempts in flight may be made again; nothing else is.
    assert sum(n - 1 for n in counting.attempts.values()) <= holding
