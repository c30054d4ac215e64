"""Three real `whistle serve` processes (and several stores) on one real PostgreSQL database:
the write backend's database-wide event order, writes across processes, one process killed,
deadlines claimed with SKIP LOCKED and a lease, one Idempotency-Key sent to three processes,
an SSE client on one process following the others' writes."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from grids import Hierarchy, Level
from tests.support.cluster import cluster, post, read, sse_events
from tests.support.harness import with_history
from tests.support.postgres import fresh_database
from tests.support.requests import body
from whistle.bus import Bus
from whistle.store.postgres import PostgresStore
from whistle.testing import ServerProcess

pytestmark = pytest.mark.slow


@pytest.fixture
async def database() -> AsyncIterator[str]:
    async with fresh_database() as url:
        yield url


@pytest.fixture
async def servers(
    database: str, tmp_path: Path, county_dir: Path
) -> AsyncIterator[list[ServerProcess]]:
    async with cluster(database, county_dir, tmp_path, 3) as started:
        yield started


async def log_positions(database: str) -> tuple[int, int, int]:
    conn = await asyncpg.connect(database)
    try:
        row = await conn.fetchrow("SELECT count(*), min(seq), max(seq) FROM events")
        return int(row[0]), int(row[1]), int(row[2])
    finally:
        await conn.close()


async def test_writers_on_three_processes_share_one_gapless_log_and_survive_a_kill(
    servers: list[ServerProcess], database: str, county: Hierarchy
) -> None:
    killed, *others = servers
    token = killed.create_token("operator", county.root)
    micro = [c.code for c in county.cells(level=Level.MICRO_GRID)]
    payloads = [
        body(county, location={"grid": micro[n % len(micro)]}, description=f"#{n}")
        for n in range(300)
    ]
    acked: dict[int, str] = {}
    enough = asyncio.Event()  # a fifth acknowledged: time to kill one process
    gate = asyncio.Semaphore(32)  # 32 concurrent writers across the three processes

    async def one(session: aiohttp.ClientSession, n: int) -> None:
        async with gate:
            url = servers[n % 3].url
            status, whistle_id = await post(session, url, token, payloads[n], f"key-{n}")
            if status == 201 and whistle_id is not None:
                acked[n] = whistle_id
                if len(acked) >= 60:
                    enough.set()

    async with aiohttp.ClientSession() as session:
        tasks = [asyncio.create_task(one(session, n)) for n in range(len(payloads))]
        await enough.wait()
        killed.signal(signal.SIGKILL)  # mid-intake: its writers see errors, not 201s
        await asyncio.gather(*tasks)
        # The two left took their two thirds at least.
        assert len(acked) >= 200
        # Every 201, whoever answered it, is readable from each process still running.
        statuses = {
            server.url: [await read(session, server.url, token, wid) for wid in acked.values()]
            for server in others
        }
    assert statuses == {server.url: [200] * len(acked) for server in others}
    count, low, high = await log_positions(database)
    # One order for the database: numbered from 1 with no gap, whoever wrote.
    assert (low, high) == (1, count)


async def test_two_stores_claiming_the_same_deadlines_at_once_never_share_one(
    database: str,
) -> None:
    one, two = PostgresStore(database, Bus()), PostgresStore(database, Bus())
    await one.open()
    await two.open()
    try:
        await asyncio.gather(*(one.create_whistle(with_history(n)) for n in range(40)))
        due = [(with_history(n).whistle.id, "urge:1") for n in range(40)]
        now = datetime(2030, 1, 1, tzinfo=UTC)
        lease = timedelta(seconds=30)
        first, second = await asyncio.gather(
            one.claim_deadlines(due, now, lease), two.claim_deadlines(due, now, lease)
        )
        assert not first & second  # SKIP LOCKED: never held by both
        assert first | second == set(due)
        # While the lease runs the other store gets nothing; the holder keeps its own.
        assert await two.claim_deadlines(sorted(first), now + lease / 2, lease) == set()
        assert await one.claim_deadlines(sorted(first), now + lease / 2, lease) == first
        # The holder died: once its lease ends, the other takes what it held.
        later = now + lease / 2 + lease
        assert await two.claim_deadlines(sorted(first), later, lease) == first
    finally:
        await one.close()
        await two.close()


async def test_a_deadline_no_longer_pending_is_claimed_by_nobody(database: str) -> None:
    store = PostgresStore(database, Bus())
    await store.open()
    try:
        await store.create_whistle(with_history(1))
        wid = with_history(1).whistle.id
        await store.cancel_deadline(wid, "urge:1")
        now = datetime(2030, 1, 1, tzinfo=UTC)
        claimed = await store.claim_deadlines(
            [(wid, "urge:1"), (wid, "escalate:1")], now, timedelta(seconds=30)
        )
    finally:
        await store.close()
    assert claimed == {(wid, "escalate:1")}


async def test_one_idempotency_key_sent_to_three_processes_makes_one_whistle(
    servers: list[ServerProcess], database: str, county: Hierarchy
) -> None:
    token = servers[0].create_token("operator", county.root)
    payload = body(county, description="sent to both")
    async with aiohttp.ClientSession() as session:
        answers = await asyncio.gather(
            *(post(session, s.url, token, payload, "the-one-key") for s in servers * 3)
        )
    # Each process answers: the first write 201, the others the same whistle (200), even
    # when two processes wrote it at once and the key's unique index refused the second.
    assert {status for status, _ in answers} <= {200, 201}, answers
    assert len({whistle_id for _, whistle_id in answers}) == 1
    conn = await asyncpg.connect(database)
    try:
        stored = await conn.fetchval(
            "SELECT count(*) FROM whistles WHERE idempotency_key IS NOT NULL"
        )
    finally:
        await conn.close()
    assert stored == 1


async def received_total(session: aiohttp.ClientSession, url: str) -> float:
    """``whistle_received_total`` of one process's /metrics, over every source."""
    async with session.get(f"{url}/metrics") as response:
        text = await response.text()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "whistle_received_total"
    )


async def watch_the_others_write(
    servers: list[ServerProcess], county: Hierarchy, count: int
) -> tuple[set[str], list[tuple[int, str]], list[float]]:
    """``count`` whistles posted to the second and third processes while an SSE client
    follows the first: the ids acknowledged (201), the (seq, id) of each ``whistle.received``
    the stream delivered until it had them all, and then each process's
    ``whistle_received_total``."""
    watched, *writing = servers
    token = watched.create_token("operator", county.root)
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{watched.url}/api/v1/stream", headers=headers) as stream,
    ):
        assert stream.status == 200
        answers = await asyncio.gather(
            *(
                post(session, writing[n % 2].url, token, body(county, description=f"#{n}"), f"k{n}")
                for n in range(count)
            )
        )
        acked = {wid for status, wid in answers if status == 201 and wid is not None}
        seen: list[tuple[int, str]] = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(30):  # a safety net: the events come within a second
                async for fields in sse_events(stream):
                    if fields["event"] == "whistle.received":
                        seen.append((int(fields["id"]), orjson.loads(fields["data"])["whistle_id"]))
                    if {wid for _, wid in seen} >= acked:
                        break
        totals = [await received_total(session, s.url) for s in servers]
    return acked, seen, totals


async def test_an_sse_client_on_one_process_gets_every_whistle_the_others_acknowledged(
    servers: list[ServerProcess], county: Hierarchy
) -> None:
    acked, seen, _ = await watch_the_others_write(servers, county, 40)
    assert len(acked) == 40
    assert {wid for _, wid in seen} == acked
    assert [seq for seq, _ in seen] == sorted(seq for seq, _ in seen)  # in log order


async def test_each_process_counts_the_whistles_it_wrote_so_their_sum_counts_each_once(
    servers: list[ServerProcess], county: Hierarchy
) -> None:
    acked, seen, totals = await watch_the_others_write(servers, county, 10)
    # The watched process had every one of them on its bus (its stream showed them)...
    assert len(acked) == 10
    assert {wid for _, wid in seen} == acked
    # ...and counted none of them: each is counted where it was written.
    assert totals == [0, 5, 5]
