"""What the cases write, backend-neutral: new whistles, lifecycle transitions, camera repeats
and deadline cancels as statements queued on the group writer (whistle/store/writer.py).

The statements are written in SQLite's SQL with ``?`` parameters: the SQLite backend runs them
as they are, the PostgreSQL one through its dialect (whistle/store/postgres/dialect.py), which
rewrites the parameters and the few statements whose SQL differs. The two writes that depend
on what they find in the database (a 受理编号 drawn, camera repeats) are the backend's own
steps (:class:`CaseSteps`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from whistle.events import Event, NewEvent
from whistle.store import facts
from whistle.store.base import (
    AssignmentRow,
    Created,
    Duplicate,
    NewWhistle,
    Repeat,
    Transition,
)
from whistle.store.encoding import db_time, opt_time, to_json
from whistle.store.search import search_statement
from whistle.store.writer import GroupWriter, Statement, Step

# What a backend's CaseSteps make (only produced, so covariant for the protocol).
Step_co = TypeVar("Step_co", covariant=True)

__all__ = [
    "ASSIGNMENT_INSERT",
    "CASE_GUARD",
    "DEADLINE_CANCEL",
    "DEADLINE_FIRE",
    "DEADLINE_SET",
    "DUPLICATE_LINK",
    "INFORMED_INSERT",
    "PLACE",
    "PLACE_FACTS",
    "PLACE_INFORMED",
    "PLACE_UNINDEX",
    "WHISTLE_INSERT",
    "WHISTLE_INSERT_NUMBERED",
    "CaseSteps",
    "CaseWrites",
    "assignment_params",
    "place_statements",
    "same_guard",
    "transition_statements",
    "whistle_statements",
]

WHISTLE_INSERT = (
    "INSERT INTO whistles (id, received_at, source, category, urgency, status, grid_code, "
    "grid_path, grid_level, external_id, idempotency_key, request_hash, doc, version, case_doc, "
    "camera_id, near, case_number) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# The same row with its 受理编号 (the last parameter) also set in its document.
WHISTLE_INSERT_NUMBERED = (
    "INSERT INTO whistles (id, received_at, source, category, urgency, status, grid_code, "
    "grid_path, grid_level, external_id, idempotency_key, request_hash, doc, version, case_doc, "
    "camera_id, near, case_number) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
    "json_set(?13, '$.case_number', ?18), ?14, ?15, ?16, ?17, ?18)"
)
DEADLINE_SET = (
    "INSERT INTO deadlines (whistle_id, key, due_at, status) VALUES (?, ?, ?, 'pending') "
    "ON CONFLICT (whistle_id, key) DO UPDATE SET due_at = excluded.due_at, status = 'pending'"
)
DEADLINE_CANCEL = (
    "UPDATE deadlines SET status = 'cancelled' "
    "WHERE whistle_id = ? AND key = ? AND status = 'pending'"
)
DEADLINE_FIRE = (
    "UPDATE deadlines SET status = 'fired' WHERE whistle_id = ? AND key = ? AND status = 'pending'"
)
CASE_GUARD = (
    "UPDATE whistles SET version = ?, status = ?, case_doc = ? WHERE id = ? AND version = ?"
)
# A later whistle that may duplicate this case: one more entry in its document's
# possible_duplicates (at most 100; the events keep every one). A note, not a step: the
# case's version stays as it is (see dispatch.case.NOTES).
DUPLICATE_LINK = (
    "UPDATE whistles SET "
    "doc = json_insert(doc, '$.possible_duplicates[#]', ?1) WHERE id = ?2 "
    "AND coalesce(json_array_length(doc, '$.possible_duplicates'), 0) < 100"
)
ASSIGNMENT_UPDATE = "UPDATE assignments SET status = ?, responder_id = ?, doc = ? WHERE id = ?"
ASSIGNMENT_INSERT = (
    "INSERT INTO assignments (id, whistle_id, responder_id, kind, mode, status, cell, "
    "acknowledge_due, claim_due, resolve_due, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
INFORMED_INSERT = (
    "INSERT OR IGNORE INTO informed (responder_id, received_at, whistle_id) VALUES (?, ?, ?)"
)
# A held whistle placed by hand (待定位): its place, document, statistics row and search text.
PLACE = (
    "UPDATE whistles SET grid_code = ?, grid_path = ?, grid_level = ?, near = ?, doc = ? "
    "WHERE id = ?"
)
PLACE_FACTS = "UPDATE case_facts SET grid_path = ? WHERE whistle_id = ?"
PLACE_UNINDEX = "DELETE FROM whistle_search WHERE rowid = (SELECT rowid FROM whistles WHERE id = ?)"
PLACE_INFORMED = (
    "INSERT OR IGNORE INTO informed (responder_id, received_at, whistle_id) "
    "SELECT ?, received_at, id FROM whistles WHERE id = ?"
)


class CaseSteps(Protocol[Step_co]):
    """The two writes a backend runs itself, inside the batch's transaction, because what
    they write depends on what they find there."""

    def repeats(self, repeats: list[Repeat], accepted: set[str]) -> Step_co:
        """Add ``repeats`` (one guard for all: see Store.add_repeats) to the cases still open
        in their window, putting those cases' ids in ``accepted``."""

    def numbered(
        self, new: NewWhistle, statements: list[Statement], drawn: list[str | None]
    ) -> Step_co:
        """Draw the 受理编号 of ``new`` (its prefix's next number, into ``drawn[0]``) and write
        the whistle's ``statements`` with it in its document, search text and event."""


class CaseWrites(Generic[Step]):
    """The writes of cases, each one unit on the group writer; ``steps`` are the backend's."""

    def __init__(self, writer: GroupWriter[Step], steps: CaseSteps[Step]) -> None:
        self._writer = writer
        self._steps = steps

    def __repr__(self) -> str:
        return f"CaseWrites({self._writer!r})"

    async def create_whistle(self, new: NewWhistle) -> Created | Duplicate:
        """See Store.create_whistle."""
        statements = whistle_statements(new)
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
            apply=self._steps.numbered(new, statements, drawn),
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
            statements += whistle_statements(new)
            events += [*new.events, *new.linked]
        outcome = await self._writer.submit(statements, events, None)
        assert isinstance(outcome, Created)
        return outcome.events

    async def transition(self, step: Transition) -> tuple[Event, ...]:
        """See Store.transition."""
        guards, statements = transition_statements(step)
        events = list(step.events)
        for other in step.also:
            more_guards, more = transition_statements(other)
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
            self._writer.enqueue([], [], None, apply=self._steps.repeats(group, accepted))
            for group in same_guard(repeats)
        ]
        for future in futures:
            await asyncio.shield(future)
        return [repeat.whistle_id in accepted for repeat in repeats]

    async def cancel_deadline(self, whistle_id: str, key: str) -> None:
        """See Store.cancel_deadline."""
        # Not through the writer's guards: a stale timer is dropped whatever the case's version.
        await self._writer.submit([(DEADLINE_CANCEL, (whistle_id, key))], (), None)


def transition_statements(step: Transition) -> tuple[list[Statement], list[Statement]]:
    """The guards and the statements of one lifecycle step."""
    guards: list[Statement] = [
        (
            CASE_GUARD,
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
        guards.append((DEADLINE_FIRE, (step.whistle_id, step.fires)))
    # The place first: the statistics rows of the new assignments take their case's place.
    statements: list[Statement] = [] if step.placed is None else place_statements(step)
    statements += [(ASSIGNMENT_INSERT, assignment_params(a)) for a in step.new_assignments]
    statements += [
        (ASSIGNMENT_UPDATE, (status, responder_id, to_json(doc), aid))
        for aid, status, responder_id, doc in step.assignment_status
    ]
    statements += [
        (DEADLINE_SET, (step.whistle_id, key, db_time(due))) for key, due in step.set_deadlines
    ]
    statements += [(DEADLINE_CANCEL, (step.whistle_id, key)) for key in step.cancel_deadlines]
    statements += facts.transition_facts(step)
    return guards, statements


def place_statements(step: Transition) -> list[Statement]:
    """The statements of a held whistle's placing (see Transition.placed)."""
    placed = step.placed
    assert placed is not None
    wid = step.whistle_id
    row = (placed.grid_code, placed.grid_path, placed.grid_level, placed.near)
    return [
        (PLACE, (*row, to_json(placed.doc), wid)),
        (PLACE_FACTS, (placed.grid_path, wid)),
        (PLACE_UNINDEX, (wid,)),
        search_statement(placed.doc),
        *((PLACE_INFORMED, (i["responder"]["id"], wid)) for i in placed.doc.get("informed") or ()),
    ]


def assignment_params(a: AssignmentRow) -> tuple[Any, ...]:
    """The parameters of ASSIGNMENT_INSERT for one assignment."""
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


def whistle_statements(new: NewWhistle) -> list[Statement]:
    """Every statement a new whistle writes: its row, assignments, deadlines and the
    statistics projection (which commits with the events or not at all)."""
    w = new.whistle
    statements: list[Statement] = [
        (
            WHISTLE_INSERT,
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
    statements += [(ASSIGNMENT_INSERT, assignment_params(a)) for a in new.assignments]
    statements += [(DEADLINE_SET, (w.id, key, db_time(due))) for key, due in new.deadlines]
    statements.append(search_statement(w.doc))
    statements += facts.new_whistle_facts(new)
    statements += [(DUPLICATE_LINK, (e.data["whistle"], e.whistle_id)) for e in new.linked]
    statements += [
        (INFORMED_INSERT, (i["responder"]["id"], db_time(w.received_at), w.id))
        for i in w.doc.get("informed") or ()
    ]
    return statements


def same_guard(repeats: Sequence[Repeat]) -> list[list[Repeat]]:
    """Repeats grouped by their guard (window start and statuses), one case each."""
    groups: dict[tuple[datetime, tuple[str, ...]], dict[str, Repeat]] = {}
    for repeat in repeats:
        group = groups.setdefault((repeat.since, tuple(repeat.statuses)), {})
        if repeat.whistle_id in group:
            raise ValueError(f"two repeats of case {repeat.whistle_id} in one write")
        group[repeat.whistle_id] = repeat
    return [list(group.values()) for group in groups.values()]
