"""The town's rule for the database (issue 14): a second ``whistle serve`` on the same SQLite
file refuses to start, naming PostgreSQL for several processes; the command-line tools still
work beside the running server."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from grids import Hierarchy
from whistle.testing import ServerProcess

pytestmark = pytest.mark.slow


@pytest.fixture
def two_servers(tmp_path: Path, county_dir: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    db = tmp_path / "town.sqlite3"
    first = ServerProcess(db, county_dir, tmp_path / "first.log")
    second = ServerProcess(db, county_dir, tmp_path / "second.log")
    yield first, second
    second.stop()
    first.stop()


async def ready(server: ServerProcess) -> int:
    async with aiohttp.ClientSession() as session, session.get(f"{server.url}/readyz") as answer:
        return answer.status


async def test_a_second_server_on_the_same_sqlite_file_refuses_to_start_naming_postgresql(
    two_servers: tuple[ServerProcess, ServerProcess], county: Hierarchy
) -> None:
    first, second = two_servers
    await first.start()
    assert first.proc is not None
    with pytest.raises(RuntimeError, match="exited with 2"):
        await second.start()
    log = second.log.read_text(encoding="utf-8")
    assert "is already served by another whistle process" in log
    assert f"pid {first.proc.pid}" in log
    assert "PostgreSQL" in log
    assert "store.opened" not in log  # it stopped before touching the database
    # The first server is unharmed, and the command-line tools still open the file beside it.
    assert await ready(first) == 200
    token = first.create_token("operator", county.root)
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{first.url}/api/v1/whistles", headers={"Authorization": f"Bearer {token}"}
        ) as answer,
    ):
        assert answer.status == 200
    # Once the first is gone, even killed outright, the second may serve the file.
    first.signal(signal.SIGKILL)
    await second.start()
    assert await ready(second) == 200
