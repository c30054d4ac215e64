"""调度台, the operator console: ``GET /console``.

The page carries the filters (town, community, level, source, category, state: only what
lies inside the principal's subtree), the counts per queue and the first page of the queue,
so it is useful before any script runs. ``/static/console.js`` then keeps it live: it lists
through ``GET /api/v1/whistles`` and follows ``GET /api/v1/stream`` (whistle/web/stream.py),
updating rows without a reload, and sends the operator's actions with the page's CSRF token.

Operators act; committees and admins see the same page without the action buttons (the API
refuses their actions anyway). Labels live here, in Chinese and English (``?lang=en``); times
are shown in the county's zone (Asia/Shanghai).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from dispatch import Source
from grids import Level
from whistle.auth import Principal, Role
from whistle.store import WhistleQuery
from whistle.web.access import public
from whistle.web.keys import CATALOG, CLOCK, HIERARCHY, STORE
from whistle.web.pages import LANG_COOKIE, TEXT, page_session, render

__all__ = ["CONSOLE_TEXT", "QUEUES", "routes"]

routes = web.RouteTableDef()

# The counts shown at the top, in this order: statuses, returns awaiting the dispatcher's
# decision (退单待定), then the two alarms.
QUEUES = (
    "dispatched",
    "acknowledged",
    "in_progress",
    "resolved",
    "on_hold",
    "returned",
    "overdue",
    "escalated",
)

CONSOLE_TEXT: dict[str, dict[str, Any]] = {
    "zh": {
        "title": "调度台",
        "filters": "筛选",
        "town": "乡镇/街道",
        "community": "村/社区",
        "level": "层级",
        "source": "来源",
        "category": "类别",
        "state": "状态",
        "all": "全部",
        "apply": "筛选",
        "queues": {
            "dispatched": "待报到",
            "acknowledged": "已报到",
            "in_progress": "处置中",
            "resolved": "待核查",
            "on_hold": "挂账",
            "returned": "退单待定",
            "overdue": "超时",
            "escalated": "已升级",
        },
        "columns": {
            "id": "编号",
            "received": "受理时间",
            "source": "来源",
            "category": "类别",
            "description": "描述",
            "place": "位置",
            "state": "状态",
            "due": "办结时限",
            "actions": "操作",
        },
        "flags": {
            "overdue": "超时",
            "escalated": "已升级",
            "returned": "退单待定",
            "muted_by": "静默",
            "silence_warning": "紧急不静默",
        },
        "actions": {
            "reassign": "改派",
            "accept_return": "同意退单",
            "refuse_return": "驳回退单",
            "merge": "合并",
            "hold": "挂账",
            "release": "解除挂账",
            "silence": "静默",
        },
        "prompts": {
            "responder": "改派给(报到人员编号)",
            "reason": "原因",
            "note": "说明(可不填)",
            "into": "合并到(编号)",
            "minutes": "静默时长(分钟)",
            "comment": "静默说明",
        },
        "live": "实时",
        "offline": "连接中断,正在重连",
        "done": "已完成",
        "failed": "操作失败",
        "empty": "暂无",
        "more": "更多",
        "read_only": "只读: 党委与管理员可查看,不能操作",
    },
    "en": {
        "title": "Operator console",
        "filters": "Filters",
        "town": "Town",
        "community": "Community",
        "level": "Level",
        "source": "Source",
        "category": "Category",
        "state": "State",
        "all": "All",
        "apply": "Filter",
        "queues": {
            "dispatched": "Awaiting report-in",
            "acknowledged": "Acknowledged",
            "in_progress": "In progress",
            "resolved": "To verify",
            "on_hold": "On hold",
            "returned": "Returns to decide",
            "overdue": "Overdue",
            "escalated": "Escalated",
        },
        "columns": {
            "id": "Case",
            "received": "Received",
            "source": "Source",
            "category": "Category",
            "description": "Description",
            "place": "Place",
            "state": "State",
            "due": "Due",
            "actions": "Actions",
        },
        "flags": {
            "overdue": "overdue",
            "escalated": "escalated",
            "returned": "return to decide",
            "muted_by": "silenced",
            "silence_warning": "emergency, not silenced",
        },
        "actions": {
            "reassign": "Reassign",
            "accept_return": "Accept return",
            "refuse_return": "Refuse return",
            "merge": "Merge",
            "hold": "Hold",
            "release": "Release",
            "silence": "Silence",
        },
        "prompts": {
            "responder": "Reassign to (responder id)",
            "reason": "Reason",
            "note": "Note (optional)",
            "into": "Merge into (case id)",
            "minutes": "Silence for (minutes)",
            "comment": "Why silence it",
        },
        "live": "live",
        "offline": "disconnected, reconnecting",
        "done": "Done",
        "failed": "Failed",
        "empty": "None",
        "more": "More",
        "read_only": "Read only: committees and admins see, operators act",
    },
}


def _lang(request: web.Request) -> str:
    lang = request.query.get("lang") or request.cookies.get(LANG_COOKIE) or "zh"
    return lang if lang in CONSOLE_TEXT else "zh"


def _subtree_path(request: web.Request, principal: Principal) -> str | None:
    if principal.scope is None:
        return None
    cell = request.app[HIERARCHY].cell(principal.scope)
    return "/" + "/".join(cell.path) + "/"


def _filters(request: web.Request, principal: Principal, lang: str) -> dict[str, Any]:
    """The options of each filter, limited to what the principal may list."""
    hierarchy = request.app[HIERARCHY]
    english = lang == "en"
    towns = [
        {"code": c.code, "name": c.name}
        for c in hierarchy.cells(level=Level.TOWN)
        if principal.covers(c)
    ]
    communities = [
        {"code": c.code, "name": c.name, "town": c.parent or ""}
        for c in hierarchy.cells(level=Level.COMMUNITY)
        if principal.covers(c)
    ]
    levels = [
        {"value": level.key, "name": level.key.replace("_", " ") if english else level.label_zh}
        for level in Level
    ]
    sources = [{"value": s.value, "name": s.value if english else s.label_zh} for s in Source]
    majors: dict[str, dict[str, Any]] = {}
    for category in request.app[CATALOG]:
        group = majors.setdefault(
            category.major, {"code": category.major, "name": category.major_name, "items": []}
        )
        name = category.name_en if english and category.name_en else category.name
        group["items"].append({"code": category.code, "name": name})
    statuses = TEXT[lang]["statuses"]
    return {
        "towns": towns,
        "communities": communities,
        "levels": levels,
        "sources": sources,
        "categories": list(majors.values()),
        # 退单待定 is a queue, not a status: the script lists it with ``queue=returned``.
        "states": [{"value": k, "name": v} for k, v in statuses.items()]
        + [{"value": "returned", "name": CONSOLE_TEXT[lang]["queues"]["returned"]}],
    }


@routes.get("/console")
@public
async def console(request: web.Request) -> web.Response:
    """The live queue of the principal's subtree."""
    principal, csrf = await page_session(request, Role.OPERATOR, Role.ADMIN, Role.COMMITTEE)
    lang = _lang(request)
    store = request.app[STORE]
    path = _subtree_path(request, principal)
    counts = await store.queue_counts(path, request.app[CLOCK].now())
    page = await store.list_whistles(WhistleQuery(grid_path=path, limit=50))
    labels = CONSOLE_TEXT[lang]
    # What the script needs, as data (the CSP allows no inline script).
    config = {
        "lang": lang,
        "can_act": principal.role is Role.OPERATOR,
        "labels": labels,
        "statuses": TEXT[lang]["statuses"],
        "scope": principal.scope,
    }
    scope_cell = None if principal.scope is None else request.app[HIERARCHY].get(principal.scope)
    return render(
        request,
        "console.html",
        title=labels["title"],
        principal=principal,
        csrf=csrf,
        scope_name="" if scope_cell is None else scope_cell.name,
        c=labels,
        can_act=principal.role is Role.OPERATOR,
        filters=_filters(request, principal, lang),
        queues=[(key, labels["queues"][key], counts.get(key, 0)) for key in QUEUES],
        items=[item.document() for item in page.items],
        config=orjson.dumps(config).decode(),
    )
