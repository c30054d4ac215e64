"""The statistics projection: one row per case (``case_facts``) and per assignment
(``assignment_facts``), kept by the store in the same transaction as the events they summarise,
and the SQL that aggregates them for the committee (统计).

Two ways in, one meaning. A new whistle (which may carry a whole history, as the benchmark's
fast path does) is folded here in Python into complete rows; a lifecycle transition becomes a
few UPDATEs that apply its events in order. ``tests/whistle/test_stats.py`` checks that both
give the same rows.

Times are Unix seconds (REAL). Every figure is a ``count(*) FILTER (WHERE <metric>)`` over the
filtered rows, and the drill-down lists the ids matching the same ``<metric>``, so a number and
the cases behind it cannot disagree.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from whistle.events import NewEvent
from whistle.store.base import NewWhistle, StatsQuery, Transition
from whistle.store.dialect import SQLITE, Dialect

__all__ = [
    "ASSIGNMENT_ADD",
    "ASSIGNMENT_METRICS",
    "ASSIGNMENT_TOTALS",
    "CASE_METRICS",
    "CASE_UPDATE",
    "DAY_TZ",
    "RESPONSE_METRICS",
    "BadBucket",
    "Statement",
    "bucket_filter",
    "drill_sql",
    "metric_kind",
    "new_whistle_facts",
    "percentile_offset",
    "place_sql",
    "transition_facts",
]

Statement = tuple[str, tuple[Any, ...]]

# Committee days are Shanghai days (no DST since 1991, so also what SQL's '+8 hours' gives).
DAY_TZ: tzinfo = ZoneInfo("Asia/Shanghai")

SATISFIED = ("very_satisfied", "satisfied", "basically_satisfied")

_DUE = "(resolved_at IS NOT NULL OR closed_at IS NOT NULL OR due_at <= :now)"

# Case metrics, over case_facts rows already filtered by place and time.
CASE_METRICS: dict[str, str] = {
    "total": "1",
    "acknowledged": "first_ack_at IS NOT NULL",
    "resolved": "resolved_at IS NOT NULL",
    # due: the resolve deadline has passed, or it is done anyway
    "due": _DUE,
    "closed": "closed_at IS NOT NULL",
    "closed_on_time": "(closed_at IS NOT NULL AND on_time = 1)",
    # the denominator of 按期结案率: due, less what is on hold (its clock is stopped)
    "due_not_held": f"(status <> 'on_hold' AND {_DUE})",
    "on_hold": "status = 'on_hold'",
    # 返工率's numerator: closed cases that were reopened at least once on the way
    "reworked": "(closed_at IS NOT NULL AND rework > 0)",
    "rated": "rating IS NOT NULL",
    "satisfied": "rating IN ('very_satisfied', 'satisfied', 'basically_satisfied')",
    # 整改率: of the rectifications (差评整改) that fell due (verified and closed again, or
    # past their deadline), those closed by their deadline; a case counts its latest one.
    "rectify_due": "(rectify_due IS NOT NULL AND (rectified_at IS NOT NULL "
    "OR rectify_due <= :now))",
    "rectified_on_time": "(rectified_at IS NOT NULL AND rectified_at <= rectify_due)",
}

# Assignment metrics, over assignment_facts rows filtered by their case's place and time.
ASSIGNMENT_METRICS: dict[str, str] = {
    # per responder: whistles answered (报到), needs claimed (认领) and completed
    "answered": "(mode = 'push' AND acknowledged_at IS NOT NULL)",
    "claimed": "(mode = 'claim' AND acknowledged_at IS NOT NULL)",
    "completed": "(mode = 'claim' AND resolved_at IS NOT NULL)",
}

# -- 响应率 by case ---------------------------------------------------------------------
# 响应率 counts cases, not assignments (DOMAIN.md: acknowledged in time / dispatched). What a
# case's assignments say about it is kept on its case_facts row, so that the figures are two
# more conditions in the one case scan rather than a count(DISTINCT) over a county-year's
# assignments (twice the CPU of the rest of that scan):
# - response_due: a push assignment's acknowledgement fell due: acknowledged, or still silent
#   when its deadline passed. One cancelled or handed back before its deadline (the case
#   closed through another responder, a proper 退单) was never due. Cases only on a claim
#   board, and cases nobody was pushed, are not in it. ``response_due_from`` is the earliest
#   time the case is due a response: 0 once a pushed responder acknowledged, else the
#   earliest acknowledgement deadline of a push assignment that had not ended before it
#   (NULL: none will fall due).
# - responded_in_time: a pushed responder reported in (报到) by that assignment's deadline. A
#   case with one responder in time and another late was responded to in time, once.
RESPONSE_METRICS: dict[str, str] = {
    "response_due": "response_due_from <= :now",
    "responded_in_time": "responded_in_time = 1",
}
CASE_METRICS.update(RESPONSE_METRICS)

# One push assignment's part in response_due_from, and its being in time, in SQL over
# assignment_facts (a transition's UPDATE, the migration's backfill) and in Python (a new
# whistle's fold, :func:`_response`): the two must agree.
_DUE_FROM = (
    "CASE WHEN acknowledged_at IS NOT NULL THEN 0 "
    "WHEN ended_at IS NULL OR ack_due <= ended_at THEN ack_due END"
)
_IN_TIME = "(acknowledged_at IS NOT NULL AND (ack_due IS NULL OR acknowledged_at <= ack_due))"
RESPONSE_FROM_ASSIGNMENTS = (
    f"response_due_from = (SELECT min({_DUE_FROM}) FROM assignment_facts a "
    "WHERE a.whistle_id = case_facts.whistle_id AND a.mode = 'push'), "
    "responded_in_time = EXISTS (SELECT 1 FROM assignment_facts a "
    f"WHERE a.whistle_id = case_facts.whistle_id AND a.mode = 'push' AND {_IN_TIME})"
)
"""The SET clause that recomputes a case's response facts from its assignment rows."""


def _response(rows: Iterable[Sequence[Any]]) -> tuple[float | None, int]:
    """(response_due_from, responded_in_time) of a case from its assignment rows, as
    :data:`RESPONSE_FROM_ASSIGNMENTS` computes them in SQL."""
    due_from: float | None = None
    in_time = 0
    for _, _, mode, ack_due, acknowledged, _, ended, _ in rows:
        if mode != "push":
            continue
        value: float | None = None
        if acknowledged is not None:
            value = 0.0
            in_time |= int(ack_due is None or acknowledged <= ack_due)
        elif ack_due is not None and (ended is None or ack_due <= ended):
            value = ack_due
        if value is not None and (due_from is None or value < due_from):
            due_from = value
    return due_from, in_time


ASSIGNMENT_TOTALS = tuple(ASSIGNMENT_METRICS)
"""What the statistics' one assignment_facts scan counts, in the order of its columns."""


def assignment_totals_sql(where: str) -> str:
    """The one scan of assignment_facts behind the totals: each assignment metric's count."""
    return (
        f"SELECT {counts_sql(list(ASSIGNMENT_METRICS), ASSIGNMENT_METRICS)} "
        f"FROM assignment_facts WHERE {where}"
    )


# The columns of the breakdown tables (sources, places, categories, days).
BREAKDOWN_METRICS = (
    "total",
    "acknowledged",
    "resolved",
    "due",
    "closed",
    "closed_on_time",
    "rated",
    "satisfied",
)


class BadBucket(ValueError):
    """A drill-down bucket or metric that does not exist (or not for that metric)."""


def percentile_offset(p: float, n: int) -> int:
    """The 0-based offset of the nearest-rank ``p`` percentile among ``n`` sorted values."""
    return max(0, math.ceil(p * n) - 1)


def percentiles_sql(value: str, present: str, where: str) -> str:
    """One sort for both: the median and the p90 (nearest rank: the value at rank
    ceil(p * n), in integer arithmetic) of ``value`` over the rows where ``present`` is set,
    each with n. No rows, no answer."""
    return (
        "SELECT rn, n, v FROM (SELECT v, row_number() OVER (ORDER BY v) AS rn, "
        "count(*) OVER () AS n "
        f"FROM (SELECT {value} AS v FROM case_facts WHERE {where} AND {present} IS NOT NULL) "
        "AS present) AS ranked WHERE rn = (n + 1) / 2 OR rn = (9 * n + 9) / 10 ORDER BY rn"
    )


def percentiles(rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """``count``, ``median`` and ``p90`` (seconds) from :func:`percentiles_sql`'s rows."""
    if not rows:
        return {"count": 0, "median": None, "p90": None}
    n = int(rows[0][1])
    at = {int(rn): round(float(v), 3) for rn, _, v in rows}
    return {"count": n, "median": at[(n + 1) // 2], "p90": at[(9 * n + 9) // 10]}


# A window at least this long is "wide": its statistics read migration 6's covering indexes
# (every row of the facts, in the order the aggregate wants, streamed without a sort) rather
# than the window's range of the clustered table followed by a sort. A short window is a
# small range, cheaper to sort than to find in an index over all time.
WIDE_DAYS = 90

# The index each duration is read from on a wide window (its expression is the index's).
DURATION_INDEX = {
    "first_ack_at - received_at": "case_facts_by_ack_time",
    "resolved_at - received_at": "case_facts_by_resolve_time",
}


def wide(query: StatsQuery) -> bool:
    """Whether ``query`` is answered from the covering indexes (see :data:`WIDE_DAYS`)."""
    return query.until - query.since >= timedelta(days=WIDE_DAYS)


def percentile_at_sql(
    value: str, present: str, where: str, *, descending: bool, dialect: Dialect = SQLITE
) -> str:
    """The value at offset ``:offset`` of ``value`` in index order (ascending, or descending
    for the p90, which then reads a tenth of the rows), over the rows where ``present`` is
    set. With ``n`` known (the ``acknowledged`` or ``resolved`` count over the same rows) this
    is :func:`percentiles_sql`'s answer without its sort."""
    order = "DESC" if descending else ""
    return (
        f"SELECT {value} FROM case_facts {dialect.indexed_by(DURATION_INDEX[value])} "
        f"WHERE {where} AND {present} IS NOT NULL ORDER BY {value} {order} "
        "LIMIT 1 OFFSET :offset"
    )


def percentile_offsets(n: int) -> tuple[int, int]:
    """The offsets of the median (ascending) and the p90 (descending) among ``n`` values,
    nearest rank as in :func:`percentiles_sql`."""
    return (n + 1) // 2 - 1, n - (9 * n + 9) // 10


# -- writing ---------------------------------------------------------------------------------

_CASE_INSERT = (
    "INSERT INTO case_facts (whistle_id, received_at, day, source, category, major, grid_path, "
    "status, first_ack_at, resolved_at, closed_at, on_time, due_at, rework, rating, "
    "rectify_due, rectified_at, response_due_from, responded_in_time) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_ASSIGNMENT_INSERT = (
    "INSERT INTO assignment_facts (assignment_id, whistle_id, received_at, grid_path, "
    "responder_id, kind, mode, ack_due, acknowledged_at, resolved_at, ended_at, claimed) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# A replacement assignment takes its case's place and time from the case's own row.
_ASSIGNMENT_ADD = (
    "INSERT INTO assignment_facts (assignment_id, whistle_id, received_at, grid_path, "
    "responder_id, kind, mode, ack_due) "
    "SELECT ?, whistle_id, received_at, grid_path, ?, ?, ?, ? FROM case_facts WHERE whistle_id = ?"
)
_ACKNOWLEDGED = (
    "UPDATE assignment_facts SET acknowledged_at = coalesce(acknowledged_at, ?) "
    "WHERE assignment_id = ?"
)
_CLAIMED = (
    "UPDATE assignment_facts SET acknowledged_at = coalesce(acknowledged_at, ?), "
    "responder_id = ?, claimed = 1 WHERE assignment_id = ?"
)
_RESOLVED = "UPDATE assignment_facts SET resolved_at = ? WHERE assignment_id = ?"
_ENDED = (
    "UPDATE assignment_facts SET ended_at = ? "
    "WHERE assignment_id = ? AND acknowledged_at IS NULL AND ended_at IS NULL"
)
_PENDING_ENDED = (
    "UPDATE assignment_facts SET ended_at = ? "
    "WHERE whistle_id = ? AND acknowledged_at IS NULL AND ended_at IS NULL"
)
# A hold stops the clock: a waiting acknowledgement's deadline moves on by the time on hold.
_PENDING_SHIFTED = (
    "UPDATE assignment_facts SET ack_due = ack_due + ? "
    "WHERE whistle_id = ? AND acknowledged_at IS NULL AND ended_at IS NULL AND ack_due IS NOT NULL"
)
_CASE_UPDATE = (
    "UPDATE case_facts SET status = ?, due_at = ?, rework = ?, resolved_at = ?, rating = ?, "
    "rectify_due = ?, rectified_at = ?, "
    "first_ack_at = coalesce(first_ack_at, ?), "
    "closed_at = CASE ? WHEN 1 THEN ? WHEN 2 THEN NULL ELSE closed_at END, "
    "on_time = CASE ? WHEN 1 THEN ? WHEN 2 THEN NULL ELSE on_time END, "
    f"{RESPONSE_FROM_ASSIGNMENTS} WHERE whistle_id = ?"
)

# The two statements a backend may have to spell in its own dialect (PostgreSQL: parameter
# types it cannot infer).
ASSIGNMENT_ADD = _ASSIGNMENT_ADD
CASE_UPDATE = _CASE_UPDATE

_KEEP, _SET, _CLEAR = 0, 1, 2


def _ts(value: datetime | str | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.timestamp()


def _flag(value: Any) -> int | None:
    return None if value is None else int(bool(value))


def _from_doc(case_doc: Mapping[str, Any] | None) -> tuple[Any, ...]:
    """(resolve deadline, rework count, resolved at, rating, rectification deadline,
    rectified at) from the fold's case summary."""
    doc = case_doc or {}
    resolution = doc.get("resolution") or {}
    rating = doc.get("rating") or {}
    rectification = doc.get("rectification") or {}
    if rectification:
        # Under rectification the case's own figures keep its first resolution and deadline.
        due, resolved = rectification.get("case_due"), rectification.get("case_resolved_at")
    else:
        due, resolved = doc.get("resolve_due"), resolution.get("at")
    return (
        _ts(due),
        int(doc.get("rework") or 0),
        _ts(resolved),
        rating.get("grade"),
        _ts(rectification.get("due")),
        _ts(rectification.get("done_at")),
    )


def new_whistle_facts(new: NewWhistle) -> list[Statement]:
    """The rows of a new whistle, after every event it is written with."""
    w = new.whistle
    received = w.received_at.timestamp()
    # assignment id -> [responder, kind, mode, ack_due, acknowledged, resolved, ended, claimed]
    rows: dict[str, list[Any]] = {
        a.id: [a.responder_id, a.kind, a.mode, _ts(a.acknowledge_due), None, None, None, 0]
        for a in new.assignments
    }

    def pending() -> list[list[Any]]:
        return [r for r in rows.values() if r[4] is None and r[6] is None]

    first_ack: float | None = None
    closed_at: float | None = None
    on_time: int | None = None
    for event in new.events:
        t = event.at.timestamp()
        data = event.data
        row = rows.get(str(data.get("assignment")))
        if event.type in ("assignment.acknowledged", "assignment.claimed") and row is not None:
            row[4] = t if row[4] is None else row[4]
            first_ack = t if first_ack is None else first_ack
            if event.type == "assignment.claimed":
                row[0], row[7] = data.get("responder_id"), 1
        elif event.type == "assignment.resolved" and row is not None:
            row[5] = t
        elif event.type == "assignment.returned" and row is not None and row[4] is None:
            row[6] = t if row[6] is None else row[6]
        elif event.type == "assignment.added":
            replaced = rows.get(str(data.get("replaces")))
            if replaced is not None and replaced[4] is None and replaced[6] is None:
                replaced[6] = t
        elif event.type in ("case.closed", "case.merged"):
            for r in pending():
                r[6] = t
            if event.type == "case.closed" and not data.get("rectification"):
                # A rectification's closure counts for 整改率; the case's stays as it was.
                closed_at, on_time = t, _flag(data.get("on_time"))
        elif event.type == "case.reopened":
            closed_at = on_time = None
        elif event.type == "case.released":
            for r in pending():
                if r[3] is not None:
                    r[3] += float(data.get("shift_seconds", 0))
    due_at, rework, resolved_at, rating, rectify_due, rectified_at = _from_doc(new.case_doc)
    statements: list[Statement] = [
        (
            _CASE_INSERT,
            (
                w.id,
                received,
                w.received_at.astimezone(DAY_TZ).date().isoformat(),
                w.source,
                w.category,
                w.category[:3],
                w.grid_path,
                w.status,
                first_ack,
                resolved_at,
                closed_at,
                on_time,
                due_at,
                rework,
                rating,
                rectify_due,
                rectified_at,
                *_response(rows.values()),
            ),
        )
    ]
    statements += [
        (_ASSIGNMENT_INSERT, (aid, w.id, received, w.grid_path, *row)) for aid, row in rows.items()
    ]
    return statements


def transition_facts(step: Transition) -> list[Statement]:
    """UPDATEs (and INSERTs for new assignments) that apply ``step`` to the projection, in the
    order of its events."""
    wid = step.whistle_id
    statements: list[Statement] = [
        (_ASSIGNMENT_ADD, (a.id, a.responder_id, a.kind, a.mode, _ts(a.acknowledge_due), wid))
        for a in step.new_assignments
    ]
    first_ack: float | None = None
    close_op, closed_at, on_time = _KEEP, None, None
    for event in step.events:
        statements += _event_facts(wid, event)
        t = event.at.timestamp()
        if event.type in ("assignment.acknowledged", "assignment.claimed") and first_ack is None:
            first_ack = t
        elif event.type == "case.closed" and not event.data.get("rectification"):
            close_op, closed_at, on_time = _SET, t, _flag(event.data.get("on_time"))
        elif event.type == "case.reopened":
            close_op, closed_at, on_time = _CLEAR, None, None
    due_at, rework, resolved_at, rating, rectify_due, rectified_at = _from_doc(step.case_doc)
    statements.append(
        (
            _CASE_UPDATE,
            (
                step.status,
                due_at,
                rework,
                resolved_at,
                rating,
                rectify_due,
                rectified_at,
                first_ack,
                close_op,
                closed_at,
                close_op,
                on_time,
                wid,
            ),
        )
    )
    return statements


def _event_facts(wid: str, event: NewEvent) -> list[Statement]:
    t = event.at.timestamp()
    data = event.data
    aid = data.get("assignment")
    match event.type:
        case "assignment.acknowledged":
            return [(_ACKNOWLEDGED, (t, aid))]
        case "assignment.claimed":
            return [(_CLAIMED, (t, data.get("responder_id"), aid))]
        case "assignment.resolved":
            return [(_RESOLVED, (t, aid))]
        case "assignment.returned":
            return [(_ENDED, (t, aid))]
        case "assignment.added" if data.get("replaces"):
            return [(_ENDED, (t, data["replaces"]))]
        case "case.closed" | "case.merged":
            return [(_PENDING_ENDED, (t, wid))]
        case "case.released":
            return [(_PENDING_SHIFTED, (float(data.get("shift_seconds", 0)), wid))]
    return []


# -- reading ---------------------------------------------------------------------------------


def _is_root(grid_path: str) -> bool:
    # "/root/": every cell lies under the one root, so the subtree test can be left out.
    return grid_path.count("/") <= 2


def base_filter(query: StatsQuery, *, cases: bool = True) -> tuple[str, dict[str, Any]]:
    """The WHERE clause and parameters for the query's place and time (and, for cases, the
    statuses that count: muted whistles were never dispatched, merged ones are duplicates)."""
    clauses = ["received_at >= :since", "received_at < :until"]
    if cases:
        # The same range in the clustering key's terms (Shanghai days), so it is a seek.
        clauses.insert(0, "day >= :day_lo AND day <= :day_hi")
    params: dict[str, Any] = {
        "day_lo": query.since.astimezone(DAY_TZ).date().isoformat(),
        "day_hi": (query.until - timedelta(microseconds=1)).astimezone(DAY_TZ).date().isoformat(),
        "since": query.since.timestamp(),
        "until": query.until.timestamp(),
        "now": query.now.timestamp(),
        "prefix_len": len(query.grid_path),
    }
    if not _is_root(query.grid_path):
        clauses.append("grid_path >= :lo AND grid_path < :hi")
        params["lo"] = query.grid_path
        params["hi"] = query.grid_path + "\U0010ffff"
    if cases:
        clauses.append("status NOT IN ('muted', 'cancelled')")
    return " AND ".join(clauses), params


def place_sql(dialect: Dialect) -> str:
    """The cell one level below the chosen one that a case lies in ('' when placed at the
    cell)."""
    rest = "substr(grid_path, :prefix_len + 1)"
    slash = dialect.position(rest, "'/'")
    return (
        "CASE WHEN length(grid_path) <= :prefix_len THEN '' ELSE "
        f"substr(grid_path, :prefix_len + 1, {slash} - 1) END"
    )


def bucket_filter(
    bucket: str | None, query: StatsQuery, *, cases: bool
) -> tuple[str, dict[str, Any]]:
    """A clause selecting one bucket of a breakdown (``source:citizen``, ``place:CODE``,
    ``category:E01``, ``day:2026-11-23``, ``responder:ID``), or none for the whole."""
    if not bucket:
        return "", {}
    kind, sep, value = bucket.partition(":")
    if not sep:
        raise BadBucket(f"bucket {bucket!r}: expected KIND:VALUE")
    if kind == "place":
        if not value:
            return "grid_path = :bucket", {"bucket": query.grid_path}
        if "/" in value:
            raise BadBucket(f"bucket {bucket!r}: not a cell code")
        path = f"{query.grid_path}{value}/"
        return (
            "grid_path >= :bucket AND grid_path < :bucket_hi",
            {"bucket": path, "bucket_hi": path + "\U0010ffff"},
        )
    columns = (
        {"source": "source", "category": "major", "day": "day"}
        if cases
        else {"responder": "responder_id"}
    )
    column = columns.get(kind)
    if column is None:
        what = "case" if cases else "assignment"
        raise BadBucket(f"bucket {bucket!r}: a {what} metric has no {kind} buckets")
    return f"{column} = :bucket", {"bucket": value}


def metric_kind(metric: str) -> str:
    """What a metric counts and its drill-down lists: ``case`` ids (the response metrics
    too) or ``assignment`` ids. Raises BadBucket for an unknown metric."""
    if metric in CASE_METRICS:
        return "case"
    if metric in ASSIGNMENT_METRICS:
        return "assignment"
    raise BadBucket(f"unknown metric {metric!r}")


def drill_sql(metric: str, bucket: str | None, query: StatsQuery) -> tuple[str, dict[str, Any]]:
    """The statement listing the ids behind one figure, oldest first, at most ``:limit``
    (the caller binds it), and its parameters. Raises BadBucket."""
    is_case = metric_kind(metric) == "case"
    condition = (CASE_METRICS if is_case else ASSIGNMENT_METRICS)[metric]
    where, params = base_filter(query, cases=is_case)
    extra, extra_params = bucket_filter(bucket, query, cases=is_case)
    if extra:
        where = f"{where} AND {extra}"
    # In the clustering key's order (oldest first), so the first ``limit`` end the scan.
    table, key, order = (
        ("case_facts", "whistle_id", "day, received_at, whistle_id")
        if is_case
        else ("assignment_facts", "assignment_id", "received_at, assignment_id")
    )
    # "1" (every row) is no boolean to PostgreSQL: leave it out.
    also = "" if condition == "1" else f" AND {condition}"
    sql = f"SELECT {key} FROM {table} WHERE {where}{also} ORDER BY {order} LIMIT :limit"
    return sql, {**params, **extra_params}


def count_sql(condition: str) -> str:
    """The count of the rows where ``condition`` holds (every row: a plain ``count(*)``)."""
    return "count(*)" if condition == "1" else f"count(*) FILTER (WHERE {condition})"


def counts_sql(metrics: Sequence[str], table_metrics: Mapping[str, str]) -> str:
    return ", ".join(count_sql(table_metrics[m]) for m in metrics)
