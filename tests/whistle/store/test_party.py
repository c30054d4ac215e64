"""The party-building records in every Store backend: written as one unit and read back
after reopening, found by subtree, date, ref, person and status, counted by a column or a
document field, and service hours summed by person, unit and team."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.store_contract import Backend
from whistle.store import HoursRow, PartyKind, PartyQuery, PartyRecord, Store

T0 = datetime(2026, 11, 23, 1, tzinfo=UTC)
A, B = "/530524/A/a1/", "/530524/B/b1/"


def _unit(rid: str, path: str, kind: str, at: datetime = T0) -> PartyRecord:
    return PartyRecord(PartyKind.UNIT, rid, path, "active", at, doc={"name": rid, "type": kind})


async def test_records_and_hours_read_back_after_reopening(backend: Backend, store: Store) -> None:
    unit = _unit("U1", A, "organ")
    claim = PartyRecord(PartyKind.CLAIM, "C1", A, "completed", T0, ref="J1", person="m1")
    hours = [HoursRow("C1", "m1", A, T0, 2.5, "U1", None), HoursRow("C1", "m2", A, T0, 1.0, "U1")]
    await store.party.put([unit, claim], hours)
    await store.close()
    again = await backend.open()
    assert await again.party.get(PartyKind.UNIT, "U1") == unit
    assert await again.party.get(PartyKind.CLAIM, "C1") == claim
    assert await again.party.get(PartyKind.CLAIM, "U1") is None  # ids are per kind
    assert await again.party.hours(None, None, None, "unit_id") == {"U1": (3.5, 2)}
    assert await again.party.hours_rows("person", "m2") == [hours[1]]


async def test_find_and_count_by_subtree_date_and_field(store: Store) -> None:
    await store.party.put(
        [
            _unit("U1", A, "organ"),
            _unit("U2", A, "private", T0 + timedelta(days=2)),
            _unit("U3", B, "organ"),
        ]
    )
    found = await store.party.find(PartyQuery(PartyKind.UNIT, grid_path="/530524/A/"))
    assert [r.id for r in found] == ["U2", "U1"]  # newest first
    dated = PartyQuery(PartyKind.UNIT, since=T0 + timedelta(days=1))
    assert [r.id for r in await store.party.find(dated)] == ["U2"]
    assert await store.party.count(PartyQuery(PartyKind.UNIT), "type") == {"organ": 2, "private": 1}
    assert await store.party.count(PartyQuery(PartyKind.UNIT, grid_path=B), "all") == {"all": 1}
    with pytest.raises(ValueError, match="cannot count"):
        await store.party.count(PartyQuery(PartyKind.UNIT), "doc'); DROP TABLE x; --")


async def test_hours_by_team_in_a_subtree_and_range(store: Store) -> None:
    rows = [
        HoursRow("C1", "m1", A, T0, 2.0, None, "T1"),
        HoursRow("C2", "m1", B, T0, 4.0, None, "T1"),
        HoursRow("C3", "m3", A, T0 + timedelta(days=40), 1.0, None, "T1"),
    ]
    await store.party.put([], rows)
    until = T0 + timedelta(days=30)
    assert await store.party.hours(A, T0, until, "team_id") == {"T1": (2.0, 1)}
    assert await store.party.hours(None, None, None, "person", key="m1") == {"m1": (6.0, 2)}
