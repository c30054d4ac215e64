"""The party-building API's figures and bulk door: the committee's summary for a subtree and
a date range (``GET /api/v1/party/summary``, CSV per table), a unit's 双报告
(``GET /api/v1/units/{id}/report``, JSON or CSV), a member's own record
(``GET /api/v1/members/{id}/party``) and the community's bulk 双报到 from CSV
(``POST /api/v1/registrations/bulk?community=``).
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from whistle.auth import Principal, Role
from whistle.exceptions import FieldError, Forbidden, InvalidWhistle
from whistle.party import PartyStateError, Window, summary, unit_report
from whistle.party.model import RegistrationIn
from whistle.schema import field_errors
from whistle.store import PartyKind, PartyQuery
from whistle.web.access import allow
from whistle.web.keys import HIERARCHY, PARTY, TZ
from whistle.web.party_api import (
    FIGURES,
    READERS,
    csv_response,
    guarded,
    json_response,
    present,
    window_of,
)

__all__ = [
    "SUMMARY_TABLES",
    "may_see_member",
    "member_record",
    "names_in",
    "routes",
    "summary_for",
    "summary_rows",
]

routes = web.RouteTableDef()

# The summary's tables that have a CSV: name -> (section, key) of its rows.
SUMMARY_TABLES = {
    "units": ("registrations", "by_unit"),
    "member_hours": ("hours", "members"),
    "team_hours": ("hours", "teams"),
    "unit_hours": ("hours", "units"),
}

_BULK_MAX = 200_000  # bytes of CSV: some 5,000 lines


async def names_in(request: web.Request, grid_path: str | None) -> dict[str, str]:
    """Names of the units, teams and volunteers of a subtree, for the hours tables."""
    store = request.app[PARTY].store
    names: dict[str, str] = {}
    for kind in (PartyKind.UNIT, PartyKind.TEAM):
        for record in await store.find(PartyQuery(kind, grid_path=grid_path, limit=100_000)):
            names[record.id] = record.doc["name"]
            if kind is PartyKind.TEAM:  # a unit's ``members`` is a count
                for member in record.doc["members"]:
                    names[member["id"]] = member["name"]
    return names


async def summary_for(request: web.Request, w: Window) -> dict[str, Any]:
    """The summary with every person named (the roster's name for a member)."""
    data = await summary(request.app[PARTY].store, w, await names_in(request, w.grid_path))
    hierarchy = request.app[HIERARCHY]
    for row in data["hours"]["members"]:
        responder = hierarchy.responder(row["id"])
        # A member of the roster has a record page; a volunteer is named by their team.
        row["member"] = responder is not None
        if responder is not None:
            row["name"] = responder.name
    return data


def summary_rows(data: dict[str, Any], table: str) -> list[dict[str, Any]]:
    section, key = SUMMARY_TABLES[table]
    rows: list[dict[str, Any]] = data[section][key]
    return rows


@routes.get("/api/v1/party/summary")
async def get_summary(request: web.Request) -> web.Response:
    principal = allow(request, *FIGURES)
    w, window = window_of(request, principal, "table", "format")
    data = await summary_for(request, w)
    table = request.query.get("table")
    if request.query.get("format") == "csv":
        if table not in SUMMARY_TABLES:
            choices = ", ".join(SUMMARY_TABLES)
            raise InvalidWhistle([FieldError("table", f"one of {choices}")], status=400)
        return csv_response(summary_rows(data, table), f"party-{table}-{window.cell.code}.csv")
    data["grid"] = {"code": window.cell.code, "name": window.cell.name}
    data["since"], data["until"] = window.since.isoformat(), window.until.isoformat()
    return json_response(data)


@routes.get("/api/v1/units/{id}/report")
@guarded
async def get_unit_report(request: web.Request) -> web.Response:
    principal = allow(request, *FIGURES)
    unit = await request.app[PARTY].unit_for_report(principal, request.match_info["id"])
    w, _ = window_of(request, principal, "format")
    report = await unit_report(request.app[PARTY].store, unit.id, w)
    if request.query.get("format") == "csv":
        rows = [{**row, "unit": unit.doc["name"]} for row in report["rows"]]
        return csv_response(rows, f"report-{unit.id}.csv")
    report["unit"] = present(unit, request.app[TZ])
    return json_response(report)


async def may_see_member(
    request: web.Request, principal: Principal, member: str, record: dict[str, Any]
) -> None:
    """A member's record is theirs to read, and readable in the subtree of their latest
    registration."""
    registration_path = None
    if record["registrations"]:
        found = await request.app[PARTY].store.get(
            PartyKind.REGISTRATION, record["registrations"][0]["id"]
        )
        registration_path = None if found is None else found.grid_path
    if principal.role is Role.RESPONDER:
        if principal.responder_id != member:
            raise Forbidden(f"{principal.responder_id} may read only its own record")
        return
    if principal.scope is None:
        return
    if registration_path is None or f"/{principal.scope}/" not in registration_path:
        raise Forbidden(f"{member} is not registered inside scope {principal.scope}")


async def member_record(request: web.Request, member: str) -> dict[str, Any]:
    """A member's registrations, claims and hours, newest first."""
    party = request.app[PARTY]
    store, tz = party.store, request.app[TZ]
    registrations = await store.find(PartyQuery(PartyKind.REGISTRATION, person=member, limit=50))
    active = next((r for r in registrations if r.status == "active"), None)
    rows = await store.hours_rows("person", member, limit=500)
    claims = {
        r.id: r for r in await store.find(PartyQuery(PartyKind.CLAIM, person=member, limit=500))
    }
    for row in rows:
        if row.claim_id not in claims:
            found = await store.get(PartyKind.CLAIM, row.claim_id)
            if found is not None:
                claims[found.id] = found
    hours = {row.claim_id: row.hours for row in rows}
    return {
        "member": member,
        "registration": None if active is None else present(active, tz),
        "registrations": [present(r, tz) for r in registrations],
        "claims": [
            {**present(c, tz), "hours": hours.get(c.id)}
            for c in sorted(claims.values(), key=lambda c: c.at, reverse=True)
        ],
        "hours": round(sum(hours.values()), 2),
        "reports": len(rows),
    }


@routes.get("/api/v1/members/{id}/party")
async def get_member(request: web.Request) -> web.Response:
    principal = allow(request, *READERS)
    member = request.match_info["id"]
    record = await member_record(request, member)
    await may_see_member(request, principal, member, record)
    return json_response(record)


def _bulk_rows(
    text: str, community: str
) -> tuple[list[tuple[int, RegistrationIn]], list[FieldError]]:
    rows: list[tuple[int, RegistrationIn]] = []
    errors: list[FieldError] = []
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = {"member", "unit_id"} - set(reader.fieldnames or ())
    if missing:
        return [], [FieldError("body", f"the CSV header lacks {', '.join(sorted(missing))}")]
    for line, raw in enumerate(reader, start=2):
        services = [s for s in (raw.get("services") or "").replace("|", "；").split("；") if s]
        try:
            rows.append(
                (
                    line,
                    RegistrationIn(
                        community=community,
                        unit_id=raw["unit_id"] or "",
                        member=raw["member"] or None,
                        name=raw.get("name") or None,
                        since=date.fromisoformat(raw["since"]) if raw.get("since") else None,
                        services=services,
                    ),
                )
            )
        except ValidationError as exc:
            errors += [FieldError(f"line {line}.{e.field}", e.reason) for e in field_errors(exc)]
        except ValueError:
            errors.append(FieldError(f"line {line}.since", "a date (YYYY-MM-DD)"))
    return rows, errors


@routes.post("/api/v1/registrations/bulk")
async def bulk_register(request: web.Request) -> web.Response:
    """Register members from CSV (``member,name,unit_id,since,services``): every line is
    checked first, and nothing is stored unless all are good (422 naming ``line N.field``)."""
    principal = allow(request, Role.REPORTER, Role.OPERATOR, Role.ADMIN)
    community = request.query.get("community")
    if not community:
        raise InvalidWhistle([FieldError("community", "required (query parameter)")], status=400)
    raw = await request.read()
    if len(raw) > _BULK_MAX:
        raise InvalidWhistle([FieldError("body", f"at most {_BULK_MAX} bytes")], status=413)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidWhistle([FieldError("body", "not UTF-8 text")], status=400) from None
    party = request.app[PARTY]
    party.community(principal, community)
    rows, errors = _bulk_rows(text, community)
    seen: set[str] = set()
    for line, row in rows:
        if await party.store.get(PartyKind.UNIT, row.unit_id) is None:
            errors.append(FieldError(f"line {line}.unit_id", f"unknown unit {row.unit_id!r}"))
        if row.member is not None:
            if row.member in seen or await party.active_registration(row.member) is not None:
                errors.append(
                    FieldError(f"line {line}.member", f"{row.member} is registered already")
                )
            seen.add(row.member)
    if errors:
        raise InvalidWhistle(errors)
    made = []
    for _, row in rows:
        try:
            made.append(await party.register(principal, row, how="bulk"))
        except PartyStateError as exc:  # registered by another request meanwhile
            raise InvalidWhistle([FieldError("member", str(exc))]) from None
    return json_response({"registered": len(made), "ids": [r.id for r in made]}, status=201)
