"""The party-building records' storage shapes and interface (issue 19).

Every record of the party-building side (a unit, a 大党委 seat, a 结对共建 pact, a 联席会议, a
双报到 registration, a need, a project, a claim, a volunteer team, a 结对帮扶 pairing, a visit)
is one :class:`PartyRecord`: its kind, id, the grid path of the community it belongs to (which
scopes it the way a case is scoped), a status, the date that orders it, the record it hangs off
(``ref``), the person it is about, and the rest as a JSON document. Service hours are rows of
their own (:class:`HoursRow`), so that they roll up to members, teams and units in SQL.

What the records mean and the rules between them are the service's (whistle/party/).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

__all__ = ["MIGRATION", "HoursRow", "PartyKind", "PartyQuery", "PartyRecord", "PartyStore"]


class PartyKind(StrEnum):
    """The kinds of party-building record."""

    UNIT = "unit"  # 单位
    SEAT = "seat"  # 大党委 member unit and its 兼职委员
    PACT = "pact"  # 结对共建 / 包保: a unit paired with a community
    MEETING = "meeting"  # 联席会议
    REGISTRATION = "registration"  # 双报到
    NEED = "need"  # 群众需求清单
    PROJECT = "project"  # 项目库
    CLAIM = "claim"  # 认领
    TEAM = "team"  # 志愿服务队
    PAIRING = "pairing"  # 结对帮扶
    VISIT = "visit"  # a pairing's visit, due or made


@dataclass(frozen=True, slots=True)
class PartyRecord:
    """One record; ``grid_path`` is the stored path of its community (``/root/.../code/``)."""

    kind: PartyKind
    id: str
    grid_path: str
    status: str
    at: datetime
    ref: str | None = None
    person: str | None = None
    doc: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"PartyRecord({self.kind.value}, {self.id!r}, {self.status})"


@dataclass(frozen=True, slots=True)
class HoursRow:
    """One person's hours on one completed claim, with the unit and team they count for."""

    claim_id: str
    person: str
    grid_path: str
    at: datetime
    hours: float
    unit_id: str | None = None
    team_id: str | None = None


@dataclass(frozen=True, slots=True)
class PartyQuery:
    """Records of ``kind`` in the subtree ``grid_path`` (None: everywhere), dated in
    [``since``, ``until``), optionally of one ``ref``, ``person`` or ``status``."""

    kind: PartyKind
    grid_path: str | None = None
    ref: str | None = None
    person: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 500


class PartyStore(Protocol):
    """Where the party-building records live."""

    async def put(self, records: Sequence[PartyRecord], hours: Sequence[HoursRow] = ()) -> None:
        """Write (insert or replace) ``records`` and ``hours`` as one unit, on disk on return."""

    async def get(self, kind: PartyKind, record_id: str) -> PartyRecord | None: ...

    async def find(self, query: PartyQuery) -> list[PartyRecord]:
        """The records matching ``query``, newest ``at`` first, at most ``query.limit``."""

    async def count(self, query: PartyQuery, by: str) -> dict[str, int]:
        """How many records match ``query`` (its limit ignored), by ``by``: ``status``,
        ``ref``, ``person``, ``all`` or a top-level field of the document (``type``)."""

    async def hours(
        self,
        grid_path: str | None,
        since: datetime | None,
        until: datetime | None,
        by: str,
        *,
        key: str | None = None,
    ) -> dict[str, tuple[float, int]]:
        """Service hours and 报到 (one per person per completed claim) in the subtree and
        range, by ``person``, ``unit_id``, ``team_id`` or ``grid_path``; ``key`` keeps one
        value of ``by``."""

    async def hours_rows(self, by: str, key: str, limit: int = 5000) -> list[HoursRow]:
        """The hours rows whose ``by`` (``person``, ``unit_id``, ``team_id``) is ``key``."""


# The tables (SQLite), migration 19 in whistle/store/_schema.py.
MIGRATION = [
    """CREATE TABLE party_records (
        kind      TEXT NOT NULL,
        id        TEXT NOT NULL,
        grid_path TEXT NOT NULL,
        status    TEXT NOT NULL,
        at        TEXT NOT NULL,
        ref       TEXT,
        person    TEXT,
        doc       TEXT NOT NULL,
        PRIMARY KEY (kind, id)
    ) WITHOUT ROWID""",
    "CREATE INDEX party_by_place ON party_records (kind, grid_path, at)",
    "CREATE INDEX party_by_ref ON party_records (kind, ref) WHERE ref IS NOT NULL",
    "CREATE INDEX party_by_person ON party_records (kind, person) WHERE person IS NOT NULL",
    """CREATE TABLE party_hours (
        claim_id  TEXT NOT NULL,
        person    TEXT NOT NULL,
        grid_path TEXT NOT NULL,
        at        TEXT NOT NULL,
        hours     REAL NOT NULL,
        unit_id   TEXT,
        team_id   TEXT,
        PRIMARY KEY (claim_id, person)
    ) WITHOUT ROWID""",
    "CREATE INDEX party_hours_by_place ON party_hours (grid_path, at)",
    "CREATE INDEX party_hours_by_unit ON party_hours (unit_id) WHERE unit_id IS NOT NULL",
]
