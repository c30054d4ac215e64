"""The contract suite's backends: each test runs once per Store backend.

A backend here is a place to keep a store (``url``) and a way to open it there again
(``open``), so that a test can close the store and read back what a new one finds. SQLite
gets a file in the test's directory, PostgreSQL a fresh database dropped afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.postgres import fresh_database
from tests.support.store_contract import BACKENDS, Backend
from whistle.bus import Bus
from whistle.store import Store


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    name = str(request.param)
    if name == "sqlite":
        # tmp_path is absolute, so this reads sqlite:///tmp/...
        chosen = Backend(name, f"sqlite://{tmp_path / 'contract.sqlite3'}")
        yield chosen
        await _close(chosen)
    elif name == "postgresql":
        async with fresh_database() as url:
            chosen = Backend(name, url)
            yield chosen
            await _close(chosen)
    else:  # pragma: no cover - a backend listed without its set-up
        raise AssertionError(f"no set-up for backend {name!r}")


async def _close(chosen: Backend) -> None:
    for store in reversed(chosen.opened):
        await store.close()  # closing twice is allowed: a test may have closed it already


@pytest.fixture
async def bus() -> AsyncIterator[Bus]:
    bus = Bus()
    yield bus
    await bus.stop()


@pytest.fixture
async def store(backend: Backend, bus: Bus) -> Store:
    """An open store of the backend under test, publishing on ``bus``."""
    return await backend.open(bus)
