"""The config versions on PostgreSQL (whistle.versions; SQLite's is
whistle/store/sqlite/versions.py): the files as one jsonb object, the next id drawn inside the
write's transaction under a lock on the table, so processes adding versions at once never draw
one id twice."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson

from whistle.store.base import ConfigVersionRecord
from whistle.store.encoding import db_time, parse_db_time
from whistle.store.postgres._common import Readers
from whistle.store.postgres.backend import PgApply
from whistle.store.writer import GroupWriter

__all__ = ["PgConfigVersions"]

_COLUMNS = "id, hash, author, reason, created_at, state, applied_at"

# SHARE ROW EXCLUSIVE conflicts with itself: two adds wait for each other's commit, and the
# second reads the first's id (MAX is taken after the lock). Held to the batch's COMMIT.
_LOCK = "LOCK TABLE config_versions IN SHARE ROW EXCLUSIVE MODE"
_ADD = (
    f"INSERT INTO config_versions ({_COLUMNS}, files) "
    "SELECT coalesce(max(id), 0) + 1, $1::text, $2::text, $3::text, $4::text, 'proposed', "
    "NULL, $5::jsonb FROM config_versions ON CONFLICT (hash) DO NOTHING"
)
_RETIRE = "UPDATE config_versions SET state = 'retired' WHERE state = 'active' AND id <> $1"
_ACTIVATE = "UPDATE config_versions SET state = 'active', applied_at = $1 WHERE id = $2"


class PgConfigVersions:
    """The Store's config versions on PostgreSQL (see Store for what each does)."""

    def __init__(self, writer: GroupWriter[PgApply], readers: Readers) -> None:
        self._writer = writer
        self._r = readers

    def __repr__(self) -> str:
        return f"PgConfigVersions({self._r!r})"

    async def add(
        self, *, hash: str, files: Mapping[str, str], author: str, reason: str, at: datetime
    ) -> tuple[ConfigVersionRecord, bool]:
        before = await self._by_hash(hash)
        if before is not None:
            return before, False
        text = orjson.dumps(dict(files), option=orjson.OPT_SORT_KEYS).decode()
        await self._writer.submit(
            [(_LOCK, ()), (_ADD, (hash, author, reason, db_time(at), text))], (), None
        )
        record = await self._by_hash(hash)
        assert record is not None  # just written
        return record, True

    async def get(self, version_id: int) -> ConfigVersionRecord | None:
        row = await self._r.fetchrow(
            f"SELECT {_COLUMNS}, files FROM config_versions WHERE id = $1", version_id
        )
        return None if row is None else _record(row)

    async def listing(self) -> list[ConfigVersionRecord]:
        rows = await self._r.fetch(
            f"SELECT {_COLUMNS}, '{{}}' FROM config_versions ORDER BY id DESC"
        )
        return [_record(row) for row in rows]

    async def active(self) -> int | None:
        row = await self._r.fetchrow("SELECT id FROM config_versions WHERE state = 'active'")
        return None if row is None else int(row[0])

    async def activate(self, version_id: int, at: datetime) -> None:
        await self._writer.submit(
            [(_RETIRE, (version_id,)), (_ACTIVATE, (db_time(at), version_id))], (), None
        )

    async def _by_hash(self, hash: str) -> ConfigVersionRecord | None:
        row = await self._r.fetchrow(
            f"SELECT {_COLUMNS}, files FROM config_versions WHERE hash = $1", hash
        )
        return None if row is None else _record(row)


def _record(row: Any) -> ConfigVersionRecord:
    vid, hash_, author, reason, created, state, applied, files = row
    return ConfigVersionRecord(
        id=int(vid),
        hash=hash_,
        files=orjson.loads(files),
        author=author,
        reason=reason,
        created_at=parse_db_time(created),
        state=state,
        applied_at=None if applied is None else parse_db_time(applied),
    )
