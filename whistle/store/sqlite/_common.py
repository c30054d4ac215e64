"""What the SQLite store's parts share: time and JSON encodings, the connection settings, the
read connections, and the event row."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite
import structlog

from whistle.exceptions import StoreUnavailable
from whistle.store.encoding import (
    db_time,
    event_from_row,
    event_row,
    opt_time,
    parse_db_time,
    to_json,
)

__all__ = [
    "EVENT_COLUMNS",
    "MAX_PARAMS",
    "Readers",
    "chunks",
    "connection_pragmas",
    "db_time",
    "event_from_row",
    "event_row",
    "fetchone",
    "opt_time",
    "parse_db_time",
    "to_json",
]

log = structlog.get_logger("whistle.store.sqlite")

# SQLite's default bound-parameter limit is 32766; stay well below it for IN (...) lists.
MAX_PARAMS = 900

# The columns event_from_row reads, in its order.
EVENT_COLUMNS = "seq, type, whistle_id, at, actor, data"

# Statistics scan a county-year of facts: map the file and sort in memory rather than page
# through a 2 MB cache and temporary files.
# The readers read through a memory map (file-backed pages the kernel can drop), so a large
# page cache of their own bought nothing: at 64 MiB each it only grew the heap as the file
# grew (the soak's memory doubled in 10 minutes), and the statistics queries were no faster.
# Their sort and group-by scratch goes to temporary files for the same reason.
_READER_PRAGMAS = (
    "PRAGMA query_only = ON",
    "PRAGMA mmap_size = 1073741824",
    "PRAGMA cache_size = -8192",
    "PRAGMA temp_store = FILE",
)


def chunks(items: list[str], size: int) -> Iterable[list[str]]:
    """``items`` in lists of at most ``size`` (for IN lists under the parameter limit)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def connection_pragmas(busy_timeout_ms: int) -> tuple[str, ...]:
    """The settings of every connection, the writer's and the readers'."""
    return (
        f"PRAGMA busy_timeout = {int(busy_timeout_ms)}",
        "PRAGMA journal_mode = WAL",
        # FULL: with WAL, NORMAL may lose the last commits on power loss; a 201 must not.
        "PRAGMA synchronous = FULL",
        "PRAGMA foreign_keys = ON",
    )


async def fetchone(
    conn: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()
) -> sqlite3.Row | tuple[Any, ...] | None:
    """The first row of ``sql``, or None."""
    # One hop into the connection's thread: execute and fetch together. With execute and
    # fetch as two awaits, another request's query could run in between while this
    # statement is open, and on a shared connection that pins an old WAL snapshot: a
    # whistle committed a moment ago would be invisible to the reader.
    rows = await conn.execute_fetchall(sql, params)
    for row in rows:
        return row
    return None


class Readers:
    """The store's read-only connections: ``conn``, shared by every request, and a second one
    for the statistics' parallel scans, opened on first use."""

    def __init__(self, path: Path, busy_timeout_ms: int) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._reader: aiosqlite.Connection | None = None
        self._stats_reader: aiosqlite.Connection | None = None

    def __repr__(self) -> str:
        return f"Readers({str(self._path)!r}, open={self._reader is not None})"

    async def open(self) -> None:
        """Open the shared reader (after the writer has migrated the file)."""
        self._reader = await self._connect()

    async def _connect(self) -> aiosqlite.Connection:
        # isolation_level=None: autocommit; a reader never holds a transaction open.
        conn = await aiosqlite.connect(self._path, isolation_level=None)
        for pragma in (*connection_pragmas(self._busy_timeout_ms), *_READER_PRAGMAS):
            await conn.execute(pragma)
        return conn

    async def close(self) -> None:
        """Close both connections (a failure to close is logged, not raised)."""
        for conn in (self._stats_reader, self._reader):
            if conn is not None:
                try:
                    await conn.close()
                except sqlite3.Error:
                    log.warning("store.close_failed", exc_info=True)
        self._reader = self._stats_reader = None

    @property
    def conn(self) -> aiosqlite.Connection:
        """The shared reader; StoreUnavailable while the store is not open."""
        if self._reader is None:
            raise StoreUnavailable("the store is not open")
        return self._reader

    async def pair(self) -> list[aiosqlite.Connection]:
        """The reader plus one more connection, opened on first use, for parallel scans."""
        if self._reader is None:
            raise StoreUnavailable("the store is not open")
        if self._stats_reader is None:
            self._stats_reader = await self._connect()
        return [self._reader, self._stats_reader]
