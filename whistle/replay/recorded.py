"""What happened, read from the store for a replay: each case of a period with its recorded
facts and its assignments, streamed in big batches over one read-only SQLite connection.

Replay never writes: the file is opened with ``mode=ro`` (SQLite refuses any write on it), and
everything comes from the statistics projection (``case_facts``, ``assignment_facts``, the
same rows the committee's figures are counted from) joined to the current-state rows. Two
ordered scans, one of cases and one of assignments, both in received-time order, are merged in
Python: no query per case.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import orjson

from whistle.store.facts import DAY_TZ

__all__ = [
    "Period",
    "RecordedAssignment",
    "RecordedCase",
    "connect_readonly",
    "kind_medians",
    "read_cases",
    "recorded_documents",
]

BATCH = 20_000  # rows per fetch: few round trips, bounded memory

_CASES_SQL = """
SELECT f.whistle_id, f.received_at, f.status, f.first_ack_at, f.resolved_at, f.closed_at,
       f.on_time, f.due_at, w.source, w.category, w.urgency, w.grid_code, w.case_number,
       json_array_length(w.doc, '$.trace'), w.received_at
FROM case_facts f JOIN whistles w ON w.id = f.whistle_id
WHERE f.day >= :day_lo AND f.day <= :day_hi AND f.received_at >= :since
  AND f.received_at < :until AND f.status <> 'muted'
ORDER BY f.day, f.received_at, f.whistle_id
"""

_ASSIGNMENTS_SQL = """
SELECT af.whistle_id, af.assignment_id,
       CAST(substr(af.assignment_id, length(af.whistle_id) + 2) AS INTEGER), af.responder_id,
       af.kind, af.mode, af.ack_due, af.acknowledged_at, af.resolved_at, af.ended_at, a.cell,
       json_extract(a.doc, '$.origin'), json_extract(a.doc, '$.level'), a.resolve_due,
       af.received_at
FROM assignment_facts af JOIN assignments a ON a.id = af.assignment_id
WHERE af.received_at >= :since AND af.received_at < :until
ORDER BY af.received_at, af.assignment_id
"""

# The committee's units and their open cases at intake, from the router's SPREAD step
# ("closest category fit, then fewest open cases: U1 (fit 2, open 3), ...").
_SPREAD_LOAD = re.compile(r"(\S+) \(fit -?\d+, open (\d+)\)")


@dataclass(frozen=True, slots=True)
class Period:
    """Shanghai days ``first`` to ``last``, both included (as the statistics count them)."""

    first: date
    last: date

    @property
    def since(self) -> datetime:
        """The period's first instant."""
        return datetime.combine(self.first, time(), DAY_TZ)

    @property
    def until(self) -> datetime:
        """The instant after the period."""
        return datetime.combine(self.last + timedelta(days=1), time(), DAY_TZ)

    def params(self) -> dict[str, Any]:
        """The SQL parameters of the period."""
        return {
            "day_lo": self.first.isoformat(),
            "day_hi": self.last.isoformat(),
            "since": self.since.timestamp(),
            "until": self.until.timestamp(),
        }


@dataclass(slots=True)
class RecordedAssignment:
    """One assignment of a case as recorded, with its responder's actions (Unix seconds)."""

    id: str
    number: int  # the n of ``<case>-<n>``: 1..len(trace) are the router's own
    responder_id: str | None
    kind: str
    mode: str
    ack_due: float | None
    acknowledged_at: float | None
    resolved_at: float | None
    ended_at: float | None
    cell: str
    origin: str | None
    level: str | None
    resolve_due: str | None


@dataclass(slots=True)
class RecordedCase:
    """One case of the period: its routing inputs, its facts, and its assignments."""

    id: str
    received_at: float
    status: str
    first_ack_at: float | None
    resolved_at: float | None
    closed_at: float | None
    on_time: int | None
    due_at: float | None
    source: str
    category: str
    urgency: str
    cell: str
    case_number: str | None
    routed: int  # how many of the assignments the router made at intake
    received_text: str  # the stored time, exact (the Unix seconds are a float)
    assignments: list[RecordedAssignment]
    units: tuple[str, ...] = ()
    load: tuple[tuple[str, int], ...] | None = None

    @property
    def initial(self) -> list[RecordedAssignment]:
        """The router's assignments at intake (later ones came from escalation, 退单, ...)."""
        return [a for a in self.assignments if a.number <= self.routed]


def connect_readonly(path: Path) -> sqlite3.Connection:
    """A connection to ``path`` on which SQLite refuses every write (``mode=ro``)."""
    if not path.exists():
        raise FileNotFoundError(f"no database at {path}")
    uri = f"{path.resolve().as_uri()}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    conn.execute("PRAGMA query_only = ON")
    return conn


def _assignment(row: Sequence[Any]) -> RecordedAssignment:
    return RecordedAssignment(
        row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], row[9], row[10],
        row[11], row[12], row[13],
    )  # fmt: skip


def read_cases(conn: sqlite3.Connection, period: Period) -> Iterator[list[RecordedCase]]:
    """The period's cases (muted whistles were never routed: left out), in received order, in
    batches; each case with all its assignments."""
    params = period.params()
    cases = conn.execute(_CASES_SQL, params)
    assignments = conn.cursor().execute(_ASSIGNMENTS_SQL, params)
    pending: dict[str, list[RecordedAssignment]] = {}
    done = False
    while True:
        rows = cases.fetchmany(BATCH)
        if not rows:
            return
        horizon = rows[-1][1]
        # Both scans are in received order: every assignment of this batch's cases lies at or
        # before the last case's time (those of a later case at the same time wait in
        # ``pending`` for their batch).
        while not done:
            chunk = assignments.fetchmany(BATCH)
            if not chunk:
                done = True
                break
            for row in chunk:
                pending.setdefault(row[0], []).append(_assignment(row))
            if chunk[-1][14] > horizon:
                break
        batch = [_case(r, pending.pop(r[0], [])) for r in rows]
        _committee_inputs(conn, [c for c in batch if c.source == "town_committee"])
        yield batch


def _case(r: Sequence[Any], assignments: list[RecordedAssignment]) -> RecordedCase:
    return RecordedCase(
        id=r[0], received_at=r[1], status=r[2], first_ack_at=r[3], resolved_at=r[4],
        closed_at=r[5], on_time=r[6], due_at=r[7], source=r[8], category=r[9], urgency=r[10],
        cell=r[11], case_number=r[12], routed=r[13] or 0, received_text=r[14],
        assignments=assignments,
    )  # fmt: skip


def _committee_inputs(conn: sqlite3.Connection, committee: list[RecordedCase]) -> None:
    """What the router was given for town committee whistles beyond the cell: the units the
    committee named (the request), or else each unit's open cases when it spread them (the
    trace). Looked up for these cases only, by id."""
    if not committee:
        return
    by_id = {c.id: c for c in committee}
    for chunk in _chunks(list(by_id), 500):
        marks = ",".join("?" * len(chunk))
        for wid, units in conn.execute(
            "SELECT whistle_id, json_extract(data, '$.request.units') FROM events "
            f"WHERE whistle_id IN ({marks}) AND type = 'whistle.received'",
            chunk,
        ):
            if units:
                by_id[wid].units = tuple(orjson.loads(units))
        for wid, trace in conn.execute(
            f"SELECT id, json_extract(doc, '$.trace') FROM whistles WHERE id IN ({marks})", chunk
        ):
            load = _spread_load(orjson.loads(trace or "[]"))
            if load is not None and not by_id[wid].units:
                by_id[wid].load = load


def _spread_load(trace: list[dict[str, Any]]) -> tuple[tuple[str, int], ...] | None:
    for entry in trace:
        for step in entry.get("steps", ()):
            if step.get("result") == "spread":
                found = _SPREAD_LOAD.findall(step.get("note") or "")
                return tuple(sorted((rid, int(n)) for rid, n in found))
    return None


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def kind_medians(conn: sqlite3.Connection, period: Period) -> dict[str, dict[str, float]]:
    """The model for a responder who did not have the case: per responder kind, the median
    seconds from receipt to 报到 (push assignments acknowledged) and to resolution
    (assignments resolved), nearest rank, over the period; ``"*"`` is every kind."""
    acks: dict[str, list[float]] = {"*": []}
    resolves: dict[str, list[float]] = {"*": []}
    sql = (
        "SELECT kind, mode, acknowledged_at - received_at, resolved_at - received_at "
        "FROM assignment_facts WHERE received_at >= :since AND received_at < :until "
        "AND (acknowledged_at IS NOT NULL OR resolved_at IS NOT NULL)"
    )
    for kind, mode, ack, resolve in conn.execute(sql, period.params()):
        if ack is not None and mode == "push":
            acks.setdefault(kind, []).append(ack)
            acks["*"].append(ack)
        if resolve is not None:
            resolves.setdefault(kind, []).append(resolve)
            resolves["*"].append(resolve)
    return {"ack": _medians(acks), "resolve": _medians(resolves)}


def _medians(values: dict[str, list[float]]) -> dict[str, float]:
    out = {}
    for kind, seconds in values.items():
        if seconds:
            seconds.sort()
            out[kind] = seconds[(len(seconds) + 1) // 2 - 1]  # nearest rank
    return out


def recorded_documents(conn: sqlite3.Connection, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The stored documents of ``ids`` (for the traces of the cases whose route changes)."""
    out: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(ids, 500):
        marks = ",".join("?" * len(chunk))
        for wid, doc in conn.execute(f"SELECT id, doc FROM whistles WHERE id IN ({marks})", chunk):
            out[wid] = orjson.loads(doc)
    return out
