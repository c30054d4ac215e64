"""The committee's statistics (统计) from the facts tables, and the cases behind each figure.

One query is planned once (:func:`plan`: the SQL of each scan), scanned on two read
connections at once (two threads: SQLite lets go of the GIL while it works), and the rows
rolled up into the answer (:func:`assemble`). whistle/store/facts.py holds the metrics.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aiosqlite

from whistle.store import facts
from whistle.store.base import StatsQuery
from whistle.store.sqlite._common import Readers

__all__ = ["Plan", "Scans", "Statistics", "assemble", "plan"]

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


def _groups_sql(where: str, case_metrics: list[str], wide: bool) -> str:
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
            f"SELECT source, major, {facts.PLACE} AS place, {inner} "
            f"FROM case_facts INDEXED BY case_facts_by_place WHERE {where} "
            "GROUP BY grid_path, source, major) GROUP BY source, major, place"
        )
    case_counts = facts.counts_sql(case_metrics, facts.CASE_METRICS)
    return (
        f"SELECT source, major, {facts.PLACE} AS place, {case_counts} "
        f"FROM case_facts WHERE {where} GROUP BY source, major, place"
    )


def _responders_sql(query: StatsQuery, a_where: str, wide: bool) -> str:
    """The responders, busiest first, at most ``query.top`` of them."""
    top = "" if query.top is None else f"LIMIT {int(query.top)}"
    by_responder = "INDEXED BY assignment_facts_by_responder " if wide else ""
    return (
        "SELECT responder_id, kind, "
        f"{facts.counts_sql(_PER_RESPONDER, facts.ASSIGNMENT_METRICS)}, "
        "total(resolved_at - acknowledged_at) FILTER (WHERE resolved_at IS NOT NULL) "
        f"FROM assignment_facts {by_responder}WHERE {a_where} AND responder_id IS NOT NULL "
        "AND acknowledged_at IS NOT NULL "
        f"GROUP BY responder_id, kind ORDER BY 3 + 4 DESC, 6 DESC, responder_id {top}"
    )


def plan(query: StatsQuery) -> Plan:
    """The SQL of every scan ``query`` needs."""
    where, params = facts.base_filter(query)
    a_where, a_params = facts.base_filter(query, cases=False)
    case_metrics = list(facts.CASE_METRICS)
    case_counts = facts.counts_sql(case_metrics, facts.CASE_METRICS)
    wide = facts.wide(query)
    return Plan(
        params=params,
        a_params=a_params,
        where=where,
        case_metrics=case_metrics,
        wide=wide,
        groups_sql=_groups_sql(where, case_metrics, wide),
        days_sql=f"SELECT day, {case_counts} FROM case_facts WHERE {where} GROUP BY day",
        # One scan counts assignments and, for 响应率, cases (see facts.assignment_totals_sql).
        assignments_sql=facts.assignment_totals_sql(a_where),
        responders_sql=_responders_sql(query, a_where, wide),
        ack_sql=facts.percentiles_sql("first_ack_at - received_at", "first_ack_at", where),
        resolve_sql=facts.percentiles_sql("resolved_at - received_at", "resolved_at", where),
    )


async def _run(conn: aiosqlite.Connection, sql: str, p: dict[str, Any]) -> list[Any]:
    return list(await conn.execute_fetchall(sql, p))


async def _lane(conn: aiosqlite.Connection, jobs: list[tuple[str, dict[str, Any]]]) -> Any:
    return [await _run(conn, sql, p) for sql, p in jobs]


async def _duration(
    conn: aiosqlite.Connection, p: Plan, value: str, present: str, n: int
) -> dict[str, Any]:
    """Median and p90 of ``value`` read at their offsets along its index (a wide window)."""
    # n is the acknowledged (resolved) count over the same rows, from the groups.
    if n == 0:
        return {"count": 0, "median": None, "p90": None}
    got = []
    for offset, descending in zip(facts.percentile_offsets(n), (False, True), strict=True):
        sql = facts.percentile_at_sql(value, present, p.where, descending=descending)
        rows = await _run(conn, sql, {**p.params, "offset": offset})
        got.append(round(float(rows[0][0]), 3))
    return {"count": n, "median": got[0], "p90": got[1]}


async def scan_wide(p: Plan, readers: list[aiosqlite.Connection]) -> Scans:
    """A wide window's scans: streams, no sorts, balanced by measured cost on a county-year.

    The groups, the time to acknowledge and the responders on one connection; the days, the
    assignment totals and the time to resolve (once the groups have counted the resolved
    cases) on the other.
    """
    group_counts: asyncio.Future[dict[str, int]] = asyncio.get_running_loop().create_future()

    async def wide_first(conn: aiosqlite.Connection) -> Any:
        try:
            groups = await _run(conn, p.groups_sql, p.params)
        except BaseException:
            group_counts.cancel()  # do not leave the other lane waiting
            raise
        n = dict.fromkeys(("acknowledged", "resolved"), 0)
        at = {m: p.case_metrics.index(m) for m in n}
        for _, _, _, *values in groups:
            for m, i in at.items():
                n[m] += int(values[i])
        group_counts.set_result(n)
        ack = await _duration(
            conn, p, "first_ack_at - received_at", "first_ack_at", n["acknowledged"]
        )
        return groups, ack, await _run(conn, p.responders_sql, p.a_params)

    async def wide_second(conn: aiosqlite.Connection) -> Any:
        days = await _run(conn, p.days_sql, p.params)
        assignment_rows = await _run(conn, p.assignments_sql, p.a_params)
        n = (await group_counts)["resolved"]
        resolve = await _duration(conn, p, "resolved_at - received_at", "resolved_at", n)
        return days, assignment_rows, resolve

    (groups, ack, responder_rows), (days, assignment_rows, resolve) = await asyncio.gather(
        wide_first(readers[0]), wide_second(readers[1])
    )
    return Scans(groups, days, assignment_rows, responder_rows, ack, resolve)


async def scan_sorted(p: Plan, readers: list[aiosqlite.Connection]) -> Scans:
    """A short window's scans: two lanes on two connections, balanced by measured cost on a
    county-year (the sorts dominate)."""
    first, second = await asyncio.gather(
        _lane(readers[0], [(p.groups_sql, p.params), (p.ack_sql, p.params)]),
        _lane(
            readers[1],
            [
                (p.days_sql, p.params),
                (p.assignments_sql, p.a_params),
                (p.responders_sql, p.a_params),
                (p.resolve_sql, p.params),
            ],
        ),
    )
    groups, ack_rows = first
    days, assignment_rows, responder_rows, resolve_rows = second
    ack, resolve = facts.percentiles(ack_rows), facts.percentiles(resolve_rows)
    return Scans(groups, days, assignment_rows, responder_rows, ack, resolve)


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


class Statistics:
    """Store.statistics and Store.cases_for over the facts tables."""

    def __init__(self, readers: Readers) -> None:
        self._readers = readers

    def __repr__(self) -> str:
        return f"Statistics({self._readers!r})"

    async def statistics(self, query: StatsQuery) -> dict[str, Any]:
        p = plan(query)
        readers = await self._readers.pair()
        scans = await (scan_wide(p, readers) if p.wide else scan_sorted(p, readers))
        return assemble(p, scans)

    async def cases_for(
        self, metric: str, bucket: str | None, query: StatsQuery, limit: int = 500
    ) -> list[str]:
        # The statement comes whole from facts (响应率 lists cases, once each).
        sql, params = facts.drill_sql(metric, bucket, query)
        rows = await self._readers.conn.execute_fetchall(sql, {**params, "limit": limit})
        return [str(r[0]) for r in rows]
