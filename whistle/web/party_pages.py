"""The party-building pages: the committee's 党建 page for a subtree and a date range
(``/party``, every number a link to its records, every table with CSV), the records behind a
number (``/party/list``), a unit's 双报告 (``/party/units/{id}``), a member's record
(``/party/members/{id}``) and the member's own phone page, where they register and claim
(``/party/me``, beside 我的任务).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from grids import Level
from whistle.auth import Principal, Role
from whistle.exceptions import FieldError, InvalidWhistle
from whistle.party import unit_report
from whistle.party.model import ProjectType, UnitType
from whistle.privacy import mask_phones
from whistle.store import PartyKind, PartyQuery, PartyRecord
from whistle.timefmt import rfc3339
from whistle.web.access import public
from whistle.web.i18n import PARTY, STATS
from whistle.web.i18n import lang as _lang
from whistle.web.keys import HIERARCHY, TZ
from whistle.web.keys import PARTY as PARTY_SERVICE
from whistle.web.pages import page_session, render
from whistle.web.party_api import KINDS, guarded, list_query, window_of
from whistle.web.party_reports import may_see_member, member_record, summary_for
from whistle.web.stats import cell_choices

__all__ = ["routes"]

routes = web.RouteTableDef()

_COMMITTEE = (Role.COMMITTEE, Role.OPERATOR, Role.ADMIN, Role.REPORTER)
_API_PATH = {spec.kind: spec.path for spec in KINDS}
# Fields of a record's document a list may be narrowed by (the drill-downs use them).
_DOC_FILTERS = ("type", "team_id", "unit_id", "by", "of")
_LIST_MAX = 2000


def _words(request: web.Request) -> tuple[str, dict[str, Any]]:
    lang = _lang(request)
    return lang, PARTY[lang]


def _type_names(lang: str) -> dict[str, str]:
    if lang == "en":
        return dict(PARTY["en"]["types"])
    return {t.value: t.label_zh for t in (*UnitType, *ProjectType)}


@routes.get("/party")
@public
async def party_page(request: web.Request) -> web.Response:
    principal, csrf = await page_session(request, *_COMMITTEE)
    w, window = window_of(request, principal)
    doc = await summary_for(request, w)
    lang, p = _words(request)
    params = window.params()
    # The list pages take an exclusive end: the day after the last day shown.
    drill = {**params, "until": (window.until + timedelta(days=1)).isoformat()}
    return render(
        request,
        "party.html",
        csrf=csrf,
        principal=principal,
        title=p["title"],
        p=p,
        s=STATS[lang],
        doc=doc,
        cell=window.cell,
        window=params,
        qs=urlencode(params),
        dq=urlencode(drill),
        standing=urlencode({"grid": window.cell.code}),
        types=_type_names(lang),
        choices=cell_choices(request.app[HIERARCHY], principal, window.cell),
        bulk_communities=_bulk_communities(request, principal, window.cell),
        page_data={"text": {k: v for k, v in p.items() if isinstance(v, str)}, "lang": lang},
        chart_data={
            "units": doc["units"]["by_type"],
            "projects": doc["board"]["projects_by_type"],
            "names": _type_names(lang),
        },
    )


def _bulk_communities(
    request: web.Request, principal: Principal, cell: Any
) -> list[dict[str, str]]:
    """The communities of the chosen subtree the caller may register members in (the
    community's workers, dispatch and the admin; the committee reads)."""
    if principal.role not in (Role.REPORTER, Role.OPERATOR, Role.ADMIN):
        return []
    hierarchy = request.app[HIERARCHY]
    if cell.level is Level.COMMUNITY:
        return [{"code": cell.code, "name": cell.name}]
    if cell.level > Level.COMMUNITY:
        top = hierarchy.at_level(cell.code, Level.COMMUNITY)
        return [{"code": top.code, "name": top.name}] if principal.covers(top) else []
    return [
        {"code": c.code, "name": c.name}
        for c in hierarchy.cells(level=Level.COMMUNITY)
        if c.is_within(cell.code)
    ][:500]


def _title(record: PartyRecord) -> str:
    d = record.doc
    for key in ("name", "title", "project_title", "household", "text", "unit_name"):
        if d.get(key):
            return str(d[key])
    return str(d.get("held_on") or record.kind.value)


def _detail(record: PartyRecord, p: dict[str, Any], types: dict[str, str]) -> str:
    d = record.doc
    if record.kind is PartyKind.CLAIM:
        hours = f" · {d['total_hours']} h" if d.get("total_hours") else ""
        return f"{d.get('name', '')}{hours}"
    if record.kind in (PartyKind.UNIT, PartyKind.PROJECT):
        return types.get(str(d.get("type")), str(d.get("type", "")))
    if record.kind is PartyKind.REGISTRATION:
        return f"{d.get('unit_name', '')} · {'、'.join(d.get('services') or ())}"
    if record.kind in (PartyKind.SEAT, PartyKind.PACT):
        return str(d.get("member_name") or "、".join(d.get("resources") or ()))
    if record.kind is PartyKind.VISIT:
        return f"{d.get('visitor_name', '')} · {d.get('household', '')}"
    if record.kind is PartyKind.TEAM:
        return f"{len(d.get('members') or ())}"
    return ""


def _link(record: PartyRecord) -> str | None:
    if record.kind is PartyKind.UNIT:
        return f"/party/units/{record.id}"
    if record.kind is PartyKind.SEAT or record.kind is PartyKind.PACT:
        return f"/party/units/{record.ref}"
    if record.person and record.kind in (PartyKind.REGISTRATION, PartyKind.CLAIM):
        return f"/party/members/{record.person}"
    return None


@routes.get("/party/list")
@public
async def list_page(request: web.Request) -> web.Response:
    principal, csrf = await page_session(request, *_COMMITTEE)
    q = request.query
    try:
        kind = PartyKind(q.get("kind", ""))
    except ValueError:
        raise InvalidWhistle(
            [FieldError("kind", "one of " + ", ".join(k.value for k in PartyKind))], status=400
        ) from None
    api_q = {k: v for k, v in q.items() if k not in ("kind", *_DOC_FILTERS)}
    query = await list_query(request, principal, kind, api_q, limit=_LIST_MAX)
    records = await request.app[PARTY_SERVICE].store.find(query)
    filters = {k: q[k] for k in _DOC_FILTERS if k in q}
    records = [r for r in records if all(str(r.doc.get(k)) == v for k, v in filters.items())]
    lang, p = _words(request)
    types = _type_names(lang)
    tz = request.app[TZ]
    rows = [
        {
            "date": rfc3339(r.at, tz)[:10],
            "name": _title(r),
            "href": _link(r),
            "community": r.doc.get("community_name", ""),
            "status": p["statuses"].get(r.status, r.status),
            "detail": _detail(r, p, types),
        }
        for r in records
    ]
    csv_q = urlencode({**api_q, "format": "csv"})
    return render(
        request,
        "party_list.html",
        csrf=csrf,
        principal=principal,
        title=f"{p['kinds'][kind.value]} · {p['list_title']}",
        p=p,
        rows=rows,
        kind_name=p["kinds"][kind.value],
        csv_href=f"/api/v1/{_API_PATH[kind]}?{csv_q}" if not filters else None,
        capped=len(records) >= _LIST_MAX,
    )


@routes.get("/party/units/{id}")
@public
@guarded
async def unit_page(request: web.Request) -> web.Response:
    principal, csrf = await page_session(request, *_COMMITTEE)
    party = request.app[PARTY_SERVICE]
    unit = await party.unit_for_report(principal, request.match_info["id"])
    w, window = window_of(request, principal)
    report = await unit_report(party.store, unit.id, w)
    lang, p = _words(request)
    params = window.params()
    return render(
        request,
        "party_unit.html",
        csrf=csrf,
        principal=principal,
        title=p["report_of"].format(name=unit.doc["name"]),
        p=p,
        # A unit's contact in full only for dispatch, who calls back (whistle/privacy.py).
        unit={**unit.doc, "contact": _contact(unit.doc.get("contact"), principal)},
        unit_type=_type_names(lang).get(unit.doc["type"], unit.doc["type"]),
        report=report,
        window=params,
        csv_href=f"/api/v1/units/{unit.id}/report?{urlencode({**params, 'format': 'csv'})}",
    )


def _contact(contact: Any, principal: Principal) -> str:
    text = "" if contact is None else str(contact)
    return text if principal.role is Role.OPERATOR else mask_phones(text)


def _member_name(request: web.Request, member: str, record: dict[str, Any]) -> str:
    responder = request.app[HIERARCHY].responder(member)
    if responder is not None:
        return responder.name
    for registration in record["registrations"]:
        return str(registration["doc"]["name"])
    return member


@routes.get("/party/members/{id}")
@public
async def member_page(request: web.Request) -> web.Response:
    principal, csrf = await page_session(request, *_COMMITTEE)
    member = request.match_info["id"]
    record = await member_record(request, member)
    await may_see_member(request, principal, member, record)
    return _member_render(request, principal, csrf, member, record, mine=False)


@routes.get("/party/me")
@public
async def my_page(request: web.Request) -> web.Response:
    principal, csrf = await page_session(request, Role.RESPONDER)
    member = principal.responder_id or ""
    record = await member_record(request, member)
    response = _member_render(
        request,
        principal,
        csrf,
        member,
        record,
        mine=True,
        extra=await _my_context(request, principal, record),
    )
    response.headers["Cache-Control"] = "no-store"
    return response


async def _my_context(
    request: web.Request, principal: Principal, record: dict[str, Any]
) -> dict[str, Any]:
    """What the member's own page offers: the communities of their town and every unit to
    register with, or, registered, the open projects of their community."""
    hierarchy = request.app[HIERARCHY]
    party = request.app[PARTY_SERVICE]
    if record["registration"] is None:
        responder = hierarchy.responder(principal.responder_id or "")
        home = None if responder is None else hierarchy.at_level(responder.grid, Level.COMMUNITY)
        town = None if home is None else hierarchy.at_level(home.code, Level.TOWN)
        communities = (
            []
            if town is None
            else [
                {
                    "code": c.code,
                    "name": c.name,
                    "selected": home is not None and c.code == home.code,
                }
                for c in hierarchy.cells(level=Level.COMMUNITY)
                if c.is_within(town.code)
            ]
        )
        units = await party.store.find(PartyQuery(PartyKind.UNIT, limit=5000))
        return {
            "communities": communities,
            "units": sorted(
                ({"id": u.id, "name": u.doc["name"]} for u in units), key=lambda u: u["name"]
            ),
            "board": [],
        }
    registration = record["registration"]
    path = "/" + "/".join(hierarchy.cell(registration["doc"]["community"]).path) + "/"
    projects = await party.store.find(
        PartyQuery(PartyKind.PROJECT, grid_path=path, status="open", limit=50)
    )
    lang, _ = _words(request)
    types = _type_names(lang)
    board = [
        {
            "id": j.id,
            "title": j.doc["title"],
            "type": types.get(j.doc["type"], j.doc["type"]),
            "people": j.doc.get("people", 1),
            "starts_on": j.doc.get("starts_on", ""),
        }
        for j in projects
    ]
    return {"communities": [], "units": [], "board": board}


def _member_render(
    request: web.Request,
    principal: Principal,
    csrf: str,
    member: str,
    record: dict[str, Any],
    *,
    mine: bool,
    extra: dict[str, Any] | None = None,
) -> web.Response:
    lang, p = _words(request)
    name = _member_name(request, member, record)
    claims = [
        {
            "title": c["doc"].get("project_title", ""),
            "community": c["doc"].get("community_name", ""),
            "status": p["statuses"].get(c["status"], c["status"]),
            "date": c["at"][:10],
            "hours": c["hours"],
        }
        for c in record["claims"]
    ]
    registration = record["registration"]
    page_data = {
        "member": member,
        "lang": lang,
        "registration": None if registration is None else registration["id"],
        "text": {k: v for k, v in p.items() if isinstance(v, str)},
    }
    return render(
        request,
        "party_member.html",
        csrf=csrf,
        principal=principal,
        title=p["member_title"] if mine else name,
        p=p,
        name=name,
        mine=mine,
        registration=registration,
        claims=claims,
        hours=record["hours"],
        reports=record["reports"],
        page_data=page_data,
        **(extra or {"communities": [], "units": [], "board": []}),
    )
