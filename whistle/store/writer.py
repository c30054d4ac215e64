"""Group commit, the outbox and publish-after-commit: the write path every backend shares.

One writer task owns the write connection, through a :class:`WriteBackend`. Callers queue a
unit of work and wait on a future; the writer takes every unit queued at that moment (no fixed
wait: a timed wait costs more throughput than it gains) and has the backend write them in one
transaction, then one COMMIT, so a burst of concurrent intakes shares one fsync. A resolved
future means the rows are on disk.

After the commit the batch's events are published on the bus. The outbox is the log itself:
the backend's outbox cursor (``published_seq``) is moved forward inside later write
transactions, and on start every event after it is published again, so an event is never
stored without being published, and never published without being stored (delivery is at
least once).

Nothing here speaks SQL: the SQLite backend is whistle/store/sqlite/write_thread.py, the
PostgreSQL one whistle/store/postgres/backend.py; each implements :class:`WriteBackend`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import structlog

from whistle.bus import Bus
from whistle.events import Event, NewEvent
from whistle.exceptions import Conflict, StoreBusy, StoreUnavailable
from whistle.store.base import Created, Duplicate

__all__ = ["GroupWriter", "Statement", "WriteBackend", "WriteUnit", "number_events"]

log = structlog.get_logger(__name__)

Statement = tuple[str, tuple[Any, ...]]

# What a backend runs for a unit whose writes depend on what it finds (``WriteUnit.apply``):
# SQLite calls a plain function with its connection on the writer's thread, PostgreSQL awaits
# a coroutine function with its connection. The writer only carries it to the backend.
Step = TypeVar("Step")


@dataclass(eq=False)
class WriteUnit(Generic[Step]):
    """One caller's writes: applied together or not at all."""

    statements: list[Statement]
    events: Sequence[NewEvent]
    idempotency_key: str | None
    future: asyncio.Future[Created | Duplicate]
    # Guards must each change exactly one row, or the unit is a Conflict and writes nothing.
    guards: list[Statement] = field(default_factory=list)
    # A unit whose writes depend on what it finds (run by the backend inside the batch's
    # transaction): given the connection and the next sequence number, it returns its events
    # and the next (see Step).
    apply: Step | None = None
    # What a later unit with the same idempotency key answers in its Duplicate.
    request_hash: str | None = None
    written: tuple[Event, ...] = field(default=())
    conflict: bool = False


class WriteBackend(Protocol[Step]):
    """What the writer needs of a database, all through the one write connection.

    ``unavailable`` are the errors that mean the database cannot take writes at all (locked,
    read-only, full, I/O): nothing of the batch is stored and every unit fails. ``errors`` are
    all of the database's errors: a batch failing with one of these is retried a unit at a
    time, so that one bad unit cannot sink the others.
    """

    unavailable: tuple[type[Exception], ...]
    errors: tuple[type[Exception], ...]

    async def positions(self) -> tuple[int, int]:
        """The last sequence number in the log and the outbox cursor (published_seq)."""

    async def stored_keys(self, keys: Sequence[str]) -> dict[str, Duplicate]:
        """The whistles already stored under any of the idempotency ``keys``."""

    async def write(self, units: list[WriteUnit[Step]], seq: int, outbox: int | None) -> int:
        """Write ``units`` in one transaction, numbering their events from ``seq`` on (a
        backend shared by several processes numbers from its own database-wide counter
        instead, and ignores ``seq``), setting
        each unit's ``written``, or its ``conflict`` when a guard fails); when ``outbox`` is
        given, move the outbox cursor to it in the same transaction. On failure nothing is
        kept and every unit's ``written`` and ``conflict`` are reset. Returns the next
        sequence number."""

    async def events_after(self, seq: int) -> list[Event]:
        """Every event after ``seq``, in log order (the outbox replay on start)."""

    async def save_cursor(self, published_seq: int) -> None:
        """Move the outbox cursor to ``published_seq`` and commit."""


def number_events(events: Sequence[NewEvent], seq: int) -> tuple[tuple[Event, ...], int]:
    """Give ``events`` their log sequence numbers from ``seq`` on."""
    numbered = []
    for e in events:
        numbered.append(Event(seq, e.type, e.whistle_id, e.at, e.actor, e.data))
        seq += 1
    return tuple(numbered), seq


class GroupWriter(Generic[Step]):
    """The writer task, its queue and the outbox cursor, over one WriteBackend.

    ``max_queue`` bounds the writes waiting for the writer: past it ``StoreBusy`` is raised at
    once (backpressure) instead of letting memory grow. ``max_batch`` bounds one transaction.
    """

    def __init__(
        self, backend: WriteBackend[Step], bus: Bus, *, max_queue: int, max_batch: int
    ) -> None:
        self._backend = backend
        self._bus = bus
        self._max_batch = max_batch
        self._queue: asyncio.Queue[WriteUnit[Step]] = asyncio.Queue(max_queue)
        self._task: asyncio.Task[None] | None = None
        self.next_seq = 1
        self._published_seq = 0
        self._persisted_published_seq = 0
        self._closing = False
        self.commits = 0  # transactions committed; group commit makes this < writes
        self.writes = 0  # units written

    def __repr__(self) -> str:
        return f"GroupWriter(next_seq={self.next_seq}, queued={self.queue_depth})"

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The writer task while the writer runs."""
        return self._task

    @property
    def queue_depth(self) -> int:
        """Units queued and not yet taken by the writer."""
        return self._queue.qsize()

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Read where the log and the outbox stand, publish what was stored but not yet
        published, then start the writer task."""
        last, published = await self._backend.positions()
        self.next_seq = last + 1
        self._published_seq = self._persisted_published_seq = published
        # On a read-only file the outbox cursor's write is the first to fail: the caller's
        # open then fails and closes its connections.
        await self._publish_unpublished()
        self._closing = False
        self._task = asyncio.create_task(self._write_loop(), name="store-writer")

    async def stop(self) -> None:
        """Finish queued writes, stop the writer task and save the outbox cursor."""
        self._closing = True
        if self._task is not None:
            # Let queued writes finish: they were accepted and their callers are waiting. If
            # the writer is gone already (cancelled from outside), nothing will drain the
            # queue: fail what is left instead of waiting forever.
            drained = asyncio.ensure_future(self._queue.join())
            await asyncio.wait({drained, self._task}, return_when=asyncio.FIRST_COMPLETED)
            if not drained.done():
                drained.cancel()
                self._fail_queued(StoreUnavailable("the store closed before this write"))
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._published_seq != self._persisted_published_seq:
            # StoreUnavailable: the backend is closed already (an open that failed).
            not_saved: tuple[type[Exception], ...] = (StoreUnavailable, *self._backend.errors)
            try:
                await self._backend.save_cursor(self._published_seq)
                self._persisted_published_seq = self._published_seq
            except not_saved:
                log.warning("store.outbox_cursor_not_saved", published_seq=self._published_seq)

    def _fail_queued(self, error: Exception) -> None:
        while True:
            try:
                unit = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            if not unit.future.done():
                unit.future.set_exception(error)
            self._queue.task_done()

    # -- queueing ------------------------------------------------------------------------

    async def submit(
        self,
        statements: list[Statement],
        events: Sequence[NewEvent],
        key: str | None,
        *,
        guards: list[Statement] | None = None,
        request_hash: str | None = None,
    ) -> Created | Duplicate:
        """Queue one unit and wait until it is on disk."""
        # shield: a caller that goes away must not cancel a write others share a batch with.
        return await asyncio.shield(
            self.enqueue(statements, events, key, guards=guards, request_hash=request_hash)
        )

    def enqueue(
        self,
        statements: list[Statement],
        events: Sequence[NewEvent],
        key: str | None,
        *,
        guards: list[Statement] | None = None,
        apply: Step | None = None,
        request_hash: str | None = None,
    ) -> asyncio.Future[Created | Duplicate]:
        """Queue one unit for the writer and return the future its write resolves."""
        if self._task is None or self._closing:
            raise StoreUnavailable("the store is not open")
        future: asyncio.Future[Created | Duplicate] = asyncio.get_running_loop().create_future()
        unit = WriteUnit(statements, events, key, future, guards or [], apply, request_hash)
        try:
            self._queue.put_nowait(unit)
        except asyncio.QueueFull:
            raise StoreBusy("too many writes waiting; retry shortly") from None
        return future

    # -- the writer task -----------------------------------------------------------------

    async def _write_loop(self) -> None:
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

    async def _write_batch(self, batch: list[WriteUnit[Step]]) -> None:
        duplicates = await self._resolve_idempotency(batch)
        to_write = [u for u in batch if u not in duplicates]
        if to_write:
            try:
                await self._commit(to_write)
            except self._backend.unavailable as exc:
                # Locked, read-only, full disk, I/O error: nothing of this batch is stored.
                log.error("store.write_failed", error=str(exc), units=len(to_write))
                err = StoreUnavailable(f"database cannot take writes: {exc}")
                for unit in to_write:
                    unit.future.set_exception(err)
                for unit, _original in duplicates.items():
                    unit.future.set_exception(err)
                return
            except self._backend.errors as exc:
                if len(to_write) == 1:
                    log.warning("store.unit_failed", error=str(exc))
                    await self._fail_or_duplicate(to_write[0], exc)
                    to_write = []
                # One bad unit must not sink the others: write them one at a time.
                for unit in to_write:
                    try:
                        await self._commit([unit])
                    except self._backend.errors as exc:
                        await self._fail_or_duplicate(unit, exc)
        self._settle(to_write)
        self._settle_duplicates(duplicates)

    async def _fail_or_duplicate(self, unit: WriteUnit[Step], exc: Exception) -> None:
        """A unit that failed alone: a Duplicate when another process stored its idempotency
        key meanwhile (the key's unique index refused this one), else StoreUnavailable."""
        key = unit.idempotency_key
        if key:
            try:
                stored = await self._backend.stored_keys([key])
            except self._backend.errors:
                stored = {}
            if key in stored:
                unit.future.set_result(stored[key])
                return
        unit.future.set_exception(StoreUnavailable(str(exc)))

    def _settle(self, written: list[WriteUnit[Step]]) -> None:
        """Publish what was committed and answer its callers (publish after commit)."""
        for unit in written:
            if unit.future.done():
                continue
            if unit.conflict:
                unit.future.set_exception(Conflict("the case changed meanwhile"))
                continue
            self._publish(unit.written)
            head = unit.written[0].whistle_id if unit.written else ""
            unit.future.set_result(Created(head, unit.written))

    @staticmethod
    def _settle_duplicates(duplicates: dict[WriteUnit[Step], Duplicate | WriteUnit[Step]]) -> None:
        for unit, original in duplicates.items():
            if unit.future.done():
                continue
            if isinstance(original, Duplicate):
                unit.future.set_result(original)
            elif original.future.done() and original.future.exception() is None:
                answer = original.future.result()
                if isinstance(answer, Duplicate):
                    # The original was itself refused: another process stored the key first
                    # (the unique index), and the original answers that whistle.
                    unit.future.set_result(answer)
                else:
                    assert isinstance(answer, Created)
                    unit.future.set_result(Duplicate(answer.whistle_id, original.request_hash))
            else:
                unit.future.set_exception(StoreUnavailable("the original write failed"))

    async def _resolve_idempotency(
        self, batch: list[WriteUnit[Step]]
    ) -> dict[WriteUnit[Step], Duplicate | WriteUnit[Step]]:
        """Units whose key was used before (stored, or earlier in this batch)."""
        keys = [u.idempotency_key for u in batch if u.idempotency_key]
        if not keys:
            return {}
        stored = await self._backend.stored_keys(sorted(set(keys)))
        duplicates: dict[WriteUnit[Step], Duplicate | WriteUnit[Step]] = {}
        first: dict[str, WriteUnit[Step]] = {}
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

    async def _commit(self, units: list[WriteUnit[Step]]) -> None:
        """Write ``units`` in one transaction, the outbox cursor with them."""
        # Captured now: the bus may publish more while the transaction runs.
        published = self._published_seq
        outbox = published if published != self._persisted_published_seq else None
        self.next_seq = await self._backend.write(units, self.next_seq, outbox)
        self._persisted_published_seq = published
        self.commits += 1
        self.writes += len(units)

    # -- the outbox ----------------------------------------------------------------------

    def _publish(self, events: Iterable[Event]) -> None:
        for event in events:
            self._bus.publish(event)
            self._published_seq = max(self._published_seq, event.seq)

    async def _publish_unpublished(self) -> None:
        """Hand the bus every event committed after the last recorded publish."""
        events = await self._backend.events_after(self._published_seq)
        if events:
            log.info("store.outbox_replayed", count=len(events), from_seq=events[0].seq)
            self._publish(events)
            await self._backend.save_cursor(self._published_seq)
            self._persisted_published_seq = self._published_seq
