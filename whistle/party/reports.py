"""The committee's party-building figures for a subtree and a date range, and the 双报告: a
unit's report of what its members did in which communities.

Standing records (units, 大党委 seats, active registrations, active pairings) are counted as
they stand; what happens (new registrations, needs, projects, claims, hours, visits) is
counted by its date in [since, until).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from whistle.party.model import ClaimBy, UnitType
from whistle.store import PartyKind, PartyQuery, PartyStore

__all__ = ["Window", "summary", "unit_report"]

_ALL = 1_000_000


@dataclass(frozen=True, slots=True)
class Window:
    """A subtree (its stored path; None: everywhere) and a date range."""

    grid_path: str | None
    since: datetime
    until: datetime
    now: datetime


def _q(kind: PartyKind, w: Window, *, dated: bool = True, **kw: Any) -> PartyQuery:
    if dated:
        return PartyQuery(kind, grid_path=w.grid_path, since=w.since, until=w.until, **kw)
    return PartyQuery(kind, grid_path=w.grid_path, **kw)


async def _units(store: PartyStore, w: Window) -> dict[str, Any]:
    by_type = await store.count(_q(PartyKind.UNIT, w, dated=False), "type")
    seats = await store.count(_q(PartyKind.SEAT, w, dated=False, status="active"), "ref")
    return {
        "total": sum(by_type.values()),
        "by_type": {t.value: by_type.get(t.value, 0) for t in UnitType},
        "committee_units": len(seats),
        "committee_seats": sum(seats.values()),
    }


async def _registrations(store: PartyStore, w: Window) -> dict[str, Any]:
    active = _q(PartyKind.REGISTRATION, w, dated=False, status="active")
    of = await store.count(active, "of")
    by_unit = Counter(await store.count(active, "ref"))
    new = await store.count(_q(PartyKind.REGISTRATION, w), "status")
    units = await store.find(_q(PartyKind.UNIT, w, dated=False, limit=_ALL))
    shares = []
    for unit in units:
        members = int(unit.doc.get("members") or 0)
        registered = by_unit.get(unit.id, 0)
        shares.append(
            {
                "unit_id": unit.id,
                "name": unit.doc["name"],
                "type": unit.doc["type"],
                "members": members,
                "registered": registered,
                "share": round(registered / members, 3) if members else None,
            }
        )
    shares.sort(key=lambda row: (-(row["registered"]), row["name"]))
    return {
        "members": of.get("member", 0),
        "units": of.get("unit", 0),
        "new": sum(new.values()),
        "withdrawn": new.get("withdrawn", 0),
        "by_unit": shares,
    }


async def _board(store: PartyStore, w: Window) -> dict[str, Any]:
    projects = await store.count(_q(PartyKind.PROJECT, w), "status")
    claims = await store.count(_q(PartyKind.CLAIM, w), "status")
    by = await store.count(_q(PartyKind.CLAIM, w), "by")
    return {
        "needs": sum((await store.count(_q(PartyKind.NEED, w), "all")).values()),
        "projects": sum(projects.values()),
        "projects_by_type": await store.count(_q(PartyKind.PROJECT, w), "type"),
        "claimed": sum(claims.values()),
        "claimed_by": {b.value: by.get(b.value, 0) for b in ClaimBy},
        "completed": claims.get("completed", 0),
    }


async def _hours(store: PartyStore, w: Window, names: dict[str, str], top: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for by, label in (("person", "members"), ("team_id", "teams"), ("unit_id", "units")):
        rows = await store.hours(w.grid_path, w.since, w.until, by)
        ranked = sorted(rows.items(), key=lambda item: (-item[1][0], item[0]))[:top]
        out[label] = [
            {"id": key, "name": names.get(key, key), "hours": h, "reports": n}
            for key, (h, n) in ranked
        ]
    total = await store.hours(w.grid_path, w.since, w.until, "grid_path")
    out["total"] = round(sum(h for h, _ in total.values()), 2)
    out["reports"] = sum(n for _, n in total.values())
    return out


async def _pairings(store: PartyStore, w: Window) -> dict[str, Any]:
    active = await store.count(_q(PartyKind.PAIRING, w, dated=False, status="active"), "all")
    # Visits that have fallen due in the range (a visit due tomorrow is not yet late).
    fallen = PartyQuery(
        PartyKind.VISIT, grid_path=w.grid_path, since=w.since, until=min(w.until, w.now)
    )
    visits = await store.count(fallen, "status")
    due = sum(n for status, n in visits.items() if status != "due" and status != "reminded")
    return {
        "active": sum(active.values()),
        "visits_due": due,
        "visits_on_time": visits.get("made", 0),
        "visits_late": visits.get("made_late", 0),
        "visits_missed": visits.get("missed", 0) + visits.get("escalated", 0),
        "escalated": visits.get("escalated", 0),
        "on_time_rate": round(visits.get("made", 0) / due, 3) if due else None,
    }


async def summary(
    store: PartyStore, w: Window, names: dict[str, str], *, top: int = 50
) -> dict[str, Any]:
    """Every figure of the committee's party-building page. ``names`` names the people,
    teams and units the hours tables list (ids otherwise)."""
    return {
        "units": await _units(store, w),
        "registrations": await _registrations(store, w),
        "board": await _board(store, w),
        "hours": await _hours(store, w, names, top),
        "pairings": await _pairings(store, w),
    }


async def unit_report(store: PartyStore, unit_id: str, w: Window) -> dict[str, Any]:
    """双报告: the unit's registered members, and by community and member what they did (the
    claims they worked on, hours and 报到) in the range, within the window's subtree."""
    registrations = await store.find(
        PartyQuery(
            PartyKind.REGISTRATION, grid_path=w.grid_path, ref=unit_id, status="active", limit=_ALL
        )
    )
    inside = w.grid_path or "/"
    rows = [
        r
        for r in await store.hours_rows("unit_id", unit_id, limit=_ALL)
        if w.since <= r.at < w.until and r.grid_path.startswith(inside)
    ]
    names = {r.person: r.doc["name"] for r in registrations if r.person}
    claims: dict[str, Any] = {}
    by_member: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        if row.claim_id not in claims:
            claims[row.claim_id] = await store.get(PartyKind.CLAIM, row.claim_id)
        claim = claims[row.claim_id]
        community = claim.doc["community_name"] if claim is not None else row.grid_path
        entry = by_member.setdefault(
            (community, row.person),
            {
                "community": community,
                "person": row.person,
                "name": names.get(row.person, row.person),
                "hours": 0.0,
                "reports": 0,
                "projects": [],
            },
        )
        entry["hours"] = round(entry["hours"] + row.hours, 2)
        entry["reports"] += 1
        if claim is not None:
            entry["projects"].append(claim.doc["project_title"])
    return {
        "unit_id": unit_id,
        "registered": [
            {
                "person": r.person,
                "name": r.doc["name"],
                "community": r.doc["community_name"],
                "since": r.at.isoformat(),
                "services": r.doc["services"],
            }
            for r in registrations
            if r.person
        ],
        "rows": sorted(by_member.values(), key=lambda e: (e["community"], -e["hours"])),
        "hours": round(sum(r.hours for r in rows), 2),
        "reports": len(rows),
    }
