"""The SQLite store's own steps of the case writes (whistle/store/case_writes.py): a 受理编号
drawn and camera repeats, run on the writer's thread inside the batch's transaction."""

from __future__ import annotations

import sqlite3
from typing import Any

from whistle.events import Event, NewEvent
from whistle.store import case_numbers
from whistle.store.base import NewWhistle, Repeat
from whistle.store.case_writes import WHISTLE_INSERT, WHISTLE_INSERT_NUMBERED
from whistle.store.search import search_statement
from whistle.store.sqlite._common import db_time, event_row, to_json
from whistle.store.sqlite.write_thread import EVENT_INSERT, SqliteApply
from whistle.store.writer import Statement, number_events, numbered_event

__all__ = ["SqliteSteps"]

_Apply = SqliteApply


class SqliteSteps:
    """CaseSteps for SQLite: plain functions on the writer's connection."""

    def __repr__(self) -> str:
        return "SqliteSteps()"

    def repeats(self, repeats: list[Repeat], accepted: set[str]) -> SqliteApply:
        """See CaseSteps.repeats."""
        return _repeats_writer(repeats, accepted)

    def numbered(
        self, new: NewWhistle, statements: list[Statement], drawn: list[str | None]
    ) -> SqliteApply:
        """See CaseSteps.numbered."""
        return _numbered_writer(new, statements, drawn)


def _repeats_writer(repeats: list[Repeat], accepted: set[str]) -> _Apply:
    """The writer-thread step of ``add_repeats`` for repeats that share one guard."""
    first = repeats[0]
    marks = ",".join("?" * len(first.statuses))
    added = to_json({r.whistle_id: len(r.detections) for r in repeats})
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
        written, seq = number_events(events, seq)
        db.executemany(EVENT_INSERT, [event_row(e) for e in written])
        db.executemany(
            "INSERT INTO detections (key, whistle_id) VALUES (?, ?)",
            [(d["key"], r.whistle_id) for r in taken for d in r.detections if d.get("key")],
        )
        return written, seq

    return apply


def _numbered_writer(
    new: NewWhistle, statements: list[Statement], drawn: list[str | None]
) -> _Apply:
    """The writer-thread step of a new whistle with a 受理编号: draw the number inside the
    batch's transaction (so no other process can draw it too), then write the whistle with
    it in its document, its search text and its ``whistle.received`` event. Run again after
    a rollback, it draws again: a rolled-back number was never taken."""
    assert new.case_prefix is not None
    prefix = new.case_prefix
    search_sql = search_statement(new.whistle.doc)[0]

    def apply(db: sqlite3.Connection, seq: int) -> tuple[tuple[Event, ...], int]:
        number = case_numbers.allocate(db, prefix)
        drawn[0] = number
        grouped: dict[str, list[tuple[Any, ...]]] = {}
        (sql, params), rest = statements[0], statements[1:]
        assert sql == WHISTLE_INSERT
        grouped[WHISTLE_INSERT_NUMBERED] = [(*params[:-1], number)]
        for sql, params in rest:
            if sql == search_sql:  # the number is searchable too
                sql, params = search_statement({**new.whistle.doc, "case_number": number})
            grouped.setdefault(sql, []).append(params)
        for sql, rows in grouped.items():  # a whistle's deadlines, assignments: one call each
            db.executemany(sql, rows)
        events = [numbered_event(e, new.whistle.id, number) for e in (*new.events, *new.linked)]
        written, seq = number_events(events, seq)
        db.executemany(EVENT_INSERT, [event_row(e) for e in written])
        return written, seq

    return apply
