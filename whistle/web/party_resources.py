"""The party-building API's answers, as typed dicts (read by whistle.web.openapi for the
document's components, like whistle.web.resources for the rest)."""

# No `from __future__ import annotations`: TypedDict reads its annotations as it builds.

from typing import Any

from typing_extensions import TypedDict

__all__ = [
    "BulkRegistered",
    "MemberParty",
    "PartyRecordDoc",
    "PartyRecords",
    "PartySummary",
    "UnitReport",
]


class PartyRecordDoc(TypedDict):
    """One party-building record: its kind (unit, seat, pact, meeting, registration, need,
    project, claim, team, pairing, visit), status, date, the record it hangs off (``ref``),
    the person it is about, and its fields (``doc``)."""

    id: str
    kind: str
    status: str
    at: str
    ref: str | None
    person: str | None
    doc: dict[str, Any]


class PartyRecords(TypedDict):
    items: list[PartyRecordDoc]


class BulkRegistered(TypedDict):
    """What a bulk 双报到 stored."""

    registered: int
    ids: list[str]


class PartySummary(TypedDict):
    """The committee's party-building figures for a subtree and a date range."""

    grid: dict[str, str]
    since: str
    until: str
    units: dict[str, Any]
    registrations: dict[str, Any]
    board: dict[str, Any]
    hours: dict[str, Any]
    pairings: dict[str, Any]


class UnitReport(TypedDict):
    """双报告: what a unit's members did, by community and member."""

    unit_id: str
    unit: PartyRecordDoc
    registered: list[dict[str, Any]]
    rows: list[dict[str, Any]]
    hours: float
    reports: int


class MemberClaim(PartyRecordDoc):
    hours: float | None


class MemberParty(TypedDict):
    """A member's registration, claims and hours."""

    member: str
    registration: PartyRecordDoc | None
    registrations: list[PartyRecordDoc]
    claims: list[MemberClaim]
    hours: float
    reports: int
