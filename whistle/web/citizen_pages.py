"""The citizen's pages, without a login (phones first):

- ``GET /citizen`` 我要反映: choose a category (grouped as 事件/部件, searchable by everyday
  words), place it by the phone's location or by tapping the grid's polygons, describe it,
  add photos and a call-back number, and send it to ``POST /api/v1/public/whistles``;
- ``GET /track/{受理编号}?key=`` follows the case: its status in plain words, the place by
  name, a timeline of units and roles, and the 好差评 form once it is done;
  ``POST /track/{受理编号}/rate?key=`` rates it (the private key is the capability);
- ``GET /favicon.ico``, the site's icon (an SVG), and ``GET /public/{name}``: the few static
  files these pages load (``/static/`` needs a credential; a citizen has none).
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from dispatch.lifecycle import GRADES, IllegalTransition, InvalidAction, rate
from whistle.web.access import public
from whistle.web.citizen_view import citizen_timeline, public_view
from whistle.web.citizens import find_citizen_case
from whistle.web.i18n import CITIZEN, PAGES
from whistle.web.i18n import lang as _lang
from whistle.web.keys import CASES, HIERARCHY, LIVE, STORE, TZ
from whistle.web.pages import render
from whistle.web.problems import refused

__all__ = ["routes"]

routes = web.RouteTableDef()

_STATIC = Path(__file__).resolve().parent / "static"
_FAVICON = _STATIC / "favicon.svg"
# What the pages without a login load, by name: nothing else is served from here.
_PUBLIC_FILES = {
    "base.css": "text/css; charset=utf-8",
    "common.css": "text/css; charset=utf-8",
    "field.js": "text/javascript; charset=utf-8",
    "citizen.js": "text/javascript; charset=utf-8",
}
_COMMENT = 500


@routes.get("/favicon.ico")
@public
async def favicon(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(
        _FAVICON,
        headers={
            "Content-Type": "image/svg+xml",
            "Cache-Control": "public, max-age=86400",
            "X-Content-Type-Options": "nosniff",
        },
    )


@routes.get("/public/{name}")
@public
async def public_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    kind = _PUBLIC_FILES.get(name)
    if kind is None:
        raise web.HTTPNotFound(text=f"no public file {name!r}")
    return web.FileResponse(
        _STATIC / name,
        headers={
            "Content-Type": kind,
            "Cache-Control": "public, max-age=300",
            "X-Content-Type-Options": "nosniff",
        },
    )


@routes.get("/citizen")
@public
async def citizen_page(request: web.Request) -> web.Response:
    lang = _lang(request)
    text = CITIZEN[lang]
    data = {
        "lang": lang,
        "tz": "Asia/Shanghai",
        "root": request.app[HIERARCHY].root,
        "text": {**text, "statuses": PAGES[lang]["statuses"]},
        # The catalog travels with the page: a citizen has no token for /api/v1/categories.
        "categories": [
            {
                "code": c.code,
                "name": c.name,
                "name_en": c.name_en,
                "type": c.type.value,
                "major_name": c.major_name,
                "keywords": list(c.keywords),
            }
            for c in request.app[LIVE].catalog
        ],
    }
    response = render(request, "citizen.html", title=text["title"], ct=text, page_data=data)
    response.headers["Cache-Control"] = "no-store"
    return response


async def _track_page(
    request: web.Request, *, status: int = 200, error: str | None = None, thanks: bool = False
) -> web.Response:
    key = request.query.get("key", "")
    stored = await find_citizen_case(request, request.match_info["id"], key)
    if stored is None:
        refused(request, 404, "citizen link with a wrong key")
        raise web.HTTPNotFound(text="no case for this link: open the link you were given")
    lang = _lang(request)
    events = await request.app[STORE].timeline(stored.row_doc["id"])
    view = public_view(stored, lang)
    labels = GRADES if lang == "zh" else {k: k.replace("_", " ") for k in GRADES}
    response = render(
        request,
        "track.html",
        status=status,
        title=CITIZEN[lang]["track_title"],
        ct=CITIZEN[lang],
        view=view,
        timeline=citizen_timeline(events, stored, request.app[TZ], lang),
        key=key,
        grades=list(labels.items()),
        error=error,
        thanks=thanks,
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the key is in the URL
    return response


@routes.get("/track/{id}")
@public
async def track(request: web.Request) -> web.Response:
    return await _track_page(request, thanks=request.query.get("rated") == "1")


@routes.post("/track/{id}/rate")
@public
async def track_rate(request: web.Request) -> web.Response:
    # The private link's key is the capability (and stands in for a CSRF token): nobody can
    # post this form for a citizen without knowing their link.
    key = request.query.get("key", "")
    stored = await find_citizen_case(request, request.match_info["id"], key)
    if stored is None:
        refused(request, 404, "citizen rating with a wrong key")
        raise web.HTTPNotFound(text="no case for this link")
    text = CITIZEN[_lang(request)]
    form = await request.post()
    grade = str(form.get("grade", ""))
    comment = str(form.get("comment", "")).strip()[:_COMMENT] or None
    if grade not in GRADES:
        return await _track_page(request, status=422, error=text["choose_grade"])
    try:
        await request.app[CASES].act(
            stored.row_doc["id"],
            "citizen",
            lambda state, ctx: rate(state, "citizen", ctx, grade=grade, comment=comment),
        )
    except (IllegalTransition, InvalidAction) as exc:
        why = str(exc) if _lang(request) == "en" else text["status_words"].get(stored.status, "")
        return await _track_page(
            request, status=409, error=str(text["rate_refused"]).format(why=why)
        )
    number = stored.row_doc.get("case_number") or stored.row_doc["id"]
    raise web.HTTPSeeOther(f"/track/{number}?key={key}&rated=1")
