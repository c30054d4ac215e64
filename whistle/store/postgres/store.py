"""PostgresStore: the Store on a PostgreSQL database, put together from its parts, like
SqliteStore.

- the group writer (whistle/store/writer.py: group commit, the outbox, publish after commit)
  over this process's write connection (``backend``: the database-wide event order);
- what cases write (whistle/store/case_writes.py with this backend's ``writes`` steps) and
  read (``reads``);
- the committee's statistics (``statistics``);
- the records beside the cases (``records``), the config versions (``versions``), retention's
  blanking of personal fields (``redaction``) and the party-building records (``party``);
- the listener (``listener``): other processes' events onto this process's bus.

A resolved write means PostgreSQL committed it (``synchronous_commit`` as the server has it:
keep it on).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog

from whistle.bus import Bus
from whistle.events import Event, StreamFacts
from whistle.exceptions import StoreUnavailable
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
from whistle.store.postgres import redaction
from whistle.store.postgres._common import Readers, advisory_lock
from whistle.store.postgres.backend import PgWriteBackend
from whistle.store.postgres.listener import Listener
from whistle.store.postgres.outbox import Deliveries
from whistle.store.postgres.party import PgPartyStore
from whistle.store.postgres.reads import CaseReads
from whistle.store.postgres.records import Records
from whistle.store.postgres.schema import SCHEMA_VERSION
from whistle.store.postgres.statistics import Statistics
from whistle.store.postgres.versions import PgConfigVersions
from whistle.store.postgres.writes import PgSteps
from whistle.store.readouts import CaseFacts, OverdueCase
from whistle.store.writer import GroupWriter

__all__ = ["PostgresStore"]

log = structlog.get_logger("whistle.store.postgres")


class PostgresStore:
    """The Store on one PostgreSQL database (``dsn``: a postgresql:// URL).

    ``max_queue`` and ``max_batch`` bound the writer as in SqliteStore; ``readers`` is the
    size of the read pool. Several processes may open the same database.
    """

    def __init__(
        self,
        dsn: str,
        bus: Bus,
        *,
        max_queue: int = 10_000,
        max_batch: int = 1_000,
        readers: int = 4,
    ) -> None:
        self._dsn = dsn
        # This store's name in the log's origin column: the listener skips what it wrote.
        self.origin = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._backend = PgWriteBackend(dsn, self.origin)
        self._readers = Readers(dsn, readers)
        self.listener = Listener(dsn, self._readers, bus, self.origin)
        self.writer = GroupWriter(self._backend, bus, max_queue=max_queue, max_batch=max_batch)
        self._writes = CaseWrites(self.writer, PgSteps())
        self._reads = CaseReads(self._readers)
        self._records = Records(self.writer, self._readers)
        self._stats = Statistics(self._readers)
        self._versions = PgConfigVersions(self.writer, self._readers)
        self._party = PgPartyStore(self.writer, self._readers)
        self._deliveries = Deliveries(self._readers, self.origin)
        # The camera-group locks' connections: never the read pool's, which a holder needs
        # for its own reads while it holds one (a shared pool could run dry of holders).
        self._locks = Readers(dsn, readers)

    def __repr__(self) -> str:
        return f"PostgresStore(next_seq={self.writer.next_seq})"

    @property
    def commits(self) -> int:
        """Transactions committed by this process; group commit makes this fewer than
        ``writes``."""
        return self.writer.commits

    @property
    def writes(self) -> int:
        """Units written by this process."""
        return self.writer.writes

    @property
    def schema_version(self) -> int:
        return SCHEMA_VERSION

    @property
    def backend(self) -> str:
        return "postgresql"

    @property
    def queue_depth(self) -> int:
        return self.writer.queue_depth

    @property
    def party(self) -> PgPartyStore:
        """The party-building records (whistle/store/postgres/party.py)."""
        return self._party

    def written_elsewhere(self, seq: int) -> bool:
        return self.listener.relayed(seq)

    def camera_group_lock(
        self, camera_id: str, category: str
    ) -> contextlib.AbstractAsyncContextManager[None]:
        return advisory_lock(self._locks, f"camera-group:{camera_id}:{category}")

    def watch_silences(self, wake: Callable[[], None]) -> bool:
        self.listener.on_silences(wake)
        return True

    @property
    def webhook_outbox(self) -> bool:
        return True

    async def claim_deliveries(
        self, now: datetime, lease: timedelta, limit: int
    ) -> list[tuple[Event, int]]:
        return await self._deliveries.claim(now, lease, limit)

    async def renew_deliveries(
        self, held: Sequence[tuple[int, int]], now: datetime, lease: timedelta
    ) -> None:
        await self._deliveries.renew(held, now, lease)

    async def finish_deliveries(self, done: Sequence[tuple[int, int]]) -> None:
        await self._deliveries.finish(done)

    # -- lifecycle -----------------------------------------------------------------------

    async def open(self) -> None:
        try:
            await self._backend.open()
            await self._readers.open()
            await self._locks.open()
            await self.writer.start()
            self.listener.start(after=self.writer.next_seq - 1)
        except self._backend.errors as exc:
            await self._disconnect()
            raise StoreUnavailable(f"cannot open the PostgreSQL store: {exc}") from exc
        except BaseException:
            await self._disconnect()
            raise
        log.info("store.opened", backend="postgresql", schema=SCHEMA_VERSION)

    async def close(self) -> None:
        await self.listener.stop()
        await self.writer.stop()
        await self._disconnect()
        log.info("store.closed", backend="postgresql")

    async def _disconnect(self) -> None:
        await self._locks.close()
        await self._readers.close()
        await self._backend.close()

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the database answers and takes writes: a no-op
        update goes through the writer like any write."""
        await self._readers.fetchrow("SELECT 1")
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
        return await self._backend.claim_deadlines(due, now, lease)

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

    # -- the command-centre wall and the drill-down rows (reads.py) -----------------------

    async def open_by_path(self, grid_path: str | None) -> dict[str, int]:
        return await self._reads.open_by_path(grid_path)

    async def overdue(self, grid_path: str | None, now: datetime) -> list[OverdueCase]:
        return await self._reads.overdue(grid_path, now)

    async def case_facts(self, ids: Sequence[str]) -> dict[str, CaseFacts]:
        return await self._reads.case_facts(ids)

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

    async def save_citizen_link(self, whistle_id: str, key_hash: str) -> None:
        await self._records.save_citizen_link(whistle_id, key_hash)

    async def citizen_link(self, whistle_id: str) -> str | None:
        return await self._records.citizen_link(whistle_id)

    async def save_upload(self, name: str, uploader: str, scope: str | None) -> None:
        await self._records.save_upload(name, uploader, scope)

    async def uploads(self, name: str) -> list[tuple[str, str | None]]:
        return await self._records.uploads(name)

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

    # -- retention (redaction.py) --------------------------------------------------------

    async def expired_cases(self, closed_before: datetime, limit: int = 500) -> list[str]:
        rows = await self._readers.fetch(redaction.EXPIRED, closed_before.timestamp(), limit)
        return [row[0] for row in rows]

    async def redact_cases(self, ids: Sequence[str], at: datetime) -> list[str]:
        orphans: list[str] = []
        await self.writer.enqueue([], [], None, apply=redaction.redactor(ids, at, orphans))
        return orphans
