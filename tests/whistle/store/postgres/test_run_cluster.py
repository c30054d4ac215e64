"""`make run-cluster` (scripts/run-cluster.sh) on a fresh PostgreSQL database: three real
processes with the demo logins made once, each labelling its metrics with its process, all
three stopped by one Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.cluster import eventually, query
from tests.support.postgres import fresh_database
from whistle.testing import free_port

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[4] / "scripts" / "run-cluster.sh"


@pytest.fixture
async def database() -> AsyncIterator[str]:
    async with fresh_database() as url:
        yield url


async def answers(session: aiohttp.ClientSession, url: str) -> int:
    try:
        async with session.get(url) as response:
            return response.status
    except aiohttp.ClientError:
        return 0


async def test_run_cluster_serves_three_processes_with_one_set_of_demo_logins_until_ctrl_c(
    database: str, tmp_path: Path, county_dir: Path
) -> None:
    ports = [free_port() for _ in range(3)]
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "PORTS": " ".join(map(str, ports)),
        "CONFIG": str(county_dir),
        "LOGS": str(tmp_path / "logs"),
        "WHISTLE_DB": database,
    }
    terminal = tmp_path / "terminal.txt"  # what the script shows on the terminal
    # Its own process group, as a terminal's foreground job: Ctrl-C signals the whole group.
    with terminal.open("w") as out:
        script = subprocess.Popen(  # noqa: ASYNC220 -- only spawned; polled below
            [str(SCRIPT)], env=env, stderr=out, start_new_session=True
        )
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        async with aiohttp.ClientSession() as session:

            async def ready() -> list[int]:
                return [await answers(session, f"{url}/readyz") for url in urls]

            assert await eventually(ready, lambda s: s == [200] * 3, within=120) == [200] * 3
            labels = []
            for url in urls:
                async with session.get(f"{url}/metrics") as response:
                    text = await response.text()
                processes = {
                    s.labels.get("process")
                    for family in text_string_to_metric_families(text)
                    for s in family.samples
                }
                labels.append(processes)
        # Each process labels every sample with itself (the script names them host:port).
        assert labels == [{f"127.0.0.1:{port}"} for port in ports]
        users = await query(database, "SELECT name FROM users ORDER BY name")
        # The demo logins, made once by the first process: one row each.
        assert [u["name"] for u in users] == sorted(
            ["admin", "committee", "dispatch", "gridworker", "member"]
        )
        os.killpg(script.pid, signal.SIGINT)  # Ctrl-C
        await asyncio.to_thread(script.wait, 60)
        async with aiohttp.ClientSession() as session:
            assert [await answers(session, f"{url}/readyz") for url in urls] == [0, 0, 0]
    finally:
        if script.poll() is None:
            os.killpg(script.pid, signal.SIGKILL)
            script.wait(30)
    said = terminal.read_text()
    assert "log in at" in said  # the demo logins are shown
    assert "run-cluster: stopped" in said
