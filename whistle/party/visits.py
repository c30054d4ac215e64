"""结对帮扶: a member or unit paired with a household for a period, visiting it on a cadence.

Each visit is a deadline like a case's: armed in the clock-free :class:`dispatch.DeadlineTimer`
and fired by :meth:`Visits.tick` with the injected clock's ``now``. A visit is reminded to its
visitor ``remind_before`` its due time; missed at its due time, it is told to the community;
still not made ``grace`` later, it climbs to the town. A visit made late is recorded as late.
The next visit falls ``every_days`` after the last one was due, while the pairing lasts, so a
missed visit does not move the cadence.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import structlog

from dispatch.timer import DeadlineTimer
from grids import Level
from whistle.auth import Principal, Role
from whistle.exceptions import FieldError, Forbidden, InvalidWhistle
from whistle.party.exceptions import PartyStateError
from whistle.party.model import PairingIn, VisitIn
from whistle.party.service import PartyService, cell_path
from whistle.store import PartyKind, PartyQuery, PartyRecord

__all__ = ["PENDING", "VisitPolicy", "Visits", "visit_record"]

log = structlog.get_logger("whistle.party.visits")

# The states of a visit not yet made, in the order they are reached.
PENDING = ("due", "reminded", "missed", "escalated")


def visit_record(
    pairing: PartyRecord, n: int, due: datetime, status: str = "due", **made: Any
) -> PartyRecord:
    """Visit ``n`` of ``pairing``, due at ``due``; ``made`` adds what is known of a visit
    already made or escalated (the sample's history)."""
    doc: dict[str, Any] = {
        key: pairing.doc[key]
        for key in ("community", "community_name", "household", "visitor", "visitor_name")
    }
    doc |= {"n": n, "pairing": pairing.id, "events": [], "told": None, **made}
    return PartyRecord(
        PartyKind.VISIT,
        f"{pairing.id}-{n}",
        pairing.grid_path,
        status,
        due,
        ref=pairing.id,
        person=pairing.person,
        doc=doc,
    )


@dataclass(frozen=True, slots=True)
class VisitPolicy:
    """When a visit is reminded and when a missed one climbs."""

    remind_before: timedelta = timedelta(days=2)
    grace: timedelta = timedelta(days=3)


class Visits:
    """The pairings and their visits' deadlines."""

    def __init__(self, party: PartyService, policy: VisitPolicy | None = None) -> None:
        self.party = party
        self.policy = policy or VisitPolicy()
        self.timer = DeadlineTimer()
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"Visits({self.timer!r})"

    # -- the timer -------------------------------------------------------------------------

    def _arm(self, visit: PartyRecord) -> None:
        due = visit.at
        keys: dict[str, datetime] = {}
        if visit.status == "due":
            keys["remind"] = due - self.policy.remind_before
        if visit.status in ("due", "reminded"):
            keys["miss"] = due
        if visit.status in ("due", "reminded", "missed"):
            keys["escalate"] = due + self.policy.grace
        self.timer.replace(visit.id, keys)

    async def load(self) -> int:
        """Arm the visits not yet made (at start-up); return how many."""
        n = 0
        for status in PENDING[:3]:
            for visit in await self.party.store.find(
                PartyQuery(PartyKind.VISIT, status=status, limit=1_000_000)
            ):
                self._arm(visit)
                n += 1
        return n

    async def tick(self, now: datetime | None = None) -> list[PartyRecord]:
        """Fire every visit deadline due by ``now`` (the clock's, by default); return the
        visits changed."""
        now = now or self.party.clock.now()
        changed: list[PartyRecord] = []
        for visit_id, key in self.timer.pop_due(now):
            visit = await self.party.store.get(PartyKind.VISIT, visit_id)
            if visit is None or visit.status not in PENDING:
                continue
            changed += await self._fire(visit, key, now)
        return changed

    async def _fire(self, visit: PartyRecord, key: str, now: datetime) -> list[PartyRecord]:
        hierarchy = self.party.hierarchy
        community = hierarchy.cell(visit.doc["community"])
        status, told = {
            "remind": ("reminded", visit.doc["visitor"]),
            "miss": ("missed", community.code),
            "escalate": ("escalated", hierarchy.at_level(community.code, Level.TOWN).code),
        }[key]
        if PENDING.index(status) <= PENDING.index(visit.status):
            return []
        told_name = hierarchy.cell(told).name if told in hierarchy else visit.doc["visitor_name"]
        events = [
            *visit.doc["events"],
            {"at": now.isoformat(), "what": status, "to": told, "to_name": told_name},
        ]
        fired = replace(visit, status=status, doc={**visit.doc, "events": events, "told": told})
        records = [fired]
        if key == "miss":
            records += await self._next(fired)
        await self.party.store.put(records)
        for record in records:
            self._arm(record)
        log.info("party.visit", visit=visit.id, what=status, told=told)
        return records

    async def _next(self, visit: PartyRecord) -> list[PartyRecord]:
        pairing = await self.party.store.get(PartyKind.PAIRING, visit.ref or "")
        if pairing is None or pairing.status != "active":
            return []
        due = visit.at + timedelta(days=int(pairing.doc["every_days"]))
        if due > self.party.day(datetime.fromisoformat(pairing.doc["ends_on"]).date()):
            return []
        return [visit_record(pairing, int(visit.doc["n"]) + 1, due)]

    async def run(self, every: float = 60.0) -> None:
        """Fire deadlines in the background until cancelled."""
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("party.visits_tick_failed")
            await asyncio.sleep(every)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="party-visits")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # -- pairings and visits -----------------------------------------------------------------

    async def pair(self, principal: Principal, body: PairingIn) -> tuple[PartyRecord, PartyRecord]:
        """A pairing and its first visit, due ``every_days`` after it starts."""
        party = self.party
        cell = party.community(principal, body.community)
        if body.ends_on <= body.starts_on:
            raise InvalidWhistle([FieldError("ends_on", "must be after starts_on")])
        if (body.member is None) == (body.unit_id is None):
            raise InvalidWhistle(
                [FieldError("member", "name the member or the unit (one of them)")]
            )
        if body.unit_id is not None:
            unit = await party.store.get(PartyKind.UNIT, body.unit_id)
            if unit is None:
                raise InvalidWhistle([FieldError("unit_id", f"unknown unit {body.unit_id!r}")])
            visitor, name = unit.id, str(unit.doc["name"])
        else:
            visitor = str(body.member)
            responder = party.hierarchy.responder(visitor)
            name = responder.name if responder is not None else visitor
        doc = {**body.model_dump(mode="json"), "community": cell.code, "community_name": cell.name}
        doc |= {"visitor": visitor, "visitor_name": name}
        pairing = PartyRecord(
            PartyKind.PAIRING,
            "H" + party.ids.new(),
            cell_path(cell),
            "active",
            party.day(body.starts_on),
            ref=body.unit_id,
            person=body.member,
            doc=doc,
        )
        first = visit_record(pairing, 1, pairing.at + timedelta(days=body.every_days))
        await party.store.put([pairing, first])
        self._arm(first)
        return pairing, first

    async def record_visit(
        self, principal: Principal, pairing_id: str, body: VisitIn
    ) -> PartyRecord:
        """The earliest visit not yet made is made now (late when past its due time); when it
        was still due, the next visit is scheduled."""
        party = self.party
        pairing = await party.get(PartyKind.PAIRING, pairing_id, principal)
        if principal.role is Role.COMMITTEE:
            raise Forbidden("the committee reads pairings; visits are recorded by who made them")
        if principal.role is Role.RESPONDER and principal.responder_id != pairing.person:
            raise Forbidden("only the paired member records their visits")
        pending = [
            v
            for v in await party.store.find(PartyQuery(PartyKind.VISIT, ref=pairing.id, limit=1000))
            if v.status in PENDING
        ]
        if not pending:
            raise PartyStateError(f"pairing {pairing.id} has no visit due")
        visit = min(pending, key=lambda v: v.at)
        now = party.clock.now()
        late = now > visit.at
        doc = {
            **visit.doc,
            "made_at": now.isoformat(),
            "made_by": principal.actor,
            "note": body.note,
            "photos": body.photos,
        }
        made = replace(visit, status="made_late" if late else "made", doc=doc)
        # A missed visit already scheduled its successor when it was missed.
        records = [
            made,
            *([] if visit.status in ("missed", "escalated") else await self._next(made)),
        ]
        await party.store.put(records)
        self.timer.replace(visit.id, {})
        for record in records[1:]:
            self._arm(record)
        return made
