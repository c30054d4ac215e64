"""Fixtures for the reliability tests: the small county of tests/whistle, a live app, sizes.

Sizes (CI default, ``WHISTLE_FULL=1`` for ``make soak``) are in reliability_support.FULL.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "whistle"))

from whistle_support import Live, StartServer, small_county

from grids import Hierarchy
from grids.loader import load_hierarchy
from whistle.app import create_app
from whistle.clock import FakeClock
from whistle.keys import Settings


@pytest.fixture(scope="session")
def county_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_county(tmp_path_factory.mktemp("county"))


@pytest.fixture(scope="session")
def county(county_dir: Path) -> Hierarchy:
    return load_hierarchy(county_dir)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def start_server(
    tmp_path: Path, county_dir: Path, clock: FakeClock
) -> AsyncIterator[StartServer]:
    """Apps on real sockets over real SQLite files, as in tests/whistle/conftest.py."""
    running: list[TestClient[web.Request, web.Application]] = []

    async def start(*, db: Path | None = None, config: Path | None = None, **kw: Any) -> Live:
        kw.setdefault("run_timer", False)
        settings = Settings(
            db_path=db or tmp_path / "whistle.sqlite3", config_dir=config or county_dir, **kw
        )
        app = create_app(settings, clock=clock)
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        running.append(client)
        return Live(client, app, settings.db_path)

    yield start
    for client in reversed(running):
        await client.close()
