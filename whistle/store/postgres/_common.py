"""What the PostgreSQL store's parts share: connecting, the read pool, the event row."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import structlog

from whistle.events import Event
from whistle.exceptions import StoreUnavailable
from whistle.store.encoding import event_from_row

__all__ = [
    "ERRORS",
    "EVENT_COLUMNS",
    "EVENT_INSERT",
    "UNAVAILABLE",
    "Readers",
    "advisory_lock",
    "connect",
    "event_of",
    "rowcount",
]

log = structlog.get_logger("whistle.store.postgres")

EVENT_COLUMNS = "seq, type, whistle_id, at, actor, data"
EVENT_INSERT = (
    "INSERT INTO events (seq, whistle_id, type, at, actor, data) VALUES ($1, $2, $3, $4, $5, $6)"
)

# The database cannot take writes at all: the connection is gone, the server shuts down or
# restarts, refuses connections, or is out of disk or memory. Nothing of a batch is stored.
UNAVAILABLE: tuple[type[Exception], ...] = (
    OSError,
    asyncpg.exceptions.PostgresConnectionError,  # class 08
    asyncpg.exceptions.OperatorInterventionError,  # class 57: admin shutdown, crash
    asyncpg.exceptions.InsufficientResourcesError,  # class 53: disk full, out of memory
    asyncpg.exceptions.ReadOnlySQLTransactionError,  # a standby
    asyncpg.InterfaceError,  # the connection was closed under us
    # A connection left mid-operation by a server going away ("cannot switch to state 12;
    # another operation is in progress"): unusable, like a closed one.
    asyncpg.exceptions.InternalClientError,
)
ERRORS: tuple[type[Exception], ...] = (asyncpg.PostgresError, *UNAVAILABLE)


async def connect(dsn: str, origin: str | None = None) -> asyncpg.Connection:
    """One connection to ``dsn``; StoreUnavailable when the server cannot be reached.
    ``origin`` (a writer's): stamped on the events it writes (``events.origin``)."""
    settings = {} if origin is None else {"whistle.origin": origin}
    try:
        return await asyncpg.connect(dsn, timeout=10, server_settings=settings)
    except ERRORS as exc:
        raise StoreUnavailable(f"cannot connect to PostgreSQL: {exc}") from exc


def rowcount(status: str) -> int:
    """The rows a statement changed, from its status (``UPDATE 1``)."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


def event_of(row: Any) -> Event:
    """An event from a row of :data:`EVENT_COLUMNS`."""
    return event_from_row(tuple(row))


class Readers:
    """The store's read connections: a small pool, opened after the writer has migrated."""

    def __init__(self, dsn: str, size: int = 4) -> None:
        self._dsn = dsn
        self._size = size
        self._pool: asyncpg.Pool | None = None

    def __repr__(self) -> str:
        return f"Readers(size={self._size}, open={self._pool is not None})"

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self._dsn, min_size=1, max_size=self._size, timeout=10
            )
        except ERRORS as exc:
            raise StoreUnavailable(f"cannot connect to PostgreSQL: {exc}") from exc

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await pool.close()
            except ERRORS:
                log.warning("store.close_failed", exc_info=True)

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreUnavailable("the store is not open")
        return self._pool

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        """The rows of ``sql``; StoreUnavailable when the database cannot be reached."""
        try:
            return list(await self.pool.fetch(sql, *args))
        except UNAVAILABLE as exc:
            raise StoreUnavailable(f"PostgreSQL unreachable: {exc}") from exc

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        """The first row of ``sql``, or None."""
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None


@asynccontextmanager
async def advisory_lock(readers: Readers, name: str) -> AsyncIterator[None]:
    """A session advisory lock on ``name`` (hashed), held on a pool connection of its own
    for the block: every process on the database waits for it. Should the process die, its
    session ends and PostgreSQL lets the lock go."""
    try:
        conn = await readers.pool.acquire()
    except UNAVAILABLE as exc:
        raise StoreUnavailable(f"PostgreSQL unreachable: {exc}") from exc
    try:
        try:
            await conn.execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", name)
        except UNAVAILABLE as exc:
            raise StoreUnavailable(f"PostgreSQL unreachable: {exc}") from exc
        try:
            yield
        finally:
            try:
                await conn.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", name)
            except ERRORS:
                # The connection broke: its session, and so the lock, are gone with it.
                log.warning("store.unlock_failed", lock=name, exc_info=True)
    finally:
        await readers.pool.release(conn)
