"""The party-building records on SQLite (the interface is whistle/store/party.py).

Writes go through the group writer like every write, so a 201 means on disk; reads use the
shared reader. Subtrees are path prefixes, as for cases (``grid_path >= p AND < p + U+10FFFF``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import aiosqlite
import orjson

from whistle.store.party import HoursRow, PartyKind, PartyQuery, PartyRecord
from whistle.store.sqlite._common import Readers, db_time, fetchone, parse_db_time, to_json
from whistle.store.sqlite.write_thread import SqliteApply
from whistle.store.writer import GroupWriter

__all__ = ["SqlitePartyStore"]


_COLUMNS = "kind, id, grid_path, status, at, ref, person, doc"
_GROUPS = {"status": "status", "ref": "ref", "person": "person", "all": "'all'"}
_HOUR_GROUPS = ("person", "unit_id", "team_id", "grid_path")
_FIELD = re.compile(r"^[a-z_]{1,32}$")


def _record(row: Any) -> PartyRecord:
    kind, rid, path, status, at, ref, person, doc = row
    return PartyRecord(
        PartyKind(kind), rid, path, status, parse_db_time(at), ref, person, orjson.loads(doc)
    )


def _hours_row(row: Any) -> HoursRow:
    claim, person, path, at, hours, unit, team = row
    return HoursRow(claim, person, path, parse_db_time(at), float(hours), unit, team)


def _where(query: PartyQuery) -> tuple[str, list[Any]]:
    clauses, params = ["kind = ?"], [query.kind.value]
    if query.grid_path is not None:
        clauses.append("grid_path >= ? AND grid_path < ?")
        params += [query.grid_path, query.grid_path + "\U0010ffff"]
    for column in ("ref", "person", "status"):
        value = getattr(query, column)
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if query.since is not None:
        clauses.append("at >= ?")
        params.append(db_time(query.since))
    if query.until is not None:
        clauses.append("at < ?")
        params.append(db_time(query.until))
    return " AND ".join(clauses), params


class SqlitePartyStore:
    """The party-building records of one SQLite file."""

    def __init__(self, writer: GroupWriter[SqliteApply], readers: Readers) -> None:
        self._writer = writer
        self._readers = readers

    def __repr__(self) -> str:
        return f"SqlitePartyStore({self._readers!r})"

    @property
    def _r(self) -> aiosqlite.Connection:
        return self._readers.conn

    async def put(self, records: Sequence[PartyRecord], hours: Sequence[HoursRow] = ()) -> None:
        statements: list[tuple[str, tuple[Any, ...]]] = [
            (
                f"INSERT OR REPLACE INTO party_records ({_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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
                "INSERT OR REPLACE INTO party_hours (claim_id, person, grid_path, at, hours, "
                "unit_id, team_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (h.claim_id, h.person, h.grid_path, db_time(h.at), h.hours, h.unit_id, h.team_id),
            )
            for h in hours
        ]
        if statements:
            await self._writer.submit(statements, (), None)

    async def get(self, kind: PartyKind, record_id: str) -> PartyRecord | None:
        row = await fetchone(
            self._r,
            f"SELECT {_COLUMNS} FROM party_records WHERE kind = ? AND id = ?",
            (kind.value, record_id),
        )
        return None if row is None else _record(row)

    async def find(self, query: PartyQuery) -> list[PartyRecord]:
        where, params = _where(query)
        rows = await self._r.execute_fetchall(
            f"SELECT {_COLUMNS} FROM party_records WHERE {where} ORDER BY at DESC, id LIMIT ?",
            (*params, query.limit),
        )
        return [_record(row) for row in rows]

    async def count(self, query: PartyQuery, by: str) -> dict[str, int]:
        group = _GROUPS.get(by)
        if group is None:
            if not _FIELD.match(by):
                raise ValueError(f"cannot count by {by!r}")
            group = f"json_extract(doc, '$.{by}')"
        where, params = _where(query)
        rows = await self._r.execute_fetchall(
            f"SELECT {group}, count(*) FROM party_records WHERE {where} GROUP BY 1", params
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
        clauses, params = [f"{by} IS NOT NULL"], []
        if grid_path is not None:
            clauses.append("grid_path >= ? AND grid_path < ?")
            params += [grid_path, grid_path + "\U0010ffff"]
        if since is not None:
            clauses.append("at >= ?")
            params.append(db_time(since))
        if until is not None:
            clauses.append("at < ?")
            params.append(db_time(until))
        if key is not None:
            clauses.append(f"{by} = ?")
            params.append(key)
        rows = await self._r.execute_fetchall(
            f"SELECT {by}, sum(hours), count(*) FROM party_hours WHERE {' AND '.join(clauses)} "
            "GROUP BY 1",
            params,
        )
        return {str(k): (round(float(h), 2), int(n)) for k, h, n in rows}

    async def hours_rows(self, by: str, key: str, limit: int = 5000) -> list[HoursRow]:
        if by not in _HOUR_GROUPS:
            raise ValueError(f"cannot list hours by {by!r}")
        rows = await self._r.execute_fetchall(
            "SELECT claim_id, person, grid_path, at, hours, unit_id, team_id FROM party_hours "
            f"WHERE {by} = ? ORDER BY at DESC LIMIT ?",
            (key, limit),
        )
        return [_hours_row(row) for row in rows]
