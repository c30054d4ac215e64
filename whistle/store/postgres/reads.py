"""What the PostgreSQL store reads about cases: whistles, timelines, lists and queues,
inboxes, deadlines, camera cases, the event log and the wall's read-outs, on the read pool.

The same answers as whistle/store/sqlite/reads.py and whistle/store/readouts.py, in
PostgreSQL's SQL: ``jsonb`` operators for SQLite's json_extract, ``= ANY($n)`` for IN lists,
``timestamptz`` casts for julianday, ``ILIKE`` over the trigram-indexed search text for FTS5.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from whistle.events import Event, StreamFacts
from whistle.store.base import (
    Duplicate,
    Page,
    PendingDeadline,
    RecentWhistle,
    StoredWhistle,
    WhistleQuery,
)
from whistle.store.encoding import db_time, parse_db_time
from whistle.store.postgres._common import EVENT_COLUMNS, Readers, event_of
from whistle.store.readouts import OPEN_STATUSES as WALL_OPEN
from whistle.store.readouts import CaseFacts, OverdueCase

__all__ = ["DUE_KEY", "CaseReads", "Params"]

# The queue's sort key by time left (the expression of the index whistles_open_by_due).
DUE_KEY = "(coalesce(case_doc->'next_due'->>'at', '~') COLLATE \"C\")"
_CLOSED = "('cancelled', 'closed', 'rated', 'verified')"
_RETURNS_PENDING = (
    "(jsonb_typeof(case_doc->'returns_pending') = 'array' "
    "AND jsonb_array_length(case_doc->'returns_pending') > 0)"
)
_LIVE = "('dispatched', 'acknowledged', 'in_progress')"
# The statuses of the open queues (as whistle/store/sqlite/listing.py has them).
OPEN_STATUSES = frozenset({"dispatched", "acknowledged", "in_progress", "resolved", "on_hold"})
_TOP = "\U0010ffff"


class Params:
    """A statement's arguments, each added where it is used and named by its ``$n``."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __repr__(self) -> str:
        return f"Params({len(self.values)})"

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def _inbox_whistle(whistle_id: str, status: str, whistle: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": whistle_id,
        "case_number": whistle.get("case_number"),
        "status": status,
        "source": whistle["source"],
        "category": whistle["category"],
        "urgency": whistle["urgency"],
        "description": whistle["description"],
        "grid": {"code": whistle["grid"]["code"], "name": whistle["grid"]["name"]},
        "received_at": whistle["received_at"],
    }


def _search(text: str, p: Params) -> str:
    """Every blank-separated word occurs in the whistle's search text (case-insensitive, as
    SQLite's trigram FTS5 and LIKE are); pg_trgm's index serves words of three or more."""
    clauses = []
    for word in text.replace("\x00", " ").split():  # PostgreSQL text has no NUL
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses.append(f"s.body ILIKE {p('%' + escaped + '%')}")
    if not clauses:
        return "TRUE"
    return f"id IN (SELECT s.whistle_id FROM whistle_search s WHERE {' AND '.join(clauses)})"


def _filters(query: WhistleQuery, p: Params) -> list[str]:
    clauses: list[str] = []
    if query.status is not None:
        clauses.append(f"status = {p(query.status)}")
    if query.source is not None:
        clauses.append(f"source = {p(query.source)}")
    if query.category is not None:
        clauses.append(f"category >= {p(query.category)} AND category < {p(query.category + _TOP)}")
    if query.grid_path is not None:
        lo, hi = p(query.grid_path), p(query.grid_path + _TOP)
        clauses.append(f"grid_path >= {lo} AND grid_path < {hi}")
    if query.level is not None:
        clauses.append(f"grid_level = {p(query.level)}")
    if query.returns_pending:
        clauses.append(_RETURNS_PENDING)
    if query.case_number is not None:
        clauses.append(f"case_number = {p(query.case_number)}")
    if query.since is not None:
        clauses.append(f"received_at >= {p(db_time(query.since))}")
    if query.until is not None:
        clauses.append(f"received_at < {p(db_time(query.until))}")
    if query.open_only:
        clauses.append(f"status NOT IN {_CLOSED}")
    return clauses


def _loads(doc: str | None) -> Any:
    return None if doc is None else orjson.loads(doc)


class CaseReads:
    """The Store's reads of cases on PostgreSQL (see Store for what each answers)."""

    def __init__(self, readers: Readers) -> None:
        self._r = readers

    def __repr__(self) -> str:
        return f"CaseReads({self._r!r})"

    async def find_idempotent(self, key: str) -> Duplicate | None:
        row = await self._r.fetchrow(
            "SELECT id, request_hash FROM whistles WHERE idempotency_key = $1", key
        )
        return None if row is None else Duplicate(row[0], row[1])

    async def find_external(
        self, source: str, external_id: str, *, within: str | None = None
    ) -> str | None:
        row = await self._r.fetchrow(
            "SELECT id FROM whistles WHERE source = $1 AND external_id = $2 "
            "AND ($3::text IS NULL OR (grid_path >= $3::text AND grid_path < $3::text || $4)) "
            "ORDER BY received_at DESC LIMIT 1",
            source,
            external_id,
            within,
            _TOP,
        )
        return None if row is None else str(row[0])

    async def get_whistle(self, whistle_id: str) -> StoredWhistle | None:
        row = await self._r.fetchrow(
            "SELECT status, doc, case_doc FROM whistles WHERE id = $1", whistle_id
        )
        if row is None:
            return None
        found = await self._assignments_of([whistle_id])
        return StoredWhistle(
            orjson.loads(row[1]), row[0], tuple(found.get(whistle_id, ())), _loads(row[2])
        )

    async def _assignments_of(self, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        if not ids:
            return found
        rows = await self._r.fetch(
            "SELECT whistle_id, status, doc FROM assignments WHERE whistle_id = ANY($1::text[]) "
            "ORDER BY whistle_id, id",
            ids,
        )
        for whistle_id, status, doc in rows:
            item = orjson.loads(doc)
            item["status"] = status
            found.setdefault(whistle_id, []).append(item)
        return found

    async def find_case_number(self, case_number: str) -> str | None:
        row = await self._r.fetchrow("SELECT id FROM whistles WHERE case_number = $1", case_number)
        return None if row is None else str(row[0])

    async def list_whistles(self, query: WhistleQuery) -> Page:
        p = Params()
        clauses = _filters(query, p)
        by_due = query.order == "due"
        open_queue = by_due and (
            query.open_only or query.returns_pending or query.status in OPEN_STATUSES
        )
        if open_queue and not query.open_only:
            clauses.append(f"status NOT IN {_CLOSED}")
        if query.text:
            clauses.append(_search(query.text, p))
        if query.before is not None and not by_due:
            clauses.append(f"id < {p(query.before)}")
        if query.after_due is not None and by_due:
            key, after = query.after_due
            clauses.append(f'({DUE_KEY}, id) > ({p(key)}::text COLLATE "C", {p(after)})')
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        order = f"{DUE_KEY}, id" if by_due else "id DESC"
        rows = await self._r.fetch(
            f"SELECT id, status, doc, case_doc, {DUE_KEY} FROM whistles {where} "
            f"ORDER BY {order} LIMIT {p(query.limit + 1)}",
            *p.values,
        )
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        found = await self._assignments_of([r[0] for r in rows])
        items = tuple(
            StoredWhistle(orjson.loads(doc), status, tuple(found.get(wid, ())), _loads(case_doc))
            for wid, status, doc, case_doc, _ in rows
        )
        if not (more and rows):
            return Page(items)
        if by_due:
            return Page(items, next_after_due=(rows[-1][4], rows[-1][0]))
        return Page(items, rows[-1][0])

    async def timeline(self, whistle_id: str) -> list[Event]:
        rows = await self._r.fetch(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE whistle_id = $1 ORDER BY seq", whistle_id
        )
        return [event_of(r) for r in rows]

    async def count_whistles(self) -> int:
        row = await self._r.fetchrow("SELECT count(*) FROM whistles")
        return int(row[0]) if row else 0

    async def pending_deadlines(self) -> list[PendingDeadline]:
        rows = await self._r.fetch(
            "SELECT whistle_id, key, due_at FROM deadlines WHERE status = 'pending' ORDER BY due_at"
        )
        return [PendingDeadline(wid, key, parse_db_time(due)) for wid, key, due in rows]

    async def inbox(
        self, responder_id: str, board_cells: Sequence[str], teams: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        rows = await self._r.fetch(
            "SELECT a.status, a.doc, w.id, w.status, w.doc FROM assignments a "
            "JOIN whistles w ON w.id = a.whistle_id "
            f"WHERE (a.responder_id = $1 AND a.status IN {_LIVE}) "
            "OR (a.mode = 'claim' AND a.status = 'open' AND a.cell = ANY($2::text[])) "
            "OR (a.mode = 'claim' AND a.cell = ANY($2::text[]) "
            "AND a.status IN ('acknowledged', 'in_progress') "
            "AND a.doc->>'team' = ANY($3::text[])) "
            "ORDER BY a.id DESC LIMIT 500",
            responder_id,
            list(board_cells),
            list(teams),
        )
        return [
            {
                "assignment": {**orjson.loads(doc), "status": status},
                "whistle": _inbox_whistle(wid, wstatus, orjson.loads(wdoc)),
            }
            for status, doc, wid, wstatus, wdoc in rows
        ]

    async def informed_of(
        self, responder_id: str, statuses: Sequence[str], limit: int = 100
    ) -> list[dict[str, Any]]:
        rows = await self._r.fetch(
            "SELECT w.id, w.status, w.doc FROM informed i JOIN whistles w ON w.id = i.whistle_id "
            "WHERE i.responder_id = $1 AND w.status = ANY($2::text[]) "
            "ORDER BY i.received_at DESC, i.whistle_id DESC LIMIT $3",
            responder_id,
            list(statuses),
            limit,
        )
        return [_inbox_whistle(wid, status, orjson.loads(doc)) for wid, status, doc in rows]

    async def open_camera_cases(
        self,
        pairs: Sequence[tuple[str, str]],
        since: datetime,
        statuses: Sequence[str],
        *,
        within: Mapping[str, str],
    ) -> dict[tuple[str, str], str]:
        wanted = sorted((camera, category, within[camera]) for camera, category in set(pairs))
        if not wanted:
            return {}
        rows = await self._r.fetch(
            "SELECT w.camera_id, w.category, w.id FROM "
            "unnest($1::text[], $2::text[], $3::text[]) AS wanted (camera_id, category, path) "
            "JOIN whistles w ON w.camera_id = wanted.camera_id "
            "AND w.category = wanted.category AND w.received_at >= $4 "
            "AND w.status = ANY($5::text[]) AND w.source = 'camera' "
            "AND w.grid_path >= wanted.path AND w.grid_path < wanted.path || $6 "
            "ORDER BY w.received_at DESC",
            [c for c, _, _ in wanted],
            [k for _, k, _ in wanted],
            [p for _, _, p in wanted],
            db_time(since),
            list(statuses),
            _TOP,
        )
        found: dict[tuple[str, str], str] = {}
        for camera_id, category, whistle_id in rows:
            found.setdefault((camera_id, category), str(whistle_id))
        return found

    async def known_detections(self, keys: Sequence[str]) -> dict[str, str]:
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        rows = await self._r.fetch(
            "SELECT key, whistle_id FROM detections WHERE key = ANY($1::text[]) "
            "UNION ALL SELECT idempotency_key, id FROM whistles "
            "WHERE idempotency_key = ANY($1::text[])",
            wanted,
        )
        return {str(key): str(wid) for key, wid in rows}

    async def recent_whistles(
        self, since: datetime, sources: Sequence[str], statuses: Sequence[str]
    ) -> list[RecentWhistle]:
        rows = await self._r.fetch(
            "SELECT id, category, received_at, coalesce(near, grid_code), "
            "(doc->'location'->>'lat')::float8, (doc->'location'->>'lon')::float8 "
            "FROM whistles WHERE received_at >= $1 AND source = ANY($2::text[]) "
            "AND status = ANY($3::text[]) ORDER BY received_at",
            db_time(since),
            list(sources),
            list(statuses),
        )
        return [
            RecentWhistle(str(wid), str(cat), parse_db_time(received), str(near), lat, lon)
            for wid, cat, received, near, lat, lon in rows
        ]

    async def open_among(self, ids: Sequence[str], statuses: Sequence[str]) -> set[str]:
        rows = await self._r.fetch(
            "SELECT id FROM whistles WHERE id = ANY($1::text[]) AND status = ANY($2::text[])",
            sorted(set(ids)),
            list(statuses),
        )
        return {str(r[0]) for r in rows}

    async def stream_facts(self, ids: Sequence[str]) -> dict[str, StreamFacts]:
        """The cell, status and 受理编号 of those of ``ids`` that are stored, in one read."""
        if not ids:
            return {}
        rows = await self._r.fetch(
            "SELECT id, grid_code, status, case_number FROM whistles WHERE id = ANY($1::text[])",
            sorted(set(ids)),
        )
        return {str(r[0]): StreamFacts(r[1], r[2], r[3]) for r in rows}

    async def events_after(self, seq: int, limit: int) -> list[Event]:
        rows = await self._r.fetch(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
            seq,
            limit,
        )
        return [event_of(r) for r in rows]

    async def open_load(self, responder_ids: Sequence[str]) -> dict[str, int]:
        if not responder_ids:
            return {}
        rows = await self._r.fetch(
            "SELECT responder_id, count(*) FROM assignments "
            f"WHERE responder_id = ANY($1::text[]) AND status IN {_LIVE} GROUP BY responder_id",
            list(responder_ids),
        )
        return {str(rid): int(n) for rid, n in rows}

    async def queue_counts(self, grid_path: str | None, now: datetime) -> dict[str, int]:
        """See whistle/store/sqlite/reads.py's queue_counts: the same counts."""
        p = Params()
        where = ""
        if grid_path is not None:
            where = f"WHERE w.grid_path >= {p(grid_path)} AND w.grid_path < {p(grid_path + _TOP)}"
        both = f"{where} {'AND' if where else 'WHERE'} w.status IN {_LIVE}"
        counts = {
            str(status): int(n)
            for status, n in await self._r.fetch(
                f"SELECT w.status, count(*) FROM whistles w {where} GROUP BY w.status", *p.values
            )
        }
        at = len(p.values) + 1
        overdue = await self._r.fetchrow(
            f"SELECT count(*) FROM whistles w {both} AND coalesce("
            "w.case_doc->'next_due'->>'at', w.case_doc->>'resolve_due')::timestamptz "
            f"<= ${at}::timestamptz",
            *p.values,
            now,
        )
        escalated = await self._r.fetchrow(
            "SELECT count(DISTINCT w.id) FROM whistles w JOIN assignments a "
            f"ON a.whistle_id = w.id {both} "
            "AND a.doc->>'origin' IN ('escalation', 'backstop') "
            f"AND a.status IN {_LIVE} "
            "AND a.id NOT IN (SELECT t->>'assignment' FROM jsonb_array_elements("
            "CASE jsonb_typeof(w.doc->'trace') WHEN 'array' THEN w.doc->'trace' "
            "ELSE '[]'::jsonb END) t)",
            *p.values,
        )
        returned = await self._r.fetchrow(
            f"SELECT count(*) FROM whistles w {both} AND {_RETURNS_PENDING}",
            *p.values,
        )
        counts["overdue"] = int(overdue[0]) if overdue else 0
        counts["escalated"] = int(escalated[0]) if escalated else 0
        counts["returned"] = int(returned[0]) if returned else 0
        return counts

    # -- the command-centre wall and the drill-down rows (as whistle/store/readouts.py) ----

    async def open_by_path(self, grid_path: str | None) -> dict[str, int]:
        rows = await self._r.fetch(
            "SELECT grid_path, count(*) FROM whistles WHERE status = ANY($1::text[]) "
            "AND ($2::text IS NULL OR (grid_path >= $2::text AND grid_path < $2::text || $3)) "
            "GROUP BY grid_path",
            list(WALL_OPEN),
            grid_path,
            _TOP,
        )
        return {str(path): int(n) for path, n in rows}

    async def overdue(self, grid_path: str | None, now: datetime) -> list[OverdueCase]:
        rows = await self._r.fetch(
            "SELECT id, doc->>'case_number', source, category, grid_code, status, "
            "case_doc->>'resolve_due', due FROM (SELECT w.*, coalesce("
            "w.case_doc->'next_due'->>'at', w.case_doc->>'resolve_due') AS due "
            f"FROM whistles w WHERE w.status IN {_LIVE} "
            "AND ($1::text IS NULL OR (w.grid_path >= $1::text AND w.grid_path < $1::text || $2)))"
            " AS active WHERE due::timestamptz <= $3::timestamptz",
            grid_path,
            _TOP,
            now,
        )
        found = [
            OverdueCase(
                id=str(wid),
                case_number=None if number is None else str(number),
                source=str(source),
                category=str(category),
                grid_code=str(code),
                status=str(status),
                resolve_due=None if resolve is None else datetime.fromisoformat(resolve),
                overdue_since=None if due is None else datetime.fromisoformat(due),
            )
            for wid, number, source, category, code, status, resolve, due in rows
        ]
        far = datetime.max.replace(tzinfo=UTC)
        found.sort(key=lambda c: (c.overdue_since or far, c.id))
        return found

    async def case_facts(self, ids: Sequence[str]) -> dict[str, CaseFacts]:
        rows = await self._r.fetch(
            "SELECT f.whistle_id, w.doc->>'case_number', f.category, w.grid_code, w.status, "
            "f.received_at, f.resolved_at, f.closed_at FROM case_facts f "
            "JOIN whistles w ON w.id = f.whistle_id WHERE f.whistle_id = ANY($1::text[])",
            list(ids),
        )

        def at(value: float | None) -> datetime | None:
            return None if value is None else datetime.fromtimestamp(float(value), UTC)

        return {
            str(wid): CaseFacts(
                id=str(wid),
                case_number=None if number is None else str(number),
                category=str(category),
                grid_code=str(code),
                status=str(status),
                received_at=datetime.fromtimestamp(float(received), UTC),
                resolved_at=at(resolved),
                closed_at=at(closed),
            )
            for wid, number, category, code, status, received, resolved, closed in rows
        }
