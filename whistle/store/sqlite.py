"""SQLite implementation of the Store, through aiosqlite, with group commit.

One writer task owns the write connection. Callers queue a unit of work and wait on a future;
the writer takes every unit queued at that moment (no fixed wait: a timed wait costs more
throughput than it gains) and writes them in one transaction, one ``executemany`` per
statement, then one COMMIT, so a burst of concurrent intakes shares one fsync. With WAL and
``synchronous=FULL`` a resolved future means the rows are on disk.

After the commit the batch's events are published on the bus. The outbox is the log itself:
``outbox.published_seq`` is moved forward inside later write transactions, and on open every
event after it is published again, so an event is never stored without being published,
and never published without being stored (delivery is at least once).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import orjson
import structlog

from whistle.bus import Bus
from whistle.events import Event, NewEvent
from whistle.exceptions import Conflict, StoreBusy, StoreUnavailable
from whistle.store import case_numbers, facts
from whistle.store._schema import MIGRATIONS, SCHEMA_VERSION
from whistle.store.base import (
    AssignmentRow,
    Created,
    Duplicate,
    NewWhistle,
    Page,
    PendingDeadline,
    RecentWhistle,
    Repeat,
    SessionRecord,
    Silence,
    StatsQuery,
    StoredWhistle,
    TokenRecord,
    Transition,
    UserRecord,
    WhistleQuery,
)

__all__ = ["SqliteStore", "db_time", "parse_db_time"]

log = structlog.get_logger(__name__)

_T = TypeVar("_T")

# SQLite's default bound-parameter limit is 32766; stay well below it for IN (...) lists.
_MAX_PARAMS = 900


def db_time(when: datetime) -> str:
    """Fixed-width UTC text (``2026-11-23T01:00:00.000000+00:00``), so that string order is
    time order in SQL. isoformat is several times faster than strftime on the write path."""
    if when.tzinfo is None:
        raise ValueError("naive datetime given to the store")
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def parse_db_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


Statement = tuple[str, tuple[Any, ...]]


@dataclass(eq=False)
class _Unit:
    """One caller's writes: applied together or not at all."""

    statements: list[Statement]
    events: Sequence[NewEvent]
    idempotency_key: str | None
    future: asyncio.Future[Created | Duplicate]
    # Guards must each change exactly one row, or the unit is a Conflict and writes nothing.
    guards: list[Statement] = field(default_factory=list)
    # A unit whose writes depend on what it finds (run on the writer's thread, inside the
    # batch's transaction): given the next sequence number, it returns its events and the next.
    apply: Callable[[sqlite3.Connection, int], tuple[tuple[Event, ...], int]] | None = None
    written: tuple[Event, ...] = field(default=())
    conflict: bool = False


_WHISTLE_INSERT = (
    "INSERT INTO whistles (id, received_at, source, category, urgency, status, grid_code, "
    "grid_path, grid_level, external_id, idempotency_key, request_hash, doc, version, case_doc, "
    "camera_id, near, case_number) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# The same row with its 受理编号 (the last parameter) also set in its document.
_WHISTLE_INSERT_NUMBERED = (
    "INSERT INTO whistles (id, received_at, source, category, urgency, status, grid_code, "
    "grid_path, grid_level, external_id, idempotency_key, request_hash, doc, version, case_doc, "
    "camera_id, near, case_number) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
    "json_set(?13, '$.case_number', ?18), ?14, ?15, ?16, ?17, ?18)"
)
_DEADLINE_SET = (
    "INSERT INTO deadlines (whistle_id, key, due_at, status) VALUES (?, ?, ?, 'pending') "
    "ON CONFLICT (whistle_id, key) DO UPDATE SET due_at = excluded.due_at, status = 'pending'"
)
_DEADLINE_CANCEL = (
    "UPDATE deadlines SET status = 'cancelled' "
    "WHERE whistle_id = ? AND key = ? AND status = 'pending'"
)
_DEADLINE_FIRE = (
    "UPDATE deadlines SET status = 'fired' WHERE whistle_id = ? AND key = ? AND status = 'pending'"
)
_DETECTIONS_INSERT = "INSERT INTO detections (key, whistle_id) SELECT value, ? FROM json_each(?)"
_CASE_GUARD = (
    "UPDATE whistles SET version = ?, status = ?, case_doc = ? WHERE id = ? AND version = ?"
)
# A later whistle that may duplicate this case: one more entry in its document's
# possible_duplicates (at most 100; the events keep every one). A note, not a step: the
# case's version stays as it is (see dispatch.case.NOTES).
_DUPLICATE_LINK = (
    "UPDATE whistles SET "
    "doc = json_insert(doc, '$.possible_duplicates[#]', ?1) WHERE id = ?2 "
    "AND coalesce(json_array_length(doc, '$.possible_duplicates'), 0) < 100"
)
_ASSIGNMENT_UPDATE = "UPDATE assignments SET status = ?, responder_id = ?, doc = ? WHERE id = ?"
_ASSIGNMENT_INSERT = (
    "INSERT INTO assignments (id, whistle_id, responder_id, kind, mode, status, cell, "
    "acknowledge_due, claim_due, resolve_due, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INFORMED_INSERT = (
    "INSERT OR IGNORE INTO informed (responder_id, received_at, whistle_id) VALUES (?, ?, ?)"
)
_EVENT_INSERT = (
    "INSERT INTO events (seq, whistle_id, type, at, actor, data) VALUES (?, ?, ?, ?, ?, ?)"
)


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


def _transition_statements(step: Transition) -> tuple[list[Statement], list[Statement]]:
    """The guards and the statements of one lifecycle step."""
    guards: list[Statement] = [
        (
            _CASE_GUARD,
            (
                step.new_version,
                step.status,
                _json(step.case_doc),
                step.whistle_id,
                step.expected_version,
            ),
        )
    ]
    if step.fires is not None:
        guards.append((_DEADLINE_FIRE, (step.whistle_id, step.fires)))
    statements: list[Statement] = [
        (
            _ASSIGNMENT_INSERT,
            _assignment_params(a),
        )
        for a in step.new_assignments
    ]
    statements += [
        (_ASSIGNMENT_UPDATE, (status, responder_id, _json(doc), aid))
        for aid, status, responder_id, doc in step.assignment_status
    ]
    statements += [
        (_DEADLINE_SET, (step.whistle_id, key, db_time(due))) for key, due in step.set_deadlines
    ]
    statements += [(_DEADLINE_CANCEL, (step.whistle_id, key)) for key in step.cancel_deadlines]
    statements += facts.transition_facts(step)
    return guards, statements


def _opt_time(when: datetime | None) -> str | None:
    return None if when is None else db_time(when)


def _assignment_params(a: AssignmentRow) -> tuple[Any, ...]:
    """The parameters of _ASSIGNMENT_INSERT for one assignment."""
    return (
        a.id,
        a.whistle_id,
        a.responder_id,
        a.kind,
        a.mode,
        a.status,
        a.cell,
        _opt_time(a.acknowledge_due),
        _opt_time(a.claim_due),
        _opt_time(a.resolve_due),
        _json(a.doc),
    )


def _whistle_statements(new: NewWhistle) -> list[Statement]:
    """Every statement a new whistle writes: its row (its 受理编号, the last parameter, is
    drawn by the writer: see _numbered_writer), assignments, deadlines and the statistics
    projection (which commits with the events or not at all)."""
    w = new.whistle
    statements: list[Statement] = [
        (
            _WHISTLE_INSERT,
            (
                w.id,
                db_time(w.received_at),
                w.source,
                w.category,
                w.urgency,
                w.status,
                w.grid_code,
                w.grid_path,
                w.grid_level,
                w.external_id,
                w.idempotency_key,
                w.request_hash,
                _json(w.doc),
                len(new.events),
                None if new.case_doc is None else _json(new.case_doc),
                w.camera_id,
                w.near,
                None,  # case_number
            ),
        )
    ]
    statements += [(_ASSIGNMENT_INSERT, _assignment_params(a)) for a in new.assignments]
    statements += [(_DEADLINE_SET, (w.id, key, db_time(due))) for key, due in new.deadlines]
    statements += facts.new_whistle_facts(new)
    statements += [(_DUPLICATE_LINK, (e.data["whistle"], e.whistle_id)) for e in new.linked]
    statements += [
        (_INFORMED_INSERT, (i["responder"]["id"], db_time(w.received_at), w.id))
        for i in w.doc.get("informed") or ()
    ]
    return statements


def _inbox_whistle(whistle_id: str, status: str, whistle: dict[str, Any]) -> dict[str, Any]:
    """What an inbox shows of a case."""
    return {
        "id": whistle_id,
        "status": status,
        "source": whistle["source"],
        "category": whistle["category"],
        "urgency": whistle["urgency"],
        "description": whistle["description"],
        "grid": {"code": whistle["grid"]["code"], "name": whistle["grid"]["name"]},
        "received_at": whistle["received_at"],
    }


class SqliteStore:
    """The Store on one SQLite file in WAL mode.

    ``max_queue`` bounds the writes waiting for the writer: past it ``StoreBusy`` is raised at
    once (backpressure) instead of letting memory grow. ``max_batch`` bounds one transaction.
    """

    def __init__(
        self,
        path: Path | str,
        bus: Bus,
        *,
        max_queue: int = 10_000,
        max_batch: int = 1_000,
        busy_timeout_ms: int = 2_000,
    ) -> None:
        self.path = Path(path)
        self._bus = bus
        self._max_batch = max_batch
        self._busy_timeout_ms = busy_timeout_ms
        self._queue: asyncio.Queue[_Unit] = asyncio.Queue(max_queue)
        self._writer_conn: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._stats_reader: aiosqlite.Connection | None = None
        self._writer_task: asyncio.Task[None] | None = None
        self._next_seq = 1
        self._published_seq = 0
        self._persisted_published_seq = 0
        self._closing = False
        self.commits = 0  # transactions committed; group commit makes this < writes
        self.writes = 0  # units written

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r}, next_seq={self._next_seq})"

    # -- lifecycle -----------------------------------------------------------------------

    async def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer_conn = await self._connect()
            await self._migrate(self._writer_conn)
            self._reader = await self._connect()
            for pragma in _READER_PRAGMAS:
                await self._reader.execute(pragma)
            row = await self._fetchone(self._writer_conn, "SELECT max(seq) FROM events")
            self._next_seq = (row[0] or 0) + 1 if row else 1
            row = await self._fetchone(self._writer_conn, "SELECT published_seq FROM outbox")
            self._published_seq = self._persisted_published_seq = int(row[0]) if row else 0
            # Inside the try: on a read-only file the outbox cursor's write is the first to
            # fail, and an open that fails must close its connections (their threads would
            # otherwise keep the process from exiting) and say StoreUnavailable.
            await self._publish_unpublished()
        except (sqlite3.Error, OSError) as exc:
            await self._disconnect()
            raise StoreUnavailable(f"cannot open database {self.path}: {exc}") from exc
        except BaseException:
            await self._disconnect()
            raise
        self._closing = False
        self._writer_task = asyncio.create_task(self._write_loop(), name="store-writer")
        log.info("store.opened", path=str(self.path), schema=SCHEMA_VERSION, seq=self._next_seq - 1)

    async def close(self) -> None:
        self._closing = True
        if self._writer_task is not None:
            # Let queued writes finish: they were accepted and their callers are waiting. If
            # the writer is gone already (cancelled from outside), nothing will drain the
            # queue: fail what is left instead of waiting forever.
            drained = asyncio.ensure_future(self._queue.join())
            await asyncio.wait({drained, self._writer_task}, return_when=asyncio.FIRST_COMPLETED)
            if not drained.done():
                drained.cancel()
                self._fail_queued(StoreUnavailable("the store closed before this write"))
            self._writer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer_task
            self._writer_task = None
        if self._writer_conn is not None and self._published_seq != self._persisted_published_seq:
            try:
                await self._writer_conn.execute(
                    "UPDATE outbox SET published_seq = ?", (self._published_seq,)
                )
                await self._writer_conn.commit()
            except sqlite3.Error:
                log.warning("store.outbox_cursor_not_saved", published_seq=self._published_seq)
        await self._disconnect()
        log.info("store.closed", path=str(self.path))

    def _fail_queued(self, error: Exception) -> None:
        while True:
            try:
                unit = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            if not unit.future.done():
                unit.future.set_exception(error)
            self._queue.task_done()

    async def _connect(self) -> aiosqlite.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction per batch.
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        await conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
        await conn.execute("PRAGMA journal_mode = WAL")
        # FULL: with WAL, NORMAL may lose the last commits on power loss; a 201 must not.
        await conn.execute("PRAGMA synchronous = FULL")
        await conn.execute("PRAGMA foreign_keys = ON")
        return conn

    async def _disconnect(self) -> None:
        for conn in (self._stats_reader, self._reader, self._writer_conn):
            if conn is not None:
                try:
                    await conn.close()
                except sqlite3.Error:
                    log.warning("store.close_failed", exc_info=True)
        self._reader = self._writer_conn = self._stats_reader = None

    async def _migrate(self, conn: aiosqlite.Connection) -> None:
        await conn.execute("BEGIN IMMEDIATE")
        try:
            row = await self._fetchone(conn, "PRAGMA user_version")
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise StoreUnavailable(
                    f"database {self.path} has schema version {version}; this program knows "
                    f"up to {SCHEMA_VERSION}: upgrade the program"
                )
            for number in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[number]:
                    await conn.execute(statement)
            if version != SCHEMA_VERSION:
                await conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                log.info("store.migrated", from_version=version, to_version=SCHEMA_VERSION)
            await conn.execute("COMMIT")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise

    @property
    def schema_version(self) -> int:
        return SCHEMA_VERSION

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    # -- writes --------------------------------------------------------------------------

    async def create_whistle(self, new: NewWhistle) -> Created | Duplicate:
        events = [*new.events, *new.linked] if new.linked else new.events
        if new.case_prefix is None:
            return await self._submit(_whistle_statements(new), events, new.whistle.idempotency_key)
        drawn: list[str | None] = [None]
        # Built here, once: the writer step only puts the number it draws into the row (an
        # idempotent replay reads the request hash off the same row).
        statements = _whistle_statements(new)
        future = self._enqueue(
            statements,
            events,
            new.whistle.idempotency_key,
            apply=_numbered_writer(new, statements, drawn),
        )
        outcome = await asyncio.shield(future)
        if isinstance(outcome, Created):
            return Created(outcome.whistle_id, outcome.events, drawn[0])
        return outcome

    async def create_whistles(self, news: Sequence[NewWhistle]) -> tuple[Event, ...]:
        """Write many new whistles as one unit: the same rows, events and statistics facts
        as ``create_whistle`` writes for each, committed together or not at all.

        For bulk loads (the statistics benchmark's generator, a re-arm database): one queued
        unit instead of thousands keeps the writer's per-unit work out of the way. Whistles
        with an idempotency key are refused (a bulk load has no caller to answer Duplicate);
        an id already stored fails the whole unit. Returns the events written, in order.
        """
        if any(new.whistle.idempotency_key for new in news):
            raise ValueError("create_whistles takes no idempotency keys")
        if not news:
            return ()
        statements: list[Statement] = []
        events: list[NewEvent] = []
        for new in news:
            statements += _whistle_statements(new)
            events += [*new.events, *new.linked]
        outcome = await self._submit(statements, events, None)
        assert isinstance(outcome, Created)
        return outcome.events

    async def transition(self, step: Transition) -> tuple[Event, ...]:
        guards, statements = _transition_statements(step)
        events = list(step.events)
        for other in step.also:
            more_guards, more = _transition_statements(other)
            guards += more_guards
            statements += more
            events += other.events
        outcome = await self._submit(statements, events, None, guards=guards)
        assert isinstance(outcome, Created)
        return outcome.events

    async def _submit(
        self,
        statements: list[Statement],
        events: Sequence[NewEvent],
        key: str | None,
        *,
        guards: list[Statement] | None = None,
    ) -> Created | Duplicate:
        # shield: a caller that goes away must not cancel a write others share a batch with.
        return await asyncio.shield(self._enqueue(statements, events, key, guards=guards))

    def _enqueue(
        self,
        statements: list[Statement],
        events: Sequence[NewEvent],
        key: str | None,
        *,
        guards: list[Statement] | None = None,
        apply: Callable[[sqlite3.Connection, int], tuple[tuple[Event, ...], int]] | None = None,
    ) -> asyncio.Future[Created | Duplicate]:
        """Queue one unit for the writer and return the future its write resolves."""
        if self._writer_task is None or self._closing:
            raise StoreUnavailable("the store is not open")
        future: asyncio.Future[Created | Duplicate] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait(_Unit(statements, events, key, future, guards or [], apply))
        except asyncio.QueueFull:
            raise StoreBusy("too many writes waiting; retry shortly") from None
        return future

    async def add_repeats(self, repeats: Sequence[Repeat]) -> list[bool]:
        # One unit for all the repeats: one guarded UPDATE ... RETURNING picks the cases still
        # open in their window, and only those get their event and detection rows. A feed
        # batch of a hundred detections over a hundred cases is then one hop and a handful of
        # statements, not a hundred savepoints.
        accepted: set[str] = set()
        futures = [
            self._enqueue([], [], None, apply=_repeats_writer(group, accepted))
            for group in _same_guard(repeats)
        ]
        for future in futures:
            await asyncio.shield(future)
        return [repeat.whistle_id in accepted for repeat in repeats]

    async def _write_loop(self) -> None:
        assert self._writer_conn is not None
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            try:
                await self._write_batch(batch)
            except Exception as exc:  # never let the writer die: fail the batch instead
                log.exception("store.batch_failed")
                for unit in batch:
                    if not unit.future.done():
                        unit.future.set_exception(StoreUnavailable(str(exc)))
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _write_batch(self, batch: list[_Unit]) -> None:
        conn = self._writer_conn
        assert conn is not None
        duplicates = await self._resolve_idempotency(conn, batch)
        to_write = [u for u in batch if u not in duplicates]
        if to_write:
            try:
                await self._apply(conn, to_write)
            except sqlite3.OperationalError as exc:
                # Locked, read-only, full disk, I/O error: nothing of this batch is stored.
                log.error("store.write_failed", error=str(exc), units=len(to_write))
                err = StoreUnavailable(f"database cannot take writes: {exc}")
                for unit in to_write:
                    unit.future.set_exception(err)
                for unit, _original in duplicates.items():
                    unit.future.set_exception(err)
                return
            except sqlite3.Error:
                if len(to_write) == 1:
                    raise
                # One bad unit must not sink the others: write them one at a time.
                for unit in to_write:
                    try:
                        await self._apply(conn, [unit])
                    except sqlite3.Error as exc:
                        unit.future.set_exception(StoreUnavailable(str(exc)))
        for unit in to_write:
            if unit.future.done():
                continue
            if unit.conflict:
                unit.future.set_exception(Conflict("the case changed meanwhile"))
                continue
            self._publish(unit.written)
            head = unit.written[0].whistle_id if unit.written else ""
            unit.future.set_result(Created(head, unit.written))
        for unit, original in duplicates.items():
            if unit.future.done():
                continue
            if isinstance(original, Duplicate):
                unit.future.set_result(original)
            elif original.future.done() and original.future.exception() is None:
                created = original.future.result()
                assert isinstance(created, Created)
                unit.future.set_result(Duplicate(created.whistle_id, _hash_of(original)))
            else:
                unit.future.set_exception(StoreUnavailable("the original write failed"))

    async def _resolve_idempotency(
        self, conn: aiosqlite.Connection, batch: list[_Unit]
    ) -> dict[_Unit, Duplicate | _Unit]:
        """Units whose key was used before (stored, or earlier in this batch)."""
        keys = [u.idempotency_key for u in batch if u.idempotency_key]
        if not keys:
            return {}
        stored: dict[str, Duplicate] = {}
        for chunk in _chunks(sorted(set(keys)), _MAX_PARAMS):
            marks = ",".join("?" * len(chunk))
            rows = await conn.execute_fetchall(
                "SELECT idempotency_key, id, request_hash FROM whistles "
                f"WHERE idempotency_key IN ({marks})",
                chunk,
            )
            for key, whistle_id, request_hash in rows:
                stored[key] = Duplicate(whistle_id, request_hash)
        duplicates: dict[_Unit, Duplicate | _Unit] = {}
        first: dict[str, _Unit] = {}
        for unit in batch:
            key = unit.idempotency_key
            if not key:
                continue
            if key in stored:
                duplicates[unit] = stored[key]
            elif key in first:
                duplicates[unit] = first[key]
            else:
                first[key] = unit
        return duplicates

    async def _apply(self, conn: aiosqlite.Connection, units: list[_Unit]) -> None:
        """Write ``units`` in one transaction; on failure nothing is kept.

        Plain units (new whistles) share one ``executemany`` per statement. Guarded units
        (lifecycle transitions, camera repeats) run one by one inside a savepoint, so a unit
        whose guard finds the case moved on is undone alone and marked a conflict. The whole
        transaction runs on the connection's thread in one hop (see ``_in_thread``).
        """
        seq = self._next_seq
        grouped: OrderedDict[str, list[tuple[Any, ...]]] = OrderedDict()
        plain = [u for u in units if not u.guards and u.apply is None]
        guarded = [u for u in units if u.guards or u.apply is not None]
        for unit in plain:
            for sql, params in unit.statements:
                grouped.setdefault(sql, []).append(params)
            unit.written, seq = _number(unit.events, seq)
        event_rows = [_event_row(e) for unit in plain for e in unit.written]
        # Captured now: the bus may publish more while the transaction runs.
        published = self._published_seq
        outbox = published != self._persisted_published_seq

        def write(db: sqlite3.Connection) -> int:
            db.execute("BEGIN IMMEDIATE")
            try:
                for sql, rows in grouped.items():
                    db.executemany(sql, rows)
                if event_rows:
                    db.executemany(_EVENT_INSERT, event_rows)
                end = seq
                for unit in guarded:
                    end = _apply_guarded(db, unit, end)
                if outbox:
                    db.execute("UPDATE outbox SET published_seq = ?", (published,))
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

        self._next_seq = await _in_thread(conn, write)
        self._persisted_published_seq = published
        self.commits += 1
        self.writes += len(units)

    def _publish(self, events: Iterable[Event]) -> None:
        for event in events:
            self._bus.publish(event)
            self._published_seq = max(self._published_seq, event.seq)

    async def _publish_unpublished(self) -> None:
        """Hand the bus every event committed after the last recorded publish."""
        assert self._writer_conn is not None
        rows = await self._writer_conn.execute_fetchall(
            "SELECT seq, type, whistle_id, at, actor, data FROM events WHERE seq > ? ORDER BY seq",
            (self._published_seq,),
        )
        events = [_event(row) for row in rows]
        if events:
            log.info("store.outbox_replayed", count=len(events), from_seq=events[0].seq)
            self._publish(events)
            await self._writer_conn.execute(
                "UPDATE outbox SET published_seq = ?", (self._published_seq,)
            )
            await self._writer_conn.commit()
            self._persisted_published_seq = self._published_seq

    # -- reads ---------------------------------------------------------------------------

    @property
    def _r(self) -> aiosqlite.Connection:
        if self._reader is None:
            raise StoreUnavailable("the store is not open")
        return self._reader

    async def _fetchone(
        self, conn: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()
    ) -> sqlite3.Row | tuple[Any, ...] | None:
        # One hop into the connection's thread: execute and fetch together. With execute and
        # fetch as two awaits, another request's query could run in between while this
        # statement is open, and on a shared connection that pins an old WAL snapshot: a
        # whistle committed a moment ago would be invisible to the reader.
        rows = await conn.execute_fetchall(sql, params)
        for row in rows:
            return row
        return None

    async def find_idempotent(self, key: str) -> Duplicate | None:
        row = await self._fetchone(
            self._r, "SELECT id, request_hash FROM whistles WHERE idempotency_key = ?", (key,)
        )
        return None if row is None else Duplicate(row[0], row[1])

    async def find_external(
        self, source: str, external_id: str, *, within: str | None = None
    ) -> str | None:
        # Served by the index whistles_by_external (source, external_id).
        row = await self._fetchone(
            self._r,
            "SELECT id FROM whistles WHERE source = ?1 AND external_id = ?2 "
            "AND (?3 IS NULL OR substr(grid_path, 1, length(?3)) = ?3) "
            "ORDER BY received_at DESC LIMIT 1",
            (source, external_id, within),
        )
        return None if row is None else str(row[0])

    async def get_whistle(self, whistle_id: str) -> StoredWhistle | None:
        row = await self._fetchone(
            self._r, "SELECT status, doc, case_doc FROM whistles WHERE id = ?", (whistle_id,)
        )
        if row is None:
            return None
        found = await self._assignments_of([whistle_id])
        return StoredWhistle(
            orjson.loads(row[1]),
            row[0],
            tuple(found.get(whistle_id, ())),
            None if row[2] is None else orjson.loads(row[2]),
        )

    async def find_case_number(self, case_number: str) -> str | None:
        # Served by the unique index whistles_by_case_number.
        row = await self._fetchone(
            self._r, "SELECT id FROM whistles WHERE case_number = ?", (case_number,)
        )
        return None if row is None else str(row[0])

    async def _assignments_of(self, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        for chunk in _chunks(ids, _MAX_PARAMS):
            marks = ",".join("?" * len(chunk))
            rows = await self._r.execute_fetchall(
                f"SELECT whistle_id, status, doc FROM assignments WHERE whistle_id IN ({marks}) "
                "ORDER BY whistle_id, id",
                chunk,
            )
            for whistle_id, status, doc in rows:
                item = orjson.loads(doc)
                item["status"] = status
                found.setdefault(whistle_id, []).append(item)
        return found

    async def list_whistles(self, query: WhistleQuery) -> Page:
        clauses: list[str] = []
        params: list[Any] = []
        if query.status is not None:
            clauses.append("status = ?")
            params.append(query.status)
        if query.source is not None:
            clauses.append("source = ?")
            params.append(query.source)
        if query.category is not None:
            clauses.append("category >= ? AND category < ?")
            params += [query.category, query.category + "\U0010ffff"]
        if query.grid_path is not None:
            clauses.append("grid_path >= ? AND grid_path < ?")
            params += [query.grid_path, query.grid_path + "\U0010ffff"]
        if query.level is not None:
            clauses.append("grid_level = ?")
            params.append(query.level)
        if query.returns_pending:
            clauses.append(_RETURNS_PENDING)
        if query.case_number is not None:
            clauses.append("case_number = ?")
            params.append(query.case_number)
        if query.since is not None:
            clauses.append("received_at >= ?")
            params.append(db_time(query.since))
        if query.until is not None:
            clauses.append("received_at < ?")
            params.append(db_time(query.until))
        if query.before is not None:
            clauses.append("id < ?")
            params.append(query.before)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self._r.execute_fetchall(
            f"SELECT id, status, doc, case_doc FROM whistles {where} ORDER BY id DESC LIMIT ?",
            [*params, query.limit + 1],
        )
        rows = list(rows)
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        found = await self._assignments_of([r[0] for r in rows])
        items = tuple(
            StoredWhistle(
                orjson.loads(doc),
                status,
                tuple(found.get(wid, ())),
                None if case_doc is None else orjson.loads(case_doc),
            )
            for wid, status, doc, case_doc in rows
        )
        return Page(items, rows[-1][0] if more and rows else None)

    async def timeline(self, whistle_id: str) -> list[Event]:
        rows = await self._r.execute_fetchall(
            "SELECT seq, type, whistle_id, at, actor, data FROM events "
            "WHERE whistle_id = ? ORDER BY seq",
            (whistle_id,),
        )
        return [_event(row) for row in rows]

    async def pending_deadlines(self) -> list[PendingDeadline]:
        rows = await self._r.execute_fetchall(
            "SELECT whistle_id, key, due_at FROM deadlines WHERE status = 'pending' ORDER BY due_at"
        )
        return [PendingDeadline(wid, key, parse_db_time(due)) for wid, key, due in rows]

    async def cancel_deadline(self, whistle_id: str, key: str) -> None:
        # Not through the writer's guards: a stale timer is dropped whatever the case's version.
        await self._submit([(_DEADLINE_CANCEL, (whistle_id, key))], (), None)

    async def inbox(
        self, responder_id: str, board_cells: Sequence[str], teams: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        boards = ",".join("?" * len(board_cells)) or "NULL"
        team_marks = ",".join("?" * len(teams)) or "NULL"
        rows = await self._r.execute_fetchall(
            "SELECT a.status, a.doc, w.id, w.status, w.doc FROM assignments a "
            "JOIN whistles w ON w.id = a.whistle_id "
            "WHERE (a.responder_id = ? AND a.status IN ('dispatched', 'acknowledged', "
            "'in_progress')) "
            f"OR (a.mode = 'claim' AND a.status = 'open' AND a.cell IN ({boards})) "
            # A team's claim lives on its community's board row; every member sees it.
            f"OR (a.mode = 'claim' AND a.cell IN ({boards}) "
            "AND a.status IN ('acknowledged', 'in_progress') "
            f"AND json_extract(a.doc, '$.team') IN ({team_marks})) "
            "ORDER BY a.id DESC LIMIT 500",
            [responder_id, *board_cells, *board_cells, *teams],
        )
        return [
            {
                "assignment": {**orjson.loads(doc), "status": status},
                "whistle": _inbox_whistle(whistle_id, whistle_status, orjson.loads(whistle_doc)),
            }
            for status, doc, whistle_id, whistle_status, whistle_doc in rows
        ]

    async def informed_of(
        self, responder_id: str, statuses: Sequence[str], limit: int = 100
    ) -> list[dict[str, Any]]:
        marks = ",".join("?" * len(statuses))
        # Newest first along the primary key; closed cases are skipped, not indexed out, so
        # the scan stops after ``limit`` open ones (a 网格长's recent cases are mostly open).
        rows = await self._r.execute_fetchall(
            "SELECT w.id, w.status, w.doc FROM informed i JOIN whistles w ON w.id = i.whistle_id "
            f"WHERE i.responder_id = ? AND w.status IN ({marks}) "
            "ORDER BY i.received_at DESC, i.whistle_id DESC LIMIT ?",
            [responder_id, *statuses, limit],
        )
        return [_inbox_whistle(wid, status, orjson.loads(doc)) for wid, status, doc in rows]

    async def open_camera_cases(
        self,
        pairs: Sequence[tuple[str, str]],
        since: datetime,
        statuses: Sequence[str],
        *,
        within: Mapping[str, str],
    ) -> dict[tuple[str, str], str]:
        found: dict[tuple[str, str], str] = {}
        marks = ",".join("?" * len(statuses))
        wanted = sorted((camera, category, within[camera]) for camera, category in set(pairs))
        # Served by whistles_by_camera (camera_id, category, received_at): one seek per pair;
        # newest first, so the first row seen of a pair is its case. Only camera whistles in
        # the camera's own subtree count: a whistle elsewhere naming the camera is no case of
        # it (whistles stored before camera ids were checked may do so).
        for start in range(0, len(wanted), _MAX_PARAMS // 3):
            chunk = wanted[start : start + _MAX_PARAMS // 3]
            values = ",".join("(?, ?, ?)" for _ in chunk)
            rows = await self._r.execute_fetchall(
                f"WITH wanted (camera_id, category, path) AS (VALUES {values}) "
                "SELECT w.camera_id, w.category, w.id FROM wanted "
                "JOIN whistles w ON w.camera_id = wanted.camera_id "
                "AND w.category = wanted.category AND w.received_at >= ? "
                f"AND w.status IN ({marks}) AND w.source = 'camera' "
                "AND substr(w.grid_path, 1, length(wanted.path)) = wanted.path "
                "ORDER BY w.received_at DESC",
                (*(v for triple in chunk for v in triple), db_time(since), *statuses),
            )
            for camera_id, category, whistle_id in rows:
                found.setdefault((camera_id, category), str(whistle_id))
        return found

    async def known_detections(self, keys: Sequence[str]) -> dict[str, str]:
        known: dict[str, str] = {}
        for chunk in _chunks(sorted(set(keys)), _MAX_PARAMS):
            marks = ",".join("?" * len(chunk))
            rows = await self._r.execute_fetchall(
                f"SELECT key, whistle_id FROM detections WHERE key IN ({marks}) "
                f"UNION ALL SELECT idempotency_key, id FROM whistles "
                f"WHERE idempotency_key IN ({marks})",
                (*chunk, *chunk),
            )
            known.update((str(key), str(whistle_id)) for key, whistle_id in rows)
        return known

    async def recent_whistles(
        self, since: datetime, sources: Sequence[str], statuses: Sequence[str]
    ) -> list[RecentWhistle]:
        # A range of whistles_by_received: a window's worth of rows, read once on start.
        source_marks = ",".join("?" * len(sources))
        status_marks = ",".join("?" * len(statuses))
        rows = await self._r.execute_fetchall(
            "SELECT id, category, received_at, coalesce(near, grid_code), "
            "json_extract(doc, '$.location.lat'), json_extract(doc, '$.location.lon') "
            f"FROM whistles WHERE received_at >= ? AND source IN ({source_marks}) "
            f"AND status IN ({status_marks}) ORDER BY received_at",
            (db_time(since), *sources, *statuses),
        )
        return [
            RecentWhistle(
                str(wid),
                str(category),
                parse_db_time(received),
                str(near),
                None if lat is None else float(lat),
                None if lon is None else float(lon),
            )
            for wid, category, received, near, lat, lon in rows
        ]

    async def open_among(self, ids: Sequence[str], statuses: Sequence[str]) -> set[str]:
        found: set[str] = set()
        marks = ",".join("?" * len(statuses))
        for chunk in _chunks(sorted(set(ids)), _MAX_PARAMS - len(statuses)):
            rows = await self._r.execute_fetchall(
                f"SELECT id FROM whistles WHERE id IN ({','.join('?' * len(chunk))}) "
                f"AND status IN ({marks})",
                (*chunk, *statuses),
            )
            found.update(str(row[0]) for row in rows)
        return found

    async def save_silence(self, silence: Silence) -> None:
        await self._submit(
            [
                (
                    "INSERT INTO silences (id, matchers, starts_at, ends_at, author, "
                    "comment, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET ends_at = excluded.ends_at",
                    (
                        silence.id,
                        orjson.dumps(silence.matchers, option=orjson.OPT_SORT_KEYS).decode(),
                        db_time(silence.starts_at),
                        db_time(silence.ends_at),
                        silence.author,
                        silence.comment,
                        db_time(silence.created_at),
                    ),
                )
            ],
            (),
            None,
        )

    async def silences(self) -> list[Silence]:
        rows = await self._r.execute_fetchall(
            "SELECT id, matchers, starts_at, ends_at, author, comment, created_at "
            "FROM silences ORDER BY created_at DESC"
        )
        return [
            Silence(
                sid,
                orjson.loads(matchers),
                parse_db_time(starts),
                parse_db_time(ends),
                author,
                comment,
                parse_db_time(created),
            )
            for sid, matchers, starts, ends, author, comment, created in rows
        ]

    # -- access --------------------------------------------------------------------------

    async def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        await self._submit([(sql, params)], (), None)

    async def save_token(self, token: TokenRecord) -> None:
        await self._write(
            "INSERT INTO tokens (id, hash, role, scope, responder_id, source, label, created_at, "
            "expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET revoked_at = excluded.revoked_at, "
            "expires_at = excluded.expires_at",
            (
                token.id,
                token.hash,
                token.role,
                token.scope,
                token.responder_id,
                token.source,
                token.label,
                db_time(token.created_at),
                _opt_time(token.expires_at),
                _opt_time(token.revoked_at),
            ),
        )

    _TOKEN_COLUMNS = (
        "id, hash, role, scope, responder_id, source, label, created_at, expires_at, revoked_at"
    )

    async def get_token(self, token_id: str) -> TokenRecord | None:
        row = await self._fetchone(
            self._r, f"SELECT {self._TOKEN_COLUMNS} FROM tokens WHERE id = ?", (token_id,)
        )
        return None if row is None else _token(row)

    async def tokens(self) -> list[TokenRecord]:
        rows = await self._r.execute_fetchall(
            f"SELECT {self._TOKEN_COLUMNS} FROM tokens ORDER BY created_at DESC"
        )
        return [_token(row) for row in rows]

    async def save_user(self, user: UserRecord) -> None:
        await self._write(
            "INSERT INTO users (name, password_hash, role, scope, responder_id, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
            "password_hash = excluded.password_hash, role = excluded.role, "
            "scope = excluded.scope, responder_id = excluded.responder_id",
            (
                user.name,
                user.password_hash,
                user.role,
                user.scope,
                user.responder_id,
                db_time(user.created_at),
            ),
        )

    async def get_user(self, name: str) -> UserRecord | None:
        row = await self._fetchone(
            self._r,
            "SELECT name, password_hash, role, scope, responder_id, created_at FROM users "
            "WHERE name = ?",
            (name,),
        )
        if row is None:
            return None
        return UserRecord(row[0], row[1], row[2], row[3], row[4], parse_db_time(row[5]))

    async def save_session(self, session: SessionRecord) -> None:
        await self._write(
            "INSERT INTO sessions (id_hash, user, csrf, created_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                session.id_hash,
                session.user,
                session.csrf,
                db_time(session.created_at),
                db_time(session.expires_at),
            ),
        )

    async def get_session(self, id_hash: str) -> SessionRecord | None:
        row = await self._fetchone(
            self._r,
            "SELECT id_hash, user, csrf, created_at, expires_at FROM sessions WHERE id_hash = ?",
            (id_hash,),
        )
        if row is None:
            return None
        return SessionRecord(row[0], row[1], row[2], parse_db_time(row[3]), parse_db_time(row[4]))

    async def delete_session(self, id_hash: str) -> None:
        await self._write("DELETE FROM sessions WHERE id_hash = ?", (id_hash,))

    async def audit(
        self, at: datetime, actor: str, action: str, target: str | None, detail: dict[str, Any]
    ) -> None:
        await self._write(
            "INSERT INTO audit (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
            (db_time(at), actor, action, target, _json(detail)),
        )

    async def audit_trail(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = await self._r.execute_fetchall(
            "SELECT seq, at, actor, action, target, detail FROM audit ORDER BY seq DESC LIMIT ?",
            (limit,),
        )
        return [
            {
                "seq": seq,
                "at": at,
                "actor": actor,
                "action": action,
                "target": target,
                "detail": orjson.loads(detail),
            }
            for seq, at, actor, action, target, detail in rows
        ]

    async def save_citizen_link(self, whistle_id: str, key_hash: str) -> None:
        await self._write(
            "INSERT INTO citizen_links (whistle_id, key_hash) VALUES (?, ?)", (whistle_id, key_hash)
        )

    async def save_upload(self, name: str, uploader: str, scope: str | None) -> None:
        await self._write(
            "INSERT INTO media (name, uploader, scope) VALUES (?, ?, ?) "
            "ON CONFLICT (name, uploader) DO NOTHING",
            (name, uploader, scope),
        )

    async def uploads(self, name: str) -> list[tuple[str, str | None]]:
        rows = await self._r.execute_fetchall(
            "SELECT uploader, scope FROM media WHERE name = ?", (name,)
        )
        return [(str(uploader), scope) for uploader, scope in rows]

    async def citizen_link(self, whistle_id: str) -> str | None:
        row = await self._fetchone(
            self._r, "SELECT key_hash FROM citizen_links WHERE whistle_id = ?", (whistle_id,)
        )
        return None if row is None else str(row[0])

    async def count_whistles(self) -> int:
        row = await self._fetchone(self._r, "SELECT count(*) FROM whistles")
        return int(row[0]) if row else 0

    # -- statistics ----------------------------------------------------------------------

    async def statistics(self, query: StatsQuery) -> dict[str, Any]:
        where, params = facts.base_filter(query)
        a_where, a_params = facts.base_filter(query, cases=False)
        case_metrics = list(facts.CASE_METRICS)
        case_counts = facts.counts_sql(case_metrics, facts.CASE_METRICS)
        a_metrics = list(facts.ASSIGNMENT_METRICS)
        per = ("answered", "claimed", "completed")
        top = "" if query.top is None else f"LIMIT {int(query.top)}"
        wide = facts.wide(query)
        # Source, 大类 and place in one scan (a few hundred groups at most), rolled up below;
        # days in another. Each scan is the cost: a county-year is 500,000 rows. A short
        # window sorts its range of the clustered table; a wide one streams migration 6's
        # covering indexes in their order (grid_path, source, 大类) and rolls the cells up to
        # places over the few thousand groups that come out.
        if wide:
            inner = ", ".join(
                f"{facts.count_sql(facts.CASE_METRICS[m])} AS m{i}"
                for i, m in enumerate(case_metrics)
            )
            outer = ", ".join(f"sum(m{i})" for i in range(len(case_metrics)))
            groups_sql = (
                f"SELECT source, major, place, {outer} FROM ("
                f"SELECT source, major, {facts.PLACE} AS place, {inner} "
                f"FROM case_facts INDEXED BY case_facts_by_place WHERE {where} "
                "GROUP BY grid_path, source, major) GROUP BY source, major, place"
            )
        else:
            groups_sql = (
                f"SELECT source, major, {facts.PLACE} AS place, {case_counts} "
                f"FROM case_facts WHERE {where} GROUP BY source, major, place"
            )
        days_sql = f"SELECT day, {case_counts} FROM case_facts WHERE {where} GROUP BY day"
        assignments_sql = (
            f"SELECT {facts.counts_sql(a_metrics, facts.ASSIGNMENT_METRICS)} "
            f"FROM assignment_facts WHERE {a_where}"
        )
        by_responder = "INDEXED BY assignment_facts_by_responder " if wide else ""
        responders_sql = (
            "SELECT responder_id, kind, "
            f"{facts.counts_sql(per, facts.ASSIGNMENT_METRICS)}, "
            "total(resolved_at - acknowledged_at) FILTER (WHERE resolved_at IS NOT NULL) "
            f"FROM assignment_facts {by_responder}WHERE {a_where} AND responder_id IS NOT NULL "
            "AND acknowledged_at IS NOT NULL "
            f"GROUP BY responder_id, kind ORDER BY 3 + 4 DESC, 6 DESC, responder_id {top}"
        )
        ack_sql = facts.percentiles_sql("first_ack_at - received_at", "first_ack_at", where)
        resolve_sql = facts.percentiles_sql("resolved_at - received_at", "resolved_at", where)
        readers = await self._stats_readers()

        async def run(conn: aiosqlite.Connection, sql: str, p: dict[str, Any]) -> list[Any]:
            return list(await conn.execute_fetchall(sql, p))

        async def lane(conn: aiosqlite.Connection, jobs: list[tuple[str, dict[str, Any]]]) -> Any:
            return [await run(conn, sql, p) for sql, p in jobs]

        async def duration(
            conn: aiosqlite.Connection, value: str, present: str, n: int
        ) -> dict[str, Any]:
            # n is the acknowledged (resolved) count over the same rows, from the groups.
            if n == 0:
                return {"count": 0, "median": None, "p90": None}
            got = []
            for offset, descending in zip(facts.percentile_offsets(n), (False, True), strict=True):
                sql = facts.percentile_at_sql(value, present, where, descending=descending)
                rows = await run(conn, sql, {**params, "offset": offset})
                got.append(round(float(rows[0][0]), 3))
            return {"count": n, "median": got[0], "p90": got[1]}

        group_counts: asyncio.Future[dict[str, int]] = asyncio.get_running_loop().create_future()

        async def wide_first(conn: aiosqlite.Connection) -> Any:
            try:
                groups = await run(conn, groups_sql, params)
            except BaseException:
                group_counts.cancel()  # do not leave the other lane waiting
                raise
            n = dict.fromkeys(("acknowledged", "resolved"), 0)
            at = {m: case_metrics.index(m) for m in n}
            for _, _, _, *values in groups:
                for m, i in at.items():
                    n[m] += int(values[i])
            group_counts.set_result(n)
            ack = await duration(
                conn, "first_ack_at - received_at", "first_ack_at", n["acknowledged"]
            )
            return groups, ack, await run(conn, responders_sql, a_params)

        async def wide_second(conn: aiosqlite.Connection) -> Any:
            days = await run(conn, days_sql, params)
            assignment_rows = await run(conn, assignments_sql, a_params)
            n = (await group_counts)["resolved"]
            resolve = await duration(conn, "resolved_at - received_at", "resolved_at", n)
            return days, assignment_rows, resolve

        if wide:
            # Streams, no sorts, balanced by measured cost on a county-year: the groups, the
            # time to acknowledge and the responders on one connection; the days, the
            # assignment totals and the time to resolve (once the groups have counted the
            # resolved cases) on the other.
            (groups, ack, responder_rows), (days, assignment_rows, resolve) = await asyncio.gather(
                wide_first(readers[0]), wide_second(readers[1])
            )
        else:
            # Two lanes on two connections (two threads: SQLite lets go of the GIL while it
            # works), balanced by measured cost on a county-year (the sorts dominate).
            first, second = await asyncio.gather(
                lane(readers[0], [(groups_sql, params), (ack_sql, params)]),
                lane(
                    readers[1],
                    [
                        (days_sql, params),
                        (assignments_sql, a_params),
                        (responders_sql, a_params),
                        (resolve_sql, params),
                    ],
                ),
            )
            groups, ack_rows = first
            days, assignment_rows, responder_rows, resolve_rows = second
            ack, resolve = facts.percentiles(ack_rows), facts.percentiles(resolve_rows)
        totals: dict[str, int] = dict.fromkeys(case_metrics, 0)
        tables: dict[str, dict[str, dict[str, Any]]] = {
            "sources": {},
            "categories": {},
            "places": {},
        }
        for source, major, place, *values in groups:
            counted = dict(zip(case_metrics, (int(v) for v in values), strict=True))
            for table, key in (("sources", source), ("categories", major), ("places", place)):
                row = tables[table].setdefault(key, {"key": key, **dict.fromkeys(case_metrics, 0)})
                for m, v in counted.items():
                    row[m] += v
            for m, v in counted.items():
                totals[m] += v
        result: dict[str, Any] = {
            table: [rows[k] for k in sorted(rows)] for table, rows in tables.items()
        }
        result["days"] = [
            {"key": day, **dict(zip(case_metrics, (int(v) for v in values), strict=True))}
            for day, *values in days
        ]
        totals.update(zip(a_metrics, (int(v) for v in assignment_rows[0]), strict=True))
        result["counts"] = totals
        result["durations"] = {"acknowledge": ack, "resolve": resolve}
        result["responders"] = [
            {
                "responder_id": rid,
                "kind": kind,
                "answered": answered,
                "claimed": claimed,
                "completed": completed,
                "hours": round(seconds / 3600.0, 2),
            }
            for rid, kind, answered, claimed, completed, seconds in responder_rows
        ]
        return result

    async def _stats_readers(self) -> list[aiosqlite.Connection]:
        """The reader plus one more connection, opened on first use, for parallel scans."""
        if self._reader is None:
            raise StoreUnavailable("the store is not open")
        if self._stats_reader is None:
            conn = await self._connect()
            for pragma in _READER_PRAGMAS:
                await conn.execute(pragma)
            self._stats_reader = conn
        return [self._reader, self._stats_reader]

    async def cases_for(
        self, metric: str, bucket: str | None, query: StatsQuery, limit: int = 500
    ) -> list[str]:
        condition, is_case = facts.metric_sql(metric)
        where, params = facts.base_filter(query, cases=is_case)
        extra, extra_params = facts.bucket_filter(bucket, query, cases=is_case)
        if extra:
            where = f"{where} AND {extra}"
        # In the clustering key's order (oldest first), so the first ``limit`` end the scan.
        table, key, order = (
            ("case_facts", "whistle_id", "day, received_at, whistle_id")
            if is_case
            else ("assignment_facts", "assignment_id", "received_at, assignment_id")
        )
        rows = await self._r.execute_fetchall(
            f"SELECT {key} FROM {table} WHERE {where} AND {condition} "
            f"ORDER BY {order} LIMIT :limit",
            {**params, **extra_params, "limit": limit},
        )
        return [str(r[0]) for r in rows]

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the database answers and takes writes: a no-op update
        goes through the writer like any write (read-only, full or locked files fail it)."""
        try:
            await self._fetchone(self._r, "SELECT 1")
        except sqlite3.Error as exc:
            raise StoreUnavailable(str(exc)) from exc
        await self._write("UPDATE outbox SET published_seq = published_seq", ())

    # -- the operator console (whistle/web/stream.py, whistle/web/console.py) -------------

    async def events_after(self, seq: int, limit: int) -> list[Event]:
        """Up to ``limit`` events with a sequence number above ``seq``, in log order."""
        rows = await self._r.execute_fetchall(
            "SELECT seq, type, whistle_id, at, actor, data FROM events "
            "WHERE seq > ? ORDER BY seq LIMIT ?",
            (seq, limit),
        )
        return [_event(row) for row in rows]

    async def open_load(self, responder_ids: Sequence[str]) -> dict[str, int]:
        if not responder_ids:
            return {}
        marks = ",".join("?" * len(responder_ids))
        rows = await self._r.execute_fetchall(
            f"SELECT responder_id, count(*) FROM assignments WHERE responder_id IN ({marks}) "
            "AND status IN ('dispatched', 'acknowledged', 'in_progress') GROUP BY responder_id",
            list(responder_ids),
        )
        return {str(rid): int(n) for rid, n in rows}

    async def queue_counts(self, grid_path: str | None, now: datetime) -> dict[str, int]:
        """Cases per status in a subtree, plus ``overdue`` (active, marked overdue or past
        the resolution deadline), ``returned`` (a return awaits the dispatcher) and
        ``escalated`` (active, with a live assignment added
        after intake by an escalation or the backstop)."""
        where, params = "", []
        if grid_path is not None:
            where = "WHERE w.grid_path >= ? AND w.grid_path < ?"
            params = [grid_path, grid_path + "\U0010ffff"]
        active = "w.status IN ('dispatched', 'acknowledged', 'in_progress')"
        both = f"{where} {'AND' if where else 'WHERE'} {active}"
        counts = {
            str(status): int(n)
            for status, n in await self._r.execute_fetchall(
                f"SELECT w.status, count(*) FROM whistles w {where} GROUP BY w.status", params
            )
        }
        # julianday() reads the offset of the case document's RFC 3339 times.
        overdue = await self._fetchone(
            self._r,
            f"SELECT count(*) FROM whistles w {both} AND ("
            "json_extract(w.case_doc, '$.overdue') = 1 OR "
            "julianday(json_extract(w.case_doc, '$.resolve_due')) < julianday(?))",
            [*params, db_time(now)],
        )
        escalated = await self._fetchone(
            self._r,
            f"SELECT count(DISTINCT w.id) FROM whistles w JOIN assignments a "
            f"ON a.whistle_id = w.id {both} "
            "AND json_extract(a.doc, '$.origin') IN ('escalation', 'backstop') "
            "AND a.status IN ('dispatched', 'acknowledged', 'in_progress') "
            # Added after intake: the backstop may be in the first routing, not escalated.
            "AND a.id NOT IN (SELECT json_extract(t.value, '$.assignment') "
            "FROM json_each(w.doc, '$.trace') t)",
            params,
        )
        returned = await self._fetchone(
            self._r, f"SELECT count(*) FROM whistles w {both} AND {_RETURNS_PENDING}", params
        )
        counts["overdue"] = int(overdue[0]) if overdue else 0
        counts["escalated"] = int(escalated[0]) if escalated else 0
        counts["returned"] = int(returned[0]) if returned else 0
        return counts


# Cases with a return (退单) waiting for the dispatcher's decision (see whistle.cases).
_RETURNS_PENDING = "json_array_length(case_doc, '$.returns_pending') > 0"


async def _in_thread(conn: aiosqlite.Connection, fn: Callable[[sqlite3.Connection], _T]) -> _T:
    """Run ``fn`` with the plain sqlite3 connection on the connection's own thread, in one hop.

    A batch is a dozen statements or more; awaiting each one is a round trip between the
    event loop and the thread, with a wake-up on both sides, and on the intake path that cost
    more than the SQL. aiosqlite has no public call for this: ``_execute`` is the method its
    public ones are built on (pinned in setup.cfg; the store tests fail if it changes).
    """
    result: _T = await conn._execute(fn, conn._conn)  # type: ignore[no-untyped-call]
    return result


def _apply_guarded(db: sqlite3.Connection, unit: _Unit, seq: int) -> int:
    """Apply one guarded unit inside a savepoint (on the connection's thread); a guard that
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
    unit.written, seq = _number(unit.events, seq)
    if unit.written:
        db.executemany(_EVENT_INSERT, [_event_row(e) for e in unit.written])
    db.execute("RELEASE unit")
    return seq


def _numbered_writer(
    new: NewWhistle, statements: list[Statement], drawn: list[str | None]
) -> Callable[[sqlite3.Connection, int], tuple[tuple[Event, ...], int]]:
    """The writer-thread step of a new whistle with a 受理编号: draw the number inside the
    batch's transaction (so no other process can draw it too), then write the whistle with
    it in its document and in its ``whistle.received`` event. Run again after a rollback, it
    draws again: a rolled-back number was never taken."""
    assert new.case_prefix is not None
    prefix = new.case_prefix

    def apply(db: sqlite3.Connection, seq: int) -> tuple[tuple[Event, ...], int]:
        number = case_numbers.allocate(db, prefix)
        drawn[0] = number
        grouped: OrderedDict[str, list[tuple[Any, ...]]] = OrderedDict()
        (sql, params), rest = statements[0], statements[1:]
        assert sql == _WHISTLE_INSERT
        grouped[_WHISTLE_INSERT_NUMBERED] = [(*params[:-1], number)]
        for sql, params in rest:
            grouped.setdefault(sql, []).append(params)
        for sql, rows in grouped.items():  # a whistle's deadlines, assignments: one call each
            db.executemany(sql, rows)
        events = [
            dataclasses.replace(e, data={**e.data, "case_number": number})
            if e.type == "whistle.received" and e.whistle_id == new.whistle.id
            else e
            for e in (*new.events, *new.linked)
        ]
        written, seq = _number(events, seq)
        db.executemany(_EVENT_INSERT, [_event_row(e) for e in written])
        return written, seq

    return apply


def _same_guard(repeats: Sequence[Repeat]) -> list[list[Repeat]]:
    """Repeats grouped by their guard (window start and statuses), one case each."""
    groups: dict[tuple[datetime, tuple[str, ...]], dict[str, Repeat]] = {}
    for repeat in repeats:
        group = groups.setdefault((repeat.since, tuple(repeat.statuses)), {})
        if repeat.whistle_id in group:
            raise ValueError(f"two repeats of case {repeat.whistle_id} in one write")
        group[repeat.whistle_id] = repeat
    return [list(group.values()) for group in groups.values()]


def _repeats_writer(
    repeats: list[Repeat], accepted: set[str]
) -> Callable[[sqlite3.Connection, int], tuple[tuple[Event, ...], int]]:
    """The writer-thread step of ``add_repeats`` for repeats that share one guard."""
    first = repeats[0]
    marks = ",".join("?" * len(first.statuses))
    added = _json({r.whistle_id: len(r.detections) for r in repeats})
    # ?1 is {case id: detections added}; ?2 the window's start; then the open statuses.
    guard = (
        "UPDATE whistles SET version = version + 1, case_doc = json_set(case_doc, "
        "'$.repeats', json_extract(case_doc, '$.repeats') "
        "+ json_extract(?1, '$.\"' || id || '\"'), '$.version', version + 1) "
        "WHERE id IN (SELECT key FROM json_each(?1)) AND received_at >= ?2 "
        f"AND status IN ({marks}) RETURNING id"
    )
    params = (added, db_time(first.since), *first.statuses)

    def apply(db: sqlite3.Connection, seq: int) -> tuple[tuple[Event, ...], int]:
        accepted.update(str(row[0]) for row in db.execute(guard, params).fetchall())
        taken = [r for r in repeats if r.whistle_id in accepted]
        events = [
            NewEvent(
                "case.repeated",
                r.whistle_id,
                r.at,
                r.actor,
                {"added": len(r.detections), "detections": list(r.detections)},
            )
            for r in taken
        ]
        written, seq = _number(events, seq)
        db.executemany(_EVENT_INSERT, [_event_row(e) for e in written])
        db.executemany(
            "INSERT INTO detections (key, whistle_id) VALUES (?, ?)",
            [(d["key"], r.whistle_id) for r in taken for d in r.detections if d.get("key")],
        )
        return written, seq

    return apply


def _number(events: Sequence[NewEvent], seq: int) -> tuple[tuple[Event, ...], int]:
    """Give ``events`` their log sequence numbers from ``seq`` on."""
    numbered = []
    for e in events:
        numbered.append(Event(seq, e.type, e.whistle_id, e.at, e.actor, e.data))
        seq += 1
    return tuple(numbered), seq


def _event_row(e: Event) -> tuple[Any, ...]:
    return (e.seq, e.whistle_id, e.type, db_time(e.at), e.actor, _json(e.data))


def _token(row: Any) -> TokenRecord:
    tid, hash_, role, scope, responder_id, source, label, created, expires, revoked = row
    return TokenRecord(
        tid,
        hash_,
        role,
        scope,
        responder_id,
        source,
        label,
        parse_db_time(created),
        None if expires is None else parse_db_time(expires),
        None if revoked is None else parse_db_time(revoked),
    )


def _event(row: Any) -> Event:
    seq, type_, whistle_id, at, actor, data = row
    return Event(int(seq), type_, whistle_id, parse_db_time(at), actor, orjson.loads(data))


def _hash_of(unit: _Unit) -> str | None:
    # The whistle row is the first statement; request_hash is its 12th parameter.
    sql, params = unit.statements[0]
    return params[11] if sql == _WHISTLE_INSERT else None


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
