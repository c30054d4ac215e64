"""Fixtures for the whistle package: a small county on disk and a live server on a socket."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from grids import Hierarchy
from grids.loader import load_hierarchy
from grids.sample import generate_county
from whistle.app import create_app
from whistle.clock import FakeClock
from whistle.keys import STORE, Settings

SHIPPED = Path(__file__).resolve().parents[2] / "config"
HAND_WRITTEN = ("rules.toml", "categories.toml", "calendar.toml", "lifecycle.toml")


def small_county(outdir: Path, *, seed: int = 11) -> Path:
    """A generated county of 2 towns and 60 micro-grids, with the shipped rules."""
    generate_county(outdir, seed=seed, towns=2, communities=4, grids=12, micro_grids=60)
    for name in HAND_WRITTEN:
        shutil.copyfile(SHIPPED / name, outdir / name)
    return outdir


@pytest.fixture(scope="session")
def county_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_county(tmp_path_factory.mktemp("county"))


@pytest.fixture(scope="session")
def county(county_dir: Path) -> Hierarchy:
    """The same county, loaded, for computing what the server should answer."""
    return load_hierarchy(county_dir)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@dataclass
class Live:
    """A running app: its HTTP client, its app object and its database file."""

    client: TestClient[web.Request, web.Application]
    app: web.Application
    db: Path

    async def post(self, body: Any, **headers: str) -> tuple[int, dict[str, Any], Any]:
        response = await self.client.post("/api/v1/whistles", json=body, headers=headers)
        return response.status, dict(response.headers), await response.json()

    async def get(self, path: str) -> tuple[int, Any]:
        response = await self.client.get(path)
        return response.status, await response.json()


StartServer = Callable[..., Coroutine[Any, Any, Live]]


@pytest.fixture
async def start_server(
    tmp_path: Path, county_dir: Path, clock: FakeClock
) -> AsyncIterator[StartServer]:
    """Start (and at the end stop) servers on real sockets over real SQLite files."""
    running: list[TestClient[web.Request, web.Application]] = []

    async def start(*, db: Path | None = None, config: Path | None = None, **kw: Any) -> Live:
        kw.setdefault("run_timer", False)  # the clock is fake: tests fire deadlines by tick()
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


@pytest.fixture
async def live(start_server: StartServer) -> Live:
    return await start_server()


def whistle_count(live: Live) -> Any:
    return live.app[STORE].count_whistles()
