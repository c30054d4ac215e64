"""The party-building API (issue 19): a create, list and get route for each record kind, from
one table (:data:`KINDS`), and the actions between them: withdraw a registration, register in
bulk from CSV, claim a project, complete a claim, record a visit; the committee's figures, a
unit's 双报告 and a member's own record.

Everything is scoped as cases are: a caller reads and writes records of its own subtree; a
member (a responder) registers themself, and reads what is about them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from whistle.auth import Principal, Role
from whistle.exceptions import FieldError, Forbidden, InvalidWhistle
from whistle.party import PartyNotFound, PartyService, PartyStateError, Window, cell_path
from whistle.party.model import (
    ClaimIn,
    CompleteIn,
    MeetingIn,
    NeedIn,
    PactIn,
    PairingIn,
    ProjectIn,
    RegistrationIn,
    SeatIn,
    TeamIn,
    UnitIn,
    VisitIn,
)
from whistle.schema import field_errors
from whistle.stats import parse_window
from whistle.store import PartyKind, PartyQuery, PartyRecord
from whistle.timefmt import rfc3339
from whistle.web import party_resources as res
from whistle.web.access import allow
from whistle.web.keys import CLOCK, HIERARCHY, INTAKE, PARTY, TZ, VISITS
from whistle.web.problems import problem

__all__ = [
    "FIGURES",
    "KINDS",
    "READERS",
    "KindSpec",
    "body_of",
    "csv_response",
    "guarded",
    "json_response",
    "list_query",
    "present",
    "routes",
    "window_of",
]

routes = web.RouteTableDef()

READERS = (Role.REPORTER, Role.RESPONDER, Role.OPERATOR, Role.COMMITTEE, Role.ADMIN)
# Who reads the figures: the community, dispatch and the committee (a member reads their own).
FIGURES = (Role.REPORTER, Role.OPERATOR, Role.COMMITTEE, Role.ADMIN)
KEEPERS = (Role.REPORTER, Role.OPERATOR, Role.ADMIN)

Create = Callable[[web.Request, Principal, Any], Awaitable[PartyRecord]]


@dataclass(frozen=True, slots=True)
class KindSpec:
    """One record kind's routes: its path under /api/v1, its request model (None: made by an
    action only), who may create it and how."""

    path: str
    kind: PartyKind
    model: type[BaseModel] | None
    summary: str
    writers: tuple[Role, ...] = KEEPERS


def _party(request: web.Request) -> PartyService:
    return request.app[PARTY]


async def _meeting(request: web.Request, principal: Principal, body: MeetingIn) -> PartyRecord:
    """A 联席会议: each decided matter becomes a need on the board or a case through the
    intake, and the meeting records which."""
    party = _party(request)
    cell = party.community(principal, body.community)
    matters = []
    for i, matter in enumerate(body.matters):
        out: dict[str, Any] = matter.model_dump(mode="json")
        if matter.becomes == "need":
            need = await party.add_need(
                principal,
                NeedIn(community=cell.code, month=body.held_on.strftime("%Y-%m"), text=matter.text),
            )
            out["need_id"] = need.id
        elif matter.becomes == "case":
            if matter.category is None:
                raise InvalidWhistle([FieldError(f"matters.{i}.category", "required for a case")])
            submission = await request.app[INTAKE].submit(
                {
                    "source": "community",
                    "category": matter.category,
                    "description": matter.text,
                    "location": {"grid": cell.code},
                    "reporter": f"联席会议 {body.held_on.isoformat()}",
                },
                idempotency_key=None,
                principal=principal,
            )
            out["case_id"] = submission.whistle_id
        matters.append(out)
    doc = {
        "community": cell.code,
        "community_name": cell.name,
        "held_on": body.held_on.isoformat(),
        "attendees": body.attendees,
        "matters": matters,
    }
    record = PartyRecord(
        PartyKind.MEETING,
        "M" + party.ids.new(),
        cell_path(cell),
        "held",
        party.day(body.held_on),
        doc=doc,
    )
    await party.store.put([record])
    return record


async def _pairing(request: web.Request, principal: Principal, body: PairingIn) -> PartyRecord:
    pairing, _ = await request.app[VISITS].pair(principal, body)
    return pairing


_CREATE: dict[PartyKind, Create] = {
    PartyKind.UNIT: lambda r, p, b: _party(r).add_unit(p, b),
    PartyKind.SEAT: lambda r, p, b: _party(r).add_seat(p, b),
    PartyKind.PACT: lambda r, p, b: _party(r).add_pact(p, b),
    PartyKind.MEETING: _meeting,
    PartyKind.REGISTRATION: lambda r, p, b: _party(r).register(p, b),
    PartyKind.NEED: lambda r, p, b: _party(r).add_need(p, b),
    PartyKind.PROJECT: lambda r, p, b: _party(r).add_project(p, b),
    PartyKind.TEAM: lambda r, p, b: _party(r).add_team(p, b),
    PartyKind.PAIRING: _pairing,
}

KINDS = (
    KindSpec("units", PartyKind.UNIT, UnitIn, "Units (单位)"),
    KindSpec("committee-seats", PartyKind.SEAT, SeatIn, "大党委 member units and their 兼职委员"),
    KindSpec("unit-pacts", PartyKind.PACT, PactIn, "结对共建 / 包保 pacts and 资源清单"),
    KindSpec("meetings", PartyKind.MEETING, MeetingIn, "联席会议 and the matters decided"),
    KindSpec(
        "registrations",
        PartyKind.REGISTRATION,
        RegistrationIn,
        "双报到 registrations",
        (*KEEPERS, Role.RESPONDER),
    ),
    KindSpec("needs", PartyKind.NEED, NeedIn, "群众需求清单 (monthly needs)"),
    KindSpec("projects", PartyKind.PROJECT, ProjectIn, "项目库 projects"),
    KindSpec("claims", PartyKind.CLAIM, None, "Claims (认领) of projects"),
    KindSpec("volunteer-teams", PartyKind.TEAM, TeamIn, "Volunteer teams (志愿服务队)"),
    KindSpec("pairings", PartyKind.PAIRING, PairingIn, "结对帮扶 pairings"),
    KindSpec("visits", PartyKind.VISIT, None, "Pairing visits, due and made"),
)


def present(record: PartyRecord, tz: Any) -> res.PartyRecordDoc:
    """A record as the API answers it."""
    return {
        "id": record.id,
        "kind": record.kind.value,
        "status": record.status,
        "at": rfc3339(record.at, tz),
        "ref": record.ref,
        "person": record.person,
        "doc": dict(record.doc),
    }


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


async def body_of(request: web.Request, model: type[BaseModel]) -> Any:
    """The request's JSON body validated by ``model`` (400/422 naming the fields)."""
    try:
        raw = orjson.loads(await request.read() or b"{}")
    except orjson.JSONDecodeError as exc:
        raise InvalidWhistle([FieldError("body", f"not valid JSON: {exc}")], status=400) from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise InvalidWhistle(field_errors(exc)) from None


def guarded(handler: Callable[[web.Request], Awaitable[web.Response]]) -> Any:
    """Map the service's not-found and state errors to 404 and 409 problems."""

    async def mapped(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except PartyNotFound as exc:
            return problem(404, "Not Found", detail=str(exc))
        except PartyStateError as exc:
            return problem(409, "Conflict", detail=str(exc))

    mapped.__name__ = handler.__name__
    return mapped


def window_of(request: web.Request, principal: Principal, *extra: str) -> tuple[Window, Any]:
    """The subtree and date range a request asks about (default: the caller's scope and the
    last 365 days), checked against the caller's scope; and the chosen cell."""
    app = request.app
    today = app[CLOCK].now().astimezone(app[TZ]).date()
    q = dict(request.query)
    if "since" not in q:
        until = q.get("until") or today.isoformat()
        try:
            q["since"] = (datetime.fromisoformat(until).date() - timedelta(days=364)).isoformat()
        except ValueError:
            q["since"] = until  # parse_window names the bad until
    w = parse_window(q, principal, app[HIERARCHY], today, extra=frozenset({"lang", *extra}))
    if not principal.covers(w.cell):
        raise Forbidden(f"{w.cell.code} ({w.cell.name}) is outside scope {principal.scope}")
    tz = app[TZ]
    start = datetime.combine(w.since, time(), tz)
    end = datetime.combine(w.until + timedelta(days=1), time(), tz)
    return Window(cell_path(w.cell), start, end, app[CLOCK].now()), w


_LIST_PARAMS = frozenset(
    {"grid", "since", "until", "status", "ref", "person", "limit", "format", "lang"}
)


async def list_query(
    request: web.Request,
    principal: Principal,
    kind: PartyKind,
    q: Mapping[str, str] | None = None,
    *,
    limit: int | None = None,
) -> PartyQuery:
    """The records a list asks for (``q``: the request's query by default), inside the
    caller's scope; 400 naming a bad parameter."""
    q = request.query if q is None else q
    errors = [FieldError(name, "unknown parameter") for name in q if name not in _LIST_PARAMS]
    hierarchy = request.app[HIERARCHY]
    code = q.get("grid") or principal.scope or hierarchy.root
    cell = hierarchy.get(code)
    if cell is None:
        errors.append(FieldError("grid", f"unknown grid code {code!r}"))
    try:
        limit = int(q.get("limit", "500"))
        if not 1 <= limit <= 5000:
            raise ValueError
    except ValueError:
        errors.append(FieldError("limit", "an integer from 1 to 5000"))
        limit = 500
    since = until = None
    for name in ("since", "until"):
        if name in q:
            try:
                value = datetime.fromisoformat(q[name])
                if value.tzinfo is None:
                    value = value.replace(tzinfo=request.app[TZ])
            except ValueError:
                errors.append(FieldError(name, "a date (YYYY-MM-DD) or an RFC 3339 time"))
                continue
            since, until = (value, until) if name == "since" else (since, value)
    if errors or cell is None:
        raise InvalidWhistle(errors, status=400)
    await _may_list(request, principal, cell, kind)
    if limit is not None:
        limit = min(limit, int(q.get("limit", limit)))
    return PartyQuery(
        kind,
        grid_path=cell_path(cell),
        ref=q.get("ref"),
        person=q.get("person"),
        status=q.get("status"),
        since=since,
        until=until,
        limit=limit,
    )


async def _may_list(request: web.Request, principal: Principal, cell: Any, kind: PartyKind) -> None:
    """Inside the caller's scope; a member also reads the projects, teams and needs of the
    community they are registered with (their board)."""
    if principal.covers(cell):
        return
    if principal.role is Role.RESPONDER and principal.responder_id is not None:
        registration = await _party(request).active_registration(principal.responder_id)
        board = (PartyKind.PROJECT, PartyKind.TEAM, PartyKind.NEED)
        if (
            registration is not None
            and kind in board
            and registration.doc["community"] == cell.code
        ):
            return
    raise Forbidden(f"{cell.code} ({cell.name}) is outside scope {principal.scope}")


def csv_response(rows: list[dict[str, Any]], filename: str) -> web.Response:
    out = io.StringIO()
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {k: "；".join(map(str, v)) if isinstance(v, list) else v for k, v in row.items()}
        )
    return web.Response(
        body="\ufeff" + out.getvalue(),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def flat(record: PartyRecord, tz: Any) -> dict[str, Any]:
    """A record as one CSV row: its columns, then its document's scalar and list fields."""
    row: dict[str, Any] = {"id": record.id, "status": record.status, "at": rfc3339(record.at, tz)}
    for key, value in record.doc.items():
        if not isinstance(value, dict) and not (
            isinstance(value, list) and value and isinstance(value[0], dict)
        ):
            row[key] = value
    return row


def _make_routes(spec: KindSpec) -> None:
    base = f"/api/v1/{spec.path}"

    async def list_records(request: web.Request) -> web.Response:
        principal = allow(request, *READERS)
        query = await list_query(request, principal, spec.kind)
        records = await _party(request).store.find(query)
        tz = request.app[TZ]
        if request.query.get("format") == "csv":
            return csv_response([flat(r, tz) for r in records], f"{spec.path}.csv")
        return json_response({"items": [present(r, tz) for r in records]})

    async def get_record(request: web.Request) -> web.Response:
        principal = allow(request, *READERS)
        record = await _party(request).get(spec.kind, request.match_info["id"], principal)
        return json_response(present(record, request.app[TZ]))

    list_records.__name__ = f"list_{spec.kind.value}"
    get_record.__name__ = f"get_{spec.kind.value}"
    routes.get(base)(list_records)
    routes.get(base + "/{id}")(guarded(get_record))
    if spec.model is None:
        return
    model, create = spec.model, _CREATE[spec.kind]

    async def create_record(request: web.Request) -> web.Response:
        principal = allow(request, *spec.writers)
        body = await body_of(request, model)
        record = await create(request, principal, body)
        response = json_response(present(record, request.app[TZ]), status=201)
        response.headers["Location"] = f"{base}/{record.id}"
        return response

    create_record.__name__ = f"create_{spec.kind.value}"
    routes.post(base)(guarded(create_record))


for _spec in KINDS:
    _make_routes(_spec)


# -- the actions -----------------------------------------------------------------------------


@routes.post("/api/v1/registrations/{id}/withdraw")
@guarded
async def withdraw(request: web.Request) -> web.Response:
    principal = allow(request, Role.RESPONDER, *KEEPERS)
    await request.read()  # none is used; one over the limit is a 413, as on every POST
    record = await _party(request).withdraw(principal, request.match_info["id"])
    return json_response(present(record, request.app[TZ]))


@routes.post("/api/v1/projects/{id}/claims")
@guarded
async def claim(request: web.Request) -> web.Response:
    principal = allow(request, Role.RESPONDER, *KEEPERS)
    body = await body_of(request, ClaimIn)
    record = await _party(request).claim(principal, request.match_info["id"], body)
    return json_response(present(record, request.app[TZ]), status=201)


@routes.post("/api/v1/claims/{id}/complete")
@guarded
async def complete(request: web.Request) -> web.Response:
    principal = allow(request, Role.RESPONDER, *KEEPERS)
    body = await body_of(request, CompleteIn)
    record = await _party(request).complete(principal, request.match_info["id"], body)
    return json_response(present(record, request.app[TZ]))


@routes.post("/api/v1/pairings/{id}/visits")
@guarded
async def visit(request: web.Request) -> web.Response:
    principal = allow(request, Role.RESPONDER, *KEEPERS)
    body = await body_of(request, VisitIn)
    record = await request.app[VISITS].record_visit(principal, request.match_info["id"], body)
    return json_response(present(record, request.app[TZ]), status=201)
