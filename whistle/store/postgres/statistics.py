"""The committee's statistics (统计) on PostgreSQL: the shared plan
(whistle/store/stats_plan.py) in PostgreSQL's dialect, its scans run two at a time on the read
pool, and the same roll-up as SQLite's."""

from __future__ import annotations

import asyncio
from typing import Any

from whistle.store import facts
from whistle.store.base import StatsQuery
from whistle.store.dialect import POSTGRES
from whistle.store.postgres._common import Readers
from whistle.store.postgres.dialect import named
from whistle.store.stats_plan import Scans, assemble, plan

__all__ = ["Statistics"]


class Statistics:
    """Store.statistics and Store.cases_for over the facts tables."""

    def __init__(self, readers: Readers) -> None:
        self._r = readers

    def __repr__(self) -> str:
        return f"Statistics({self._r!r})"

    async def _run(self, sql: str, params: dict[str, Any]) -> list[Any]:
        text, args = named(sql, params)
        return await self._r.fetch(text, *args)

    async def _lane(self, jobs: list[tuple[str, dict[str, Any]]]) -> list[list[Any]]:
        return [await self._run(sql, p) for sql, p in jobs]

    async def statistics(self, query: StatsQuery) -> dict[str, Any]:
        p = plan(query, POSTGRES)
        first, second = await asyncio.gather(
            self._lane([(p.groups_sql, p.params), (p.ack_sql, p.params)]),
            self._lane(
                [
                    (p.days_sql, p.params),
                    (p.assignments_sql, p.a_params),
                    (p.responders_sql, p.a_params),
                    (p.resolve_sql, p.params),
                ]
            ),
        )
        groups, ack_rows = first
        days, assignment_rows, responder_rows, resolve_rows = second
        ack, resolve = facts.percentiles(ack_rows), facts.percentiles(resolve_rows)
        return assemble(p, Scans(groups, days, assignment_rows, responder_rows, ack, resolve))

    async def cases_for(
        self, metric: str, bucket: str | None, query: StatsQuery, limit: int = 500
    ) -> list[str]:
        sql, params = facts.drill_sql(metric, bucket, query)
        rows = await self._run(sql, {**params, "limit": limit})
        return [str(r[0]) for r in rows]
