"""The committee's statistics (统计) planned once for every backend: the SQL of each scan
(:func:`plan`, in the backend's :class:`~whistle.store.dialect.Dialect`) and the roll-up of the
rows they return (:func:`assemble`). whistle/store/facts.py holds the metrics; each backend
runs the scans (whistle/store/sqlite/statistics.py, whistle/store/postgres/statistics.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from whistle.store import facts
from whistle.store.base import StatsQuery
from whistle.store.dialect import SQLITE, Dialect

__all__ = ["Plan", "Scans", "assemble", "plan"]

# Per responder: the counts of the responders table.
_PER_RESPONDER = ("answered", "claimed", "completed")


@dataclass(frozen=True, slots=True)
class Plan:
    """The SQL of one statistics query, with its filters' parameters."""

    params: dict[str, Any]  # the case filter's (case_facts)
    a_params: dict[str, Any]  # the assignment filter's (assignment_facts)
    where: str
    case_metrics: list[str]
    wide: bool
    groups_sql: str
    days_sql: str
    assignments_sql: str
    responders_sql: str
    ack_sql: str
    resolve_sql: str


@dataclass(frozen=True, slots=True)
class Scans:
    """What the scans of a Plan found, before the roll-up."""

    groups: list[Any]  # (source, 大类, place, *case metric counts)
    days: list[Any]  # (day, *case metric counts)
    assignment_rows: list[Any]  # one row of assignment metric counts
    responder_rows: list[Any]  # (responder, kind, answered, claimed, completed, seconds)
    ack: dict[str, Any]  # the time to acknowledge: count, median, p90
    resolve: dict[str, Any]  # the time to resolve


def _groups_sql(where: str, case_metrics: list[str], wide: bool, dialect: Dialect) -> str:
    """Source, 大类 and place in one scan (a few hundred groups at most)."""
    # Each scan is the cost: a county-year is 500,000 rows. A short window sorts its range of
    # the clustered table; a wide one streams migration 6's covering indexes in their order
    # (grid_path, source, 大类) and rolls the cells up to places over the few thousand groups
    # that come out.
    if wide:
        inner = ", ".join(
            f"{facts.count_sql(facts.CASE_METRICS[m])} AS m{i}" for i, m in enumerate(case_metrics)
        )
        outer = ", ".join(f"sum(m{i})" for i in range(len(case_metrics)))
        return (
            f"SELECT source, major, place, {outer} FROM ("
            f"SELECT source, major, {facts.place_sql(dialect)} AS place, {inner} "
            f"FROM case_facts {dialect.indexed_by('case_facts_by_place')} WHERE {where} "
            "GROUP BY grid_path, source, major) AS cells GROUP BY source, major, place"
        )
    case_counts = facts.counts_sql(case_metrics, facts.CASE_METRICS)
    return (
        f"SELECT source, major, {facts.place_sql(dialect)} AS place, {case_counts} "
        f"FROM case_facts WHERE {where} GROUP BY source, major, place"
    )


def _responders_sql(query: StatsQuery, a_where: str, wide: bool, dialect: Dialect) -> str:
    """The responders, busiest first, at most ``query.top`` of them."""
    top = "" if query.top is None else f"LIMIT {int(query.top)}"
    by_responder = f"{dialect.indexed_by('assignment_facts_by_responder')} " if wide else ""
    # Busiest: the most assignments answered and claimed. Spelt out, not ``3 + 4``: in ORDER
    # BY only a lone number names a column; ``3 + 4`` is the constant 7, which sorts nothing.
    busiest = " + ".join(
        facts.count_sql(facts.ASSIGNMENT_METRICS[m]) for m in ("answered", "claimed")
    )
    return (
        "SELECT responder_id, kind, "
        f"{facts.counts_sql(_PER_RESPONDER, facts.ASSIGNMENT_METRICS)}, "
        # coalesce(sum): SQLite's total() is its alone
        "coalesce(sum(resolved_at - acknowledged_at) FILTER (WHERE resolved_at IS NOT NULL), 0) "
        f"FROM assignment_facts {by_responder}WHERE {a_where} AND responder_id IS NOT NULL "
        "AND acknowledged_at IS NOT NULL "
        f"GROUP BY responder_id, kind ORDER BY {busiest} DESC, 6 DESC, responder_id {top}"
    )


def plan(query: StatsQuery, dialect: Dialect = SQLITE) -> Plan:
    """The SQL of every scan ``query`` needs."""
    where, params = facts.base_filter(query)
    a_where, a_params = facts.base_filter(query, cases=False)
    case_metrics = list(facts.CASE_METRICS)
    case_counts = facts.counts_sql(case_metrics, facts.CASE_METRICS)
    # Without index hints the wide plan has no index to stream: sort the range instead.
    wide = facts.wide(query) and dialect.index_hints
    return Plan(
        params=params,
        a_params=a_params,
        where=where,
        case_metrics=case_metrics,
        wide=wide,
        groups_sql=_groups_sql(where, case_metrics, wide, dialect),
        days_sql=f"SELECT day, {case_counts} FROM case_facts WHERE {where} GROUP BY day",
        # One scan counts assignments and, for 响应率, cases (see facts.assignment_totals_sql).
        assignments_sql=facts.assignment_totals_sql(a_where),
        responders_sql=_responders_sql(query, a_where, wide, dialect),
        ack_sql=facts.percentiles_sql("first_ack_at - received_at", "first_ack_at", where),
        resolve_sql=facts.percentiles_sql("resolved_at - received_at", "resolved_at", where),
    )


def _breakdowns(
    case_metrics: list[str], groups: list[Any]
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, int]]:
    """The sources, categories and places tables rolled up from the groups, and the totals."""
    totals: dict[str, int] = dict.fromkeys(case_metrics, 0)
    tables: dict[str, dict[str, dict[str, Any]]] = {
        "sources": {},
        "categories": {},
        "places": {},
    }
    for source, major, place, *values in groups:
        counted = dict(zip(case_metrics, (int(v) for v in values), strict=True))
        for table, key in (("sources", source), ("categories", major), ("places", place)):
            row = tables[table].setdefault(key, {"key": key, **dict.fromkeys(case_metrics, 0)})
            for m, v in counted.items():
                row[m] += v
        for m, v in counted.items():
            totals[m] += v
    return {table: [rows[k] for k in sorted(rows)] for table, rows in tables.items()}, totals


def _responders(responder_rows: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "responder_id": rid,
            "kind": kind,
            "answered": answered,
            "claimed": claimed,
            "completed": completed,
            "hours": round(seconds / 3600.0, 2),
        }
        for rid, kind, answered, claimed, completed, seconds in responder_rows
    ]


def assemble(p: Plan, scans: Scans) -> dict[str, Any]:
    """The answer of Store.statistics from the scans' rows."""
    tables, totals = _breakdowns(p.case_metrics, scans.groups)
    result: dict[str, Any] = dict(tables)
    result["days"] = [
        {"key": day, **dict(zip(p.case_metrics, (int(v) for v in values), strict=True))}
        for day, *values in scans.days
    ]
    totals.update(
        zip(facts.ASSIGNMENT_TOTALS, (int(v) for v in scans.assignment_rows[0]), strict=True)
    )
    result["counts"] = totals
    result["durations"] = {"acknowledge": scans.ack, "resolve": scans.resolve}
    result["responders"] = _responders(scans.responder_rows)
    return result
