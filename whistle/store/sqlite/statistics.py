"""The committee's statistics (统计) from the facts tables, and the cases behind each figure.

One query is planned once (whistle/store/stats_plan.py: the SQL of each scan), scanned on two read
connections at once (two threads: SQLite lets go of the GIL while it works), and the rows
rolled up into the answer (:func:`assemble`). whistle/store/facts.py holds the metrics.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiosqlite

from whistle.store import facts
from whistle.store.base import StatsQuery
from whistle.store.sqlite._common import Readers
from whistle.store.stats_plan import Plan, Scans, assemble, plan

__all__ = ["Statistics", "scan_sorted", "scan_wide"]


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
