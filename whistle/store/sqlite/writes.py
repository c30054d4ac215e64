"""What the cases write: new whistles, lifecycle transitions, camera repeats and deadline
cancels, as SQLite statements queued on the group writer."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from whistle.events import Event, NewEvent
from whistle.store import case_numbers, facts
from whistle.store.base import (
    AssignmentRow,
    Created,
    Duplicate,
    NewWhistle,
    Repeat,
    Transition,
)
from whistle.store.search import search_statement
from whistle.store.sqlite._common import db_time, event_row, opt_time, to_json
from whistle.store.sqlite.write_thread import EVENT_INSERT, SqliteApply
from whistle.store.writer import GroupWriter, Statement, number_events

__all__ = ["DEADLINE_CANCEL", "CaseWrites"]

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
DEADLINE_CANCEL = (
    "UPDATE deadlines SET status = 'cancelled' "
    "WHERE whistle_id = ? AND key = ? AND status = 'pending'"
)
_DEADLINE_FIRE = (
    "UPDATE deadlines SET status = 'fired' WHERE whistle_id = ? AND key = ? AND status = 'pending'"
)
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

_Apply = SqliteApply


class CaseWrites:
    """The writes of cases, each one unit on the group writer."""

    def __init__(self, writer: GroupWriter[SqliteApply]) -> None:
        self._writer = writer

    def __repr__(self) -> str:
        return f"CaseWrites({self._writer!r})"

    async def create_whistle(self, new: NewWhistle) -> Created | Duplicate:
        """See Store.create_whistle."""
        statements = _whistle_statements(new)
        events = [*new.events, *new.linked] if new.linked else new.events
        if new.case_prefix is None:
            return await self._writer.submit(
                statements,
                events,
                new.whistle.idempotency_key,
                request_hash=new.whistle.request_hash,
            )
        drawn: list[str | None] = [None]
        # Built here, once: the writer step only puts the number it draws into the row (an
        # idempotent replay reads the request hash off the same row).
        future = self._writer.enqueue(
            statements,
            events,
            new.whistle.idempotency_key,
            apply=_numbered_writer(new, statements, drawn),
            request_hash=new.whistle.request_hash,
        )
        outcome = await asyncio.shield(future)
        if isinstance(outcome, Created):
            return Created(outcome.whistle_id, outcome.events, drawn[0])
        return outcome

    async def create_whistles(self, news: Sequence[NewWhistle]) -> tuple[Event, ...]:
        """See SqliteStore.create_whistles."""
        if any(new.whistle.idempotency_key for new in news):
            raise ValueError("create_whistles takes no idempotency keys")
        if not news:
            return ()
        statements: list[Statement] = []
        events: list[NewEvent] = []
        for new in news:
            statements += _whistle_statements(new)
            events += [*new.events, *new.linked]
        outcome = await self._writer.submit(statements, events, None)
        assert isinstance(outcome, Created)
        return outcome.events

    async def transition(self, step: Transition) -> tuple[Event, ...]:
        """See Store.transition."""
        guards, statements = _transition_statements(step)
        events = list(step.events)
        for other in step.also:
            more_guards, more = _transition_statements(other)
            guards += more_guards
            statements += more
            events += other.events
        outcome = await self._writer.submit(statements, events, None, guards=guards)
        assert isinstance(outcome, Created)
        return outcome.events

    async def add_repeats(self, repeats: Sequence[Repeat]) -> list[bool]:
        """See Store.add_repeats."""
        # One unit for all the repeats: one guarded UPDATE ... RETURNING picks the cases still
        # open in their window, and only those get their event and detection rows. A feed
        # batch of a hundred detections over a hundred cases is then one hop and a handful of
        # statements, not a hundred savepoints.
        accepted: set[str] = set()
        futures = [
            self._writer.enqueue([], [], None, apply=_repeats_writer(group, accepted))
            for group in _same_guard(repeats)
        ]
        for future in futures:
            await asyncio.shield(future)
        return [repeat.whistle_id in accepted for repeat in repeats]

    async def cancel_deadline(self, whistle_id: str, key: str) -> None:
        """See Store.cancel_deadline."""
        # Not through the writer's guards: a stale timer is dropped whatever the case's version.
        await self._writer.submit([(DEADLINE_CANCEL, (whistle_id, key))], (), None)


def _transition_statements(step: Transition) -> tuple[list[Statement], list[Statement]]:
    """The guards and the statements of one lifecycle step."""
    guards: list[Statement] = [
        (
            _CASE_GUARD,
            (
                step.new_version,
                step.status,
                to_json(step.case_doc),
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
        (_ASSIGNMENT_UPDATE, (status, responder_id, to_json(doc), aid))
        for aid, status, responder_id, doc in step.assignment_status
    ]
    statements += [
        (_DEADLINE_SET, (step.whistle_id, key, db_time(due))) for key, due in step.set_deadlines
    ]
    statements += [(DEADLINE_CANCEL, (step.whistle_id, key)) for key in step.cancel_deadlines]
    statements += facts.transition_facts(step)
    return guards, statements


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
        opt_time(a.acknowledge_due),
        opt_time(a.claim_due),
        opt_time(a.resolve_due),
        to_json(a.doc),
    )


def _whistle_statements(new: NewWhistle) -> list[Statement]:
    """Every statement a new whistle writes: its row, assignments, deadlines and the
    statistics projection (which commits with the events or not at all)."""
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
                to_json(w.doc),
                len(new.events),
                None if new.case_doc is None else to_json(new.case_doc),
                w.camera_id,
                w.near,
                None,  # case_number: drawn by the writer (see _numbered_writer)
            ),
        )
    ]
    statements += [(_ASSIGNMENT_INSERT, _assignment_params(a)) for a in new.assignments]
    statements += [(_DEADLINE_SET, (w.id, key, db_time(due))) for key, due in new.deadlines]
    statements.append(search_statement(w.doc))
    statements += facts.new_whistle_facts(new)
    statements += [(_DUPLICATE_LINK, (e.data["whistle"], e.whistle_id)) for e in new.linked]
    statements += [
        (_INFORMED_INSERT, (i["responder"]["id"], db_time(w.received_at), w.id))
        for i in w.doc.get("informed") or ()
    ]
    return statements


def _same_guard(repeats: Sequence[Repeat]) -> list[list[Repeat]]:
    """Repeats grouped by their guard (window start and statuses), one case each."""
    groups: dict[tuple[datetime, tuple[str, ...]], dict[str, Repeat]] = {}
    for repeat in repeats:
        group = groups.setdefault((repeat.since, tuple(repeat.statuses)), {})
        if repeat.whistle_id in group:
            raise ValueError(f"two repeats of case {repeat.whistle_id} in one write")
        group[repeat.whistle_id] = repeat
    return [list(group.values()) for group in groups.values()]


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
        assert sql == _WHISTLE_INSERT
        grouped[_WHISTLE_INSERT_NUMBERED] = [(*params[:-1], number)]
        for sql, params in rest:
            if sql == search_sql:  # the number is searchable too
                sql, params = search_statement({**new.whistle.doc, "case_number": number})
            grouped.setdefault(sql, []).append(params)
        for sql, rows in grouped.items():  # a whistle's deadlines, assignments: one call each
            db.executemany(sql, rows)
        events = [
            dataclasses.replace(e, data={**e.data, "case_number": number})
            if e.type == "whistle.received" and e.whistle_id == new.whistle.id
            else e
            for e in (*new.events, *new.linked)
        ]
        written, seq = number_events(events, seq)
        db.executemany(EVENT_INSERT, [event_row(e) for e in written])
        return written, seq

    return apply
