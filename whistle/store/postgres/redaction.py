"""Retention on PostgreSQL (issue 18): the personal fields of cases closed long ago blanked in
every copy the store keeps, in one transaction per batch of cases, as SQLite's
(whistle/store/sqlite/redaction.py, which says what is blanked and why; the same
:func:`whistle.privacy.redact` and :func:`photo_names` are applied here)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg
import orjson

from whistle.events import Event
from whistle.privacy import redact
from whistle.store.encoding import db_time, to_json
from whistle.store.postgres.backend import PgApply
from whistle.store.postgres.dialect import pg
from whistle.store.search import search_text
from whistle.store.sqlite.redaction import EXPIRED_CASES, photo_names

__all__ = ["EXPIRED", "redactor"]

EXPIRED = pg(EXPIRED_CASES)
"""Closed (结案) before the cutoff (Unix seconds), not redacted yet, oldest first."""

_PHOTO_USED = (
    "SELECT 1 FROM whistles WHERE redacted_at IS NULL AND doc::text LIKE $1 UNION ALL "
    "SELECT 1 FROM events e JOIN whistles w ON w.id = e.whistle_id "
    "WHERE w.redacted_at IS NULL AND e.data::text LIKE $1 LIMIT 1"
)


def redactor(ids: Sequence[str], at: datetime, orphans: list[str]) -> PgApply:
    """The write step that redacts cases ``ids``; photo names no kept case still names are
    appended to ``orphans``."""

    async def apply(db: asyncpg.Connection, seq: int) -> tuple[tuple[Event, ...], int]:
        photos: set[str] = set()
        for whistle_id in ids:
            photos |= await _redact_case(db, whistle_id, at)
        for name in sorted(photos):
            if await db.fetchrow(_PHOTO_USED, f"%/media/{name}%") is None:
                await db.execute("DELETE FROM media WHERE name = $1", name)
                orphans.append(name)
        return (), seq

    return apply


async def _redact_case(db: asyncpg.Connection, whistle_id: str, at: datetime) -> set[str]:
    row = await db.fetchrow(
        "SELECT doc, case_doc FROM whistles WHERE id = $1 AND redacted_at IS NULL FOR UPDATE",
        whistle_id,
    )
    if row is None:
        return set()
    doc = orjson.loads(row[0])
    case = None if row[1] is None else orjson.loads(row[1])
    photos = photo_names(doc) | photo_names(case)
    clean = redact(doc)
    await db.execute(
        "UPDATE whistles SET doc = $1, case_doc = $2, redacted_at = $3 WHERE id = $4",
        to_json(clean),
        None if case is None else to_json(redact(case)),
        db_time(at),
        whistle_id,
    )
    await db.execute(
        "UPDATE whistle_search SET body = $1 WHERE whistle_id = $2", search_text(clean), whistle_id
    )
    assignments = await db.fetch(
        "SELECT id, doc FROM assignments WHERE whistle_id = $1", whistle_id
    )
    for aid, adoc in assignments:
        loaded = orjson.loads(adoc)
        photos |= photo_names(loaded)
        await db.execute(
            "UPDATE assignments SET doc = $1 WHERE id = $2", to_json(redact(loaded)), aid
        )
    events = await db.fetch("SELECT seq, data FROM events WHERE whistle_id = $1", whistle_id)
    for seq, data in events:
        loaded = orjson.loads(data)
        photos |= photo_names(loaded)
        await db.execute("UPDATE events SET data = $1 WHERE seq = $2", to_json(redact(loaded)), seq)
    return photos
