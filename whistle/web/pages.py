"""Pages served to browsers: login and logout, a home page, a case page, a citizen's page.

Simplified Chinese by default, English with ``?lang=en`` (remembered in a cookie). Templates
escape everything they print (Jinja2 autoescape), so text people typed is shown, never run.
Login uses a double-submit CSRF cookie; once logged in, forms carry the session's CSRF token.
"""

from __future__ import annotations

import dataclasses
import hmac
import math
import secrets
from typing import Any

import jinja2
import orjson
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from whistle.auth import Principal, Role
from whistle.exceptions import Forbidden, Overloaded, RateLimited
from whistle.nearby import distance_m
from whistle.privacy import mask_phones, masked, shown_to
from whistle.store import WhistleQuery
from whistle.store.case_numbers import CASE_NUMBER
from whistle.timefmt import rfc3339
from whistle.web.access import ACCESS, PRINCIPAL, SESSION_COOKIE, client_address, public
from whistle.web.api import calls_back, for_viewer, may_read
from whistle.web.i18n import ACTIONS, LANG_COOKIE, PAGES
from whistle.web.i18n import lang as _lang
from whistle.web.keys import HIERARCHY, LIVE, SETTINGS, STORE, TZ
from whistle.web.matchers import matchers_named
from whistle.web.problems import PROBLEM_JSON, refused
from whistle.web.timeline import actor_name, names_of, sentences
from whistle.web.trace import placement_text, trace_entries

__all__ = ["LANDING", "NAV", "html_errors", "nav_for", "page_session", "render", "routes"]

log = structlog.get_logger(__name__)

routes = web.RouteTableDef()

LOGIN_COOKIE = "whistle_login"

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("whistle.web", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
)

# Answers that are never pages, whoever asks: a refusal there stays problem+json.
_NOT_PAGES = ("/api/", "/media/", "/static/", "/vendor/", "/open311/", "/healthz", "/readyz")
_PASSED_ON = ("Retry-After", "WWW-Authenticate", "Allow")


@web.middleware
async def html_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A browser that opens a page and is refused (403, 404, 409, 429 …) gets a page in its
    language naming what went wrong, not a problem+json document."""
    response = await handler(request)
    if (
        response.status < 400
        or response.content_type != PROBLEM_JSON
        or not isinstance(response, web.Response)
        or not isinstance(response.body, bytes)
        or request.path.startswith(_NOT_PAGES)
        or "text/html" not in request.headers.get("Accept", "")
    ):
        return response
    t = PAGES[_lang(request)]["errors"]
    try:
        page = render(
            request,
            "error.html",
            status=response.status,
            code=response.status,
            title=t.get(str(response.status), t["other"]),
            problem=orjson.loads(response.body),
        )
    except Exception:  # the refusal itself must reach the browser, page or not
        log.exception("page.error_page_failed", path=request.path)
        return response
    for name in _PASSED_ON:
        if name in response.headers:
            page.headers[name] = response.headers[name]
    return page


def render(
    request: web.Request, template: str, *, status: int = 200, **context: Any
) -> web.Response:
    lang = _lang(request)
    context.setdefault("principal", None)
    context.setdefault("csrf", "")
    context.setdefault("scope_name", "")
    # The language switch keeps the page's query (a subtree, a date range), changing lang only.
    context.setdefault(
        "lang_href", str(request.rel_url.update_query(lang="en" if lang == "zh" else "zh"))
    )
    context.setdefault("nav", nav_for(context["principal"]))
    html = _env.get_template(template).render(
        lang=lang, t=PAGES[lang], title=context.pop("title", PAGES[lang]["app"]), **context
    )
    response = web.Response(text=html, content_type="text/html", status=status)
    if "lang" in request.query:
        response.set_cookie(
            LANG_COOKIE, lang, samesite="Lax", max_age=365 * 86400, secure=secure_cookies(request)
        )
    return response


def secure_cookies(request: web.Request) -> bool:
    """Whether cookies are marked Secure: on HTTPS, and always with ``--secure-cookies`` (behind
    a proxy that ends TLS, the request itself arrives as plain HTTP)."""
    return request.secure or request.app[SETTINGS].secure_cookies


async def _session(request: web.Request) -> tuple[Principal, str] | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    return None if not cookie else await request.app[ACCESS].session(cookie)


def _to_login() -> web.HTTPSeeOther:
    return web.HTTPSeeOther("/login")


async def page_session(request: web.Request, *roles: Role) -> tuple[Principal, str]:
    """The logged-in principal and its CSRF token, for a page handler (which is marked
    ``@public`` and checks here): no session redirects to /login; a role outside ``roles``
    (when given) is Forbidden. Sets the request's principal, as the API middleware does."""
    found = await _session(request)
    if found is None:
        raise _to_login()
    principal, csrf = found
    request[PRINCIPAL] = principal
    if roles and principal.role not in roles:
        role = principal.role.value if principal.role else "public"
        raise Forbidden(f"{role} may not open {request.path}")
    return principal, csrf


# The pages each role may open, in the order the navigation shows them (the pages check the
# same roles themselves: this only keeps the bar from offering what would be refused).
NAV: tuple[tuple[str, str, frozenset[Role]], ...] = (
    ("/tasks", "tasks", frozenset({Role.RESPONDER})),
    ("/party/me", "party_me", frozenset({Role.RESPONDER})),
    ("/report", "report", frozenset({Role.REPORTER, Role.OPERATOR})),
    ("/console", "console", frozenset({Role.OPERATOR, Role.COMMITTEE, Role.ADMIN})),
    ("/claims", "claims", frozenset({Role.RESPONDER, Role.OPERATOR, Role.ADMIN})),
    ("/cases", "cases", frozenset({Role.REPORTER, Role.OPERATOR, Role.COMMITTEE, Role.ADMIN})),
    ("/silences", "silences", frozenset({Role.OPERATOR, Role.COMMITTEE, Role.ADMIN})),
    ("/hotline", "hotline", frozenset({Role.OPERATOR})),
    ("/stats", "stats", frozenset({Role.COMMITTEE, Role.OPERATOR, Role.ADMIN})),
    ("/admin/replay", "replay", frozenset({Role.ADMIN})),
    ("/party", "party", frozenset({Role.COMMITTEE, Role.OPERATOR, Role.ADMIN, Role.REPORTER})),
    ("/wall", "wall", frozenset({Role.OPERATOR, Role.COMMITTEE, Role.ADMIN})),
    ("/grids", "grids", frozenset(Role) - {Role.INTEGRATION}),
    ("/admin/config", "config", frozenset({Role.ADMIN})),
)


def nav_for(principal: Principal | None) -> list[tuple[str, str]]:
    """(href, catalogue key) of the pages ``principal`` may open; none without a login."""
    if principal is None or principal.role is None:
        return []
    return [(href, key) for href, key, roles in NAV if principal.role in roles]


# Where ``/`` leads each role.
LANDING = {
    Role.REPORTER: "/report",
    Role.OPERATOR: "/console",
    Role.RESPONDER: "/tasks",
    Role.COMMITTEE: "/stats",
    Role.ADMIN: "/grids",
}


def _scope_name(request: web.Request, principal: Principal) -> str:
    if principal.scope is None:
        return ""
    cell = request.app[HIERARCHY].get(principal.scope)
    return "" if cell is None else cell.name


# -- login -----------------------------------------------------------------------------------


@routes.get("/login")
@public
async def login_form(request: web.Request) -> web.Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", csrf=token, name="", error=None)
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=secure_cookies(request),
        path="/login",
    )
    return response


def _refused_login(
    request: web.Request,
    exc: Exception,
    *,
    status: int,
    retry_after: float,
    error: str,
    csrf: str,
    name: str,
) -> web.Response:
    refused(request, status, exc.key if isinstance(exc, RateLimited) else str(exc))
    response = render(request, "login.html", status=status, csrf=csrf, name=name, error=error)
    response.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return response


def _wait_text(lang: str, seconds: float) -> str:
    if seconds < 90:
        return str(PAGES[lang]["seconds"]).format(n=max(1, math.ceil(seconds)))
    return str(PAGES[lang]["minutes"]).format(n=math.ceil(seconds / 60))


@routes.post("/login")
@public
async def login(request: web.Request) -> web.Response:
    form = await request.post()
    sent = str(form.get("csrf_token", ""))
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    if not sent or not cookie or not hmac.compare_digest(sent, cookie):
        raise Forbidden("login form without its CSRF token; reload the page")
    name = str(form.get("name", ""))[:64]
    lang = _lang(request)
    try:
        found = await request.app[ACCESS].login(
            name, str(form.get("password", ""))[:200], address=client_address(request)
        )
    except RateLimited as exc:
        wait = _wait_text(lang, exc.retry_after)
        return _refused_login(
            request,
            exc,
            status=429,
            retry_after=exc.retry_after,
            error=str(PAGES[lang]["too_many_logins"]).format(wait=wait),
            csrf=sent,
            name=name,
        )
    except Overloaded as exc:
        text = str(PAGES[lang]["login_busy"])
        return _refused_login(
            request, exc, status=503, retry_after=1, error=text, csrf=sent, name=name
        )
    if found is None:
        return render(
            request, "login.html", status=401, csrf=sent, name=name, error=PAGES[lang]["bad_login"]
        )
    session_id, _ = found
    # Rotation: the session this browser had before (another user's, or one an attacker
    # planted) ends now; the login gets a new id, never the one the browser brought.
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:
        await request.app[ACCESS].logout(previous)
    response = web.HTTPSeeOther("/")
    response.set_cookie(
        SESSION_COOKIE, session_id, httponly=True, samesite="Strict", secure=secure_cookies(request)
    )
    response.del_cookie(LOGIN_COOKIE, path="/login")
    raise response


@routes.post("/logout")
@public
async def logout(request: web.Request) -> web.Response:
    found = await _session(request)
    if found is not None:
        _, csrf = found
        form = await request.post()
        if not hmac.compare_digest(str(form.get("csrf_token", "")), csrf):
            raise Forbidden("logout without its CSRF token")
        await request.app[ACCESS].logout(request.cookies[SESSION_COOKIE])
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE)
    raise response


# -- pages for people with a login -----------------------------------------------------------


@routes.get("/")
@public
async def landing(request: web.Request) -> web.Response:
    """``/`` leads to the right page for whoever is logged in; anyone else chooses between
    reporting a problem as a citizen (no login) and the staff login."""
    if await _session(request) is None:
        return render(request, "welcome.html", title=PAGES[_lang(request)]["welcome"])
    principal, _ = await page_session(request)
    target = LANDING.get(principal.role) if principal.role else None
    raise web.HTTPSeeOther(target or "/cases")


@routes.get("/cases")
@public
async def home(request: web.Request) -> web.Response:
    principal, csrf = await page_session(request)
    items: list[dict[str, Any]] = []
    if principal.role in (Role.REPORTER, Role.OPERATOR, Role.COMMITTEE, Role.ADMIN):
        path = None
        if principal.scope is not None:
            cell = request.app[HIERARCHY].cell(principal.scope)
            path = "/" + "/".join(cell.path) + "/"
        page = await request.app[STORE].list_whistles(WhistleQuery(grid_path=path, limit=20))
        items = [for_viewer(principal, item, item.document()) for item in page.items]
    return render(
        request,
        "home.html",
        principal=principal,
        csrf=csrf,
        items=items,
        scope_name=_scope_name(request, principal),
    )


@routes.get("/cases/{id}")
@public
async def case_page(request: web.Request) -> web.Response:
    found = await _session(request)
    if found is None:
        raise _to_login()
    principal, csrf = found
    request[PRINCIPAL] = principal
    ref = request.match_info["id"]
    stored = await request.app[STORE].get_whistle(ref)
    if stored is None and CASE_NUMBER.fullmatch(ref.upper()):
        # /cases/{受理编号}: the case page under its id.
        whistle_id = await request.app[STORE].find_case_number(ref.upper())
        if whistle_id is not None:
            raise web.HTTPSeeOther(f"/cases/{whistle_id}")
    if stored is None:
        raise web.HTTPNotFound(text="no such case")
    reader = may_read(request, stored)
    tz = request.app[TZ]
    doc = stored.document()
    related = await _related(request, doc)
    events = await request.app[STORE].timeline(stored.row_doc["id"])
    timeline = [
        {"at": rfc3339(e.at, tz), "type": e.type, "actor": e.actor, "data": e.data} for e in events
    ]
    # Phone numbers in full only for those who call back (whistle/privacy.py).
    full = calls_back(reader, stored)
    doc = shown_to(doc, full=full)
    if not full:
        timeline, related = masked(timeline), masked(related)
    names = names_of(request.app[HIERARCHY], request.app[LIVE].router)
    return render(
        request,
        "case.html",
        principal=principal,
        csrf=csrf,
        doc=doc,
        timeline=timeline,
        # The timeline as sentences with names (whistle/web/timeline.py), as the task page.
        lines=[
            line if full else dataclasses.replace(line, text=mask_phones(line.text))
            for line in sentences(events, names, lang=_lang(request), tz=tz)
        ],
        # How the place was found: coordinates, a gazetteer entry, or by hand (whom).
        placement=placement_text(
            doc,
            names,
            lang=_lang(request),
            who=actor_name(
                (stored.row_doc.get("placement") or {}).get("placed_by"),
                names,
                lang=_lang(request),
            ),
        ),
        route=trace_entries(
            doc,
            [
                (str(e.data.get("reason") or ""), e.data.get("assignment") or {})
                for e in events
                if e.type == "assignment.added"
            ],
            names,
            lang=_lang(request),
        ),
        related=related,
        acts=ACTIONS[_lang(request)],
        # What the silence that muted or warned the case matches, by name.
        silence_matchers={
            key: matchers_named(
                dict(named.get("matchers") or {}),
                request.app[HIERARCHY],
                request.app[LIVE].catalog,
                _lang(request),
            )
            for key in ("muted_by", "silence_warning")
            if (named := stored.row_doc.get(key))
        },
        title=stored.row_doc.get("case_number") or stored.row_doc["id"],
        scope_name=_scope_name(request, principal),
    )


_RELATED = 20  # related cases named on a case page


async def _related(request: web.Request, doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The cases a case page names (its likely duplicates, the case it was merged into, those
    merged into it), by id: category, status, what was said and how far away, for those the
    reader may read; the page shows the others by number alone."""
    case = doc.get("case") or {}
    ids = list(doc.get("possible_duplicates") or ())[:_RELATED]
    ids += [m["id"] for m in case.get("merged") or () if m.get("id")][:_RELATED]
    if case.get("merged_into"):
        ids.append(case["merged_into"])
    here = doc.get("location") or {}
    found: dict[str, dict[str, Any]] = {}
    for whistle_id in dict.fromkeys(ids):
        other = await request.app[STORE].get_whistle(whistle_id)
        if other is None:
            continue
        try:
            may_read(request, other)
        except Forbidden:
            continue
        there = other.row_doc.get("location") or {}
        distance = None
        if None not in (here.get("lat"), here.get("lon"), there.get("lat"), there.get("lon")):
            distance = distance_m(here["lat"], here["lon"], there["lat"], there["lon"])
        found[whistle_id] = {
            "case_number": other.row_doc.get("case_number"),
            "category": other.row_doc["category"]["name"],
            "status": other.status,
            "description": other.row_doc.get("description") or "",
            "reporter": other.row_doc.get("reporter"),
            "received_at": other.row_doc.get("received_at"),
            "distance_m": None if distance is None else round(distance),
        }
    return found
