"""The two bounds the intake pipeline is held against, each served as its own process.

    python bench/ceiling.py --mode bare|groupcommit --port P [--db F]

``bare``: an aiohttp handler for ``POST /api/v1/whistles`` that parses the same whistle
JSON, checks it is an object with the fields a whistle must have, and answers 201 with a new
id. No database: the most this stack (aiohttp on one core) answers.

``groupcommit``: the same handler hands the row to a writer thread and answers after the
commit. The writer takes every row waiting, inserts them all in one transaction and commits
(SQLite in WAL mode, ``synchronous=FULL``: on disk when the commit returns), then wakes the
requests of that batch. This is the physical ceiling of durable intake on this stack: the
pipeline does the same durable write, plus validation, location, routing and its case
records.

``GET /readyz`` answers 200 once the server (and the database) is ready.
"""

from __future__ import annotations

import argparse
import asyncio
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import wait_ready  # noqa: E402

from whistle.clock import SystemClock  # noqa: E402
from whistle.ids import IdFactory  # noqa: E402
from whistle.testing import free_port  # noqa: E402

REQUIRED = ("source", "category", "location")
_BAD = web.Response(status=400, body=b'{"error": "expected a whistle object"}')

# One pending write: the row, and the future (on the server's loop) its request waits on.
_Pending = tuple[tuple[str, str, str, str], asyncio.Future[None]]


class GroupCommitWriter:
    """A thread that commits every waiting row in one transaction, then answers them."""

    def __init__(self, db: Path, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._conn = sqlite3.connect(db, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = FULL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS whistles ("
            "id TEXT PRIMARY KEY, source TEXT NOT NULL, category TEXT NOT NULL, doc TEXT NOT NULL)"
        )
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self._thread.start()

    async def write(self, row: tuple[str, str, str, str]) -> None:
        """Queue ``row`` and return once it is committed."""
        future: asyncio.Future[None] = self._loop.create_future()
        self._queue.put((row, future))
        await future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)
        self._conn.close()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while True:  # everything that arrived while the last commit ran
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
            error: Exception | None = None
            try:
                self._conn.execute("BEGIN")
                self._conn.executemany(
                    "INSERT INTO whistles (id, source, category, doc) VALUES (?, ?, ?, ?)",
                    [row for row, _ in batch],
                )
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                error = exc
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
            self._loop.call_soon_threadsafe(_settle, [future for _, future in batch], error)


def _settle(futures: list[asyncio.Future[None]], error: Exception | None) -> None:
    for future in futures:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


WRITER = web.AppKey("writer", GroupCommitWriter)
IDS = web.AppKey("ids", IdFactory)


async def post_whistle(request: web.Request) -> web.Response:
    raw = await request.read()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _BAD
    if not isinstance(body, dict) or any(name not in body for name in REQUIRED):
        return _BAD
    whistle_id = request.app[IDS].new()
    writer = request.app.get(WRITER)
    if writer is not None:
        row = (whistle_id, str(body["source"]), str(body["category"]), raw.decode())
        await writer.write(row)
    return web.Response(
        status=201, body=orjson.dumps({"id": whistle_id}), content_type="application/json"
    )


async def readyz(request: web.Request) -> web.Response:
    return web.Response(text="ready")


def make_app(mode: str, db: Path | None) -> web.Application:
    app = web.Application()
    app[IDS] = IdFactory(SystemClock())
    app.router.add_post("/api/v1/whistles", post_whistle)
    app.router.add_get("/readyz", readyz)
    if mode == "groupcommit":
        if db is None:
            raise SystemExit("--mode groupcommit needs --db")

        async def writer(app: web.Application) -> AsyncIterator[None]:
            app[WRITER] = GroupCommitWriter(db, asyncio.get_running_loop())
            yield
            app[WRITER].close()

        app.cleanup_ctx.append(writer)
    return app


class Ceiling:
    """``bench/ceiling.py`` as a child process on a free port, for a bench to load."""

    def __init__(self, mode: str, db: Path, log: Path) -> None:
        self.mode, self.db, self.log = mode, db, log
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_within: float = 30.0) -> None:
        command = [
            sys.executable, __file__, "--mode", self.mode, "--port", str(self.port),
            "--db", str(self.db),
        ]  # fmt: skip
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=log)
        wait_ready(self.proc, f"{self.url}/readyz", self.log, "ceiling", ready_within)

    def stop(self) -> None:
        """SIGTERM (aiohttp closes the writer, which commits nothing more), then wait."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mode", choices=("bare", "groupcommit"), required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--db", type=Path)
    args = p.parse_args()
    web.run_app(
        make_app(args.mode, args.db),
        host="127.0.0.1",
        port=args.port,
        access_log=None,
        print=None,
    )


if __name__ == "__main__":
    main()
