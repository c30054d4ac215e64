"""A fresh PostgreSQL database per test, on the server `make pg-up` starts.

The server's URL comes from ``WHISTLE_TEST_POSTGRES`` or var/pg/url (written by `make pg-up`).
Without either the PostgreSQL tests skip and say why; under ``CI=true`` they fail instead, so
that a CI machine never passes by skipping them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from whistle.testing import free_port

__all__ = [
    "PrivateCluster",
    "base_url",
    "fresh_database",
    "private_cluster",
    "require_postgres",
]

_REPO = Path(__file__).resolve().parents[2]
_URL_FILE = _REPO / "var" / "pg" / "url"


def base_url() -> str | None:
    """The test server's URL, or None when there is none."""
    url = os.environ.get("WHISTLE_TEST_POSTGRES")
    if url:
        return url
    if _URL_FILE.exists():
        return _URL_FILE.read_text().strip() or None
    return None


def require_postgres() -> str:
    """The test server's URL; skips (fails under CI=true) when there is none."""
    url = base_url()
    if url is None:
        reason = "no PostgreSQL: run `make pg-up` (or set WHISTLE_TEST_POSTGRES)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true requires the PostgreSQL tests")
        pytest.skip(reason)
    return url


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    """The URL of a new, empty database, dropped afterwards (whoever is still connected)."""
    url = require_postgres()
    name = f"whistle_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = await asyncpg.connect(url, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        reason = f"PostgreSQL at var/pg/url does not answer ({exc}): run `make pg-up`"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield _with_database(url, name)
    finally:
        try:
            await _drop(admin, name)
        finally:
            await admin.close()


async def _drop(admin: asyncpg.Connection, name: str) -> None:
    """Drop database ``name``. WITH (FORCE) may meet a backend of another role (autovacuum)
    that it may not terminate: that one ends by itself, so try again a few times."""
    for attempt in range(20):
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except asyncpg.exceptions.InsufficientPrivilegeError:
            if attempt == 19:
                raise
            await asyncio.sleep(0.25)


class PrivateCluster:
    """A PostgreSQL server of one test's own (scripts/pg.sh with its own directory and port),
    to stop and start under load without disturbing the shared one."""

    def __init__(self) -> None:
        self.root = _REPO / "var" / f"pg-test-{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.url = ""

    def __repr__(self) -> str:
        return f"PrivateCluster({str(self.root)!r}, port={self.port})"

    def _run(self, action: str) -> str:
        env = {**os.environ, "PG_ROOT": str(self.root), "PG_PORT": str(self.port)}
        done = subprocess.run(
            [str(_REPO / "scripts" / "pg.sh"), action],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"pg.sh {action} failed: {done.stderr[-2000:]}")
        return done.stdout.strip()

    def start(self) -> str:
        """Start it (creating it the first time); its URL."""
        self.url = self._run("up")
        return self.url

    def stop(self) -> None:
        """Stop it (fast shutdown: sessions are cut off, as in a restart)."""
        self._run("down")

    def remove(self) -> None:
        """Stop it and delete its files."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@asynccontextmanager
async def private_cluster() -> AsyncIterator[PrivateCluster]:
    """A started PrivateCluster, removed afterwards; skips (fails under CI=true) where no
    PostgreSQL is installed."""
    require_postgres()
    cluster = PrivateCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()
