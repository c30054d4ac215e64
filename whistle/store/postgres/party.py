"""The party-building records on PostgreSQL (the interface is whistle/store/party.py), as
SQLite's (whistle/store/sqlite/party.py): writes through the group writer, so a 201 means
committed; reads on the read pool. Subtrees are path prefixes, as for cases."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from whistle.store.encoding import db_time, parse_db_time, to_json
from whistle.store.party import HoursRow, PartyKind, PartyQuery, PartyRecord
from whistle.store.postgres._common import Readers
from whistle.store.postgres.backend import PgApply
from whistle.store.writer import GroupWriter, Statement

__all__ = ["PgPartyStore"]

_COLUMNS = "kind, id, grid_path, status, at, ref, person, doc"
_GROUPS = {"status": "status", "ref": "ref", "person": "person", "all": "'all'"}
_HOUR_GROUPS = ("person", "unit_id", "team_id", "grid_path")
_FIELD = re.compile(r"^[a-z_]{1,32}$")

_PUT_RECORD = (
    f"INSERT INTO party_records ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
    "ON CONFLICT (kind, id) DO UPDATE SET grid_path = excluded.grid_path, "
    "status = excluded.status, at = excluded.at, ref = excluded.ref, "
    "person = excluded.person, doc = excluded.doc"
)
_PUT_HOURS = (
    "INSERT INTO party_hours (claim_id, person, grid_path, at, hours, unit_id, team_id) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (claim_id, person) DO UPDATE SET "
    "grid_path = excluded.grid_path, at = excluded.at, hours = excluded.hours, "
    "unit_id = excluded.unit_id, team_id = excluded.team_id"
)


def _record(row: Any) -> PartyRecord:
    kind, rid, path, status, at, ref, person, doc = row
    return PartyRecord(
        PartyKind(kind), rid, path, status, parse_db_time(at), ref, person, orjson.loads(doc)
    )


def _hours_row(row: Any) -> HoursRow:
    claim, person, path, at, hours, unit, team = row
    return HoursRow(claim, person, path, parse_db_time(at), float(hours), unit, team)


class _Where:
    """A WHERE clause built up with $n parameters."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.params: list[Any] = []

    def add(self, template: str, *values: Any) -> None:
        """``template`` with ``{}`` for each of ``values``' parameters."""
        marks = []
        for value in values:
            self.params.append(value)
            marks.append(f"${len(self.params)}")
        self.clauses.append(template.format(*marks))

    def range(self, grid_path: str | None, since: datetime | None, until: datetime | None) -> None:
        """The subtree and the dates."""
        if grid_path is not None:
            self.add("grid_path >= {} AND grid_path < {}", grid_path, grid_path + "\U0010ffff")
        if since is not None:
            self.add("at >= {}", db_time(since))
        if until is not None:
            self.add("at < {}", db_time(until))

    @property
    def sql(self) -> str:
        return " AND ".join(self.clauses) or "true"


def _where(query: PartyQuery) -> _Where:
    where = _Where()
    where.add("kind = {}", query.kind.value)
    where.range(query.grid_path, None, None)
    for column in ("ref", "person", "status"):
        value = getattr(query, column)
        if value is not None:
            where.add(f"{column} = {{}}", value)
    where.range(None, query.since, query.until)
    return where


class PgPartyStore:
    """The party-building records of one PostgreSQL database."""

    def __init__(self, writer: GroupWriter[PgApply], readers: Readers) -> None:
        self._writer = writer
        self._r = readers

    def __repr__(self) -> str:
        return f"PgPartyStore({self._r!r})"

    async def put(self, records: Sequence[PartyRecord], hours: Sequence[HoursRow] = ()) -> None:
        statements: list[Statement] = [
            (
                _PUT_RECORD,
                (
                    r.kind.value,
                    r.id,
                    r.grid_path,
                    r.status,
                    db_time(r.at),
                    r.ref,
                    r.person,
                    to_json(dict(r.doc)),
                ),
            )
            for r in records
        ]
        statements += [
            (
                _PUT_HOURS,
                (h.claim_id, h.person, h.grid_path, db_time(h.at), h.hours, h.unit_id, h.team_id),
            )
            for h in hours
        ]
        if statements:
            await self._writer.submit(statements, (), None)

    async def get(self, kind: PartyKind, record_id: str) -> PartyRecord | None:
        row = await self._r.fetchrow(
            f"SELECT {_COLUMNS} FROM party_records WHERE kind = $1 AND id = $2",
            kind.value,
            record_id,
        )
        return None if row is None else _record(row)

    async def find(self, query: PartyQuery) -> list[PartyRecord]:
        where = _where(query)
        rows = await self._r.fetch(
            f"SELECT {_COLUMNS} FROM party_records WHERE {where.sql} "
            f"ORDER BY at DESC, id LIMIT ${len(where.params) + 1}",
            *where.params,
            query.limit,
        )
        return [_record(row) for row in rows]

    async def count(self, query: PartyQuery, by: str) -> dict[str, int]:
        group = _GROUPS.get(by)
        if group is None:
            if not _FIELD.match(by):
                raise ValueError(f"cannot count by {by!r}")
            group = f"doc->>'{by}'"
        where = _where(query)
        rows = await self._r.fetch(
            f"SELECT {group}, count(*) FROM party_records WHERE {where.sql} GROUP BY 1",
            *where.params,
        )
        return {str(key): int(n) for key, n in rows}

    async def hours(
        self,
        grid_path: str | None,
        since: datetime | None,
        until: datetime | None,
        by: str,
        *,
        key: str | None = None,
    ) -> dict[str, tuple[float, int]]:
        if by not in _HOUR_GROUPS:
            raise ValueError(f"cannot sum hours by {by!r}")
        where = _Where()
        where.add(f"{by} IS NOT NULL")
        where.range(grid_path, since, until)
        if key is not None:
            where.add(f"{by} = {{}}", key)
        rows = await self._r.fetch(
            f"SELECT {by}, sum(hours), count(*) FROM party_hours WHERE {where.sql} GROUP BY 1",
            *where.params,
        )
        return {str(k): (round(float(h), 2), int(n)) for k, h, n in rows}

    async def hours_rows(self, by: str, key: str, limit: int = 5000) -> list[HoursRow]:
        if by not in _HOUR_GROUPS:
            raise ValueError(f"cannot list hours by {by!r}")
        rows = await self._r.fetch(
            "SELECT claim_id, person, grid_path, at, hours, unit_id, team_id FROM party_hours "
            f"WHERE {by} = $1 ORDER BY at DESC LIMIT $2",
            key,
            limit,
        )
        return [_hours_row(row) for row in rows]
