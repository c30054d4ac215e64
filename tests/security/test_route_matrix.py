"""Every route of the app, tried by every member of the cast: who gets through each door.

The routes come from the app's own router, so a new route is probed as soon as it exists, and
the first test fails until :data:`DOORS` says who may use it. The table is written out from the
code's declared policy (``allow(...)``, ``page_session(...)``, ``@public``) so that a change
of policy shows in review here. HEAD follows GET (aiohttp adds it for every GET route).

Each probe asserts, for one (route, principal):
- never a 5xx;
- no credentials (and an expired or revoked token or session) gets 401 from the API, the login
  page (303 to /login) from a page, and through a public route like anyone;
- a role the door does not admit gets 403;
- an admitted role of town A gets through (2xx, or the route's own answer);
- the same role from town B is refused on a scoped route (403/404), and on an unscoped one gets
  through without town A's data: no answer to a town B principal carries :data:`MARKER`;
- every HTML page comes with a Content-Security-Policy (test_markup.py checks what it says).

Calls that change state are built anew for each principal expected to get through (a
refusal changes nothing, so the refused share one).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import pytest_asyncio

from grids import Level, ResponderKind
from tests.support.probe import (
    ADMIN,
    AWAY,
    CAMERA,
    CAST,
    COMMITTEE,
    HOME,
    MARKER,
    OPERATOR,
    PASSWORD,
    PNG,
    POLICE,
    REPORTER,
    RESPONDER,
    ROLES,
    WITH_LOGIN,
    Answer,
    Call,
    Probe,
    Who,
    open_probe,
)
from tests.whistle.web.test_party_access import ALLOWED as PARTY_ALLOWED
from tests.whistle.web.test_party_access import ENDPOINTS as PARTY_ENDPOINTS
from tests.whistle.web.test_party_access import INSIDE as PARTY_INSIDE
from tests.whistle.web.test_party_access import PAGES as PARTY_PAGES
from tests.whistle.web.test_party_access import Scenario as PartyScenario
from whistle.app import create_app
from whistle.auth import Role
from whistle.web.access import ACCESS
from whistle.web.field import NODE_MODULES, VENDOR
from whistle.web.keys import CAMERAS, LIVE, Settings

# The probes share one server per module, so they run on the module's event loop.
shared_loop = pytest.mark.asyncio(loop_scope="module")

API, PAGE, PUBLIC = "api", "page", "public"
REFUSED, SAME, LINES = "refused", "same", "lines"  # what an away principal of an admitted role gets


@dataclass(frozen=True)
class Door:
    """Who gets through one route.

    ``kind``: ``api`` (credentials checked by the middleware: none is 401), ``page`` (a session
    page: none is 303 to /login) or ``public`` (everyone, with or without credentials).
    ``roles``: the roles admitted (for public routes: all). ``ok``: what an admitted call gets.
    ``away``: for a town B principal of an admitted role, ``refused`` (403/404, or ``refusal``),
    ``same`` (the route is not scoped: it gets through, without town A's data) or ``lines``
    (a feed: 200 or 207, and every line refused). ``withheld``: a key of the JSON answer that
    is null for an away principal. ``roles_pending``: the roles are not asserted here, with the
    reason (another piece of work decides them); the other checks still run.
    """

    kind: str
    roles: frozenset[str] = frozenset()
    ok: frozenset[int] = frozenset({200})
    away: str = REFUSED
    refusal: frozenset[int] = frozenset({403, 404})
    withheld: str | None = None
    roles_pending: str | None = None


def api(*roles: str, **options: Any) -> Door:
    return Door(API, frozenset(roles), **options)


def page(*roles: str, **options: Any) -> Door:
    return Door(PAGE, frozenset(roles), **options)


def public(*ok: int) -> Door:
    return Door(PUBLIC, frozenset(ROLES), ok=frozenset(ok or {200}), away=SAME)


EVERY_ROLE = ROLES
LOGINS = WITH_LOGIN
CREATED = frozenset({201})
VENDORED = 200 if (NODE_MODULES / VENDOR["echarts.min.js"]).is_file() else 404

DOORS: dict[str, Door] = {
    # whistles and cases
    "POST /api/v1/whistles": api(REPORTER, OPERATOR, POLICE, CAMERA, ok=frozenset({200, 201})),
    "GET /api/v1/whistles/{id}": api(REPORTER, RESPONDER, OPERATOR, COMMITTEE, ADMIN),
    "GET /api/v1/whistles": api(REPORTER, OPERATOR, COMMITTEE, ADMIN),
    "POST /api/v1/assignments/{id}/acknowledge": api(RESPONDER),
    "POST /api/v1/assignments/{id}/start": api(RESPONDER),
    "POST /api/v1/assignments/{id}/resolve": api(RESPONDER),
    "POST /api/v1/assignments/{id}/return": api(RESPONDER),
    # A responder of town B is not eligible on town A's claim board: the claim is refused as
    # a conflict with the case (409) once the role is accepted.
    "POST /api/v1/whistles/{id}/claim": api(RESPONDER, refusal=frozenset({403, 404, 409})),
    "POST /api/v1/whistles/{id}/verify": api(REPORTER, OPERATOR),
    "POST /api/v1/whistles/{id}/reopen": api(REPORTER, OPERATOR),
    "POST /api/v1/whistles/{id}/rate": api(REPORTER, OPERATOR),
    "POST /api/v1/whistles/{id}/hold": api(OPERATOR),
    "POST /api/v1/whistles/{id}/release": api(OPERATOR),
    "POST /api/v1/whistles/{id}/extend": api(OPERATOR),
    "POST /api/v1/whistles/{id}/merge": api(OPERATOR),
    "POST /api/v1/whistles/{id}/place": api(OPERATOR),
    "POST /api/v1/assignments/{id}/reassign": api(OPERATOR),
    "POST /api/v1/assignments/{id}/accept-return": api(OPERATOR),
    "POST /api/v1/assignments/{id}/refuse-return": api(OPERATOR),
    "POST /api/v1/assignments/{id}/request-extension": api(RESPONDER),
    "POST /api/v1/whistles/{id}/approve-extension": api(OPERATOR),
    "POST /api/v1/whistles/{id}/refuse-extension": api(OPERATOR),
    "POST /api/v1/whistles/{id}/urge": api(OPERATOR),
    "POST /api/v1/whistles/{id}/supervise": api(OPERATOR),
    # the assignee picker: the case's cell and those above, inside the operator's subtree
    "GET /api/v1/whistles/{id}/candidates": api(OPERATOR),
    # the console's counts and the wall (大屏): of the caller's own scope when no grid is named
    "GET /api/v1/queue-counts": api(OPERATOR, COMMITTEE, ADMIN, away=SAME),
    "GET /api/v1/wall": api(OPERATOR, COMMITTEE, ADMIN, away=SAME),
    "GET /api/v1/responders/{id}/inbox": api(RESPONDER, OPERATOR, ADMIN),
    "GET /api/v1/responders/{id}/history": api(RESPONDER, OPERATOR, ADMIN),
    # the grid: public structure for every role; who staffs a cell only inside one's subtree
    "GET /api/v1/grids/{code}": api(*EVERY_ROLE, away=SAME, withheld="responders"),
    "GET /api/v1/grids": api(*EVERY_ROLE, away=SAME),
    "GET /api/v1/grids/{code}/shapes": api(*EVERY_ROLE, away=SAME),
    "GET /api/v1/grids/{code}/roster": api(*EVERY_ROLE, away=SAME, withheld="responders"),
    "GET /api/v1/categories": api(*EVERY_ROLE, away=SAME),
    # silences: a town's operator lists the county's camera and category silences and only
    # its own subtree's grid silences
    "POST /api/v1/silences": api(OPERATOR, ADMIN, ok=CREATED),
    "GET /api/v1/silences": api(OPERATOR, COMMITTEE, ADMIN, away=SAME),
    "DELETE /api/v1/silences/{id}": api(OPERATOR, ADMIN),
    # administration
    "POST /api/v1/tokens": api(ADMIN, ok=CREATED),
    "GET /api/v1/tokens": api(ADMIN),
    "DELETE /api/v1/tokens/{id}": api(ADMIN),
    "POST /api/v1/users": api(ADMIN, ok=CREATED),
    "GET /api/v1/audit": api(ADMIN),
    # config versions (issue 20): proposing the active files again is the version stored (200)
    "GET /api/v1/config/versions": api(ADMIN),
    "GET /api/v1/config/versions/{id}": api(ADMIN),
    "POST /api/v1/config/validate": api(ADMIN),
    "POST /api/v1/config/versions": api(ADMIN, ok=frozenset({200, 201})),
    "POST /api/v1/config/versions/{id}/apply": api(ADMIN),
    # the grids read again from the files (issue 22): the county-wide admin's
    "POST /api/v1/admin/reload-grids": api(ADMIN),
    # what-if replay: the whole county's cases, so an admin's only
    "POST /api/v1/replays": api(ADMIN, ok=frozenset({202})),
    "GET /api/v1/replays/{id}": api(ADMIN),
    "GET /api/v1/replays/{id}/{table}.csv": api(ADMIN),
    # statistics and the live stream
    "GET /api/v1/stats": api(COMMITTEE, OPERATOR, ADMIN),
    "GET /api/v1/stats/cases": api(COMMITTEE, OPERATOR, ADMIN),
    "GET /api/v1/stats/{table}.csv": api(COMMITTEE, OPERATOR, ADMIN),
    # A responder's stream carries only its own notices.
    "GET /api/v1/stream": api(RESPONDER, OPERATOR, COMMITTEE, ADMIN, away=SAME),
    # photos: who may see a photo is issue 24 item 8 (tests/whistle/test_media.py); here only
    # the credential checks and the absence of 5xx.
    "POST /api/v1/media": api(REPORTER, RESPONDER, OPERATOR, POLICE, CAMERA, away=SAME, ok=CREATED),
    # a photo is read with its case (?case=), by those who may read the case
    "GET /media/{name}": api(REPORTER, RESPONDER, OPERATOR, COMMITTEE, ADMIN),
    # feeds: only the integration of that very source; lines outside its scope are refused
    "POST /api/v1/feeds/police": api(POLICE, away=LINES),
    "POST /api/v1/feeds/camera": api(CAMERA, away=LINES),
    # the pages' own files need some credential (the pages that use them need a login)
    "GET /static": api(*EVERY_ROLE, away=SAME),
    # pages (a session cookie)
    # / leads a login to its page (303) and shows anyone else the way to /citizen and /login
    "GET /": public(200, 303),
    "GET /cases": page(*LOGINS, away=SAME),
    "GET /cases/{id}": page(REPORTER, RESPONDER, OPERATOR, COMMITTEE, ADMIN),
    "GET /report": page(REPORTER, OPERATOR, away=SAME),
    "GET /claims": page(RESPONDER, OPERATOR, ADMIN, away=SAME),
    "GET /tasks": page(RESPONDER, away=SAME),
    "GET /tasks/{assignment_id}": page(RESPONDER),
    "GET /grids": page(*LOGINS, away=SAME),
    "GET /console": page(OPERATOR, COMMITTEE, ADMIN, away=SAME),
    "GET /stats": page(COMMITTEE, OPERATOR, ADMIN),
    "GET /admin/replay": page(ADMIN, away=SAME),
    "GET /stats/cases": page(COMMITTEE, OPERATOR, ADMIN),
    "GET /hotline": page(OPERATOR, away=SAME),
    "GET /wall": page(OPERATOR, COMMITTEE, ADMIN, away=SAME),
    "GET /silences": page(OPERATOR, COMMITTEE, ADMIN, away=SAME),
    "GET /silences/new": page(OPERATOR, COMMITTEE, ADMIN, away=SAME),
    "GET /admin/config": page(ADMIN),
    # An import whose file has no rows is a 400 page, after the role is accepted.
    "POST /hotline": page(OPERATOR, away=SAME, ok=frozenset({200, 400})),
    # public: health, metrics, the API description, login, the citizens' door, GeoReport v2
    "GET /healthz": public(),
    "GET /readyz": public(),
    "GET /metrics": public(),
    "GET /api/v1/openapi.json": public(),
    "GET /vendor/{name}": public(VENDORED),
    "GET /login": public(),
    # A wrong password is the login form again with 401 (429 once the address or the name is
    # locked out): everyone reaches the check.
    "POST /login": public(401, 429),
    "POST /logout": public(303),
    "POST /api/v1/public/whistles": public(201),
    "GET /api/v1/public/whistles/{id}": public(),
    "POST /api/v1/public/whistles/{id}/rate": public(),
    "GET /track/{id}": public(),
    "GET /citizen": public(),
    "GET /favicon.ico": public(),
    "GET /public/{name}": public(),
    "GET /api/v1/public/locate": public(),
    "GET /api/v1/public/grids/{code}/shapes": public(),
    "POST /api/v1/public/media": public(201),
    # 303 back to the page once rated; 409 with a page saying why when the case cannot be
    "POST /track/{id}/rate": public(303, 409),
    "GET /open311/v2/discovery.{fmt}": public(),
    "GET /open311/v2/services.{fmt}": public(),
    "GET /open311/v2/services/{code}.{fmt}": public(),
    "GET /open311/v2/requests.{fmt}": public(),
    "GET /open311/v2/requests/{id}.{fmt}": public(),
    "GET /open311/v2/tokens/{id}.{fmt}": public(),
    # The form's api_key authorises the request, not the caller's credentials.
    "POST /open311/v2/requests.{fmt}": public(201),
}


def app_routes() -> list[str]:
    """Every route of the app, as "METHOD /canonical/path" (HEAD included). create_app opens
    nothing until a runner starts it, so the paths need not exist."""
    app = create_app(Settings(db_path=Path("/nonexistent"), config_dir=Path("/nonexistent")))
    return sorted(
        {
            f"{route.method} {route.resource.canonical}"
            for route in app.router.routes()
            if route.resource is not None
        }
    )


def door_key(route: str) -> str:
    """The route's entry in DOORS: HEAD follows GET."""
    method, path = route.split(" ", 1)
    return f"GET {path}" if method == "HEAD" else route


ROUTES = app_routes()


# -- building each call -------------------------------------------------------------------------

Builder = Callable[[Probe, Who, bool], Awaitable[Call]]
BUILDERS: dict[str, Builder] = {}


def builds(route: str) -> Callable[[Builder], Builder]:
    def register(builder: Builder) -> Builder:
        BUILDERS[route] = builder
        return builder

    return register


def fixed_path(route: str, path: str) -> None:
    """A call that is the same for everyone."""
    method = route.split(" ", 1)[0]

    async def build(p: Probe, who: Who, fresh: bool) -> Call:
        return Call(method, path)

    BUILDERS[route] = build


@builds("POST /api/v1/whistles")
async def _file(p: Probe, who: Who, fresh: bool) -> Call:
    if who.role == POLICE:
        body = p.whistle(source="police", category="E0701")
    elif who.role == CAMERA:
        # A registered camera of town A, at its own cell; a repeat groups (200) into its case.
        camera = p.camera(HOME)
        body = p.whistle(
            source="camera",
            category="E0403",
            camera_id=camera,
            location={"grid": p.live.app[CAMERAS].home(camera).code},
        )
    else:
        body = p.whistle()
    return Call("POST", "/api/v1/whistles", json=body)


async def _marked_case(p: Probe) -> dict[str, Any]:
    return await p.resource("marked case", False, p.case)  # type: ignore[no-any-return]


@builds("GET /api/v1/whistles/{id}")
async def _read(p: Probe, who: Who, fresh: bool) -> Call:
    return Call("GET", f"/api/v1/whistles/{(await _marked_case(p))['id']}")


@builds("GET /cases/{id}")
async def _case_page(p: Probe, who: Who, fresh: bool) -> Call:
    return Call("GET", f"/cases/{(await _marked_case(p))['id']}")


def _assignment_route(action: str, before: tuple[str, ...], body: dict[str, Any]) -> None:
    @builds(f"POST /api/v1/assignments/{{id}}/{action}")
    async def build(p: Probe, who: Who, fresh: bool) -> Call:
        async def make() -> dict[str, Any]:
            doc = await p.case()
            for step in before:
                await p.respond(doc["assignments"][0], step)
            return doc  # type: ignore[no-any-return]

        doc = await p.resource(action, fresh, make)
        assignment = doc["assignments"][0]
        assert assignment["responder"]["id"] == p.grid_member(HOME)
        return Call("POST", f"/api/v1/assignments/{assignment['id']}/{action}", json=body)


_assignment_route("acknowledge", (), {})
_assignment_route("start", ("acknowledge",), {})
_assignment_route("resolve", ("acknowledge",), {"note": "已清理"})
_assignment_route("return", (), {"reason": "不属于本网格"})
_assignment_route("request-extension", ("acknowledge",), {"reason": "需协调", "duration": "2wd"})


@builds("GET /tasks/{assignment_id}")
async def _task_page(p: Probe, who: Who, fresh: bool) -> Call:
    doc = await _marked_case(p)
    assignment = doc["assignments"][0]
    assert assignment["responder"]["id"] == p.grid_member(HOME)
    return Call("GET", f"/tasks/{assignment['id']}")


def _extension_route(action: str, body: dict[str, Any]) -> None:
    @builds(f"POST /api/v1/whistles/{{id}}/{action}")
    async def build(p: Probe, who: Who, fresh: bool) -> Call:
        async def make() -> dict[str, Any]:
            doc = await p.case()
            await p.respond(doc["assignments"][0], "acknowledge")
            await p.respond(
                doc["assignments"][0], "request-extension", reason="需协调", duration="2wd"
            )
            return doc  # type: ignore[no-any-return]

        doc = await p.resource(action, fresh, make)
        return Call("POST", f"/api/v1/whistles/{doc['id']}/{action}", json=body)


_extension_route("approve-extension", {})
_extension_route("refuse-extension", {"reason": "请按期办结"})


@builds("POST /api/v1/whistles/{id}/claim")
async def _claim(p: Probe, who: Who, fresh: bool) -> Call:
    async def make() -> dict[str, Any]:
        return await p.case(category="E0801", description=f"独居老人需要上门探访 {MARKER}")

    doc = await p.resource("claim", fresh, make)
    member = p.board_member(HOME)
    assert member in doc["assignments"][0]["eligible_ids"]
    return Call("POST", f"/api/v1/whistles/{doc['id']}/claim", json={}, responder=member)


def _case_route(action: str, state: str, body: dict[str, Any]) -> None:
    @builds(f"POST /api/v1/whistles/{{id}}/{action}")
    async def build(p: Probe, who: Who, fresh: bool) -> Call:
        async def make() -> dict[str, Any]:
            if state == "resolved":
                return await p.resolved()
            if state == "closed":
                return await p.closed()
            doc = await p.case()
            if state == "on hold":
                await p.ok("POST", f"/api/v1/whistles/{doc['id']}/hold", {"reason": "等待答复"})
            return doc

        doc = await p.resource(action, fresh, make)
        return Call("POST", f"/api/v1/whistles/{doc['id']}/{action}", json=body)


_case_route("verify", "resolved", {"passed": True})
_case_route("reopen", "resolved", {"reason": "群众反映仍有杂物"})
_case_route("rate", "closed", {"grade": "satisfied"})
_case_route("hold", "open", {"reason": "等待产权单位答复"})
_case_route("release", "on hold", {})
_case_route("extend", "open", {"reason": "需协调物业", "duration": "2wd"})
_case_route("urge", "open", {"note": "居民再次来电"})
_case_route("supervise", "open", {"note": "请尽快处理"})


@builds("GET /api/v1/whistles/{id}/candidates")
async def _candidates(p: Probe, who: Who, fresh: bool) -> Call:
    return Call("GET", f"/api/v1/whistles/{(await _marked_case(p))['id']}/candidates")


@builds("POST /api/v1/whistles/{id}/merge")
async def _merge(p: Probe, who: Who, fresh: bool) -> Call:
    async def make() -> tuple[str, str]:
        return (await p.case())["id"], (await p.case())["id"]

    duplicate, into = await p.resource("merge", fresh, make)
    return Call("POST", f"/api/v1/whistles/{duplicate}/merge", json={"into": into})


@builds("POST /api/v1/whistles/{id}/place")
async def _place(p: Probe, who: Who, fresh: bool) -> Call:
    async def make() -> dict[str, Any]:
        # An address naming only town A: held there (待定位) for an operator to place.
        town = p.county.cell(p.towns[HOME]).name
        return await p.case(location={"address": f"{town}某处 {MARKER}"})

    doc = await p.resource("place", fresh, make)
    return Call("POST", f"/api/v1/whistles/{doc['id']}/place", json={"grid": p.micro()})


@builds("POST /api/v1/assignments/{id}/reassign")
async def _reassign(p: Probe, who: Who, fresh: bool) -> Call:
    doc = await p.resource("reassign", fresh, p.case)
    grid = p.county.at_level(p.micro(), Level.GRID)
    leader = p.county.responders_at(grid.code, ResponderKind.GRID_LEADER)[0].id
    path = f"/api/v1/assignments/{doc['assignments'][0]['id']}/reassign"
    return Call("POST", path, json={"responder": leader, "reason": "网格长亲自处理"})


async def _returned(p: Probe) -> tuple[str, str]:
    """A community whistle whose grid department gave it back (退单): its assignment id, and
    another unit of the town that handles its category (whom the dispatcher reassigns to)."""
    doc = await p.case(source="community")
    department = doc["assignments"][0]
    await p.respond(department, "return", reason="不属于本部门")
    town = p.county.at_level(doc["grid"]["code"], Level.TOWN)
    other = next(
        r.id
        for kind in (ResponderKind.GRID_DEPARTMENT, ResponderKind.JURISDICTION_UNIT)
        for r in p.county.responders_at(town.code, kind)
        if r.id != department["responder"]["id"] and r.handles(doc["category"]["code"])
    )
    return str(department["id"]), other


@builds("POST /api/v1/assignments/{id}/accept-return")
async def _accept_return(p: Probe, who: Who, fresh: bool) -> Call:
    assignment, other = await p.resource("accept-return", fresh, lambda: _returned(p))
    path = f"/api/v1/assignments/{assignment}/accept-return"
    return Call("POST", path, json={"responder": other})


@builds("POST /api/v1/assignments/{id}/refuse-return")
async def _refuse_return(p: Probe, who: Who, fresh: bool) -> Call:
    assignment, _ = await p.resource("refuse-return", fresh, lambda: _returned(p))
    path = f"/api/v1/assignments/{assignment}/refuse-return"
    return Call("POST", path, json={"reason": "属于本部门职责"})


@builds("GET /api/v1/responders/{id}/inbox")
async def _inbox(p: Probe, who: Who, fresh: bool) -> Call:
    return Call("GET", f"/api/v1/responders/{p.grid_member(HOME)}/inbox")


@builds("GET /api/v1/responders/{id}/history")
async def _history(p: Probe, who: Who, fresh: bool) -> Call:
    return Call("GET", f"/api/v1/responders/{p.grid_member(HOME)}/history")


@builds("GET /api/v1/grids/{code}")
async def _grid(p: Probe, who: Who, fresh: bool) -> Call:
    return Call("GET", f"/api/v1/grids/{p.towns[HOME]}")


@builds("GET /api/v1/grids")
async def _grids(p: Probe, who: Who, fresh: bool) -> Call:
    return Call("GET", f"/api/v1/grids?parent={p.towns[HOME]}")


@builds("GET /api/v1/grids/{code}/shapes")
async def _shapes(p: Probe, who: Who, fresh: bool) -> Call:
    return Call("GET", f"/api/v1/grids/{p.towns[HOME]}/shapes")


@builds("GET /api/v1/public/grids/{code}/shapes")
async def _public_shapes(p: Probe, who: Who, fresh: bool) -> Call:
    return Call("GET", f"/api/v1/public/grids/{p.towns[HOME]}/shapes")


@builds("GET /api/v1/public/locate")
async def _locate(p: Probe, who: Who, fresh: bool) -> Call:
    lat, lon = p.county.centroid(p.micro()) or (0.0, 0.0)
    return Call("GET", f"/api/v1/public/locate?lat={lat}&lon={lon}")


@builds("POST /api/v1/public/media")
async def _public_upload(p: Probe, who: Who, fresh: bool) -> Call:
    return Call("POST", "/api/v1/public/media", raw=PNG)


@builds("GET /api/v1/grids/{code}/roster")
async def _roster(p: Probe, who: Who, fresh: bool) -> Call:
    grid = p.county.at_level(p.micro(), Level.GRID)
    return Call("GET", f"/api/v1/grids/{grid.code}/roster")


def _future_silence(p: Probe) -> dict[str, Any]:
    """A grid silence on town A that starts in a month: it mutes nothing the probe files."""
    return {
        "matchers": {"grid": p.towns[HOME], "category": "E01"},
        "starts_at": (p.clock.now() + timedelta(days=30)).isoformat(),
        "duration_minutes": 60,
        "author": "值班员",
        "comment": f"道路施工 {MARKER}",
    }


@builds("POST /api/v1/silences")
async def _silence(p: Probe, who: Who, fresh: bool) -> Call:
    return Call("POST", "/api/v1/silences", json=_future_silence(p))


@builds("DELETE /api/v1/silences/{id}")
async def _unsilence(p: Probe, who: Who, fresh: bool) -> Call:
    async def make() -> str:
        admin = await p.live.token("admin", scope=None)
        return str((await p.ok("POST", "/api/v1/silences", _future_silence(p), admin))["id"])

    silence = await p.resource("silence", fresh, make)
    return Call("DELETE", f"/api/v1/silences/{silence}")


@builds("POST /api/v1/tokens")
async def _new_token(p: Probe, who: Who, fresh: bool) -> Call:
    return Call("POST", "/api/v1/tokens", json={"role": "reporter", "scope": p.towns[HOME]})


@builds("DELETE /api/v1/tokens/{id}")
async def _revoke(p: Probe, who: Who, fresh: bool) -> Call:
    async def make() -> str:
        access = p.live.app[ACCESS]
        issued = await access.issue_token(role=Role.REPORTER, scope=p.towns[HOME], by="probe")
        return issued.id

    return Call("DELETE", f"/api/v1/tokens/{await p.resource('token', fresh, make)}")


def _active_files(p: Probe) -> tuple[int, dict[str, str]]:
    current = p.live.app[LIVE].current
    assert current.version_id is not None
    return current.version_id, dict(current.files)


@builds("POST /api/v1/config/validate")
async def _validate_config(p: Probe, who: Who, fresh: bool) -> Call:
    return Call("POST", "/api/v1/config/validate", json={"files": _active_files(p)[1]})


@builds("POST /api/v1/config/versions")
async def _propose_config(p: Probe, who: Who, fresh: bool) -> Call:
    return Call("POST", "/api/v1/config/versions", json={"files": _active_files(p)[1]})


@builds("GET /api/v1/config/versions/{id}")
async def _config_version(p: Probe, who: Who, fresh: bool) -> Call:
    return Call("GET", f"/api/v1/config/versions/{_active_files(p)[0]}")


@builds("POST /api/v1/config/versions/{id}/apply")
async def _apply_config(p: Probe, who: Who, fresh: bool) -> Call:
    # The active version again: the probe changes no routing.
    return Call("POST", f"/api/v1/config/versions/{_active_files(p)[0]}/apply", json={})


@builds("POST /api/v1/users")
async def _new_user(p: Probe, who: Who, fresh: bool) -> Call:
    user = {"name": f"probe-new-{p.serial()}", "password": PASSWORD, "role": "reporter"}
    return Call("POST", "/api/v1/users", json={**user, "scope": p.towns[HOME]})


@builds("GET /api/v1/whistles")
async def _list(p: Probe, who: Who, fresh: bool) -> Call:
    return Call("GET", f"/api/v1/whistles?grid={p.towns[HOME]}")


@builds("GET /api/v1/stats")
async def _stats(p: Probe, who: Who, fresh: bool) -> Call:
    return Call("GET", f"/api/v1/stats?grid={p.towns[HOME]}")


@builds("GET /api/v1/stats/cases")
async def _stats_cases(p: Probe, who: Who, fresh: bool) -> Call:
    return Call("GET", f"/api/v1/stats/cases?metric=total&grid={p.towns[HOME]}")


@builds("GET /api/v1/stats/{table}.csv")
async def _stats_csv(p: Probe, who: Who, fresh: bool) -> Call:
    return Call("GET", f"/api/v1/stats/responders.csv?grid={p.towns[HOME]}")


_REPLAY = {"since": "2026-11-01", "until": "2026-11-30", "config": "active"}


async def _replay(p: Probe, fresh: bool, *, done: bool) -> str:
    """A replay an admin started (``done``: once its report is there)."""

    async def make() -> str:
        headers = await p.live.auth(await p.live.token("admin", scope=None))
        client = p.live.client
        answer = await client.post("/api/v1/replays", json=_REPLAY, headers=headers)
        job = await answer.json()
        assert answer.status == 202, job
        for _ in range(1200 if done else 0):
            doc = await (await client.get(f"/api/v1/replays/{job['id']}", headers=headers)).json()
            if doc["status"] != "running":
                break
            await asyncio.sleep(0.1)
        return str(job["id"])

    return str(await p.resource("replay-done" if done else "replay", fresh, make))


@builds("POST /api/v1/replays")
async def _start_replay(p: Probe, who: Who, fresh: bool) -> Call:
    return Call("POST", "/api/v1/replays", json=_REPLAY)


@builds("GET /api/v1/replays/{id}")
async def _get_replay(p: Probe, who: Who, fresh: bool) -> Call:
    return Call("GET", f"/api/v1/replays/{await _replay(p, fresh, done=False)}")


@builds("GET /api/v1/replays/{id}/{table}.csv")
async def _replay_csv(p: Probe, who: Who, fresh: bool) -> Call:
    return Call("GET", f"/api/v1/replays/{await _replay(p, fresh, done=True)}/kinds.csv")


@builds("GET /stats")
async def _stats_page(p: Probe, who: Who, fresh: bool) -> Call:
    return Call("GET", f"/stats?grid={p.towns[HOME]}")


@builds("GET /stats/cases")
async def _stats_cases_page(p: Probe, who: Who, fresh: bool) -> Call:
    return Call("GET", f"/stats/cases?metric=total&grid={p.towns[HOME]}")


@builds("GET /api/v1/stream")
async def _stream(p: Probe, who: Who, fresh: bool) -> Call:
    return Call("GET", "/api/v1/stream", stream=True)


@builds("POST /api/v1/media")
async def _upload(p: Probe, who: Who, fresh: bool) -> Call:
    return Call("POST", "/api/v1/media", raw=PNG)


@builds("GET /media/{name}")
async def _photo(p: Probe, who: Who, fresh: bool) -> Call:
    async def make() -> str:
        response = await p.live.client.post("/api/v1/media", data=PNG, headers=await p.live.auth())
        assert response.status == 201
        url = str((await response.json())["url"])
        case = await p.case(media_urls=[str(p.live.client.make_url(url))])
        return f"{url}?case={case['id']}"

    return Call("GET", await p.resource("photo", False, make))


@builds("POST /api/v1/feeds/police")
async def _police_feed(p: Probe, who: Who, fresh: bool) -> Call:
    alert = {
        "alert_id": f"110-probe-{p.serial()}",
        "category": "E0701",
        "location": {"grid": p.micro()},
        "description": f"群众报警：有人打架 {MARKER}",
        "time": "2026-11-23T09:00:00+08:00",
    }
    return Call("POST", "/api/v1/feeds/police", raw=orjson.dumps(alert))


@builds("POST /api/v1/feeds/camera")
async def _camera_feed(p: Probe, who: Who, fresh: bool) -> Call:
    detection = {
        "camera_id": p.camera(HOME),
        "event_type": "garbage_exposed",
        "confidence": 0.9,
        "time": "2026-11-23T09:00:00+08:00",
        "snapshot_url": "https://cam.example/1.jpg",
        "detection_id": f"probe-{p.serial()}",
    }
    return Call("POST", "/api/v1/feeds/camera", raw=orjson.dumps(detection))


for _route, _path in {
    "GET /static": "/static/common.css",
    "GET /api/v1/categories": "/api/v1/categories",
    "GET /api/v1/silences": "/api/v1/silences",
    "GET /api/v1/tokens": "/api/v1/tokens",
    "GET /api/v1/audit": "/api/v1/audit",
    "GET /api/v1/config/versions": "/api/v1/config/versions",
    "GET /admin/config": "/admin/config",
    "GET /": "/",
    "GET /cases": "/cases",
    "GET /report": "/report",
    "GET /claims": "/claims",
    "GET /tasks": "/tasks",
    "GET /grids": "/grids",
    "GET /console": "/console",
    "GET /hotline": "/hotline",
    "GET /wall": "/wall",
    "GET /silences": "/silences",
    "GET /silences/new": "/silences/new",
    "GET /admin/replay": "/admin/replay",
    "GET /api/v1/queue-counts": "/api/v1/queue-counts",
    "GET /api/v1/wall": "/api/v1/wall",
    "GET /healthz": "/healthz",
    "GET /readyz": "/readyz",
    "GET /metrics": "/metrics",
    "GET /api/v1/openapi.json": "/api/v1/openapi.json",
    "GET /vendor/{name}": "/vendor/echarts.min.js",
    "GET /login": "/login",
    "GET /citizen": "/citizen",
    "GET /favicon.ico": "/favicon.ico",
    "GET /public/{name}": "/public/citizen.js",
    "GET /open311/v2/discovery.{fmt}": "/open311/v2/discovery.json",
    "GET /open311/v2/services.{fmt}": "/open311/v2/services.json",
    "GET /open311/v2/services/{code}.{fmt}": "/open311/v2/services/E0101.xml",
    "GET /open311/v2/requests.{fmt}": "/open311/v2/requests.json",
    "POST /api/v1/admin/reload-grids": "/api/v1/admin/reload-grids",
}.items():
    fixed_path(_route, _path)


@builds("POST /hotline")
async def _hotline(p: Probe, who: Who, fresh: bool) -> Call:
    header = "工单编号,来电时间,诉求类别,诉求内容,网格,纬度,经度,来电人\n".encode()
    return Call(
        "POST",
        "/hotline",
        form={"csrf_token": p.csrf(who)},
        multipart={"file": ("12345.csv", header)},
    )


@builds("POST /login")
async def _login(p: Probe, who: Who, fresh: bool) -> Call:
    form = {"name": "probe-nobody", "password": "wrong password", "csrf_token": "login-csrf"}
    return Call("POST", "/login", form=form, cookies={"whistle_login": "login-csrf"})


@builds("POST /logout")
async def _logout(p: Probe, who: Who, fresh: bool) -> Call:
    if not who.has_session:
        return Call("POST", "/logout", form={"csrf_token": ""})
    session, csrf = await p.session_for(who)  # its own session: the cast's stays logged in
    return Call("POST", "/logout", form={"csrf_token": csrf}, session=session)


@builds("POST /api/v1/public/whistles")
async def _citizen_files(p: Probe, who: Who, fresh: bool) -> Call:
    return Call("POST", "/api/v1/public/whistles", json=p.public())


async def _citizen_case(p: Probe) -> tuple[str, str]:
    return await p.resource("citizen case", False, p.citizen_case)  # type: ignore[no-any-return]


@builds("GET /api/v1/public/whistles/{id}")
async def _citizen_follows(p: Probe, who: Who, fresh: bool) -> Call:
    number, key = await _citizen_case(p)
    return Call("GET", f"/api/v1/public/whistles/{number}?key={key}")


@builds("POST /api/v1/public/whistles/{id}/rate")
async def _citizen_rates(p: Probe, who: Who, fresh: bool) -> Call:
    number, key = await p.resource(
        "closed citizen case", fresh, lambda: p.citizen_case(closed=True)
    )
    return Call("POST", f"/api/v1/public/whistles/{number}/rate?key={key}", json={"grade": "满意"})


@builds("GET /track/{id}")
async def _track(p: Probe, who: Who, fresh: bool) -> Call:
    number, key = await _citizen_case(p)
    return Call("GET", f"/track/{number}?key={key}")


@builds("POST /track/{id}/rate")
async def _track_rate(p: Probe, who: Who, fresh: bool) -> Call:
    number, key = await _citizen_case(p)  # an open case: the page says why it cannot (409)
    return Call("POST", f"/track/{number}/rate?key={key}", form={"grade": "satisfied"})


@builds("GET /open311/v2/requests/{id}.{fmt}")
async def _open311_request(p: Probe, who: Who, fresh: bool) -> Call:
    return Call("GET", f"/open311/v2/requests/{(await _citizen_case(p))[0]}.json")


@builds("GET /open311/v2/tokens/{id}.{fmt}")
async def _open311_token(p: Probe, who: Who, fresh: bool) -> Call:
    return Call("GET", f"/open311/v2/tokens/{(await _citizen_case(p))[0]}.json")


@builds("POST /open311/v2/requests.{fmt}")
async def _open311_post(p: Probe, who: Who, fresh: bool) -> Call:
    point = p.county.centroid(p.micro())
    assert point is not None
    form = {
        "api_key": await p.live.token("operator"),
        "service_code": "E0101",
        "lat": str(point[0]),
        "long": str(point[1]),
        "description": f"open311 {MARKER}",
    }
    return Call("POST", "/open311/v2/requests.json", form=form)


# -- the party-building routes (issue 19) ---------------------------------------------------------
# Who gets through them, inside and outside town A, is asserted by their own matrix
# (tests/whistle/web/test_party_access.py, every role on every route); here they get every
# other probe: never a 5xx, the unauthenticated answers, CSP on pages, and the hostile inputs
# of test_hostile_input.py, which takes its routes and principals from these doors.
_PENDING = "tests/whistle/web/test_party_access.py asserts who gets through, in and out of scope"
_PARTY_ROLE = {
    REPORTER: "reporter", RESPONDER: "responder", OPERATOR: "operator",
    COMMITTEE: "committee", ADMIN: "admin", POLICE: "integration", CAMERA: "integration",
}  # fmt: skip


def _party_call(route: str) -> Builder:
    async def build(p: Probe, who: Who, fresh: bool) -> Call:
        sc = PartyScenario(p.live, p.county, _PARTY_ROLE.get(who.role or "", "anonymous"))
        call = await PARTY_ENDPOINTS[route](sc, PARTY_INSIDE)
        return Call(call.method, call.path, json=call.body, raw=call.raw)

    return build


def _party_page(route: str) -> Builder:
    async def build(p: Probe, who: Who, fresh: bool) -> Call:
        sc = PartyScenario(p.live, p.county, "admin")
        path = route.split(" ", 1)[1]
        if "{id}" in path:
            if path.startswith("/party/units/"):
                ident = str((await sc.unit(PARTY_INSIDE))["id"])
            else:  # a member's record is read where they registered
                ident = str((await sc.registered(PARTY_INSIDE))["person"])
            path = path.replace("{id}", ident)
        if path == "/party/list":
            path = f"/party/list?kind=unit&grid={sc.town[PARTY_INSIDE]}"
        return Call("GET", path)

    return build


for _route, _allowed in PARTY_ALLOWED.items():
    _admitted = [r for r, role in _PARTY_ROLE.items() if (role, PARTY_INSIDE) in _allowed]
    DOORS[_route] = api(*_admitted, ok=frozenset({200, 201}), roles_pending=_PENDING)
    BUILDERS[_route] = _party_call(_route)
# The committee's pages (whistle/web/party_pages.py), and 我的报到 for the member.
_PARTY_PAGE_ROLES = (COMMITTEE, OPERATOR, ADMIN, REPORTER)
for _route in PARTY_PAGES:
    _roles = (RESPONDER,) if _route == "GET /party/me" else _PARTY_PAGE_ROLES
    DOORS[_route] = page(*_roles, roles_pending=_PENDING)
    BUILDERS[_route] = _party_page(_route)


# -- the probe ------------------------------------------------------------------------------------

THROUGH, UNAUTHENTICATED, TO_LOGIN, FORBIDDEN, OUT_OF_SCOPE = (
    "gets through",
    "401",
    "303 to /login",
    "403",
    "refused outside its scope",
)


def expected(d: Door, who: Who) -> str:
    if d.kind == PUBLIC:
        return THROUGH
    if not who.authenticated:
        return TO_LOGIN if d.kind == PAGE else UNAUTHENTICATED
    if d.kind == PAGE and not who.has_session:
        return TO_LOGIN  # an integration has no login
    if who.role not in d.roles:
        return FORBIDDEN
    if who.town == AWAY and d.away == REFUSED:
        return OUT_OF_SCOPE
    return THROUGH


def verdict(d: Door, who: Who, want: str, answer: Answer) -> str | None:
    """What is wrong with ``answer`` (None: nothing)."""
    status = answer.status
    if status >= 500:
        return f"{status} (never a 5xx): {answer.text[:300]}"
    if who.town == AWAY and d.kind != PUBLIC and MARKER in answer.text:
        return f"{status} carries town A's data: {answer.text[:300]}"
    if answer.content_type == "text/html" and "Content-Security-Policy" not in answer.headers:
        return f"{status}: an HTML page without a Content-Security-Policy"
    if d.roles_pending and who.authenticated:
        return None
    location = answer.headers.get("Location", "")
    if want == UNAUTHENTICATED:
        ok = (
            status == 401
            and answer.headers.get("WWW-Authenticate") == "Bearer"
            and (answer.content_type == "application/problem+json" or not answer.body)
            # and for the reason the credential fails (HEAD answers have no body)
            and (who.credential == "none" or not answer.body or who.credential in answer.text)
        )
    elif want == TO_LOGIN:
        ok = status == 303 and location == "/login"
    elif want == FORBIDDEN:
        ok = status == 403
    elif want == OUT_OF_SCOPE:
        ok = status in d.refusal
    elif who.town == AWAY and d.away == LINES:
        counts = answer.json()["counts"] if status in (200, 207) else {}
        ok = counts.get("error") == 1 and counts.get("created") == 0
    else:
        ok = status in d.ok and not (d.kind == PAGE and location == "/login")
        if ok and who.town == AWAY and d.withheld and answer.body:
            ok = answer.json()[d.withheld] is None
    return None if ok else f"{status}, expected {want}: {answer.text[:300]}"


ROLE_ENDPOINT_PROBES = len(ROUTES) * len(CAST)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def probe(tmp_path_factory: pytest.TempPathFactory, county_dir: Path) -> AsyncIterator[Probe]:
    async with open_probe(tmp_path_factory.mktemp("matrix"), county_dir) as p:
        yield p


def test_every_route_of_the_app_has_a_door_and_a_call() -> None:
    doors = {door_key(route) for route in ROUTES}
    assert not doors - set(DOORS), (
        f"say who may use these routes in DOORS: {sorted(doors - set(DOORS))}"
    )
    assert not set(DOORS) - doors, f"DOORS names routes the app lacks: {sorted(set(DOORS) - doors)}"
    assert set(BUILDERS) == set(DOORS), set(BUILDERS) ^ set(DOORS)
    assert len(ROUTES) > len(DOORS)  # HEAD routes are probed too


@shared_loop
@pytest.mark.parametrize("route", ROUTES)
async def test_route_admits_exactly_its_roles_and_scope(probe: Probe, route: str) -> None:
    method = route.split(" ", 1)[0]
    d = DOORS[door_key(route)]
    problems = []
    for who in CAST:
        want = expected(d, who)
        call = await BUILDERS[door_key(route)](probe, who, want == THROUGH)
        call.method = method
        answer = await probe.send(who, call)
        wrong = verdict(d, who, want, answer)
        if wrong is not None:
            problems.append(f"{who.name}: {wrong}")
    assert not problems, f"{route}:\n" + "\n".join(problems)


@shared_loop
async def test_town_a_data_is_visible_to_town_a_so_a_leak_would_show(probe: Probe) -> None:
    """The leak check looks for MARKER: it is in what town A's own operator reads."""
    operator = next(w for w in CAST if w.name == OPERATOR)
    case = await _read(probe, operator, False)
    for call in (case, Call("GET", "/api/v1/silences"), Call("GET", "/console")):
        answer = await probe.send(operator, call)
        assert answer.status == 200
        assert MARKER in answer.text, call.path


@shared_loop
async def test_head_of_the_event_stream_ends_after_its_head(probe: Probe) -> None:
    """A HEAD answer has no body: stream bytes after it would be read as the next response."""
    operator = next(w for w in CAST if w.name == OPERATOR)
    headers = await probe.headers(operator, Call("HEAD", "/api/v1/stream"), b"")
    answer = await probe.raw("HEAD", "/api/v1/stream", headers, wait=1.0)
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/event-stream")
    assert answer.body == b""
