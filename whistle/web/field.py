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
  has finished (resolved assignments), newest first. The same access as the inbox: the
  responder itself, an operator whose subtree holds the responder, an admin.

And ``GET /vendor/{name}``: front-end libraries installed by npm (``make install``), today
only ``echarts.min.js``. Public, like a static file: they are third-party code, no data.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from shapely.geometry import mapping

from dispatch import Source
from grids import Cell, Level
from whistle.auth import FILES, Principal, Role
from whistle.store import WhistleQuery
from whistle.web.access import allow, allow_responder, public
from whistle.web.keys import CASES, DUTY, HIERARCHY, STORE
from whistle.web.pages import TEXT, page_session, render
from whistle.web.problems import problem

__all__ = ["NODE_MODULES", "VENDOR", "routes"]

routes = web.RouteTableDef()

NODE_MODULES = Path(__file__).resolve().parents[2] / "node_modules"
# What /vendor/ serves: the public name -> the file under node_modules.
VENDOR = {"echarts.min.js": Path("echarts/dist/echarts.min.js")}

_SOURCE_NAMES = {
    "zh": {
        "citizen": "群众吹哨",
        "community": "社区党组织吹哨",
        "town_committee": "镇党委吹哨",
        "police": "警情吹哨",
        "camera": "天眼吹哨",
    },
    "en": {
        "citizen": "Citizen",
        "community": "Community party organisation",
        "town_committee": "Town party committee",
        "police": "Police alert",
        "camera": "Camera (sky eye)",
    },
}

# Texts the page scripts need, by language (the templates take theirs from here too).
FIELD_TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "report_title": "上报事件",
        "source": "吹哨类型",
        "category": "事件类别",
        "category_hint": "输入名称或编码筛选，如 环境、E0101",
        "place": "位置",
        "place_hint": "逐级选择网格，或使用当前位置",
        "use_location": "使用我的位置",
        "locating": "正在定位…",
        "located": "已定位",
        "no_geolocation": "无法获取位置",
        "chosen": "已选",
        "up": "上一级",
        "description": "事件描述",
        "photos": "照片",
        "add_photo": "添加照片",
        "uploading": "上传中…",
        "remove": "移除",
        "submit": "提交上报",
        "sending": "提交中…",
        "retrying": "网络异常，正在用同一编号重试…",
        "network_failed": "网络异常，上报未确认。内容已保留，请稍后再点“提交上报”（不会重复）。",
        "sent": "已上报",
        "went_to": "已派给",
        "deadline": "报到时限",
        "resolve_by": "办结时限",
        "claim_by": "认领时限",
        "board": "认领榜",
        "new_report": "再报一件",
        "view_case": "查看事件",
        "fix_errors": "请修改标出的内容",
        "pending_found": "有一条上报未确认：",
        "resend": "重新提交",
        "discard": "放弃",
        "claims_title": "认领",
        "open_needs": "待认领",
        "my_work": "我的任务",
        "done": "已完成",
        "claim": "认领",
        "claim_team": "组团认领",
        "claimed": "已认领",
        "responder_id": "报到人员编号",
        "show": "查看",
        "view_only": "仅查看：认领需由报到人员本人操作",
        "grids_title": "网格",
        "tree": "五级网格",
        "responders": "网格力量",
        "shifts": "值班",
        "always": "全天",
        "backup": "B岗",
        "open_cases": "在办事件",
        "map": "地图",
        "children": "下级",
        "no_cases_access": "无权查看事件列表",
        "loading": "加载中…",
        "failed": "加载失败",
        "none": "暂无",
        "workdays": "工作日",
        "daily": "每天",
    },
    "en": {
        "report_title": "Report a case",
        "source": "Whistle",
        "category": "Category",
        "category_hint": "Type a name or code, e.g. litter, E0101",
        "place": "Place",
        "place_hint": "Pick a grid cell level by level, or use your location",
        "use_location": "Use my location",
        "locating": "Locating…",
        "located": "Located",
        "no_geolocation": "Location unavailable",
        "chosen": "Chosen",
        "up": "Up",
        "description": "Description",
        "photos": "Photos",
        "add_photo": "Add photos",
        "uploading": "Uploading…",
        "remove": "Remove",
        "submit": "Submit",
        "sending": "Sending…",
        "retrying": "Network error, retrying with the same key…",
        "network_failed": "Network error: the report is not confirmed. The form is kept; press "
        "Submit again later (it will not be filed twice).",
        "sent": "Reported",
        "went_to": "Sent to",
        "deadline": "Report in by",
        "resolve_by": "Resolve by",
        "claim_by": "Claim by",
        "board": "claim board",
        "new_report": "Report another",
        "view_case": "View case",
        "fix_errors": "Please correct the marked fields",
        "pending_found": "A report was not confirmed:",
        "resend": "Send again",
        "discard": "Discard",
        "claims_title": "Claims",
        "open_needs": "Open needs",
        "my_work": "My work",
        "done": "Completed",
        "claim": "Claim",
        "claim_team": "Claim as team",
        "claimed": "Claimed",
        "responder_id": "Responder id",
        "show": "Show",
        "view_only": "View only: claims are made by the responder",
        "grids_title": "Grids",
        "tree": "Five-level grid",
        "responders": "Responders",
        "shifts": "Duty",
        "always": "Always on duty",
        "backup": "B post",
        "open_cases": "Open cases",
        "map": "Map",
        "children": "Sub-cells",
        "no_cases_access": "You may not list cases",
        "loading": "Loading…",
        "failed": "Could not load",
        "none": "None",
        "workdays": "Workdays",
        "daily": "Daily",
    },
}

_OPEN_STATUSES = ("dispatched", "acknowledged", "in_progress", "resolved", "on_hold")
_DONE = frozenset({"resolved"})  # an assignment's last state when its work was reported done
_HISTORY_SCAN = 200  # whistles per case status looked at for a responder's history


def _json(data: Any, *, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _lang(request: web.Request) -> str:
    lang = request.query.get("lang") or request.cookies.get("whistle_lang") or "zh"
    return lang if lang in TEXT else "zh"


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
        "text": {**TEXT[lang], **FIELD_TEXT[lang]},
        **data,
    }
    response = render(
        request,
        template,
        principal=principal,
        csrf=csrf,
        title=FIELD_TEXT[lang][title_key],
        scope_name="" if principal.scope is None or scope_cell is None else scope_cell.name,
        ft=FIELD_TEXT[lang],
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
    sources = [
        {"value": s.value, "name": _SOURCE_NAMES[lang][s.value]} for s in Source if s in may_file
    ]
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
    duty = request.app[DUTY]
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


def _board_cell(hierarchy: Any, cell: Cell) -> Cell:
    """Where a responder's work lies: its community (boards and its grids), or its own cell
    when it sits above the communities."""
    if cell.level >= Level.COMMUNITY:
        return hierarchy.cell(cell.path[int(Level.COMMUNITY) - 1])  # type: ignore[no-any-return]
    return cell


@routes.get("/api/v1/responders/{id}/history")
async def responder_history(request: web.Request) -> web.Response:
    """Assignments the responder (or a team it is in) finished, newest case first."""
    responder_id = request.match_info["id"]
    hierarchy = request.app[HIERARCHY]
    _, cell = allow_responder(request, responder_id, "history")
    teams = {t.id for t in request.app[CASES].teams.teams_of(responder_id)}
    top = _board_cell(hierarchy, cell)
    path = "/" + "/".join(top.path) + "/"
    store = request.app[STORE]
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
                        },
                    }
    items = sorted(found.values(), key=lambda i: str(i["whistle"]["id"]), reverse=True)
    return _json({"responder": responder_id, "items": items})


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
