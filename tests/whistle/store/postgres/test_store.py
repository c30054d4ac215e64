"""A real `whistle serve` on a real PostgreSQL server that is stopped and started again under
load: 503 with Retry-After while it is away, never a 201 that was not committed, and the
process recovers by itself."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from grids import Hierarchy
from tests.support.postgres import PrivateCluster, private_cluster
from tests.support.requests import body
from whistle.testing import ServerProcess

pytestmark = pytest.mark.slow


@pytest.fixture
async def cluster() -> AsyncIterator[PrivateCluster]:
    async with private_cluster() as started:
        yield started


async def post(
    session: aiohttp.ClientSession, url: str, token: str, payload: dict[str, Any]
) -> tuple[int, str | None, str | None]:
    """Status, the whistle's id (a 201) and the Retry-After header (a 503)."""
    async with session.post(
        f"{url}/api/v1/whistles", json=payload, headers={"Authorization": f"Bearer {token}"}
    ) as response:
        doc = await response.json()
        return response.status, doc.get("id"), response.headers.get("Retry-After")


async def test_postgresql_restarted_under_load_gives_503s_then_recovers_losing_nothing(
    cluster: PrivateCluster, tmp_path: Path, county_dir: Path, county: Hierarchy
) -> None:
    server = ServerProcess(cluster.url, county_dir, tmp_path / "server.log")
    await server.start()
    try:
        token = server.create_token("operator", county.root)
        answers: list[tuple[int, str | None, str | None]] = []
        phase = {"name": "before"}
        by_phase: dict[str, list[int]] = {"before": [], "away": [], "back": []}
        stop = asyncio.Event()

        async def writer(session: aiohttp.ClientSession, n: int) -> None:
            while not stop.is_set():
                answer = await post(session, server.url, token, body(county, description=f"{n}"))
                answers.append(answer)
                by_phase[phase["name"]].append(answer[0])
                await asyncio.sleep(0.01)

        async with aiohttp.ClientSession() as session:
            tasks = [asyncio.create_task(writer(session, n)) for n in range(8)]
            await asyncio.sleep(1.0)
            phase["name"] = "away"
            await asyncio.to_thread(cluster.stop)
            await asyncio.sleep(1.0)
            async with session.get(f"{server.url}/readyz") as ready:
                readyz_away = ready.status
            await asyncio.to_thread(cluster.start)
            phase["name"] = "back"
            # Recovers by itself: 201s again within a few seconds of the server's return.
            async with asyncio.timeout(30):
                while 201 not in by_phase["back"]:  # noqa: ASYNC110 -- polls the writers' answers
                    await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)
            stop.set()
            await asyncio.gather(*tasks)
            async with session.get(f"{server.url}/readyz") as ready:
                readyz_back = ready.status
                database = (await ready.json())["database"]
    finally:
        server.stop()
    assert 201 in by_phase["before"]
    assert 503 in by_phase["away"]
    assert {status for status, _, _ in answers} <= {201, 503}
    assert all(retry for status, _, retry in answers if status == 503)  # Retry-After given
    assert (readyz_away, readyz_back, database) == (503, 200, "postgresql")
    # Every 201 was committed: it is in the database after the restart.
    acked = {wid for status, wid, _ in answers if status == 201}
    conn = await asyncpg.connect(cluster.url)
    try:
        stored = {r[0] for r in await conn.fetch("SELECT id FROM whistles")}
    finally:
        await conn.close()
    assert acked <= stored
