"""The real server process: killed with SIGKILL mid-intake, stopped with SIGTERM."""

from __future__ import annotations

import asyncio
import os
import platform
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from grids import Hierarchy, Level
from grids.loader import load_hierarchy
from tests.support.requests import body
from whistle.integrations.feeds import write_cameras
from whistle.testing import ServerProcess

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path: Path, county_dir: Path) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path / "w.sqlite3", county_dir, tmp_path / "server.log")
    yield srv
    srv.stop()


async def post(
    session: aiohttp.ClientSession, url: str, payload: dict[str, Any], key: str
) -> tuple[int, str | None]:
    try:
        async with session.post(
            f"{url}/api/v1/whistles",
            json=payload,
            headers={"Idempotency-Key": key, "Authorization": f"Bearer {TOKEN[url]}"},
        ) as response:
            doc = await response.json()
            return response.status, doc.get("id")
    except (TimeoutError, aiohttp.ClientError):
        return 0, None


TOKEN: dict[str, str] = {}  # server url -> an operator's token, made with the CLI


def stored_ids(db: Path) -> list[str]:
    with sqlite3.connect(db) as raw:
        return [row[0] for row in raw.execute("SELECT id FROM whistles")]


async def test_sigkill_during_intake_loses_no_acknowledged_whistle(
    server: ServerProcess, county: Hierarchy
) -> None:
    micro = [c.code for c in county.cells(level=Level.MICRO_GRID)]
    payloads = {
        f"key-{n}": body(county, location={"grid": micro[n % len(micro)]}, description=f"#{n}")
        for n in range(400)
    }
    await server.start()
    TOKEN[server.url] = server.create_token("operator", county.root)
    acked: dict[str, str] = {}
    async with aiohttp.ClientSession() as session:
        tasks = [
            asyncio.create_task(post(session, server.url, payload, key))
            for key, payload in payloads.items()
        ]
        keys = list(payloads)
        # Kill the server once some, but not all, whistles were acknowledged.
        for future in asyncio.as_completed(tasks):
            status, _ = await future
            if status == 201 and sum(t.done() for t in tasks) >= 100:
                break
        server.signal(signal.SIGKILL)
        results = await asyncio.gather(*tasks)
    for key, (status, whistle_id) in zip(keys, results, strict=True):
        if status == 201 and whistle_id:
            acked[key] = whistle_id
    assert 0 < len(acked) < len(payloads)

    # Every acknowledged whistle survived the kill.
    survived = set(stored_ids(server.db))
    assert set(acked.values()) <= survived

    # Clients retry whatever they did not hear back about, with the same keys.
    await server.start()
    TOKEN[server.url] = TOKEN.get(server.url) or server.create_token("operator", county.root)
    async with aiohttp.ClientSession() as session:
        retried = await asyncio.gather(
            *(post(session, server.url, payloads[key], key) for key in payloads)
        )
        for key, (status, whistle_id) in zip(payloads, retried, strict=True):
            assert status == 201
            if key in acked:
                assert whistle_id == acked[key]  # the same whistle, not a second one
        auth = {"Authorization": f"Bearer {TOKEN[server.url]}"}
        check = await asyncio.gather(
            *(
                session.get(f"{server.url}/api/v1/whistles/{wid}", headers=auth)
                for wid in acked.values()
            )
        )
        assert {response.status for response in check} == {200}
        for response in check:
            response.release()
    ids = stored_ids(server.db)
    assert len(ids) == len(set(ids)) == len(payloads)  # no duplicates, nothing missing
    with sqlite3.connect(server.db) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        seqs = [row[0] for row in raw.execute("SELECT seq FROM events ORDER BY seq")]
        assert seqs == list(range(1, len(seqs) + 1))  # no torn or missing log entries
        # Two per whistle, and one per likely duplicate it linked to an earlier case.
        (links,) = raw.execute(
            "SELECT count(*) FROM events WHERE type = 'case.possible_duplicate'"
        ).fetchone()
        assert len(seqs) == 2 * len(payloads) + links


async def test_sigterm_finishes_and_exits_zero(server: ServerProcess, county: Hierarchy) -> None:
    await server.start()
    TOKEN[server.url] = server.create_token("operator", county.root)
    async with aiohttp.ClientSession() as session:
        status, whistle_id = await post(session, server.url, body(county), "one")
    assert status == 201
    assert server.signal(signal.SIGTERM) == 0
    assert stored_ids(server.db) == [whistle_id]
    log = server.log.read_text()
    assert "store.closed" in log
    if platform.libc_ver()[0] == "glibc":  # whistle/allocator.py, set before serving
        assert "allocator.pinned" in log


def test_serve_refuses_an_invalid_config(tmp_path: Path, county_dir: Path) -> None:
    broken = tmp_path / "config"
    broken.mkdir()
    for item in county_dir.iterdir():
        (broken / item.name).write_bytes(item.read_bytes())
    with (broken / "grids.csv").open("a", encoding="utf-8") as stream:
        stream.write("ORPHAN,NOPARENT,3,孤儿社区\n")
    result = subprocess.run(
        [sys.executable, "-m", "whistle.cli", "check-config", str(broken)],
        capture_output=True,
        text=True,
        env={**os.environ},
        check=False,
    )
    assert result.returncode == 1
    assert "grids.csv" in result.stderr
    assert "ORPHAN" in result.stderr


def _config_with_bad_line(tmp_path: Path, county_dir: Path, file: str) -> tuple[Path, str]:
    """A copy of the county whose ``file`` ends with a bad line; the message that names it."""
    config = tmp_path / "config"
    shutil.copytree(county_dir, config)
    if file == "cameras.csv":
        write_cameras(config, load_hierarchy(config))
        path = config / file
        line = len(path.read_text(encoding="utf-8").splitlines()) + 1
        with path.open("a", encoding="utf-8") as stream:
            stream.write("CAM-ORPHAN,NOSUCHGRID,25.0,102.0,无主摄像头\n")
        return config, f"cameras.csv:{line}: CAM-ORPHAN: unknown grid 'NOSUCHGRID'"
    (config / file).write_text(
        "hotline_category,category\n城管,E0101\n其他,X9999\n", encoding="utf-8"
    )
    return config, "hotline_categories.csv:3: 其他: unknown category 'X9999'"


@pytest.mark.parametrize("file", ["cameras.csv", "hotline_categories.csv"])
async def test_serve_refuses_to_start_on_a_bad_line_naming_file_and_line(
    tmp_path: Path, county_dir: Path, file: str
) -> None:
    # Found at start, not when the first camera calls or the first hotline file comes in.
    config, message = _config_with_bad_line(tmp_path, county_dir, file)
    server = ServerProcess(tmp_path / "w.sqlite3", config, tmp_path / "server.log")
    try:
        with pytest.raises(RuntimeError, match="server exited with 2"):
            await server.start()
    finally:
        server.stop()
    assert message in server.log.read_text(encoding="utf-8")
    checked = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "whistle.cli", "check-config", str(config)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert checked.returncode == 1
    assert message in checked.stderr


async def test_a_server_asked_for_port_zero_serves_on_the_port_it_names(
    server: ServerProcess,
) -> None:
    """ServerProcess starts ``whistle serve --port 0``: the kernel picks the port at bind
    time (no window in which another process could take it), and the serving line names
    the port actually bound, not the 0 asked for."""
    await server.start()
    assert server.port is not None
    assert server.port > 0
    log = server.log.read_text(encoding="utf-8")
    assert f"whistle: serving on http://127.0.0.1:{server.port}" in log
    async with aiohttp.ClientSession() as session, session.get(f"{server.url}/readyz") as answer:
        assert answer.status == 200


async def test_serve_takes_the_citizens_burst_from_the_command_line(
    tmp_path: Path, county_dir: Path
) -> None:
    # Nothing valid is sent: the limit is taken before the body is read, so each refusal
    # (422) spends one of the burst exactly as a report would.
    srv = ServerProcess(
        tmp_path / "w.sqlite3", county_dir, tmp_path / "server.log",
        extra_args=("--citizen-burst", "7"),
    )  # fmt: skip
    await srv.start()
    try:
        async with aiohttp.ClientSession() as session:
            statuses = []
            for _ in range(9):
                async with session.post(f"{srv.url}/api/v1/public/whistles", json={}) as r:
                    statuses.append(r.status)
    finally:
        srv.stop()
    assert statuses == [422] * 7 + [429, 429]


@pytest.mark.parametrize("bad", ["0", "-1", "many"])
def test_serve_refuses_a_citizens_burst_that_is_not_a_positive_number(bad: str) -> None:
    from whistle.cli import _parser

    with pytest.raises(SystemExit):
        _parser().parse_args(["serve", "--citizen-burst", bad])
