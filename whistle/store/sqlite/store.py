"""SqliteStore: the Store on one SQLite file, put together from its parts.

- the group writer (whistle/store/writer.py: group commit, the outbox, publish after commit)
  over the write connection on its own thread (``write_thread``);
- what cases write (``writes``) and read (``reads``);
- the committee's statistics (``statistics``);
- the records beside the cases: silences, tokens, logins, audit, links, photos (``records``);
- the party-building records (``party``).

With WAL and ``synchronous=FULL`` a resolved write means the rows are on disk.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from whistle.bus import Bus
from whistle.events import Event, StreamFacts
from whistle.exceptions import StoreUnavailable
from whistle.store import readouts
from whistle.store._schema import SCHEMA_VERSION
from whistle.store.base import (
    ConfigVersionRecord,
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
from whistle.store.case_writes import CaseWrites
from whistle.store.sqlite import redaction
from whistle.store.sqlite._common import Readers, fetchone
from whistle.store.sqlite.party import SqlitePartyStore
from whistle.store.sqlite.reads import CaseReads
from whistle.store.sqlite.records import Records
from whistle.store.sqlite.statistics import Statistics
from whistle.store.sqlite.versions import ConfigVersions
from whistle.store.sqlite.write_thread import SqliteWriteBackend
from whistle.store.sqlite.writes import SqliteSteps
from whistle.store.writer import GroupWriter

__all__ = ["SqliteStore"]

log = structlog.get_logger("whistle.store.sqlite")


class SqliteStore:
    """The Store on one SQLite file in WAL mode.

    ``max_queue`` bounds the writes waiting for the writer: past it ``StoreBusy`` is raised at
    once (backpressure) instead of letting memory grow. ``max_batch`` bounds one transaction.
    ``writer`` is the group writer (its task, queue and counters).
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
        self._backend = SqliteWriteBackend(self.path, busy_timeout_ms)
        self._readers = Readers(self.path, busy_timeout_ms)
        self.writer = GroupWriter(self._backend, bus, max_queue=max_queue, max_batch=max_batch)
        self._writes = CaseWrites(self.writer, SqliteSteps())
        self._reads = CaseReads(self._readers)
        self._records = Records(self.writer, self._readers)
        self._stats = Statistics(self._readers)
        self._versions = ConfigVersions(self.writer, self._readers)
        self._party = SqlitePartyStore(self.writer, self._readers)

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r}, next_seq={self.writer.next_seq})"

    @property
    def commits(self) -> int:
        """Transactions committed; group commit makes this fewer than ``writes``."""
        return self.writer.commits

    @property
    def writes(self) -> int:
        """Units written."""
        return self.writer.writes

    @property
    def party(self) -> SqlitePartyStore:
        """The party-building records (whistle/store/sqlite/party.py)."""
        return self._party

    @property
    def schema_version(self) -> int:
        return SCHEMA_VERSION

    @property
    def backend(self) -> str:
        return "sqlite"

    @property
    def queue_depth(self) -> int:
        return self.writer.queue_depth

    def written_elsewhere(self, seq: int) -> bool:
        return False  # one server per file: every event on the bus is its own

    # -- lifecycle -----------------------------------------------------------------------

    async def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            await self._backend.open()
            await self._readers.open()
            # Inside the try: on a read-only file the outbox cursor's write is the first to
            # fail, and an open that fails must close its connections (their threads would
            # otherwise keep the process from exiting) and say StoreUnavailable.
            await self.writer.start()
        except (sqlite3.Error, OSError) as exc:
            await self._disconnect()
            raise StoreUnavailable(f"cannot open database {self.path}: {exc}") from exc
        except BaseException:
            await self._disconnect()
            raise
        log.info(
            "store.opened", path=str(self.path), schema=SCHEMA_VERSION, seq=self.writer.next_seq - 1
        )

    async def close(self) -> None:
        await self.writer.stop()
        await self._disconnect()
        log.info("store.closed", path=str(self.path))

    async def _disconnect(self) -> None:
        await self._readers.close()
        await self._backend.close()

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the database answers and takes writes: a no-op update
        goes through the writer like any write (read-only, full or locked files fail it)."""
        try:
            await fetchone(self._readers.conn, "SELECT 1")
        except sqlite3.Error as exc:
            raise StoreUnavailable(str(exc)) from exc
        noop = ("UPDATE outbox SET published_seq = published_seq", ())
        await self.writer.submit([noop], (), None)

    # -- writes (writes.py) --------------------------------------------------------------

    async def create_whistle(self, new: NewWhistle) -> Created | Duplicate:
        return await self._writes.create_whistle(new)

    async def create_whistles(self, news: Sequence[NewWhistle]) -> tuple[Event, ...]:
        """Write many new whistles as one unit: the same rows, events and statistics facts
        as ``create_whistle`` writes for each, committed together or not at all.

        For bulk loads (the statistics benchmark's generator, a re-arm database): one queued
        unit instead of thousands keeps the writer's per-unit work out of the way. Whistles
        with an idempotency key are refused (a bulk load has no caller to answer Duplicate);
        an id already stored fails the whole unit. Returns the events written, in order.
        """
        return await self._writes.create_whistles(news)

    async def transition(self, step: Transition) -> tuple[Event, ...]:
        return await self._writes.transition(step)

    async def add_repeats(self, repeats: Sequence[Repeat]) -> list[bool]:
        return await self._writes.add_repeats(repeats)

    async def cancel_deadline(self, whistle_id: str, key: str) -> None:
        await self._writes.cancel_deadline(whistle_id, key)

    async def claim_deadlines(
        self, due: Sequence[tuple[str, str]], now: datetime, lease: timedelta
    ) -> set[tuple[str, str]]:
        """All of them: one server per SQLite file (whistle/store/lock.py)."""
        return set(due)

    def camera_group_lock(
        self, camera_id: str, category: str
    ) -> contextlib.AbstractAsyncContextManager[None]:
        return contextlib.nullcontext()  # one server per file: the intake's lock suffices

    def watch_silences(self, wake: Callable[[], None]) -> bool:
        return False  # one server per file: only this one changes them

    @property
    def webhook_outbox(self) -> bool:
        return False  # one server per file: its bus feeds its webhooks (whistle/app.py)

    async def claim_deliveries(
        self, now: datetime, lease: timedelta, limit: int
    ) -> list[tuple[Event, int]]:
        return []

    async def renew_deliveries(
        self, held: Sequence[tuple[int, int]], now: datetime, lease: timedelta
    ) -> None:
        return None

    async def finish_deliveries(self, done: Sequence[tuple[int, int]]) -> None:
        return None

    # -- reads (reads.py) ----------------------------------------------------------------

    async def find_idempotent(self, key: str) -> Duplicate | None:
        return await self._reads.find_idempotent(key)

    async def find_external(
        self, source: str, external_id: str, *, within: str | None = None
    ) -> str | None:
        return await self._reads.find_external(source, external_id, within=within)

    async def get_whistle(self, whistle_id: str) -> StoredWhistle | None:
        return await self._reads.get_whistle(whistle_id)

    async def find_case_number(self, case_number: str) -> str | None:
        return await self._reads.find_case_number(case_number)

    async def list_whistles(self, query: WhistleQuery) -> Page:
        return await self._reads.list_whistles(query)

    async def timeline(self, whistle_id: str) -> list[Event]:
        return await self._reads.timeline(whistle_id)

    async def count_whistles(self) -> int:
        return await self._reads.count_whistles()

    async def pending_deadlines(self) -> list[PendingDeadline]:
        return await self._reads.pending_deadlines()

    async def inbox(
        self, responder_id: str, board_cells: Sequence[str], teams: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        return await self._reads.inbox(responder_id, board_cells, teams)

    async def informed_of(
        self, responder_id: str, statuses: Sequence[str], limit: int = 100
    ) -> list[dict[str, Any]]:
        return await self._reads.informed_of(responder_id, statuses, limit)

    async def open_camera_cases(
        self,
        pairs: Sequence[tuple[str, str]],
        since: datetime,
        statuses: Sequence[str],
        *,
        within: Mapping[str, str],
    ) -> dict[tuple[str, str], str]:
        return await self._reads.open_camera_cases(pairs, since, statuses, within=within)

    async def known_detections(self, keys: Sequence[str]) -> dict[str, str]:
        return await self._reads.known_detections(keys)

    async def recent_whistles(
        self, since: datetime, sources: Sequence[str], statuses: Sequence[str]
    ) -> list[RecentWhistle]:
        return await self._reads.recent_whistles(since, sources, statuses)

    async def open_among(self, ids: Sequence[str], statuses: Sequence[str]) -> set[str]:
        return await self._reads.open_among(ids, statuses)

    async def stream_facts(self, ids: Sequence[str]) -> dict[str, StreamFacts]:
        return await self._reads.stream_facts(ids)

    async def events_after(self, seq: int, limit: int) -> list[Event]:
        return await self._reads.events_after(seq, limit)

    async def open_load(self, responder_ids: Sequence[str]) -> dict[str, int]:
        return await self._reads.open_load(responder_ids)

    async def queue_counts(self, grid_path: str | None, now: datetime) -> dict[str, int]:
        return await self._reads.queue_counts(grid_path, now)

    # -- statistics (statistics.py) ------------------------------------------------------

    async def statistics(self, query: StatsQuery) -> dict[str, Any]:
        return await self._stats.statistics(query)

    async def cases_for(
        self, metric: str, bucket: str | None, query: StatsQuery, limit: int = 500
    ) -> list[str]:
        return await self._stats.cases_for(metric, bucket, query, limit)

    # -- the command-centre wall and the drill-down rows (readouts.py) -----------------------

    async def open_by_path(self, grid_path: str | None) -> dict[str, int]:
        return await readouts.open_by_path(self._readers.conn, grid_path)

    async def overdue(self, grid_path: str | None, now: datetime) -> list[readouts.OverdueCase]:
        return await readouts.overdue(self._readers.conn, grid_path, now)

    async def case_facts(self, ids: Sequence[str]) -> dict[str, readouts.CaseFacts]:
        return await readouts.case_facts(self._readers.conn, ids)

    # -- records (records.py) ------------------------------------------------------------

    async def save_silence(self, silence: Silence) -> None:
        await self._records.save_silence(silence)

    async def silences(self) -> list[Silence]:
        return await self._records.silences()

    async def save_token(self, token: TokenRecord) -> None:
        await self._records.save_token(token)

    async def get_token(self, token_id: str) -> TokenRecord | None:
        return await self._records.get_token(token_id)

    async def tokens(self) -> list[TokenRecord]:
        return await self._records.tokens()

    async def save_user(self, user: UserRecord) -> None:
        await self._records.save_user(user)

    async def get_user(self, name: str) -> UserRecord | None:
        return await self._records.get_user(name)

    async def save_session(self, session: SessionRecord) -> None:
        await self._records.save_session(session)

    async def get_session(self, id_hash: str) -> SessionRecord | None:
        return await self._records.get_session(id_hash)

    async def delete_session(self, id_hash: str) -> None:
        await self._records.delete_session(id_hash)

    async def audit(
        self, at: datetime, actor: str, action: str, target: str | None, detail: dict[str, Any]
    ) -> None:
        await self._records.audit(at, actor, action, target, detail)

    async def audit_trail(self, limit: int = 100) -> list[dict[str, Any]]:
        return await self._records.audit_trail(limit)

    # -- config versions (versions.py) ---------------------------------------------------

    async def add_config_version(
        self, *, hash: str, files: Mapping[str, str], author: str, reason: str, at: datetime
    ) -> tuple[ConfigVersionRecord, bool]:
        return await self._versions.add(hash=hash, files=files, author=author, reason=reason, at=at)

    async def config_version(self, version_id: int) -> ConfigVersionRecord | None:
        return await self._versions.get(version_id)

    async def config_versions(self) -> list[ConfigVersionRecord]:
        return await self._versions.listing()

    async def active_config_version(self) -> int | None:
        return await self._versions.active()

    async def activate_config_version(self, version_id: int, at: datetime) -> None:
        await self._versions.activate(version_id, at)

    async def save_citizen_link(self, whistle_id: str, key_hash: str) -> None:
        await self._records.save_citizen_link(whistle_id, key_hash)

    async def citizen_link(self, whistle_id: str) -> str | None:
        return await self._records.citizen_link(whistle_id)

    async def save_upload(self, name: str, uploader: str, scope: str | None) -> None:
        await self._records.save_upload(name, uploader, scope)

    async def uploads(self, name: str) -> list[tuple[str, str | None]]:
        return await self._records.uploads(name)

    # -- retention (redaction.py) --------------------------------------------------------

    async def expired_cases(self, closed_before: datetime, limit: int = 500) -> list[str]:
        rows = await self._readers.conn.execute_fetchall(
            redaction.EXPIRED_CASES, (closed_before.timestamp(), limit)
        )
        return [row[0] for row in rows]

    async def redact_cases(self, ids: Sequence[str], at: datetime) -> list[str]:
        orphans: list[str] = []
        await self.writer.enqueue([], [], None, apply=redaction.redactor(ids, at, orphans))
        return orphans
