"""The SQLite store's own steps of the case writes (whistle/store/case_writes.py): a 受理编号
drawn and camera repeats, run on the writer's thread inside the batch's transaction."""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from whistle.events import Event, NewEvent
from whistle.store import case_numbers
from whistle.store.base import NewWhistle, Repeat
from whistle.store.case_writes import WHISTLE_INSERT
from whistle.store.search import search_statement
from whistle.store.sqlite._common import db_time, event_row, to_json
from whistle.store.sqlite.write_thread import EVENT_INSERT, SqliteApply, write_grouped
from whistle.store.writer import Statement, number_events, numbered_event

__all__ = ["NumberedWrite", "SqliteSteps", "with_case_number"]

_Apply = SqliteApply
# Where the document and (last) the 受理编号 are among WHISTLE_INSERT's parameters.
_COLUMNS = [c.strip() for c in WHISTLE_INSERT.split("(", 1)[1].split(")", 1)[0].split(",")]
_DOC = _COLUMNS.index("doc")
assert _COLUMNS[-1] == "case_number"


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
        return NumberedWrite(new, statements, drawn)


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


class NumberedWrite:
    """The writer-thread step of a new whistle with a 受理编号: draw the number inside the
    batch's transaction (so no other process can draw it too), then write the whistle with
    it in its document, its search text and its ``whistle.received`` event. Run again after
    a rollback, it draws again: a rolled-back number was never taken.

    The backend gathers the rows of the numbered whistles of one batch (:meth:`collect`) and
    writes each statement's rows in one ``executemany`` (issue 21: one call per statement and
    per whistle was most of the writer's CPU); called alone it writes its own.
    """

    __slots__ = ("_drawn", "_new", "_search_sql", "_statements")

    def __init__(
        self, new: NewWhistle, statements: list[Statement], drawn: list[str | None]
    ) -> None:
        assert new.case_prefix is not None
        self._new = new
        self._statements = statements
        self._drawn = drawn
        self._search_sql = search_statement(new.whistle.doc)[0]

    def __repr__(self) -> str:
        return f"NumberedWrite({self._new.whistle.id!r})"

    def __call__(self, db: sqlite3.Connection, seq: int) -> tuple[tuple[Event, ...], int]:
        grouped: dict[str, list[tuple[Any, ...]]] = {}
        events: list[tuple[Any, ...]] = []
        written, seq = self.collect(db, seq, grouped, events)
        write_grouped(db, grouped, events)
        return written, seq

    def collect(
        self,
        db: sqlite3.Connection,
        seq: int,
        grouped: dict[str, list[tuple[Any, ...]]],
        event_rows: list[tuple[Any, ...]],
    ) -> tuple[tuple[Event, ...], int]:
        """Draw the number and add this whistle's rows to ``grouped`` (by statement, in
        first-seen order) and its events' rows to ``event_rows``; nothing else is written."""
        new = self._new
        assert new.case_prefix is not None
        number = case_numbers.allocate(db, new.case_prefix)
        self._drawn[0] = number
        (sql, params), rest = self._statements[0], self._statements[1:]
        assert sql == WHISTLE_INSERT
        # The number spliced into the document's text: SQLite's json_set parsed and wrote
        # the whole document again for one field.
        grouped.setdefault(WHISTLE_INSERT, []).append(
            (*params[:_DOC], with_case_number(params[_DOC], number), *params[_DOC + 1 : -1], number)
        )
        for sql, params in rest:
            if sql == self._search_sql:  # the number is searchable too
                sql, params = search_statement({**new.whistle.doc, "case_number": number})
            grouped.setdefault(sql, []).append(params)
        events = [numbered_event(e, new.whistle.id, number) for e in (*new.events, *new.linked)]
        written, seq = number_events(events, seq)
        event_rows.extend(event_row(e) for e in written)
        return written, seq


_CASE_NUMBER_NULL = '"case_number":null'


def with_case_number(doc: str, number: str | None) -> str:
    """The JSON text of a new whistle's document with its 受理编号 in place of the null it was
    serialised with (the document's second key, right after its id)."""
    if number is None:
        return doc
    at = doc.find(_CASE_NUMBER_NULL, 0, 64)
    if at < 0:
        raise ValueError("a new whistle's document without its case_number null")
    value = orjson.dumps(number).decode()
    return f'{doc[:at]}"case_number":{value}{doc[at + len(_CASE_NUMBER_NULL) :]}'
