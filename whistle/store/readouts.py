"""Read-outs for the command-centre wall (大屏) and the statistics drill-down: open cases per
cell, the overdue cases, and one row of facts per case.

SQL over an open reader connection, kept apart from the store's writer and its statistics so
that each read is one small statement the store's methods hand their connection to. Times in
the whistles and assignments tables are the store's fixed-width UTC text (string order is time
order); times in ``case_facts`` are Unix seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import aiosqlite

__all__ = ["OPEN_STATUSES", "CaseFacts", "OverdueCase", "case_facts", "open_by_path", "overdue"]

# A case is open until it is closed (rated after), merged as a duplicate, or was muted.
OPEN_STATUSES = ("dispatched", "acknowledged", "in_progress", "resolved", "verified", "on_hold")
# Overdue counts the cases someone still has to act on, as the console's overdue queue does.
_ACTIVE = ("dispatched", "acknowledged", "in_progress")


@dataclass(frozen=True, slots=True)
class OverdueCase:
    """An active case past a deadline: ``overdue_since`` is its resolve deadline when that
    has passed, else the first acknowledgement deadline nobody met (None when the case is
    only flagged, by an undecided return say)."""

    id: str
    case_number: str | None
    source: str
    category: str
    grid_code: str
    status: str
    resolve_due: datetime | None
    overdue_since: datetime | None


@dataclass(frozen=True, slots=True)
class CaseFacts:
    """What a drill-down row shows of a case."""

    id: str
    case_number: str | None
    category: str
    grid_code: str
    status: str
    received_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None


def _subtree(grid_path: str | None, column: str) -> tuple[str, list[str]]:
    if grid_path is None:
        return "", []
    return f" AND {column} >= ? AND {column} < ?", [grid_path, grid_path + "\U0010ffff"]


def _marks(values: Sequence[str]) -> str:
    return ",".join("?" * len(values))


async def open_by_path(conn: aiosqlite.Connection, grid_path: str | None) -> dict[str, int]:
    """Open cases per stored grid path (the cell each lies in) under ``grid_path``."""
    where, params = _subtree(grid_path, "grid_path")
    rows = await conn.execute_fetchall(
        f"SELECT grid_path, count(*) FROM whistles WHERE status IN ({_marks(OPEN_STATUSES)})"
        f"{where} GROUP BY grid_path",
        [*OPEN_STATUSES, *params],
    )
    return {str(path): int(n) for path, n in rows}


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


async def overdue(
    conn: aiosqlite.Connection, grid_path: str | None, now: datetime
) -> list[OverdueCase]:
    """The active cases under ``grid_path`` that are overdue: their next deadline (the one
    the console counts down to, ``case.next_due``; documents from before it: the resolve
    deadline) has passed. Longest overdue first."""
    where, params = _subtree(grid_path, "w.grid_path")
    at = now.astimezone(UTC).isoformat(timespec="microseconds")
    rows = await conn.execute_fetchall(
        "SELECT w.id, json_extract(w.doc, '$.case_number'), w.source, w.category, w.grid_code, "
        "w.status, json_extract(w.case_doc, '$.resolve_due'), coalesce("
        "json_extract(w.case_doc, '$.next_due.at'), json_extract(w.case_doc, '$.resolve_due')) "
        f"AS due FROM whistles w WHERE w.status IN ({_marks(_ACTIVE)}){where} "
        "AND julianday(due) <= julianday(?)",
        [*_ACTIVE, *params, at],
    )
    found = [
        OverdueCase(
            id=str(wid),
            case_number=None if number is None else str(number),
            source=str(source),
            category=str(category),
            grid_code=str(code),
            status=str(status),
            resolve_due=_time(resolve_text),
            overdue_since=_time(due_text),
        )
        for wid, number, source, category, code, status, resolve_text, due_text in rows
    ]
    far = datetime.max.replace(tzinfo=UTC)
    found.sort(key=lambda c: (c.overdue_since or far, c.id))
    return found


def _seconds(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(float(value), UTC)


async def case_facts(conn: aiosqlite.Connection, ids: Sequence[str]) -> dict[str, CaseFacts]:
    """The facts of each case in ``ids`` that exists (statistics projection and document)."""
    found: dict[str, CaseFacts] = {}
    for start in range(0, len(ids), 500):  # SQLite binds at most 32766 parameters; stay small
        chunk = list(ids[start : start + 500])
        rows = await conn.execute_fetchall(
            "SELECT f.whistle_id, json_extract(w.doc, '$.case_number'), f.category, "
            "w.grid_code, w.status, f.received_at, f.resolved_at, f.closed_at "
            "FROM case_facts f JOIN whistles w ON w.id = f.whistle_id "
            f"WHERE f.whistle_id IN ({_marks(chunk)})",
            chunk,
        )
        for wid, number, category, code, status, received, resolved, closed in rows:
            found[str(wid)] = CaseFacts(
                id=str(wid),
                case_number=None if number is None else str(number),
                category=str(category),
                grid_code=str(code),
                status=str(status),
                received_at=datetime.fromtimestamp(float(received), UTC),
                resolved_at=_seconds(resolved),
                closed_at=_seconds(closed),
            )
    return found
