"""Committee statistics over HTTP: the figures as JSON, each table as CSV, the cases behind any
figure, and the statistics page.

| route | what |
|---|---|
| ``GET /api/v1/stats?grid=&since=&until=`` | every figure (see ``whistle.stats``) |
| ``GET /api/v1/stats/{table}.csv?...`` | one table: rates, sources, places, categories, days, |
| | responders |
| ``GET /api/v1/stats/cases?metric=&bucket=&...`` | the ids behind one figure |
| ``GET /stats``, ``GET /stats/cases`` | the page, and the cases behind a figure as links |

Committee, operator and admin may read them, for a subtree inside their scope (403 outside).
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import urlencode

import orjson
import structlog
from aiohttp import web

from grids import Cell, Hierarchy
from whistle.auth import Principal, Role, allow_cell
from whistle.bounds import whole_number
from whistle.exceptions import FieldError, InvalidWhistle
from whistle.privacy import NAMES_IN_EXPORTS
from whistle.stats import METRICS, TABLES, Window, csv_table, labels, parse_window, report
from whistle.store.facts import BadBucket, metric_kind
from whistle.store.readouts import CaseFacts
from whistle.timefmt import rfc3339
from whistle.web.access import allow, public
from whistle.web.i18n import SOURCES, STATUSES
from whistle.web.i18n import lang as _lang
from whistle.web.keys import CLOCK, HIERARCHY, LIVE, STORE, TZ
from whistle.web.numbers import case_number
from whistle.web.pages import page_session, render

__all__ = ["READERS", "cell_choices", "routes"]

log = structlog.get_logger(__name__)

routes = web.RouteTableDef()

READERS = (Role.COMMITTEE, Role.OPERATOR, Role.ADMIN)
DRILL_LIMIT = 500
_SAFE = re.compile(r"[^A-Za-z0-9_-]")


def _window(request: web.Request, principal: Principal, *extra: str) -> Window:
    app = request.app
    today = app[CLOCK].now().astimezone(app[TZ]).date()
    window = parse_window(
        request.query,
        principal,
        app[HIERARCHY],
        today,
        extra=frozenset({"lang", *extra}),
    )
    allow_cell(principal, window.cell, "that subtree")
    return window


async def _report(request: web.Request, window: Window, *, top: int | None = 100) -> Any:
    app = request.app
    started = time.perf_counter()
    raw = await app[STORE].statistics(window.query(app[TZ], app[CLOCK].now(), top=top))
    log.info(
        "stats.computed",
        grid=window.cell.code,
        since=window.since.isoformat(),
        until=window.until.isoformat(),
        ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return report(
        raw, window, hierarchy=app[HIERARCHY], catalog=app[LIVE].catalog, lang=_lang(request)
    )


@routes.get("/api/v1/stats")
async def get_stats(request: web.Request) -> web.Response:
    principal = allow(request, *READERS)
    window = _window(request, principal)
    doc = await _report(request, window)
    return web.Response(body=orjson.dumps(doc), content_type="application/json")


async def _drill(request: web.Request, principal: Principal) -> tuple[Window, dict[str, Any]]:
    window = _window(request, principal, "metric", "bucket", "limit")
    q = request.query
    metric = q.get("metric", "")
    bucket = q.get("bucket") or None
    errors: list[FieldError] = []
    try:
        kind = metric_kind(metric)
    except BadBucket:
        kind = ""
        known = ", ".join(sorted(METRICS))
        errors.append(FieldError("metric", f"unknown metric {metric!r}; expected one of {known}"))
    limit = DRILL_LIMIT
    if "limit" in q:
        try:
            limit = whole_number(q["limit"], lo=1, hi=DRILL_LIMIT)
        except ValueError as exc:
            errors.append(FieldError("limit", str(exc)))
    if errors:
        raise InvalidWhistle(errors, status=400)
    app = request.app
    query = window.query(app[TZ], app[CLOCK].now())
    try:
        ids = await app[STORE].cases_for(metric, bucket, query, limit + 1)
    except BadBucket as exc:
        raise InvalidWhistle([FieldError("bucket", str(exc))], status=400) from None
    truncated = len(ids) > limit
    ids = ids[:limit]
    cases = ids if kind == "case" else list(dict.fromkeys(_case_of(i) for i in ids))
    return window, {
        "metric": metric,
        "bucket": bucket,
        **window.params(),
        "kind": kind,
        "count": len(ids),
        "truncated": truncated,
        "ids": ids,
        "cases": cases,
    }


def _case_of(assignment_id: str) -> str:
    # Assignment ids are "<case id>-<n>".
    return assignment_id.rsplit("-", 1)[0]


@routes.get("/api/v1/stats/cases")
async def get_stats_cases(request: web.Request) -> web.Response:
    principal = allow(request, *READERS)
    _, doc = await _drill(request, principal)
    return web.Response(body=orjson.dumps(doc), content_type="application/json")


def names_in_exports(principal: Principal) -> bool:
    """Whether an export names people (whistle/privacy.py ``NAMES_IN_EXPORTS``: the committee,
    which counts who reported, and the operators and admins); others see the role."""
    return principal.role is not None and principal.role.value in NAMES_IN_EXPORTS


@routes.get("/api/v1/stats/{table:[a-z]+}.csv")
async def get_stats_csv(request: web.Request) -> web.Response:
    principal = allow(request, *READERS)
    table = request.match_info["table"]
    if table not in TABLES:
        raise web.HTTPNotFound(text=f"no table {table!r}; expected one of {', '.join(TABLES)}")
    window = _window(request, principal)
    # The export lists every responder, not only the page's top ones.
    doc = await _report(request, window, top=None if table == "responders" else 100)
    name = "-".join(
        _SAFE.sub("_", part)
        for part in ("stats", table, window.cell.code, str(window.since), str(window.until))
    )
    return web.Response(
        body=csv_table(doc, table, _lang(request), names_shown=names_in_exports(principal)),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


# -- pages ---------------------------------------------------------------------------------------


def cell_choices(hierarchy: Hierarchy, principal: Principal, chosen: Cell) -> list[dict[str, Any]]:
    """The cells one may pick: from the top of one's scope down to the chosen cell, then the
    chosen cell's children."""
    top = principal.scope or hierarchy.root
    chain = list(chosen.path[chosen.path.index(top) :]) if top in chosen.path else []
    cells = [hierarchy.cell(code) for code in chain] + hierarchy.children(chosen.code)
    top_depth = len(hierarchy.cell(top).path)
    return [
        {
            "code": c.code,
            "label": "\u3000" * (len(c.path) - top_depth) + c.name,
            "selected": c.code == chosen.code,
        }
        for c in cells
    ]


def _page_context(request: web.Request, principal: Principal, window: Window) -> dict[str, Any]:
    hierarchy = request.app[HIERARCHY]
    scope_name = ""
    if principal.scope is not None:
        cell = hierarchy.get(principal.scope)
        scope_name = "" if cell is None else cell.name
    lang = _lang(request)
    return {
        "principal": principal,
        "scope_name": scope_name,
        "s": labels(lang),
        "window": window.params(),
        "qs": urlencode(window.params()),
        "choices": cell_choices(hierarchy, principal, window.cell),
    }


@routes.get("/stats")
@public
async def stats_page(request: web.Request) -> web.Response:
    principal, csrf = await page_session(request, *READERS)
    window = _window(request, principal)
    doc = await _report(request, window)
    context = _page_context(request, principal, window)
    return render(
        request,
        "stats.html",
        csrf=csrf,
        doc=doc,
        tables=TABLES,
        title=context["s"]["title"],
        **context,
    )


def _row(request: web.Request, facts: CaseFacts, lang: str) -> dict[str, Any]:
    """One case of a drill-down as the page lists it: names and times, no bare ids."""
    app = request.app
    tz = app[TZ]
    cell = app[HIERARCHY].get(facts.grid_code)
    category = app[LIVE].catalog.get(facts.category)
    if category is None:
        category_name = facts.category
    else:
        category_name = category.name_en if lang == "en" and category.name_en else category.name
    return {
        "id": facts.id,
        "case_number": case_number({"case_number": facts.case_number}, facts.id),
        "place": facts.grid_code if cell is None else cell.name,
        "category": category_name,
        "status": STATUSES[lang].get(facts.status, facts.status),
        "received_at": _minute(rfc3339(facts.received_at, tz)),
        "resolved_at": _minute(rfc3339(facts.resolved_at, tz)),
        "closed_at": _minute(rfc3339(facts.closed_at, tz)),
    }


def _bucket_name(request: web.Request, bucket: str | None, lang: str) -> str:
    """A drill-down's bucket by name (群众吹哨, a cell's or a responder's name, a 大类)."""
    if not bucket:
        return ""
    app = request.app
    kind, _, value = bucket.partition(":")
    if kind == "source":
        return SOURCES[lang].get(value, value)
    if kind == "place":
        cell = app[HIERARCHY].get(value) if value else None
        return value if cell is None else cell.name
    if kind == "category":
        major = app[LIVE].catalog.major(value)
        return value if major is None else (major.name_en if lang == "en" else major.name)
    if kind == "responder":
        found = app[HIERARCHY].responder(value)
        return value if found is None else found.name
    return value


def _minute(text: str | None) -> str:
    # 2026-11-23T09:10:00.000+08:00 -> 2026-11-23 09:10 (the page says the zone once)
    return "" if text is None else text[:16].replace("T", " ")


@routes.get("/stats/cases")
@public
async def stats_cases_page(request: web.Request) -> web.Response:
    principal, csrf = await page_session(request, *READERS)
    window, drill = await _drill(request, principal)
    context = _page_context(request, principal, window)
    lang = _lang(request)
    found = await request.app[STORE].case_facts(drill["cases"])
    rows = [_row(request, found[wid], lang) for wid in drill["cases"] if wid in found]
    return render(
        request,
        "stats_cases.html",
        csrf=csrf,
        drill=drill,
        rows=rows,
        bucket_name=_bucket_name(request, drill["bucket"], lang),
        title=context["s"]["title"],
        **context,
    )
