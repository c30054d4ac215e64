"""Shared helpers for the whistle tests: a small county on disk, a live server handle, and
whistles to write straight to a store."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from grids import Hierarchy
from grids.loader import load_hierarchy
from grids.sample import generate_county
from grids.sample_places import write_places
from tests.support.postgres import fresh_database
from whistle.app import create_app
from whistle.auth import Role
from whistle.bus import Bus
from whistle.cameras import write_cameras
from whistle.clock import FakeClock
from whistle.events import Event, NewEvent
from whistle.store import AssignmentRow, NewWhistle, StoreUrl, WhistleRow
from whistle.web.access import ACCESS
from whistle.web.keys import HIERARCHY, STORE, Settings

SHIPPED = Path(__file__).resolve().parents[2] / "config"
HAND_WRITTEN = ("rules.toml", "categories.toml", "calendar.toml", "lifecycle.toml")


def small_county(outdir: Path, *, seed: int = 11) -> Path:
    """A generated county of 2 towns and 60 micro-grids, with the shipped rules, a camera
    registry (two cameras in each community: ``CAM-<community>-01`` and ``-02``) and the
    gazetteer's address aliases (``places.csv``)."""
    generate_county(outdir, seed=seed, towns=2, communities=4, grids=12, micro_grids=60)
    for name in HAND_WRITTEN:
        shutil.copyfile(SHIPPED / name, outdir / name)
    county = load_hierarchy(outdir)
    write_cameras(outdir, county)
    write_places(outdir, county)
    return outdir


@dataclass
class Live:
    """A running app: its HTTP client, its app object and its database file.

    Requests carry a token: by default a county-wide operator's (``auth``); ``token()`` mints
    others through the app's own Access, as ``whistle token create`` would.
    """

    client: TestClient[web.Request, web.Application]
    app: web.Application
    db: Path
    _tokens: dict[tuple[str, str | None, str | None, str | None], str] = field(default_factory=dict)
    _operator: str | None = None

    async def token(
        self,
        role: str,
        scope: str | None = "root",
        responder: str | None = None,
        source: str | None = None,
    ) -> str:
        """A token for ``role`` on ``scope`` (``root``: the county), made once and kept."""
        if scope == "root":
            scope = self.app[HIERARCHY].root
        key = (role, scope, responder, source)
        if key not in self._tokens:
            issued = await self.app[ACCESS].issue_token(
                role=Role(role), scope=scope, responder_id=responder, source=source, by="tests"
            )
            self._tokens[key] = issued.token
        return self._tokens[key]

    async def auth(self, token: str | None = None) -> dict[str, str]:
        if token is None:
            if self._operator is None:
                self._operator = await self.token("operator")
            token = self._operator
        return {"Authorization": f"Bearer {token}"}

    async def post(
        self, body: Any, *, token: str | None = None, **headers: str
    ) -> tuple[int, dict[str, Any], Any]:
        """POST a whistle; answered with the whole whistle (``Prefer: return=representation``)
        unless ``headers`` say otherwise (``Prefer=""`` for the short receipt)."""
        headers = {"Prefer": "return=representation", **await self.auth(token), **headers}
        headers = {name: value for name, value in headers.items() if value}
        response = await self.client.post("/api/v1/whistles", json=body, headers=headers)
        return response.status, dict(response.headers), await response.json()

    async def get(self, path: str, *, token: str | None = None) -> tuple[int, Any]:
        response = await self.client.get(path, headers=await self.auth(token))
        return response.status, await response.json()


StartServer = Callable[..., Coroutine[Any, Any, Live]]


def run_bench(script: str, out: Path, *args: str) -> tuple[dict[str, Any], str]:
    """Run ``bench/<script>`` with ``args`` and ``--json out``; its JSON report and stdout."""
    bench = Path(__file__).resolve().parents[2] / "bench" / script
    result = subprocess.run(
        [sys.executable, str(bench), *args, "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(out.read_text(encoding="utf-8")), result.stdout


def whistle_count(live: Live) -> Any:
    return live.app[STORE].count_whistles()


# -- whistles written straight to a store (tests/whistle/test_store.py, tests/whistle/store) --

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def new_whistle(
    n: int,
    *,
    key: str | None = None,
    request_hash: str | None = "h",
    path: str = "/530524/530524101/",
    source: str = "citizen",
    category: str = "E0101",
) -> NewWhistle:
    """Whistle number ``n`` (received ``n`` seconds after T0), pushed to responder R1, with
    its two intake events."""
    wid = f"01JW{n:022d}"
    at = T0 + timedelta(seconds=n)
    row = WhistleRow(
        id=wid,
        received_at=at,
        source=source,
        category=category,
        urgency="normal",
        status="dispatched",
        grid_code=path.strip("/").split("/")[-1],
        grid_path=path,
        grid_level=path.count("/") - 1,
        doc={"id": wid, "n": n},
        idempotency_key=key,
        request_hash=request_hash,
    )
    assignment = AssignmentRow(
        id=f"{wid}-1",
        whistle_id=wid,
        responder_id="R1",
        kind="registered_member",
        mode="push",
        status="dispatched",
        cell="530524101",
        acknowledge_due=at + timedelta(minutes=30),
        claim_due=None,
        resolve_due=at + timedelta(days=7),
        doc={"id": f"{wid}-1"},
    )
    events = [
        NewEvent("whistle.received", wid, at, "tester", {"n": n}),
        NewEvent("whistle.routed", wid, at, "router", {"n": n}),
    ]
    return NewWhistle(row, [assignment], events)


def with_history(n: int) -> NewWhistle:
    """A whistle written with its whole story so far (acknowledged after 5 minutes) and two
    pending deadlines."""
    base = new_whistle(n, key=None)
    wid, at = base.whistle.id, base.whistle.received_at
    events = [
        *base.events,
        NewEvent("assignment.acknowledged", wid, at + timedelta(minutes=5), "R1",
                 {"assignment": f"{wid}-1"}),
    ]  # fmt: skip
    return NewWhistle(
        base.whistle,
        base.assignments,
        events,
        deadlines=[("urge:1", at + timedelta(days=3)), ("escalate:1", at + timedelta(days=9))],
        case_doc={"resolve_due": (at + timedelta(days=7)).isoformat(), "rework": 0},
    )


class Recorder:
    """Every event the bus delivers, in delivery order."""

    def __init__(self, bus: Bus) -> None:
        self.events: list[Event] = []
        bus.subscribe("*", self.record, name="recorder")

    async def record(self, event: Event) -> None:
        self.events.append(event)


# -- fixtures, shared by tests/whistle and tests/reliability (their conftests import them) ----


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


@pytest.fixture
async def start_server(
    tmp_path: Path, county_dir: Path, clock: FakeClock
) -> AsyncIterator[StartServer]:
    """Start (and at the end stop) servers on real sockets over real SQLite files, or, with
    ``WHISTLE_TEST_BACKEND=postgresql``, over one fresh PostgreSQL database per test (for a
    server started without ``db``; tests/support/postgres.py)."""
    running: list[TestClient[web.Request, web.Application]] = []
    databases = contextlib.AsyncExitStack()
    postgres: list[StoreUrl] = []

    async def start(*, db: Path | None = None, config: Path | None = None, **kw: Any) -> Live:
        kw.setdefault("run_timer", False)  # the clock is fake: tests fire deadlines by tick()
        # A Live's ``db`` is the SQLite path even on PostgreSQL: a test starting a server
        # again on ``first.db`` means the same database, the PostgreSQL one.
        same = db is None or db == tmp_path / "whistle.sqlite3"
        if same and os.environ.get("WHISTLE_TEST_BACKEND") == "postgresql":
            if not postgres:
                postgres.append(
                    StoreUrl.parse(await databases.enter_async_context(fresh_database()))
                )
            kw.setdefault("db", postgres[0])
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
    await databases.aclose()


@pytest.fixture
async def live(start_server: StartServer) -> Live:
    return await start_server()
