"""Storage faults with a live app: a locked database, a full disk, overload, SIGTERM.

Each fault must give a clear 503 with Retry-After (never a hang, never a 500), lose nothing
already acknowledged, and clear by itself once the fault is gone.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from grids import Hierarchy
from tests.support.harness import StartServer
from tests.support.reliability import FULL, NO_LIMITS, body, check_log, stored_ids
from whistle.testing import ServerProcess

pytestmark = pytest.mark.reliability

IN_CI = os.environ.get("CI") == "true"
OVERLOAD = 1000 if FULL else 200  # concurrent POSTs against a write queue of 2


def key(n: int | str) -> dict[str, str]:
    return {"Idempotency-Key": f"fault-{n}"}


# ---------------------------------------------------------------------------- locked database

LOCK_HOLDER = """
import sqlite3, sys
raw = sqlite3.connect(sys.argv[1], isolation_level=None)
raw.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
raw.execute("COMMIT")
raw.close()
"""


async def test_locked_database_gives_503_and_recovers(
    start_server: StartServer, county: Hierarchy
) -> None:
    live = await start_server()  # busy timeout: 2 s
    status, _, first = await live.post(body(county, 0), **key(0))
    assert status == 201

    holder = await asyncio.create_subprocess_exec(  # another process holds the write lock
        sys.executable,
        "-c",
        LOCK_HOLDER,
        str(live.db),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert holder.stdin is not None
    assert holder.stdout is not None
    try:
        assert (await holder.stdout.readline()).strip() == b"locked"
        started = time.monotonic()
        status, headers, doc = await live.post(body(county, 1), **key(1))
        waited = time.monotonic() - started
        assert status == 503
        assert int(headers["Retry-After"]) >= 1
        assert doc["title"] == "Storage unavailable"
        assert "nothing was stored" in doc["detail"]
        assert waited < 10  # the busy timeout, not a hang
        # Reads still work while writes are locked out: the acknowledged whistle is there.
        status, got = await live.get(f"/api/v1/whistles/{first['id']}")
        assert status == 200
        assert got["id"] == first["id"]
    finally:
        holder.stdin.write(b"\n")
        await holder.stdin.drain()
        holder.stdin.close()
        async with asyncio.timeout(10):
            await holder.wait()

    # Lock released: the server takes writes again by itself, and the refused key is free.
    status, _, again = await live.post(body(county, 1), **key(1))
    assert status == 201
    status, _, more = await live.post(body(county, 2), **key(2))
    assert status == 201
    assert sorted(stored_ids(live.db)) == sorted([first["id"], again["id"], more["id"]])
    check_log(live.db)


# ---------------------------------------------------------------------------------- full disk


def _mount(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs (root only), unmounted at the end whatever happens."""
    if os.geteuid() != 0:
        pytest.skip("the full-disk test mounts a tmpfs and needs root")
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    done = _mount(["-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mountpoint)])
    if done.returncode != 0:
        if IN_CI:
            pytest.fail(f"cannot mount a tmpfs as root: {done.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False, capture_output=True)


async def test_full_disk_gives_503_and_recovers(
    start_server: StartServer, county: Hierarchy, small_disk: Path
) -> None:
    live = await start_server(db=small_disk / "whistle.sqlite3")
    await live.auth()  # mint the token before the bursts
    acked: dict[str, str] = {}
    failure: tuple[int, dict[str, str], Any] | None = None
    n = 0
    async with asyncio.timeout(120):
        while failure is None:
            batch = range(n, n + 25)
            n += 25
            answers = await asyncio.gather(*(live.post(body(county, i), **key(i)) for i in batch))
            for i, (status, headers, doc) in zip(batch, answers, strict=True):
                if status == 201:
                    acked[f"fault-{i}"] = doc["id"]
                elif failure is None:
                    failure = (status, headers, doc)
    status, headers, doc = failure
    assert acked, "the disk was full before the first whistle"
    assert status == 503, doc
    assert int(headers["Retry-After"]) >= 1
    assert doc["title"] == "Storage unavailable"

    # A failed batch is rolled back, which frees its pages; take the rest with a filler file
    # so that the disk stays full. More whistles now get 201 (if SQLite can reuse WAL frames it
    # already has) or 503 with Retry-After: never a 500, never a hang.
    filler = small_disk / "filler"
    try:
        with filler.open("wb") as stream:
            while True:
                stream.write(b"\0" * 4096)
                stream.flush()
    except OSError:  # ENOSPC: full (if even the open failed, it was full already)
        pass
    batch = range(10**6, 10**6 + 25)
    async with asyncio.timeout(30):
        answers = await asyncio.gather(*(live.post(body(county, i), **key(i)) for i in batch))
    for i, (status, headers, doc) in zip(batch, answers, strict=True):
        assert status in (201, 503), doc
        if status == 201:
            acked[f"fault-{i}"] = doc["id"]
        else:
            assert int(headers["Retry-After"]) >= 1
    # Nothing acknowledged is lost: every 201 reads back while the disk is full.
    for whistle_id in acked.values():
        status, got = await live.get(f"/api/v1/whistles/{whistle_id}")
        assert status == 200
        assert got["id"] == whistle_id

    # Free space (drop the filler, grow the disk): the same process takes writes again.
    filler.unlink(missing_ok=True)
    done = _mount(["-o", "remount,size=64m", str(small_disk)])
    assert done.returncode == 0, done.stderr
    status, _, doc = await live.post(body(county, 10**6), **key("after"))
    assert status == 201, doc
    assert set(acked.values()) | {doc["id"]} <= set(stored_ids(live.db))
    check_log(live.db)


# ----------------------------------------------------------------------------------- overload


async def test_overload_answers_quickly_with_201_or_503(
    start_server: StartServer, county: Hierarchy
) -> None:
    live = await start_server(write_queue=2)
    await live.auth()  # mint the token before the burst
    size = OVERLOAD

    async def one(i: int) -> tuple[int, dict[str, str], Any]:
        return await live.post(body(county, i), **key(i))

    async with asyncio.timeout(20):
        answers = await asyncio.gather(*(one(i) for i in range(size)))
    statuses = [status for status, _, _ in answers]
    assert set(statuses) <= {201, 503}, statuses
    assert 201 in statuses
    assert 503 in statuses
    for status, headers, doc in answers:
        if status == 503:
            assert doc["title"] == "Busy"
            assert int(headers["Retry-After"]) >= 1
    created = {doc["id"] for status, _, doc in answers if status == 201}
    assert created == set(stored_ids(live.db))
    check_log(live.db)


async def test_overload_each_request_is_quick(start_server: StartServer, county: Hierarchy) -> None:
    """No request waits long for its answer, whatever the queue (a few seconds at most)."""
    live = await start_server(write_queue=2)
    await live.auth()

    async def timed(i: int) -> float:
        started = time.monotonic()
        async with asyncio.timeout(5):
            status, _, _ = await live.post(body(county, i), **key(i))
        assert status in (201, 503)
        return time.monotonic() - started

    durations = await asyncio.gather(*(timed(i) for i in range(OVERLOAD)))
    assert max(durations) < 5


# ---------------------------------------------------------------------------- graceful stop


@pytest.fixture
def server(tmp_path: Path, county_dir: Path) -> Iterator[ServerProcess]:
    # Rate limits are not the fault under test: lift them so that bursts are not 429'd.
    srv = ServerProcess(
        tmp_path / "w.sqlite3", county_dir, tmp_path / "server.log", extra_args=NO_LIMITS
    )
    yield srv
    srv.stop()


async def test_sigterm_during_a_burst_exits_zero_and_keeps_every_201(
    server: ServerProcess, county: Hierarchy
) -> None:
    rounds = 5 if FULL else 1
    acked: set[str] = set()
    token = ""
    for round_no in range(rounds):
        await server.start()
        token = token or server.create_token("operator", county.root)

        async def post(
            session: aiohttp.ClientSession, i: int, token: str = token
        ) -> tuple[int, str | None]:
            try:
                async with session.post(
                    f"{server.url}/api/v1/whistles",
                    json=body(county, i),
                    headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"term-{i}"},
                ) as response:
                    doc = await response.json(content_type=None)
                    return response.status, doc.get("id")
            except (TimeoutError, aiohttp.ClientError, ValueError):
                return 0, None

        async with aiohttp.ClientSession() as session:
            base = round_no * 300
            tasks = [asyncio.create_task(post(session, i)) for i in range(base, base + 300)]
            ok = 0
            for future in asyncio.as_completed(tasks):
                status, _ = await future
                ok += status == 201
                if ok >= 30:
                    break
            assert server.proc is not None
            started = time.monotonic()
            server.proc.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(server.proc.wait, 10)
            elapsed = time.monotonic() - started
            results = await asyncio.gather(*tasks)
        assert code == 0
        assert elapsed < 10
        acked |= {wid for status, wid in results if status == 201 and wid}
        assert acked <= set(stored_ids(server.db))
        check_log(server.db)
        assert "store.closed" in server.log.read_text()
