"""Pages for people in the field, and the small JSON helpers they use.

Pages (Simplified Chinese by default, English with ``?lang=en``; phones first):

- ``GET /report`` 上报: file a whistle (reporters and operators);
- ``GET /claims`` 认领: a responder's claim board, claims and completed work (responders;
  operators and admins may look at a responder's with ``?responder=ID``);
- ``GET /grids`` 网格: the five levels as a tree, each cell's responders, duty shifts, open
  cases and a map of the cell's children (every role with a login).

The pages are rendered without data; their scripts (``/static/*.js``) read the JSON API with
the session cookie and send the page's CSRF token on every POST.

JSON helpers:

- ``GET /api/v1/grids/{code}/shapes``: a GeoJSON FeatureCollection of the cell's children
  (the cell itself when it has none), for the map. Every role, every cell: the cells are
  public structure, as in ``GET /api/v1/grids/{code}``.
- ``GET /api/v1/grids/{code}/roster``: the responders attached to the cell with their duty
  shifts (AB岗 backups included). Every role; names only inside one's subtree (``null``
  outside), as ``GET /api/v1/grids/{code}`` does.
- ``GET /api/v1/responders/{id}/history``: what the responder has claimed or been pushed and
  has finished (resolved assignments), newest first, each with its case's rating; and
  ``month``: this month's figures for the responder as ``/api/v1/stats`` counts them for its
  community (answered, claimed, completed, hours). The same access as the inbox: the
  responder itself, an operator whose subtree holds the responder, an admin.

And ``GET /vendor/{name}``: front-end libraries installed by npm (``make install``), today
only ``echarts.min.js``. Public, like a static file: they are third-party code, no data.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from shapely.geometry import mapping

from dispatch import Source
from grids import Cell, Level
from whistle.auth import FILES, Principal, Role
from whistle.stats import Window
from whistle.store import WhistleQuery
from whistle.web.access import allow, allow_responder, public
from whistle.web.i18n import FIELD, PAGES, SOURCES
from whistle.web.i18n import lang as _lang
from whistle.web.keys import CASES, CLOCK, HIERARCHY, LIVE, STORE, TZ
from whistle.web.pages import page_session, render
from whistle.web.problems import problem

__all__ = [
    "NODE_MODULES",
    "VENDOR",
    "MonthFigures",
    "board_cell",
    "finished",
    "month_figures",
    "routes",
]

routes = web.RouteTableDef()

NODE_MODULES = Path(__file__).resolve().parents[2] / "node_modules"
# What /vendor/ serves: the public name -> the file under node_modules.
VENDOR = {"echarts.min.js": Path("echarts/dist/echarts.min.js")}


_OPEN_STATUSES = ("dispatched", "acknowledged", "in_progress", "resolved", "on_hold")
_DONE = frozenset({"resolved"})  # an assignment's last state when its work was reported done
_HISTORY_SCAN = 200  # whistles per case status looked at for a responder's history


def _json(data: Any, *, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _page(
    request: web.Request,
    template: str,
    principal: Principal,
    csrf: str,
    title_key: str,
    data: dict[str, Any],
) -> web.Response:
    lang = _lang(request)
    scope = principal.scope or request.app[HIERARCHY].root
    scope_cell = request.app[HIERARCHY].get(scope)
    data = {
        "lang": lang,
        "tz": "Asia/Shanghai",
        "scope": scope,
        "role": principal.role.value if principal.role else None,
        "text": {**PAGES[lang], **FIELD[lang]},
        **data,
    }
    response = render(
        request,
        template,
        principal=principal,
        csrf=csrf,
        title=FIELD[lang][title_key],
        scope_name="" if principal.scope is None or scope_cell is None else scope_cell.name,
        ft=FIELD[lang],
        page_data=data,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


# -- pages ---------------------------------------------------------------------------------


@routes.get("/report")
@public
async def report_page(request: web.Request) -> web.Response:
    principal, csrf = await page_session(request, Role.REPORTER, Role.OPERATOR)
    lang = _lang(request)
    assert principal.role is not None
    may_file = FILES.get(principal.role, frozenset())
    sources = [{"value": s.value, "name": SOURCES[lang][s.value]} for s in Source if s in may_file]
    return _page(
        request,
        "report.html",
        principal,
        csrf,
        "report_title",
        {"sources": sources, "reporter": principal.id},
    )


@routes.get("/claims")
@public
async def claims_page(request: web.Request) -> web.Response:
    principal, csrf = await page_session(request, Role.RESPONDER, Role.OPERATOR, Role.ADMIN)
    if principal.role is Role.RESPONDER:
        responder, may_claim = principal.responder_id, True
    else:
        responder, may_claim = request.query.get("responder") or None, False
    return _page(
        request,
        "claims.html",
        principal,
        csrf,
        "claims_title",
        {"responder": responder, "may_claim": may_claim},
    )


@routes.get("/grids")
@public
async def grids_page(request: web.Request) -> web.Response:
    principal, csrf = await page_session(request)
    may_list = principal.role in (Role.REPORTER, Role.OPERATOR, Role.COMMITTEE, Role.ADMIN)
    return _page(
        request,
        "grids.html",
        principal,
        csrf,
        "grids_title",
        {"may_list_cases": may_list, "statuses": list(_OPEN_STATUSES)},
    )


# -- JSON helpers --------------------------------------------------------------------------


def _feature(cell: Cell, children: int) -> dict[str, Any] | None:
    if cell.geometry is None:
        return None
    return {
        "type": "Feature",
        "properties": {
            "code": cell.code,
            "name": cell.name,
            "level": cell.level.key,
            "children": children,
        },
        "geometry": mapping(cell.geometry),
    }


@routes.get("/api/v1/grids/{code}/shapes")
async def grid_shapes(request: web.Request) -> web.Response:
    """The children of a cell as GeoJSON (lon/lat), or the cell itself when it is a leaf."""
    allow(request, *Role)
    hierarchy = request.app[HIERARCHY]
    code = request.match_info["code"]
    cell = hierarchy.get(code)
    if cell is None:
        return problem(404, "Not Found", detail=f"unknown grid code {code!r}")
    cells = hierarchy.children(code) or [cell]
    features = [
        f for f in (_feature(c, hierarchy.child_count(c.code)) for c in cells) if f is not None
    ]
    return _json({"type": "FeatureCollection", "code": code, "features": features})


def _shift(shift: Any) -> dict[str, Any]:
    def hhmm(minutes: int) -> str:
        return f"{minutes // 60:02d}:{minutes % 60:02d}"

    return {
        "days": list(shift.days),
        "start": hhmm(shift.start),
        "end": hhmm(shift.end),
        "overnight": bool(shift.overnight),
    }


@routes.get("/api/v1/grids/{code}/roster")
async def grid_roster(request: web.Request) -> web.Response:
    """The cell's responders with their duty shifts (empty shifts: always on duty)."""
    principal = allow(request, *Role)
    hierarchy = request.app[HIERARCHY]
    code = request.match_info["code"]
    cell = hierarchy.get(code)
    if cell is None:
        return problem(404, "Not Found", detail=f"unknown grid code {code!r}")
    if not principal.covers(cell):
        return _json({"code": code, "responders": None})
    duty = request.app[LIVE].duty
    return _json(
        {
            "code": code,
            "responders": [
                {
                    "id": r.id,
                    "name": r.name,
                    "kind": r.kind.value,
                    "kind_name": r.kind.label_zh,
                    "backup": r.backup,
                    "shifts": [_shift(s) for s in duty.shifts(r.id)],
                }
                for r in hierarchy.responders_at(code)
            ],
        }
    )


def board_cell(hierarchy: Any, cell: Cell) -> Cell:
    """Where a responder's work lies: its community (boards and its grids), or its own cell
    when it sits above the communities."""
    if cell.level >= Level.COMMUNITY:
        return hierarchy.cell(cell.path[int(Level.COMMUNITY) - 1])  # type: ignore[no-any-return]
    return cell


async def finished(app: web.Application, responder_id: str, cell: Cell) -> list[dict[str, Any]]:
    """Assignments the responder (or a team it is in) finished, newest case first, each with
    its case in summary (and the case's 好差评 grade, once rated)."""
    teams = {t.id for t in app[CASES].teams.teams_of(responder_id)}
    top = board_cell(app[HIERARCHY], cell)
    path = "/" + "/".join(top.path) + "/"
    store = app[STORE]
    found: dict[str, dict[str, Any]] = {}
    for status in ("resolved", "verified", "closed", "rated"):
        page = await store.list_whistles(
            WhistleQuery(status=status, grid_path=path, limit=_HISTORY_SCAN)
        )
        for stored in page.items:
            for a in stored.assignments:
                mine = (a.get("responder") or {}).get("id") == responder_id
                mine = mine or responder_id in (a.get("members") or ()) or a.get("team") in teams
                if mine and a.get("status") in _DONE:
                    doc = stored.row_doc
                    found[a["id"]] = {
                        "assignment": a,
                        "whistle": {
                            "id": doc["id"],
                            "status": stored.status,
                            "category": doc.get("category"),
                            "description": doc.get("description"),
                            "grid": {
                                "code": doc["grid"]["code"],
                                "name": doc["grid"].get("name"),
                            },
                            "received_at": doc.get("received_at"),
                            "rating": ((stored.case or {}).get("rating") or {}).get("grade"),
                        },
                    }
    return sorted(found.values(), key=lambda i: str(i["whistle"]["id"]), reverse=True)


@dataclass(frozen=True, slots=True)
class MonthFigures:
    """A responder's row of the committee's statistics for this month (``/stats``)."""

    grid: str
    since: date
    until: date
    answered: int
    claimed: int
    completed: int
    hours: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "grid": self.grid,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "answered": self.answered,
            "claimed": self.claimed,
            "completed": self.completed,
            "hours": self.hours,
        }


async def month_figures(app: web.Application, responder_id: str, cell: Cell) -> MonthFigures:
    """This month's figures for the responder, computed as ``/api/v1/stats`` computes the
    responders table for the responder's board cell (its community, or its own cell above)."""
    top = board_cell(app[HIERARCHY], cell)
    today = app[CLOCK].now().astimezone(app[TZ]).date()
    window = Window(top, today.replace(day=1), today)
    raw = await app[STORE].statistics(window.query(app[TZ], app[CLOCK].now(), top=None))
    row: dict[str, Any] = next(
        (r for r in raw["responders"] if r["responder_id"] == responder_id), {}
    )
    return MonthFigures(
        grid=top.code,
        since=window.since,
        until=window.until,
        answered=int(row.get("answered", 0)),
        claimed=int(row.get("claimed", 0)),
        completed=int(row.get("completed", 0)),
        hours=float(row.get("hours", 0.0)),
    )


@routes.get("/api/v1/responders/{id}/history")
async def responder_history(request: web.Request) -> web.Response:
    """Assignments the responder (or a team it is in) finished, newest case first, and this
    month's figures (``month``), as the committee's statistics count them."""
    responder_id = request.match_info["id"]
    _, cell = allow_responder(request, responder_id, "history")
    items = await finished(request.app, responder_id, cell)
    figures = await month_figures(request.app, responder_id, cell)
    return _json({"responder": responder_id, "items": items, "month": figures.to_dict()})


# -- vendored front-end libraries ------------------------------------------------------------


@routes.get("/vendor/{name}")
@public
async def vendor(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    relative = VENDOR.get(name)
    if relative is None:
        return web.Response(status=404, text=f"no vendored file {name!r}\n")
    path = NODE_MODULES / relative
    if not path.is_file():
        return web.Response(
            status=404,
            text=(
                f"{name} is not installed: run `make install` (npm ci) in the project "
                f"directory; expected {path}\n"
            ),
        )
    stat = path.stat()
    etag = hashlib.sha256(f"{relative}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "text/javascript; charset=utf-8",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "public, max-age=3600",
            "ETag": f'"{etag[:32]}"',
        },
    )
