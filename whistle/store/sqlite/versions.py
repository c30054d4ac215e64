"""The stored versions of the configuration (``whistle.versions``): one row per version with
its files' text, and at most one of them active.

Writes go through the group writer (a proposal is on disk when it is answered); activation
retires the active version and activates the next in one transaction, so a process that
polls the active id never sees none or two.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import aiosqlite
import orjson

from whistle.store.base import ConfigVersionRecord
from whistle.store.sqlite._common import Readers, db_time, fetchone, parse_db_time
from whistle.store.sqlite.write_thread import SqliteApply
from whistle.store.writer import GroupWriter

__all__ = ["ConfigVersions"]

_COLUMNS = "id, hash, author, reason, created_at, state, applied_at"


class ConfigVersions:
    """The Store's config versions (see Store for what each does)."""

    def __init__(self, writer: GroupWriter[SqliteApply], readers: Readers) -> None:
        self._writer = writer
        self._readers = readers

    def __repr__(self) -> str:
        return f"ConfigVersions({self._readers!r})"

    @property
    def _r(self) -> aiosqlite.Connection:
        return self._readers.conn

    async def add(
        self, *, hash: str, files: Mapping[str, str], author: str, reason: str, at: datetime
    ) -> tuple[ConfigVersionRecord, bool]:
        before = await self._by_hash(hash)
        if before is not None:
            return before, False
        # The id is drawn inside the write's transaction, so two processes never draw one
        # twice; a same-hash race keeps the first (the UNIQUE hash) and both read it back.
        sql = (
            f"INSERT INTO config_versions ({_COLUMNS}, files) "
            "SELECT COALESCE(MAX(id), 0) + 1, ?, ?, ?, ?, 'proposed', NULL, ? "
            # WHERE true: without it SQLite reads ON CONFLICT as a join's ON.
            "FROM config_versions WHERE true ON CONFLICT (hash) DO NOTHING"
        )
        text = orjson.dumps(dict(files), option=orjson.OPT_SORT_KEYS).decode()
        await self._writer.submit([(sql, (hash, author, reason, db_time(at), text))], (), None)
        record = await self._by_hash(hash)
        assert record is not None  # just written
        return record, True

    async def get(self, version_id: int) -> ConfigVersionRecord | None:
        row = await fetchone(
            self._r, f"SELECT {_COLUMNS}, files FROM config_versions WHERE id = ?", (version_id,)
        )
        return None if row is None else _record(row)

    async def listing(self) -> list[ConfigVersionRecord]:
        rows = await self._r.execute_fetchall(
            f"SELECT {_COLUMNS}, '{{}}' FROM config_versions ORDER BY id DESC"
        )
        return [_record(row) for row in rows]

    async def active(self) -> int | None:
        row = await fetchone(self._r, "SELECT id FROM config_versions WHERE state = 'active'", ())
        return None if row is None else int(row[0])

    async def activate(self, version_id: int, at: datetime) -> None:
        await self._writer.submit(
            [
                (
                    "UPDATE config_versions SET state = 'retired' "
                    "WHERE state = 'active' AND id != ?",
                    (version_id,),
                ),
                (
                    "UPDATE config_versions SET state = 'active', applied_at = ? WHERE id = ?",
                    (db_time(at), version_id),
                ),
            ],
            (),
            None,
        )

    async def _by_hash(self, hash: str) -> ConfigVersionRecord | None:
        row = await fetchone(
            self._r, f"SELECT {_COLUMNS}, files FROM config_versions WHERE hash = ?", (hash,)
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
