"""Several real ``whistle serve`` processes on one fresh PostgreSQL database, and the HTTP
helpers the cluster tests share (tests/whistle/store/postgres/)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import asyncpg

from whistle.testing import ServerProcess

__all__ = [
    "cluster",
    "eventually",
    "get_json",
    "post",
    "query",
    "read",
    "sse_events",
]

T = TypeVar("T")


@asynccontextmanager
async def cluster(
    database: str,
    config: Path,
    logs: Path,
    count: int = 3,
    *,
    extra_args: tuple[str, ...] = (),
) -> AsyncIterator[list[ServerProcess]]:
    """``count`` started processes on ``database``, each named ``p<n>`` (``--name``), killed
    afterwards whatever their state."""
    started = [
        ServerProcess(
            database,
            config,
            logs / f"server-{n}.log",
            extra_args=("--name", f"p{n}", *extra_args),
        )
        for n in range(count)
    ]
    try:
        # One after the other: the first migrates the empty database; all at once would be
        # safe (the migration takes an advisory lock), this keeps the logs easy to read.
        for server in started:
            await server.start()
        yield started
    finally:
        for server in started:
            server.stop()


async def post(
    session: aiohttp.ClientSession,
    url: str,
    token: str,
    payload: dict[str, Any],
    key: str,
    path: str = "/api/v1/whistles",
) -> tuple[int, str | None]:
    """POST a whistle with an Idempotency-Key: (status, id); (0, None) when the process
    gave no answer (killed mid-request)."""
    try:
        async with session.post(
            f"{url}{path}",
            json=payload,
            headers={"Idempotency-Key": key, "Authorization": f"Bearer {token}"},
        ) as response:
            doc = await response.json()
            return response.status, doc.get("id") or doc.get("whistle_id")
    except (TimeoutError, aiohttp.ClientError):
        return 0, None


async def read(session: aiohttp.ClientSession, url: str, token: str, whistle_id: str) -> int:
    """The status of GET /api/v1/whistles/{id}."""
    async with session.get(
        f"{url}/api/v1/whistles/{whistle_id}", headers={"Authorization": f"Bearer {token}"}
    ) as response:
        return response.status


async def get_json(session: aiohttp.ClientSession, url: str, token: str) -> Any:
    """GET ``url`` with the token; its JSON (raises on a status other than 200)."""
    async with session.get(url, headers={"Authorization": f"Bearer {token}"}) as response:
        assert response.status == 200, (url, response.status, await response.text())
        return await response.json()


async def query(database: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    """Rows of one statement on a connection of the test's own."""
    conn = await asyncpg.connect(database)
    try:
        rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
        return rows
    finally:
        await conn.close()


async def eventually(
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    *,
    within: float,
    every: float = 0.1,
) -> T:
    """Poll ``probe`` until ``done`` holds of its answer, at most ``within`` seconds; the
    last answer either way (the caller asserts on it). A bounded poll, not a sleep: real
    processes on the wall clock are waited for this way."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        answer = await probe()
        if done(answer) or asyncio.get_running_loop().time() >= deadline:
            return answer
        await asyncio.sleep(every)


async def sse_events(response: aiohttp.ClientResponse) -> AsyncIterator[dict[str, str]]:
    """The stream's messages that are events: their fields."""
    fields: dict[str, str] = {}
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if not line:
            if "event" in fields:
                yield fields
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value
