"""我的任务: a responder's own work, on a phone (the page ``/`` leads a responder to).

- ``GET /tasks``: every assignment pushed to the responder or claimed by it (alone or with a
  team) that still needs it, most urgent and newest first; each card names the place
  (community, grid, micro-grid), the category and what was said, and counts down to its next
  deadline (red once overdue). The page follows the event stream (filtered to the
  responder's own notices) and reloads its list when something arrives; an optional beep.
  Below, what the responder finished this month, with ratings, and the same figures the
  committee sees for it on ``/stats``.
- ``GET /tasks/{assignment_id}``: one task in the responder's terms: photos, a map of the
  place (an inline SVG of the cells, no tiles), the timeline as sentences, and the actions
  its state allows (报到, 开始处置, 办结, 退单, 申请延期), each sent with an Idempotency-Key made
  once per press (``/static/task.js``).

Responders only (operators have the console); another responder's task is 403.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from dispatch.case import ACTIVE
from dispatch.extensions import REQUEST_EXTENSION, may_request_extension
from dispatch.lifecycle import GRADES, allowed_assignment_actions
from grids import Cell, Hierarchy, Level
from whistle.auth import Principal, Role
from whistle.exceptions import Forbidden
from whistle.timefmt import display
from whistle.web.access import public
from whistle.web.field import finished, month_figures
from whistle.web.i18n import FIELD, PAGES, REASONS, TASKS
from whistle.web.i18n import lang as _lang
from whistle.web.keys import CASES, CLOCK, HIERARCHY, LIVE, STORE, TZ
from whistle.web.maps import place_svg
from whistle.web.pages import page_session, render
from whistle.web.timeline import duration_text, names_of, sentences

__all__ = ["case_number", "place_names", "routes"]

routes = web.RouteTableDef()

_URGENCY_RANK = {"emergency": 0, "urgent": 1, "normal": 2, "low": 3}
_RETURN_REASONS = ("not_my_grid", "not_my_department", "incomplete", "other")
_MAX_DURATION_CHOICES = 30


def place_names(hierarchy: Hierarchy, code: str) -> list[str]:
    """The place from its community down (社区 › 网格 › 微网格), by name."""
    cell = hierarchy.get(code)
    if cell is None:
        return []
    cells = [hierarchy.cell(c) for c in cell.path]
    return [c.name for c in cells if c.level >= Level.COMMUNITY] or [cell.name]


def case_number(doc: dict[str, Any]) -> str:
    """The case's 受理编号 (``case_number``, from the citizen work), else a short form of its
    id: its last eight characters, enough to read out over the phone."""
    return str(doc.get("case_number") or str(doc["id"])[-8:])


def _due(assignment: dict[str, Any], case: dict[str, Any]) -> tuple[str | None, str]:
    """The next deadline of an assignment and what it is for (the TASKS key)."""
    status = assignment.get("status")
    if status == "dispatched":
        return assignment.get("acknowledge_due"), "due_report"
    if status == "open":
        return assignment.get("claim_due"), "due_claim"
    return case.get("resolve_due") or assignment.get("resolve_due"), "due_resolve"


def _mine(assignment: dict[str, Any], principal: Principal) -> bool:
    rid = principal.responder_id
    holder = (assignment.get("responder") or {}).get("id")
    return rid is not None and (holder == rid or rid in (assignment.get("members") or ()))


def _card(request: web.Request, item: dict[str, Any], case: dict[str, Any]) -> dict[str, Any]:
    lang = _lang(request)
    assignment, whistle = item["assignment"], item["whistle"]
    due, due_key = _due(assignment, case)
    now = request.app[CLOCK].now()
    category = whistle.get("category") or {}
    return {
        "id": assignment["id"],
        "status": assignment["status"],
        "status_name": TASKS[lang]["assignment_statuses"].get(assignment["status"], ""),
        "place": place_names(request.app[HIERARCHY], whistle["grid"]["code"]),
        "category": category.get("name") if isinstance(category, dict) else category,
        "description": whistle.get("description") or "",
        "urgency": whistle.get("urgency") or "normal",
        "due": due,
        "due_label": TASKS[lang][due_key],
        "overdue": due is not None and datetime.fromisoformat(due) < now,
        "received": display(datetime.fromisoformat(whistle["received_at"]), request.app[TZ]),
        "received_at": whistle["received_at"],
        "waiting": assignment["status"] == "dispatched",
    }


async def _cards(request: web.Request, principal: Principal) -> list[dict[str, Any]]:
    """The responder's tasks: pushed or claimed, still to be done, most urgent first."""
    rid = principal.responder_id
    assert rid is not None
    hierarchy = request.app[HIERARCHY]
    responder = hierarchy.responder(rid)
    cell = None if responder is None else hierarchy.get(responder.grid)
    boards = [cell.code] if cell is not None and cell.level == Level.COMMUNITY else []
    teams = [t.id for t in request.app[CASES].teams.teams_of(rid)]
    store = request.app[STORE]
    cards = []
    for item in await store.inbox(rid, boards, teams):
        if item["assignment"]["status"] == "open":
            continue  # a need on the board: claimed on /claims, a task once claimed
        stored = await store.get_whistle(item["whistle"]["id"])
        case = (stored.case if stored is not None else None) or {}
        cards.append(_card(request, item, case))
    cards.sort(key=lambda c: c["received_at"], reverse=True)  # newest first ...
    cards.sort(key=lambda c: (not c["overdue"], _URGENCY_RANK.get(c["urgency"], 2)))
    return cards


def _page_data(request: web.Request, principal: Principal, **extra: Any) -> dict[str, Any]:
    lang = _lang(request)
    return {
        "lang": lang,
        "tz": "Asia/Shanghai",
        "responder": principal.responder_id,
        "text": {**FIELD[lang], **TASKS[lang], "reasons": REASONS[lang]},
        **extra,
    }


def _responder(request: web.Request, principal: Principal) -> tuple[str, Cell]:
    rid = principal.responder_id
    hierarchy = request.app[HIERARCHY]
    responder = None if rid is None else hierarchy.responder(rid)
    if rid is None or responder is None:
        raise Forbidden("this login acts as no responder of the county")
    return rid, hierarchy.cell(responder.grid)


@routes.get("/tasks")
@public
async def tasks_page(request: web.Request) -> web.Response:
    principal, csrf = await page_session(request, Role.RESPONDER)
    rid, cell = _responder(request, principal)
    lang = _lang(request)
    cards = await _cards(request, principal)
    figures = await month_figures(request.app, rid, cell)
    month_start = datetime.combine(figures.since, datetime.min.time(), request.app[TZ])
    done = [
        {
            **item,
            "place": place_names(request.app[HIERARCHY], item["whistle"]["grid"]["code"]),
            "received": display(
                datetime.fromisoformat(item["whistle"]["received_at"]), request.app[TZ]
            ),
            "rating_name": GRADES.get(item["whistle"].get("rating") or "", ""),
        }
        for item in await finished(request.app, rid, cell)
        if datetime.fromisoformat(item["whistle"]["received_at"]) >= month_start
    ]
    return render(
        request,
        "tasks.html",
        principal=principal,
        csrf=csrf,
        title=TASKS[lang]["title"],
        tt=TASKS[lang],
        cards=cards,
        waiting=sum(1 for c in cards if c["waiting"]),
        figures=figures,
        done=done,
        page_data=_page_data(
            request, principal, count=len(cards), now=request.app[CLOCK].now().isoformat()
        ),
    )


def _extension_choices(request: web.Request, lang: str) -> list[dict[str, str]]:
    """Durations a responder may ask, 1 … the policy's ``extension_max`` in its unit."""
    limit = request.app[CASES].policy.extension_max
    top = min(limit.amount, _MAX_DURATION_CHOICES)
    unit = limit.unit.value
    return [
        {"value": f"{n}{unit}", "name": duration_text(f"{n}{unit}", lang)}
        for n in range(1, top + 1)
    ]


def _photos(doc: dict[str, Any]) -> list[str]:
    """The case's photos as paths this server serves (``/media/…``)."""
    urls = list(doc.get("media_urls") or ())
    urls += list(((doc.get("case") or {}).get("resolution") or {}).get("photos") or ())
    paths = []
    for url in urls:
        at = str(url).find("/media/")
        if at >= 0:
            paths.append(str(url)[at:])
    return paths


@routes.get("/tasks/{assignment_id}")
@public
async def task_page(request: web.Request) -> web.Response:
    principal, csrf = await page_session(request, Role.RESPONDER)
    assignment_id = request.match_info["assignment_id"]
    whistle_id = assignment_id.rsplit("-", 1)[0]
    lang = _lang(request)
    store = request.app[STORE]
    stored = await store.get_whistle(whistle_id)
    assignment = None
    if stored is not None:
        assignment = next((a for a in stored.assignments if a["id"] == assignment_id), None)
    if stored is None or assignment is None:
        raise web.HTTPNotFound(text="no such task")
    if not _mine(assignment, principal):
        raise Forbidden("this task is assigned to another responder")
    state = await request.app[CASES].load(whistle_id)
    held = state.assignment(assignment_id)
    assert held is not None
    actions = allowed_assignment_actions(state, held)
    if may_request_extension(state, held):
        actions.append(REQUEST_EXTENSION)
    doc = stored.document()
    case = doc.get("case") or {}
    hierarchy = request.app[HIERARCHY]
    events = await store.timeline(whistle_id)
    names = names_of(hierarchy, request.app[LIVE].router)
    due, due_key = _due(assignment, case)
    tz = request.app[TZ]
    return render(
        request,
        "task.html",
        principal=principal,
        csrf=csrf,
        title=TASKS[lang]["task_title"],
        tt=TASKS[lang],
        doc=doc,
        assignment=assignment,
        status_name=PAGES[lang]["statuses"].get(doc["status"], doc["status"]),
        place=place_names(hierarchy, doc["grid"]["code"]),
        case_number=case_number(doc),
        photos=_photos(doc),
        map_svg=place_svg(hierarchy, doc["grid"]["code"], doc.get("location") or {}),
        timeline=sentences(events, names, lang=lang, tz=tz),
        actions=actions,
        active=state.status in ACTIVE,
        due=due,
        due_label=TASKS[lang][due_key],
        due_text=display(None if due is None else datetime.fromisoformat(due), tz),
        received=display(datetime.fromisoformat(doc["received_at"]), tz),
        extension=case.get("extension_request"),
        extension_choices_name=duration_text(
            (case.get("extension_request") or {}).get("duration"), lang
        ),
        extension_choices=_extension_choices(request, lang),
        return_reasons=[(k, TASKS[lang]["return_reasons"][k]) for k in _RETURN_REASONS],
        page_data=_page_data(
            request,
            principal,
            assignment=assignment_id,
            whistle=whistle_id,
            due=due,
            now=request.app[CLOCK].now().isoformat(),
        ),
    )
