"""Retention (issue 18): the personal fields of cases closed long ago are blanked, everywhere
the store keeps them, in one transaction per batch of cases.

What is blanked is decided by one function, :func:`whistle.privacy.redact`, applied to every
copy of a case: its document, its case document, its assignments' documents, every event of
its log (``events.data``: the log is the source of truth, so it is redacted the same way; a
fold over the redacted log gives the redacted case) and its search text. The statistics
projection (``case_facts``, ``assignment_facts``) holds no personal field and is not touched,
so every figure stays as it was. ``whistles.redacted_at`` marks a case done. Photos named by
the case and by no case still kept are returned, for the caller to delete their files; their
``media`` rows go in the same transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import orjson

from whistle.events import Event
from whistle.privacy import redact
from whistle.store.search import search_text
from whistle.store.sqlite._common import db_time, to_json

__all__ = ["EXPIRED_CASES", "photo_names", "redactor"]

# Closed (结案) before the cutoff (Unix seconds), and not redacted yet: oldest first.
EXPIRED_CASES = (
    "SELECT f.whistle_id FROM case_facts f JOIN whistles w ON w.id = f.whistle_id "
    "WHERE f.closed_at IS NOT NULL AND f.closed_at < ? AND w.redacted_at IS NULL "
    "ORDER BY f.closed_at LIMIT ?"
)


def photo_names(value: Any) -> set[str]:
    """The photo names (``/media/<name>``) in any ``media_urls`` or ``photos`` list."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("media_urls", "photos") and isinstance(item, list):
                found |= {
                    u.split("?", 1)[0].rsplit("/media/", 1)[1]
                    for u in item
                    if isinstance(u, str) and "/media/" in u
                }
            else:
                found |= photo_names(item)
    elif isinstance(value, list):
        for item in value:
            found |= photo_names(item)
    return found


def redactor(
    ids: Sequence[str], at: datetime, orphans: list[str]
) -> Callable[[sqlite3.Connection, int], tuple[tuple[Event, ...], int]]:
    """The writer-thread step that redacts cases ``ids``; photo names no kept case still
    names are appended to ``orphans``."""

    def apply(db: sqlite3.Connection, seq: int) -> tuple[tuple[Event, ...], int]:
        photos: set[str] = set()
        for whistle_id in ids:
            photos |= _redact_case(db, whistle_id, at)
        for name in sorted(photos):
            pattern = f"%/media/{name}%"
            used = db.execute(
                "SELECT 1 FROM whistles WHERE redacted_at IS NULL AND doc LIKE ? UNION ALL "
                "SELECT 1 FROM events e JOIN whistles w ON w.id = e.whistle_id "
                "WHERE w.redacted_at IS NULL AND e.data LIKE ? LIMIT 1",
                (pattern, pattern),
            ).fetchone()
            if used is None:
                db.execute("DELETE FROM media WHERE name = ?", (name,))
                orphans.append(name)
        return (), seq

    return apply


def _redact_case(db: sqlite3.Connection, whistle_id: str, at: datetime) -> set[str]:
    row = db.execute(
        "SELECT rowid, doc, case_doc FROM whistles WHERE id = ? AND redacted_at IS NULL",
        (whistle_id,),
    ).fetchone()
    if row is None:
        return set()
    rowid, doc_text, case_text = row
    doc, case = orjson.loads(doc_text), orjson.loads(case_text) if case_text else None
    photos = photo_names(doc) | photo_names(case)
    clean = redact(doc)
    db.execute(
        "UPDATE whistles SET doc = ?, case_doc = ?, redacted_at = ? WHERE rowid = ?",
        (to_json(clean), None if case is None else to_json(redact(case)), db_time(at), rowid),
    )
    db.execute("UPDATE whistle_search SET body = ? WHERE rowid = ?", (search_text(clean), rowid))
    for aid, adoc in db.execute(
        "SELECT id, doc FROM assignments WHERE whistle_id = ?", (whistle_id,)
    ).fetchall():
        loaded = orjson.loads(adoc)
        photos |= photo_names(loaded)
        db.execute("UPDATE assignments SET doc = ? WHERE id = ?", (to_json(redact(loaded)), aid))
    for seq, data in db.execute(
        "SELECT seq, data FROM events WHERE whistle_id = ?", (whistle_id,)
    ).fetchall():
        loaded = orjson.loads(data)
        photos |= photo_names(loaded)
        db.execute("UPDATE events SET data = ? WHERE seq = ?", (to_json(redact(loaded)), seq))
    return photos
