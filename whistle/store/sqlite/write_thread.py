"""The SQLite write connection on a thread of its own: the WriteBackend of the group writer.

The writer's work runs on one dedicated thread with a plain ``sqlite3`` connection that only
that thread ever touches. A batch is a dozen statements or
more; awaiting each one is a round trip between the event loop and the thread, with a wake-up
on both sides, and on the intake path that cost more than the SQL. So a whole transaction
runs in one hop (:meth:`SqliteWriteBackend.run`), through public APIs only.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import queue
import sqlite3
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import structlog

from whistle.events import Event
from whistle.exceptions import StoreUnavailable
from whistle.store._schema import MIGRATIONS, SCHEMA_VERSION
from whistle.store.base import Duplicate
from whistle.store.sqlite._common import (
    EVENT_COLUMNS,
    MAX_PARAMS,
    chunks,
    connection_pragmas,
    event_from_row,
    event_row,
)
from whistle.store.writer import WriteUnit, number_events

__all__ = ["EVENT_INSERT", "SqliteApply", "SqliteUnit", "SqliteWriteBackend"]

log = structlog.get_logger("whistle.store.sqlite")

_T = TypeVar("_T")

# A unit's ``apply``: run with the connection on the writer's thread, inside the batch.
SqliteApply = Callable[[sqlite3.Connection, int], tuple[tuple[Event, ...], int]]
SqliteUnit = WriteUnit[SqliteApply]

EVENT_INSERT = (
    "INSERT INTO events (seq, whistle_id, type, at, actor, data) VALUES (?, ?, ?, ?, ?, ?)"
)


_Job = tuple[Callable[[], Any], "asyncio.Future[Any]", asyncio.AbstractEventLoop]


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if not future.done():  # a caller that went away cancelled its own wait
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


def _name_os_thread(name: str) -> None:
    """Give the calling thread ``name`` in the OS too (Linux's PR_SET_NAME), so that ``top -H``
    and ``/proc/PID/task/*/comm`` tell the writer from the event loop (bench/costs.py reads
    each one's CPU); Python's own thread names stay inside Python."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(15, name.encode()[:15], 0, 0, 0)  # 15: PR_SET_NAME


class _Thread:
    """One thread that runs the jobs it is given in order, each answered on its caller's loop.

    A job queue and ``call_soon_threadsafe``, the same hop as aiosqlite's: a
    ThreadPoolExecutor's futures cost some 30 µs of CPU more per batch.
    """

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name=name)
        self._thread.start()

    def _work(self) -> None:
        _name_os_thread(self._thread.name)
        while (job := self._jobs.get()) is not None:
            fn, future, loop = job
            try:
                value, ok = fn(), True
            except BaseException as exc:  # handed to the caller, who raises it
                value, ok = exc, False
            # RuntimeError: the loop closed meanwhile, and nobody is waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future, ok, value)

    async def call(self, fn: Callable[[], _T]) -> _T:
        """Run ``fn`` on the thread; its result or its exception."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_T] = loop.create_future()
        self._jobs.put((fn, future, loop))
        return await future

    def stop(self) -> None:
        """Let the thread end once the jobs given before have run."""
        self._jobs.put(None)
        self._thread.join()


class SqliteWriteBackend:
    """The write connection of one SQLite file, owned by its own thread."""

    # Locked, read-only, full disk, I/O error: the database cannot take writes.
    unavailable: tuple[type[Exception], ...] = (sqlite3.OperationalError,)
    errors: tuple[type[Exception], ...] = (sqlite3.Error,)

    def __init__(self, path: Path, busy_timeout_ms: int) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._thread: _Thread | None = None
        self._conn: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"SqliteWriteBackend({str(self._path)!r}, open={self._conn is not None})"

    async def open(self) -> None:
        """Start the thread, connect on it and bring the schema up to date."""
        self._thread = _Thread("store-writer")
        self._conn = await self._thread.call(self._connect)
        await self.run(self._migrate)

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction per batch.
        conn = sqlite3.connect(self._path, isolation_level=None)
        try:
            for pragma in connection_pragmas(self._busy_timeout_ms):
                conn.execute(pragma)
        except BaseException:
            conn.close()
            raise
        return conn

    async def close(self) -> None:
        """Disconnect and let the thread go (so that it never keeps the process alive)."""
        thread, conn = self._thread, self._conn
        self._thread = self._conn = None
        if thread is None:
            return
        try:
            if conn is not None:
                await thread.call(conn.close)
        except sqlite3.Error:
            log.warning("store.close_failed", exc_info=True)
        finally:
            thread.stop()  # at once: every job given before has run

    async def run(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``fn`` with the connection on the writer's thread, in one hop."""
        thread, conn = self._thread, self._conn
        if thread is None or conn is None:
            raise StoreUnavailable("the store is not open")
        return await thread.call(lambda: fn(conn))

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("PRAGMA user_version").fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise StoreUnavailable(
                    f"database {self._path} has schema version {version}; this program knows "
                    f"up to {SCHEMA_VERSION}: upgrade the program"
                )
            for number in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[number]:
                    conn.execute(statement)
            if version != SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                log.info("store.migrated", from_version=version, to_version=SCHEMA_VERSION)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    # -- WriteBackend ----------------------------------------------------------------------

    async def positions(self) -> tuple[int, int]:
        def read(db: sqlite3.Connection) -> tuple[int, int]:
            row = db.execute("SELECT max(seq) FROM events").fetchone()
            last = int(row[0] or 0) if row else 0
            row = db.execute("SELECT published_seq FROM outbox").fetchone()
            return last, int(row[0]) if row else 0

        return await self.run(read)

    async def stored_keys(self, keys: Sequence[str]) -> dict[str, Duplicate]:
        def read(db: sqlite3.Connection) -> dict[str, Duplicate]:
            stored: dict[str, Duplicate] = {}
            for chunk in chunks(list(keys), MAX_PARAMS):
                marks = ",".join("?" * len(chunk))
                rows = db.execute(
                    "SELECT idempotency_key, id, request_hash FROM whistles "
                    f"WHERE idempotency_key IN ({marks})",
                    chunk,
                ).fetchall()
                for key, whistle_id, request_hash in rows:
                    stored[key] = Duplicate(whistle_id, request_hash)
            return stored

        return await self.run(read)

    async def events_after(self, seq: int) -> list[Event]:
        def read(db: sqlite3.Connection) -> list[Event]:
            rows = db.execute(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE seq > ? ORDER BY seq", (seq,)
            ).fetchall()
            return [event_from_row(row) for row in rows]

        return await self.run(read)

    async def save_cursor(self, published_seq: int) -> None:
        def save(db: sqlite3.Connection) -> None:
            # Autocommit: the UPDATE is its own transaction.
            db.execute("UPDATE outbox SET published_seq = ?", (published_seq,))

        await self.run(save)

    async def write(self, units: list[SqliteUnit], seq: int, outbox: int | None) -> int:
        """Write ``units`` in one transaction; on failure nothing is kept.

        Plain units (new whistles) share one ``executemany`` per statement. Guarded units
        (lifecycle transitions, camera repeats) run one by one inside a savepoint, so a unit
        whose guard finds the case moved on is undone alone and marked a conflict. The whole
        transaction runs on the writer's thread in one hop.
        """
        grouped: OrderedDict[str, list[tuple[Any, ...]]] = OrderedDict()
        plain = [u for u in units if not u.guards and u.apply is None]
        guarded = [u for u in units if u.guards or u.apply is not None]
        for unit in plain:
            for sql, params in unit.statements:
                grouped.setdefault(sql, []).append(params)
            unit.written, seq = number_events(unit.events, seq)
        event_rows = [event_row(e) for unit in plain for e in unit.written]

        def write(db: sqlite3.Connection) -> int:
            db.execute("BEGIN IMMEDIATE")
            try:
                for sql, rows in grouped.items():
                    db.executemany(sql, rows)
                if event_rows:
                    db.executemany(EVENT_INSERT, event_rows)
                end = seq
                # New whistles with a 受理编号 (an ``apply`` that can ``collect``) share one
                # executemany per statement with their neighbours in the batch.
                gathered: dict[str, list[tuple[Any, ...]]] = {}
                pending: list[tuple[Any, ...]] = []
                for unit in guarded:
                    collect = getattr(unit.apply, "collect", None)
                    if collect is not None:
                        unit.written, end = collect(db, end, gathered, pending)
                        continue
                    if gathered or pending:
                        write_grouped(db, gathered, pending)
                    end = _apply_guarded(db, unit, end)
                if gathered or pending:
                    write_grouped(db, gathered, pending)
                if outbox is not None:
                    db.execute("UPDATE outbox SET published_seq = ?", (outbox,))
                db.execute("COMMIT")
            except BaseException:
                for unit in units:
                    unit.written = ()
                    unit.conflict = False
                try:
                    db.execute("ROLLBACK")
                except sqlite3.Error:
                    log.warning("store.rollback_failed", exc_info=True)
                raise
            return end

        return await self.run(write)


def write_grouped(
    db: sqlite3.Connection,
    grouped: dict[str, list[tuple[Any, ...]]],
    event_rows: list[tuple[Any, ...]],
) -> None:
    """Each statement's rows in one call, in the order the statements were first seen, then
    the events; both emptied for the next run of units. Every new whistle's statements start
    with its own row and the others only read whistles' rows (the search text, a link to a
    likely duplicate), so running all the whistles' rows first keeps every statement after
    what it reads."""
    for sql, rows in grouped.items():
        db.executemany(sql, rows)
    if event_rows:
        db.executemany(EVENT_INSERT, event_rows)
    grouped.clear()
    event_rows.clear()


def _apply_guarded(db: sqlite3.Connection, unit: SqliteUnit, seq: int) -> int:
    """Apply one guarded unit inside a savepoint (on the writer's thread); a guard that
    does not change exactly one row undoes the unit alone and marks it a conflict."""
    if unit.apply is not None:
        unit.written, seq = unit.apply(db, seq)
        return seq
    db.execute("SAVEPOINT unit")
    for sql, params in unit.guards:
        if db.execute(sql, params).rowcount != 1:
            db.execute("ROLLBACK TO unit")
            db.execute("RELEASE unit")
            unit.conflict = True
            return seq
    for sql, params in unit.statements:
        db.execute(sql, params)
    unit.written, seq = number_events(unit.events, seq)
    if unit.written:
        db.executemany(EVENT_INSERT, [event_row(e) for e in unit.written])
    db.execute("RELEASE unit")
    return seq
