"""The PostgreSQL write connection: the WriteBackend of the group writer
(whistle/store/writer.py), and the migrations.

Each process has its own writer and its own write connection. A batch is one transaction that
first takes the one row of ``log_position`` FOR UPDATE: the batches of all processes are then
numbered one after another, in the order they commit, so the event log has one database-wide
order with no gaps (a reader following ``seq`` never skips an event committed later with a
smaller number). The lock is held for the batch's statements and its COMMIT only.

A connection that breaks (PostgreSQL restarted, the network gone) is opened again on the next
batch: the batch that met the break fails as a whole (StoreUnavailable, a 503 upstream) and
nothing of it was committed.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import structlog

from whistle.events import Event
from whistle.exceptions import StoreUnavailable
from whistle.store.base import Duplicate
from whistle.store.encoding import db_time, event_row
from whistle.store.postgres._common import (
    ERRORS,
    EVENT_COLUMNS,
    EVENT_INSERT,
    UNAVAILABLE,
    connect,
    event_of,
    rowcount,
)
from whistle.store.postgres.dialect import pg
from whistle.store.postgres.listener import CHANNEL
from whistle.store.postgres.outbox import OUTBOX_INSERT, outbox_rows
from whistle.store.postgres.schema import MIGRATIONS, SCHEMA_VERSION
from whistle.store.writer import WriteUnit, number_events

__all__ = ["PgApply", "PgUnit", "PgWriteBackend", "migrate"]

log = structlog.get_logger("whistle.store.postgres")

# A unit's ``apply``: awaited with the write connection inside the batch's transaction.
PgApply = Callable[[asyncpg.Connection, int], Awaitable[tuple[tuple[Event, ...], int]]]
PgUnit = WriteUnit[PgApply]

# Any number will do, as long as it is whistle's alone: the migration lock.
_MIGRATION_LOCK = 0x77686973


_CLOSE_ERRORS: tuple[type[Exception], ...] = (TimeoutError, *ERRORS)


# Pending deadlines among the wanted (case, key) pairs that nobody else holds a running lease
# on; SKIP LOCKED passes over rows another process is claiming this very moment.
_CLAIM = (
    "UPDATE deadlines d SET claimed_by = $3, lease_until = $5 FROM ("
    "SELECT whistle_id, key FROM deadlines "
    "WHERE (whistle_id, key) IN (SELECT * FROM unnest($1::text[], $2::text[])) "
    "AND status = 'pending' "
    "AND (claimed_by IS NULL OR claimed_by = $3 OR lease_until <= $4) "
    "FOR UPDATE SKIP LOCKED) AS free "
    "WHERE d.whistle_id = free.whistle_id AND d.key = free.key "
    "RETURNING d.whistle_id, d.key"
)


class _GuardFailed(Exception):
    """A guard changed no row: the unit's savepoint is rolled back."""


async def migrate(conn: asyncpg.Connection) -> None:
    """Bring the schema up to :data:`SCHEMA_VERSION`, once however many processes start."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (id int PRIMARY KEY CHECK (id = 1), "
            "version int NOT NULL)"
        )
        version = await conn.fetchval("SELECT version FROM schema_version") or 0
        if version > SCHEMA_VERSION:
            raise StoreUnavailable(
                f"database has schema version {version}; this program knows up to "
                f"{SCHEMA_VERSION}: upgrade the program"
            )
        for number in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[number]:
                await conn.execute(statement)
        if version != SCHEMA_VERSION:
            await conn.execute(
                "INSERT INTO schema_version (id, version) VALUES (1, $1) "
                "ON CONFLICT (id) DO UPDATE SET version = excluded.version",
                SCHEMA_VERSION,
            )
            log.info("store.migrated", from_version=version, to_version=SCHEMA_VERSION)


class PgWriteBackend:
    """The write connection of one process to one PostgreSQL database."""

    unavailable: tuple[type[Exception], ...] = UNAVAILABLE
    errors: tuple[type[Exception], ...] = ERRORS

    def __init__(self, dsn: str, origin: str) -> None:
        self._dsn = dsn
        self.origin = origin  # stamped on every event this connection writes
        self._conn: asyncpg.Connection | None = None
        self._open = False
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"PgWriteBackend(open={self._open})"

    async def open(self) -> None:
        """Connect and bring the schema up to date."""
        self._conn = await connect(self._dsn, self.origin)
        self._open = True
        try:
            await migrate(self._conn)
        except ERRORS as exc:
            raise StoreUnavailable(f"cannot migrate the database: {exc}") from exc

    async def close(self) -> None:
        self._open = False
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await conn.close(timeout=5)
            except _CLOSE_ERRORS:
                conn.terminate()

    async def _connection(self) -> asyncpg.Connection:
        """The write connection, opened again when it broke."""
        if not self._open:
            raise StoreUnavailable("the store is not open")
        if self._conn is None or self._conn.is_closed():
            log.warning("store.reconnecting")
            self._conn = await connect(self._dsn, self.origin)
        return self._conn

    async def run(self, fn: Callable[[asyncpg.Connection], Awaitable[Any]]) -> Any:
        """Run ``fn`` with the write connection (one at a time)."""
        async with self._lock:
            conn = await self._connection()
            try:
                return await fn(conn)
            except UNAVAILABLE:
                # Broken: drop it, the next call connects again.
                if not conn.is_closed():
                    conn.terminate()
                self._conn = None
                raise

    # -- WriteBackend ----------------------------------------------------------------------

    async def positions(self) -> tuple[int, int]:
        async def read(db: asyncpg.Connection) -> tuple[int, int]:
            last = await db.fetchval("SELECT seq FROM log_position")
            published = await db.fetchval("SELECT published_seq FROM outbox")
            return int(last or 0), int(published or 0)

        result: tuple[int, int] = await self.run(read)
        return result

    async def stored_keys(self, keys: Sequence[str]) -> dict[str, Duplicate]:
        async def read(db: asyncpg.Connection) -> dict[str, Duplicate]:
            rows = await db.fetch(
                "SELECT idempotency_key, id, request_hash FROM whistles "
                "WHERE idempotency_key = ANY($1::text[])",
                list(keys),
            )
            return {r[0]: Duplicate(r[1], r[2]) for r in rows}

        result: dict[str, Duplicate] = await self.run(read)
        return result

    async def events_after(self, seq: int) -> list[Event]:
        async def read(db: asyncpg.Connection) -> list[Event]:
            rows = await db.fetch(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE seq > $1 ORDER BY seq", seq
            )
            return [event_of(r) for r in rows]

        result: list[Event] = await self.run(read)
        return result

    async def save_cursor(self, published_seq: int) -> None:
        async def save(db: asyncpg.Connection) -> None:
            await db.execute(
                "UPDATE outbox SET published_seq = greatest(published_seq, $1)", published_seq
            )

        await self.run(save)

    async def claim_deadlines(
        self, due: Sequence[tuple[str, str]], now: datetime, lease: timedelta
    ) -> set[tuple[str, str]]:
        """See Store.claim_deadlines: one statement, committed at once (the claim must be
        visible to the other processes before this one fires)."""
        if not due:
            return set()

        async def claim(db: asyncpg.Connection) -> set[tuple[str, str]]:
            rows = await db.fetch(
                _CLAIM,
                [w for w, _ in due],
                [k for _, k in due],
                self.origin,
                db_time(now),
                db_time(now + lease),
            )
            return {(str(r[0]), str(r[1])) for r in rows}

        result: set[tuple[str, str]] = await self.run(claim)
        return result

    async def write(self, units: list[PgUnit], seq: int, outbox: int | None) -> int:
        """Write ``units`` in one transaction, numbered from the database's own counter (the
        ``seq`` the writer passes is this process's guess, and is not used)."""

        async def write(db: asyncpg.Connection) -> int:
            try:
                async with db.transaction():
                    start = int(await db.fetchval("SELECT seq FROM log_position FOR UPDATE")) + 1
                    end = await _write_units(db, units, start)
                    # The outbox rows of the batch's notices, in the same transaction.
                    deliveries = outbox_rows([e for unit in units for e in unit.written])
                    if deliveries:
                        await db.executemany(OUTBOX_INSERT, deliveries)
                    if end != start:
                        await db.execute("UPDATE log_position SET seq = $1", end - 1)
                        # Delivered at COMMIT, to every process's listener.
                        await db.execute("SELECT pg_notify($1, $2)", CHANNEL, str(end - 1))
                    if outbox is not None:
                        await db.execute(
                            "UPDATE outbox SET published_seq = greatest(published_seq, $1)",
                            outbox,
                        )
            except BaseException:
                for unit in units:
                    unit.written = ()
                    unit.conflict = False
                raise
            return end

        result: int = await self.run(write)
        return result


async def _write_units(db: asyncpg.Connection, units: list[PgUnit], seq: int) -> int:
    """The batch's statements: plain units grouped per statement (one executemany each),
    then each guarded unit in its own savepoint. Returns the next sequence number."""
    grouped: OrderedDict[str, list[tuple[Any, ...]]] = OrderedDict()
    plain = [u for u in units if not u.guards and u.apply is None]
    guarded = [u for u in units if u.guards or u.apply is not None]
    for unit in plain:
        for sql, params in unit.statements:
            grouped.setdefault(sql, []).append(params)
        unit.written, seq = number_events(unit.events, seq)
    for sql, rows in grouped.items():
        await db.executemany(pg(sql), rows)
    event_rows = [event_row(e) for unit in plain for e in unit.written]
    if event_rows:
        await db.executemany(EVENT_INSERT, event_rows)
    for unit in guarded:
        seq = await _apply_guarded(db, unit, seq)
    return seq


async def _apply_guarded(db: asyncpg.Connection, unit: PgUnit, seq: int) -> int:
    """One guarded unit in a savepoint; a guard that does not change exactly one row undoes
    the unit alone and marks it a conflict."""
    if unit.apply is not None:
        unit.written, seq = await unit.apply(db, seq)
        return seq
    try:
        async with db.transaction():  # a savepoint inside the batch's transaction
            for sql, params in unit.guards:
                if rowcount(await db.execute(pg(sql), *params)) != 1:
                    raise _GuardFailed
            for sql, params in unit.statements:
                await db.execute(pg(sql), *params)
            written, end = number_events(unit.events, seq)
            if written:
                await db.executemany(EVENT_INSERT, [event_row(e) for e in written])
    except _GuardFailed:
        unit.conflict = True
        return seq
    unit.written = written
    return end
