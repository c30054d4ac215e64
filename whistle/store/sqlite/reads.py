"""What the SQLite store reads about cases: whistles, their timelines, lists and queues,
inboxes, deadlines, camera cases and the event log, all on the shared reader."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import aiosqlite
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
from whistle.store.search import match_expression, search_clause
from whistle.store.sqlite import listing
from whistle.store.sqlite._common import (
    EVENT_COLUMNS,
    MAX_PARAMS,
    Readers,
    chunks,
    db_time,
    event_from_row,
    fetchone,
    parse_db_time,
)

__all__ = ["CaseReads"]


def _inbox_whistle(whistle_id: str, status: str, whistle: dict[str, Any]) -> dict[str, Any]:
    """What an inbox shows of a case."""
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


class CaseReads:
    """The Store's reads of cases (see Store for what each answers)."""

    def __init__(self, readers: Readers) -> None:
        self._readers = readers

    def __repr__(self) -> str:
        return f"CaseReads({self._readers!r})"

    @property
    def _r(self) -> aiosqlite.Connection:
        return self._readers.conn

    async def find_idempotent(self, key: str) -> Duplicate | None:
        row = await fetchone(
            self._r, "SELECT id, request_hash FROM whistles WHERE idempotency_key = ?", (key,)
        )
        return None if row is None else Duplicate(row[0], row[1])

    async def find_external(
        self, source: str, external_id: str, *, within: str | None = None
    ) -> str | None:
        # Served by the index whistles_by_external (source, external_id).
        row = await fetchone(
            self._r,
            "SELECT id FROM whistles WHERE source = ?1 AND external_id = ?2 "
            "AND (?3 IS NULL OR substr(grid_path, 1, length(?3)) = ?3) "
            "ORDER BY received_at DESC LIMIT 1",
            (source, external_id, within),
        )
        return None if row is None else str(row[0])

    async def get_whistle(self, whistle_id: str) -> StoredWhistle | None:
        row = await fetchone(
            self._r, "SELECT status, doc, case_doc FROM whistles WHERE id = ?", (whistle_id,)
        )
        if row is None:
            return None
        found = await self._assignments_of([whistle_id])
        return StoredWhistle(
            orjson.loads(row[1]),
            row[0],
            tuple(found.get(whistle_id, ())),
            None if row[2] is None else orjson.loads(row[2]),
        )

    async def _assignments_of(self, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        for chunk in chunks(ids, MAX_PARAMS):
            marks = ",".join("?" * len(chunk))
            rows = await self._r.execute_fetchall(
                f"SELECT whistle_id, status, doc FROM assignments WHERE whistle_id IN ({marks}) "
                "ORDER BY whistle_id, id",
                chunk,
            )
            for whistle_id, status, doc in rows:
                item = orjson.loads(doc)
                item["status"] = status
                found.setdefault(whistle_id, []).append(item)
        return found

    async def find_case_number(self, case_number: str) -> str | None:
        # Served by the unique index whistles_by_case_number.
        row = await fetchone(
            self._r, "SELECT id FROM whistles WHERE case_number = ?", (case_number,)
        )
        return None if row is None else str(row[0])

    async def list_whistles(self, query: WhistleQuery) -> Page:
        clauses, params = listing.list_filters(query)
        by_due = query.order == "due"
        # The open queue by time left reads its partial index in order (whistle/store/search.py);
        # an open status, or a return awaiting a decision, lies inside it too.
        open_queue = by_due and (
            query.open_only or query.returns_pending or query.status in listing.OPEN_STATUSES
        )
        if open_queue and not query.open_only:
            clauses.append(f"status NOT IN ({listing.CLOSED})")
        if query.text:
            clause, more_params = search_clause(
                query.text, in_order=await self._common_search(query.text)
            )
            clauses.append(clause)
            params += more_params
        if query.before is not None and not by_due:
            clauses.append("id < ?")
            params.append(query.before)
        if query.after_due is not None and by_due:
            clauses.append(f"({listing.DUE_KEY}, id) > (?, ?)")
            params += list(query.after_due)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        order = f"{listing.DUE_KEY}, id" if by_due else "id DESC"
        source = "whistles INDEXED BY whistles_open_by_due" if open_queue else "whistles"
        rows = await self._r.execute_fetchall(
            f"SELECT id, status, doc, case_doc, {listing.DUE_KEY} FROM {source} {where} "
            f"ORDER BY {order} LIMIT ?",
            [*params, query.limit + 1],
        )
        rows = list(rows)
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        found = await self._assignments_of([r[0] for r in rows])
        items = tuple(
            StoredWhistle(
                orjson.loads(doc),
                status,
                tuple(found.get(wid, ())),
                None if case_doc is None else orjson.loads(case_doc),
            )
            for wid, status, doc, case_doc, _ in rows
        )
        if not (more and rows):
            return Page(items)
        if by_due:
            return Page(items, next_after_due=(rows[-1][4], rows[-1][0]))
        return Page(items, rows[-1][0])

    async def _common_search(self, text: str) -> bool:
        """Whether the words of three or more characters match many whistles (counted from
        the index alone): then the list walks its own order and stops at a page, instead of
        fetching every match to sort it (see ``search_clause``)."""
        match = match_expression(text)
        if match is None:
            return True  # words of one or two characters: probed in the list's order
        row = await fetchone(
            self._r,
            "SELECT count(*) FROM (SELECT 1 FROM whistle_search WHERE body MATCH ? LIMIT ?)",
            (match, listing.COMMON_MATCHES + 1),
        )
        return row is not None and int(row[0]) > listing.COMMON_MATCHES

    async def timeline(self, whistle_id: str) -> list[Event]:
        rows = await self._r.execute_fetchall(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE whistle_id = ? ORDER BY seq",
            (whistle_id,),
        )
        return [event_from_row(row) for row in rows]

    async def count_whistles(self) -> int:
        row = await fetchone(self._r, "SELECT count(*) FROM whistles")
        return int(row[0]) if row else 0

    async def pending_deadlines(self) -> list[PendingDeadline]:
        rows = await self._r.execute_fetchall(
            "SELECT whistle_id, key, due_at FROM deadlines WHERE status = 'pending' ORDER BY due_at"
        )
        return [PendingDeadline(wid, key, parse_db_time(due)) for wid, key, due in rows]

    async def inbox(
        self, responder_id: str, board_cells: Sequence[str], teams: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        boards = ",".join("?" * len(board_cells)) or "NULL"
        team_marks = ",".join("?" * len(teams)) or "NULL"
        rows = await self._r.execute_fetchall(
            "SELECT a.status, a.doc, w.id, w.status, w.doc FROM assignments a "
            "JOIN whistles w ON w.id = a.whistle_id "
            "WHERE (a.responder_id = ? AND a.status IN ('dispatched', 'acknowledged', "
            "'in_progress')) "
            f"OR (a.mode = 'claim' AND a.status = 'open' AND a.cell IN ({boards})) "
            # A team's claim lives on its community's board row; every member sees it.
            f"OR (a.mode = 'claim' AND a.cell IN ({boards}) "
            "AND a.status IN ('acknowledged', 'in_progress') "
            f"AND json_extract(a.doc, '$.team') IN ({team_marks})) "
            "ORDER BY a.id DESC LIMIT 500",
            [responder_id, *board_cells, *board_cells, *teams],
        )
        return [
            {
                "assignment": {**orjson.loads(doc), "status": status},
                "whistle": _inbox_whistle(whistle_id, whistle_status, orjson.loads(whistle_doc)),
            }
            for status, doc, whistle_id, whistle_status, whistle_doc in rows
        ]

    async def informed_of(
        self, responder_id: str, statuses: Sequence[str], limit: int = 100
    ) -> list[dict[str, Any]]:
        marks = ",".join("?" * len(statuses))
        # Newest first along the primary key; closed cases are skipped, not indexed out, so
        # the scan stops after ``limit`` open ones (a 网格长's recent cases are mostly open).
        rows = await self._r.execute_fetchall(
            "SELECT w.id, w.status, w.doc FROM informed i JOIN whistles w ON w.id = i.whistle_id "
            f"WHERE i.responder_id = ? AND w.status IN ({marks}) "
            "ORDER BY i.received_at DESC, i.whistle_id DESC LIMIT ?",
            [responder_id, *statuses, limit],
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
        found: dict[tuple[str, str], str] = {}
        marks = ",".join("?" * len(statuses))
        wanted = sorted((camera, category, within[camera]) for camera, category in set(pairs))
        # Served by whistles_by_camera (camera_id, category, received_at): one seek per pair;
        # newest first, so the first row seen of a pair is its case. Only camera whistles in
        # the camera's own subtree count: a whistle elsewhere naming the camera is no case of
        # it (whistles stored before camera ids were checked may do so).
        for start in range(0, len(wanted), MAX_PARAMS // 3):
            chunk = wanted[start : start + MAX_PARAMS // 3]
            values = ",".join("(?, ?, ?)" for _ in chunk)
            rows = await self._r.execute_fetchall(
                f"WITH wanted (camera_id, category, path) AS (VALUES {values}) "
                "SELECT w.camera_id, w.category, w.id FROM wanted "
                "JOIN whistles w ON w.camera_id = wanted.camera_id "
                "AND w.category = wanted.category AND w.received_at >= ? "
                f"AND w.status IN ({marks}) AND w.source = 'camera' "
                "AND substr(w.grid_path, 1, length(wanted.path)) = wanted.path "
                "ORDER BY w.received_at DESC",
                (*(v for triple in chunk for v in triple), db_time(since), *statuses),
            )
            for camera_id, category, whistle_id in rows:
                found.setdefault((camera_id, category), str(whistle_id))
        return found

    async def known_detections(self, keys: Sequence[str]) -> dict[str, str]:
        known: dict[str, str] = {}
        for chunk in chunks(sorted(set(keys)), MAX_PARAMS):
            marks = ",".join("?" * len(chunk))
            rows = await self._r.execute_fetchall(
                f"SELECT key, whistle_id FROM detections WHERE key IN ({marks}) "
                f"UNION ALL SELECT idempotency_key, id FROM whistles "
                f"WHERE idempotency_key IN ({marks})",
                (*chunk, *chunk),
            )
            known.update((str(key), str(whistle_id)) for key, whistle_id in rows)
        return known

    async def recent_whistles(
        self, since: datetime, sources: Sequence[str], statuses: Sequence[str]
    ) -> list[RecentWhistle]:
        # A range of whistles_by_received: a window's worth of rows, read once on start.
        source_marks = ",".join("?" * len(sources))
        status_marks = ",".join("?" * len(statuses))
        rows = await self._r.execute_fetchall(
            "SELECT id, category, received_at, coalesce(near, grid_code), "
            "json_extract(doc, '$.location.lat'), json_extract(doc, '$.location.lon') "
            f"FROM whistles WHERE received_at >= ? AND source IN ({source_marks}) "
            f"AND status IN ({status_marks}) ORDER BY received_at",
            (db_time(since), *sources, *statuses),
        )
        return [
            RecentWhistle(
                str(wid),
                str(category),
                parse_db_time(received),
                str(near),
                None if lat is None else float(lat),
                None if lon is None else float(lon),
            )
            for wid, category, received, near, lat, lon in rows
        ]

    async def open_among(self, ids: Sequence[str], statuses: Sequence[str]) -> set[str]:
        found: set[str] = set()
        marks = ",".join("?" * len(statuses))
        for chunk in chunks(sorted(set(ids)), MAX_PARAMS - len(statuses)):
            rows = await self._r.execute_fetchall(
                f"SELECT id FROM whistles WHERE id IN ({','.join('?' * len(chunk))}) "
                f"AND status IN ({marks})",
                (*chunk, *statuses),
            )
            found.update(str(row[0]) for row in rows)
        return found

    # -- the operator console (whistle/web/stream.py, whistle/web/console.py) -------------

    async def stream_facts(self, ids: Sequence[str]) -> dict[str, StreamFacts]:
        """The cell, status and 受理编号 of those of ``ids`` that are stored, in one read
        (a chunk of MAX_PARAMS ids each), from the whistles row's own columns."""
        found: dict[str, StreamFacts] = {}
        for chunk in chunks(sorted(set(ids)), MAX_PARAMS):
            rows = await self._r.execute_fetchall(
                "SELECT id, grid_code, status, case_number FROM whistles "
                f"WHERE id IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            for wid, grid, status, number in rows:
                found[str(wid)] = StreamFacts(grid, status, number)
        return found

    async def events_after(self, seq: int, limit: int) -> list[Event]:
        """Up to ``limit`` events with a sequence number above ``seq``, in log order."""
        rows = await self._r.execute_fetchall(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
            (seq, limit),
        )
        return [event_from_row(row) for row in rows]

    async def open_load(self, responder_ids: Sequence[str]) -> dict[str, int]:
        if not responder_ids:
            return {}
        marks = ",".join("?" * len(responder_ids))
        rows = await self._r.execute_fetchall(
            f"SELECT responder_id, count(*) FROM assignments WHERE responder_id IN ({marks}) "
            "AND status IN ('dispatched', 'acknowledged', 'in_progress') GROUP BY responder_id",
            list(responder_ids),
        )
        return {str(rid): int(n) for rid, n in rows}

    async def queue_counts(self, grid_path: str | None, now: datetime) -> dict[str, int]:
        """Cases per status in a subtree, plus ``overdue`` (active, marked overdue or past
        the resolution deadline), ``returned`` (a return awaits the dispatcher) and
        ``escalated`` (active, with a live assignment added
        after intake by an escalation or the backstop)."""
        where, params = "", []
        if grid_path is not None:
            where = "WHERE w.grid_path >= ? AND w.grid_path < ?"
            params = [grid_path, grid_path + "\U0010ffff"]
        active = "w.status IN ('dispatched', 'acknowledged', 'in_progress')"
        both = f"{where} {'AND' if where else 'WHERE'} {active}"
        counts = {
            str(status): int(n)
            for status, n in await self._r.execute_fetchall(
                f"SELECT w.status, count(*) FROM whistles w {where} GROUP BY w.status", params
            )
        }
        # Overdue: the case's next deadline (the one the console shows) has passed; documents
        # written before next_due existed fall back to the resolution deadline.
        # julianday() reads the offset of the case document's RFC 3339 times.
        overdue = await fetchone(
            self._r,
            f"SELECT count(*) FROM whistles w {both} AND julianday(coalesce("
            "json_extract(w.case_doc, '$.next_due.at'), "
            "json_extract(w.case_doc, '$.resolve_due'))) <= julianday(?)",
            [*params, db_time(now)],
        )
        escalated = await fetchone(
            self._r,
            f"SELECT count(DISTINCT w.id) FROM whistles w JOIN assignments a "
            f"ON a.whistle_id = w.id {both} "
            "AND json_extract(a.doc, '$.origin') IN ('escalation', 'backstop') "
            "AND a.status IN ('dispatched', 'acknowledged', 'in_progress') "
            # Added after intake: the backstop may be in the first routing, not escalated.
            "AND a.id NOT IN (SELECT json_extract(t.value, '$.assignment') "
            "FROM json_each(w.doc, '$.trace') t)",
            params,
        )
        returned = await fetchone(
            self._r, f"SELECT count(*) FROM whistles w {both} AND {listing.RETURNS_PENDING}", params
        )
        counts["overdue"] = int(overdue[0]) if overdue else 0
        counts["escalated"] = int(escalated[0]) if escalated else 0
        counts["returned"] = int(returned[0]) if returned else 0
        return counts
