"""The PostgreSQL store's own steps of the case writes (whistle/store/case_writes.py): a
受理编号 drawn and camera repeats, awaited on the write connection inside the batch's
transaction."""

from __future__ import annotations

from typing import Any

import asyncpg

from whistle.events import Event, NewEvent
from whistle.store import case_numbers
from whistle.store.base import NewWhistle, Repeat
from whistle.store.case_writes import WHISTLE_INSERT, WHISTLE_INSERT_NUMBERED
from whistle.store.encoding import db_time, event_row, to_json
from whistle.store.postgres._common import EVENT_INSERT
from whistle.store.postgres.backend import PgApply
from whistle.store.postgres.dialect import pg
from whistle.store.search import search_statement
from whistle.store.writer import Statement, number_events, numbered_event

__all__ = ["PgSteps"]

# Inside the batch's transaction, so a rolled-back whistle gives its number back.
_ALLOCATE = (
    "INSERT INTO case_numbers (prefix, n) VALUES ($1, 1) "
    "ON CONFLICT (prefix) DO UPDATE SET n = case_numbers.n + 1 RETURNING n"
)
# $1 is {case id: detections added}; $2 the window's start; $3 the open statuses. A case
# document without a count starts from 0.
_REPEAT_GUARD = (
    "UPDATE whistles SET version = version + 1, case_doc = jsonb_set(jsonb_set(case_doc, "
    "'{repeats}', to_jsonb(coalesce((case_doc->>'repeats')::bigint, 0) "
    "+ ($1::jsonb->>id)::bigint)), '{version}', to_jsonb(version + 1)) "
    "WHERE id IN (SELECT jsonb_object_keys($1::jsonb)) AND received_at >= $2 "
    "AND status = ANY($3::text[]) RETURNING id"
)


class PgSteps:
    """CaseSteps for PostgreSQL: coroutine functions on the write connection."""

    def __repr__(self) -> str:
        return "PgSteps()"

    def repeats(self, repeats: list[Repeat], accepted: set[str]) -> PgApply:
        """See CaseSteps.repeats."""
        first = repeats[0]
        added = to_json({r.whistle_id: len(r.detections) for r in repeats})
        params = (added, db_time(first.since), list(first.statuses))

        async def apply(db: asyncpg.Connection, seq: int) -> tuple[tuple[Event, ...], int]:
            accepted.update(str(row[0]) for row in await db.fetch(_REPEAT_GUARD, *params))
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
            if written:
                await db.executemany(EVENT_INSERT, [event_row(e) for e in written])
            keys = [(d["key"], r.whistle_id) for r in taken for d in r.detections if d.get("key")]
            if keys:
                await db.executemany(
                    "INSERT INTO detections (key, whistle_id) VALUES ($1, $2)", keys
                )
            return written, seq

        return apply

    def numbered(
        self, new: NewWhistle, statements: list[Statement], drawn: list[str | None]
    ) -> PgApply:
        """See CaseSteps.numbered."""
        assert new.case_prefix is not None
        prefix = new.case_prefix
        search_sql = search_statement(new.whistle.doc)[0]

        async def apply(db: asyncpg.Connection, seq: int) -> tuple[tuple[Event, ...], int]:
            n = await db.fetchval(_ALLOCATE, prefix)
            number = case_numbers.format_number(prefix, int(n))
            drawn[0] = number
            grouped: dict[str, list[tuple[Any, ...]]] = {}
            (sql, params), rest = statements[0], statements[1:]
            assert sql == WHISTLE_INSERT
            grouped[WHISTLE_INSERT_NUMBERED] = [(*params[:-1], number)]
            for sql, params in rest:
                if sql == search_sql:  # the number is searchable too
                    sql, params = search_statement({**new.whistle.doc, "case_number": number})
                grouped.setdefault(sql, []).append(params)
            for sql, rows in grouped.items():
                await db.executemany(pg(sql), rows)
            events = [numbered_event(e, new.whistle.id, number) for e in (*new.events, *new.linked)]
            written, seq = number_events(events, seq)
            await db.executemany(EVENT_INSERT, [event_row(e) for e in written])
            return written, seq

        return apply
