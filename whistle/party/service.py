"""The party-building service: units and the 大党委, 双报到, needs → projects → claims,
volunteer teams and service hours (issue 19). Pairings and their visits are ``visits.py``; the
committee's figures and the 双报告 are ``reports.py``.

Every record belongs to a community of the grid tree and is scoped by its path, as a case is.
The rules between records live here: a member has one active registration; a member claims
only on the board of a community they are registered with; a team claims through its captain
and only the captain closes (队长负责制); a unit claims where it is registered or paired.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any

from grids import Cell, Hierarchy
from whistle.auth import Principal, Role
from whistle.clock import Clock
from whistle.exceptions import FieldError, Forbidden, InvalidWhistle
from whistle.ids import IdFactory
from whistle.party.exceptions import PartyNotFound, PartyStateError
from whistle.party.model import (
    ClaimBy,
    ClaimIn,
    CompleteIn,
    NeedIn,
    PactIn,
    ProjectIn,
    RegistrationIn,
    SeatIn,
    TeamIn,
    UnitIn,
)
from whistle.store import HoursRow, PartyKind, PartyQuery, PartyRecord, PartyStore

__all__ = ["PartyService", "cell_path"]


def cell_path(cell: Cell) -> str:
    """The stored path of a cell (``/root/.../code/``), as cases store theirs."""
    return "/" + "/".join(cell.path) + "/"


def _bad(field: str, reason: str) -> InvalidWhistle:
    return InvalidWhistle([FieldError(field, reason)])


class PartyService:
    """The party-building records and the rules between them."""

    def __init__(
        self, store: PartyStore, hierarchy: Hierarchy, clock: Clock, ids: IdFactory, tz: tzinfo
    ) -> None:
        self.store = store
        self.hierarchy = hierarchy
        self.clock = clock
        self.ids = ids
        self.tz = tz

    def __repr__(self) -> str:
        return f"PartyService({self.store!r})"

    # -- helpers shared by the records ------------------------------------------------------

    def community(self, principal: Principal, code: str, field: str = "community") -> Cell:
        """The cell ``code`` names, inside the principal's scope."""
        cell = self.hierarchy.get(code)
        if cell is None:
            raise _bad(field, f"unknown grid code {code!r}")
        if not principal.covers(cell):
            raise Forbidden(f"{cell.code} ({cell.name}) is outside scope {principal.scope}")
        return cell

    def day(self, when: date) -> datetime:
        """Midnight of ``when`` in the county's zone, as the record's date."""
        return datetime.combine(when, time(0), self.tz).astimezone(UTC)

    async def get(self, kind: PartyKind, record_id: str, principal: Principal) -> PartyRecord:
        """One record the principal may read (PartyNotFound otherwise, or Forbidden)."""
        record = await self.store.get(kind, record_id)
        if record is None:
            raise PartyNotFound(f"no {kind.value} {record_id!r}")
        self.may_read(principal, record)
        return record

    def may_read(self, principal: Principal, record: PartyRecord) -> None:
        """A record is read in its subtree; a member also reads what is about them."""
        if principal.responder_id is not None and principal.responder_id == record.person:
            return
        if principal.scope is not None and f"/{principal.scope}/" not in record.grid_path:
            raise Forbidden(f"{record.kind.value} {record.id} is outside scope {principal.scope}")

    async def unit_for_report(self, principal: Principal, unit_id: str) -> PartyRecord:
        """A unit for its 双报告: readable in its own subtree, and where it serves (a town's
        committee reads what the county's units did in the town, wherever they sit)."""
        unit = await self.store.get(PartyKind.UNIT, unit_id)
        if unit is None:
            raise PartyNotFound(f"no unit {unit_id!r}")
        try:
            self.may_read(principal, unit)
        except Forbidden:
            scope = principal.scope or self.hierarchy.root
            if not await self._unit_serves_within(unit_id, cell_path(self.hierarchy.cell(scope))):
                raise
        return unit

    async def _unit_serves_within(self, unit_id: str, grid_path: str) -> bool:
        for kind in (PartyKind.REGISTRATION, PartyKind.PACT, PartyKind.SEAT):
            if await self.store.find(PartyQuery(kind, grid_path=grid_path, ref=unit_id, limit=1)):
                return True
        return False

    async def _unit(self, unit_id: str, field: str = "unit_id") -> PartyRecord:
        unit = await self.store.get(PartyKind.UNIT, unit_id)
        if unit is None:
            raise _bad(field, f"unknown unit {unit_id!r}")
        return unit

    async def _put(self, *records: PartyRecord, hours: Sequence[HoursRow] = ()) -> None:
        await self.store.put(records, hours)

    # -- units and the 大党委 ----------------------------------------------------------------

    async def add_unit(self, principal: Principal, body: UnitIn) -> PartyRecord:
        cell = self.community(principal, body.community)
        doc = {**body.model_dump(mode="json"), "community_name": cell.name}
        record = PartyRecord(
            PartyKind.UNIT,
            "U" + self.ids.new(),
            cell_path(cell),
            "active",
            self.clock.now(),
            doc=doc,
        )
        await self._put(record)
        return record

    async def add_seat(self, principal: Principal, body: SeatIn) -> PartyRecord:
        cell = self.community(principal, body.community)
        unit = await self._unit(body.unit_id)
        doc = {**body.model_dump(mode="json"), "unit_name": unit.doc["name"]}
        record = PartyRecord(
            PartyKind.SEAT,
            "S" + self.ids.new(),
            cell_path(cell),
            "active",
            self.clock.now(),
            ref=unit.id,
            doc=doc,
        )
        await self._put(record)
        return record

    async def add_pact(self, principal: Principal, body: PactIn) -> PartyRecord:
        cell = self.community(principal, body.community)
        unit = await self._unit(body.unit_id)
        doc = {**body.model_dump(mode="json"), "unit_name": unit.doc["name"]}
        record = PartyRecord(
            PartyKind.PACT,
            "P" + self.ids.new(),
            cell_path(cell),
            "active",
            self.day(body.since),
            ref=unit.id,
            doc=doc,
        )
        await self._put(record)
        return record

    # -- 双报到 ------------------------------------------------------------------------------

    async def register(
        self, principal: Principal, body: RegistrationIn, *, how: str = "page"
    ) -> PartyRecord:
        """A registration: a responder registers themself (``member`` is who they act as);
        the community's reporters and operators register members or units."""
        member = body.member
        if principal.role is Role.RESPONDER:
            if principal.responder_id is None:
                raise Forbidden("a responder token without a responder registers no one")
            member = principal.responder_id
            cell = self.hierarchy.get(body.community)
            if cell is None:
                raise _bad("community", f"unknown grid code {body.community!r}")
        else:
            cell = self.community(principal, body.community)
        unit = await self._unit(body.unit_id)
        if member is not None:
            current = await self.active_registration(member)
            if current is not None:
                raise PartyStateError(
                    f"{member} is registered with {current.doc['community_name']} already; "
                    "withdraw that registration first"
                )
        name = body.name or self._name_of(member) or unit.doc["name"]
        doc = {
            "of": "unit" if member is None else "member",
            "name": name,
            "community": cell.code,
            "community_name": cell.name,
            "unit_id": unit.id,
            "unit_name": unit.doc["name"],
            "services": body.services,
            "registered_by": how,
        }
        since = self.day(body.since) if body.since else self.clock.now()
        record = PartyRecord(
            PartyKind.REGISTRATION,
            "R" + self.ids.new(),
            cell_path(cell),
            "active",
            since,
            ref=unit.id,
            person=member,
            doc=doc,
        )
        await self._put(record)
        return record

    def _name_of(self, member: str | None) -> str | None:
        responder = None if member is None else self.hierarchy.responder(member)
        return None if responder is None else responder.name

    async def active_registration(self, member: str) -> PartyRecord | None:
        """The member's active registration, if any."""
        found = await self.store.find(
            PartyQuery(PartyKind.REGISTRATION, person=member, status="active", limit=1)
        )
        return found[0] if found else None

    async def withdraw(self, principal: Principal, registration_id: str) -> PartyRecord:
        """Withdraw a registration: by the member, or by the community in scope."""
        record = await self.get(PartyKind.REGISTRATION, registration_id, principal)
        if principal.role is Role.RESPONDER and principal.responder_id != record.person:
            raise Forbidden("a member withdraws only their own registration")
        if record.status != "active":
            raise PartyStateError(f"registration {record.id} is {record.status} already")
        doc = {
            **record.doc,
            "withdrawn_at": self.clock.now().isoformat(),
            "withdrawn_by": principal.actor,
        }
        withdrawn = replace(record, status="withdrawn", doc=doc)
        await self._put(withdrawn)
        return withdrawn

    # -- needs and projects -----------------------------------------------------------------

    async def add_need(self, principal: Principal, body: NeedIn) -> PartyRecord:
        cell = self.community(principal, body.community)
        year, month = (int(part) for part in body.month.split("-"))
        doc = {**body.model_dump(mode="json"), "community_name": cell.name}
        record = PartyRecord(
            PartyKind.NEED,
            "N" + self.ids.new(),
            cell_path(cell),
            "open",
            self.day(date(year, month, 1)),
            doc=doc,
        )
        await self._put(record)
        return record

    async def add_project(self, principal: Principal, body: ProjectIn) -> PartyRecord:
        cell = self.community(principal, body.community)
        if body.ends_on < body.starts_on:
            raise _bad("ends_on", "must be on or after starts_on")
        needs: list[PartyRecord] = []
        for i, need_id in enumerate(body.needs):
            need = await self.store.get(PartyKind.NEED, need_id)
            if need is None or need.grid_path != cell_path(cell):
                raise _bad(f"needs.{i}", f"no need {need_id!r} in {cell.name}")
            needs.append(replace(need, status="in_project"))
        doc = {**body.model_dump(mode="json"), "community_name": cell.name}
        record = PartyRecord(
            PartyKind.PROJECT,
            "J" + self.ids.new(),
            cell_path(cell),
            "open",
            self.clock.now(),
            doc=doc,
        )
        await self._put(record, *needs)
        return record

    # -- volunteer teams --------------------------------------------------------------------

    async def add_team(self, principal: Principal, body: TeamIn) -> PartyRecord:
        cell = self.community(principal, body.community)
        if body.captain not in {m.id for m in body.members}:
            raise _bad("captain", "the captain must be one of the team's members")
        if body.responder_id is not None:
            responder = self.hierarchy.responder(body.responder_id)
            if responder is None or not self.hierarchy.cell(responder.grid).is_within(cell.code):
                raise _bad("responder_id", f"no responder {body.responder_id!r} in {cell.name}")
        doc = {**body.model_dump(mode="json"), "community_name": cell.name}
        record = PartyRecord(
            PartyKind.TEAM,
            "T" + self.ids.new(),
            cell_path(cell),
            "active",
            self.clock.now(),
            person=body.captain,
            doc=doc,
        )
        await self._put(record)
        return record

    # -- claims ------------------------------------------------------------------------------

    async def claim(self, principal: Principal, project_id: str, body: ClaimIn) -> PartyRecord:
        """Claim an open project; the project is then claimed until the claim is closed."""
        project = await self.store.get(PartyKind.PROJECT, project_id)
        if project is None:
            raise PartyNotFound(f"no project {project_id!r}")
        if principal.role is not Role.RESPONDER:
            # The community claims for its members, teams and units; a member claims on the
            # board of the community they registered with (checked with the claimant).
            self.may_read(principal, project)
        if project.status != "open":
            raise PartyStateError(f"project {project.id} is {project.status}")
        claimant = await self._claimant(principal, project, body)
        doc = {
            **claimant,
            "by": body.by.value,
            "project_title": project.doc["title"],
            "project_type": project.doc["type"],
            "community_name": project.doc["community_name"],
            "claimed_by": principal.actor,
        }
        record = PartyRecord(
            PartyKind.CLAIM,
            "C" + self.ids.new(),
            project.grid_path,
            "claimed",
            self.clock.now(),
            ref=project.id,
            person=claimant.get("member") or claimant.get("captain"),
            doc=doc,
        )
        await self._put(
            record, replace(project, status="claimed", doc={**project.doc, "claim_id": record.id})
        )
        return record

    async def _claimant(
        self, principal: Principal, project: PartyRecord, body: ClaimIn
    ) -> dict[str, Any]:
        if body.by is ClaimBy.MEMBER:
            member = principal.responder_id if principal.role is Role.RESPONDER else body.member
            if member is None:
                raise _bad("member", "required: the member who claims")
            registration = await self.active_registration(member)
            if registration is None or registration.grid_path != project.grid_path:
                raise _bad(
                    "member", f"{member} is not registered with {project.doc['community_name']}"
                )
            return {"member": member, "name": registration.doc["name"], "unit_id": registration.ref}
        if body.by is ClaimBy.TEAM:
            if body.team_id is None:
                raise _bad("team_id", "required for a team claim")
            team = await self.store.get(PartyKind.TEAM, body.team_id)
            if team is None or team.grid_path != project.grid_path:
                raise _bad(
                    "team_id", f"no team {body.team_id!r} in {project.doc['community_name']}"
                )
            if principal.role is Role.RESPONDER and principal.responder_id != team.person:
                raise Forbidden("only the team's captain claims for the team (队长负责制)")
            return {"team_id": team.id, "name": team.doc["name"], "captain": team.person}
        if body.unit_id is None:
            raise _bad("unit_id", "required for a unit claim")
        if principal.role is Role.RESPONDER:
            raise Forbidden("a unit's claim is made by the community for the unit")
        unit = await self._unit(body.unit_id)
        if not await self._unit_serves(unit.id, project.grid_path):
            raise _bad(
                "unit_id",
                f"{unit.doc['name']} is neither registered with nor paired with "
                f"{project.doc['community_name']}",
            )
        return {"unit_id": unit.id, "name": unit.doc["name"]}

    async def _unit_serves(self, unit_id: str, grid_path: str) -> bool:
        for kind in (PartyKind.REGISTRATION, PartyKind.PACT):
            rows = await self.store.find(
                PartyQuery(kind, grid_path=grid_path, ref=unit_id, status="active", limit=1)
            )
            if rows:
                return True
        return False

    async def complete(self, principal: Principal, claim_id: str, body: CompleteIn) -> PartyRecord:
        """Close a claim with the hours each person served, photos and the rating. A team's
        claim is closed by its captain alone; a member's by the member (or the community)."""
        claim = await self.get(PartyKind.CLAIM, claim_id, principal)
        if claim.status != "claimed":
            raise PartyStateError(f"claim {claim.id} is {claim.status} already")
        self._may_close(principal, claim)
        now = self.clock.now()
        rows = await self._hours(claim, body, now)
        doc = {
            **claim.doc,
            "hours": [h.model_dump(mode="json") for h in body.hours],
            "total_hours": round(sum(h.hours for h in body.hours), 2),
            "photos": body.photos,
            "rating": body.rating,
            "note": body.note,
            "completed_at": now.isoformat(),
            "completed_by": principal.actor,
        }
        done = replace(claim, status="completed", doc=doc)
        project = await self.store.get(PartyKind.PROJECT, claim.ref or "")
        more = () if project is None else (replace(project, status="completed"),)
        await self._put(done, *more, hours=rows)
        return done

    def _may_close(self, principal: Principal, claim: PartyRecord) -> None:
        if principal.role in (Role.COMMITTEE, Role.INTEGRATION):
            raise Forbidden("this role does not close claims")
        if claim.doc["by"] == ClaimBy.TEAM.value:
            if principal.responder_id != claim.doc["captain"]:
                raise Forbidden("only the team's captain closes a team claim (队长负责制)")
        elif principal.role is Role.RESPONDER and principal.responder_id != claim.person:
            raise Forbidden("only the member who claimed closes this claim")

    async def _hours(self, claim: PartyRecord, body: CompleteIn, now: datetime) -> list[HoursRow]:
        """Each person's hours, counted for the unit they answer to: the claiming unit, the
        member's registration unit, or a team member's own unit (none for a volunteer who
        has none)."""
        team_units: dict[str, str | None] = {}
        if claim.doc["by"] == ClaimBy.TEAM.value:
            team = await self.store.get(PartyKind.TEAM, claim.doc["team_id"])
            members = [] if team is None else team.doc["members"]
            team_units = {m["id"]: m.get("unit_id") for m in members}
        rows = []
        for i, h in enumerate(body.hours):
            if claim.doc["by"] == ClaimBy.TEAM.value and h.person not in team_units:
                raise _bad(f"hours.{i}.person", f"{h.person} is not a member of the team")
            unit = (
                claim.doc.get("unit_id")
                if claim.doc["by"] != ClaimBy.TEAM.value
                else team_units[h.person]
            )
            if unit is None and claim.doc["by"] == ClaimBy.TEAM.value:
                registration = await self.active_registration(h.person)
                unit = None if registration is None else registration.ref
            rows.append(
                HoursRow(
                    claim.id,
                    h.person,
                    claim.grid_path,
                    now,
                    h.hours,
                    unit,
                    claim.doc.get("team_id"),
                )
            )
        return rows
