"""Who may call what, where: every role against every endpoint, inside and outside its subtree.

The small test county has two towns. Every principal but the admin is scoped to town A;
"inside" resources lie in town A (or belong to the principal), "outside" ones in town B (or
belong to somebody there). ``ALLOWED`` below is the policy at a glance; the test tries each
(endpoint, role, where) against a fresh server whose state is prepared so that an allowed call
succeeds (2xx): a refusal is then about access, never about the case's state.

The integration signs its requests (bearer is refused for it: see test_auth.py) and files
``police`` whistles; ``anonymous`` sends no credentials at all.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from grids import Hierarchy, Level, ResponderKind
from tests.support.auth import signed_headers
from tests.support.harness import Live
from tests.support.images import PNG
from tests.support.requests import body as whistle_body
from tests.whistle.web.test_party_access import ALLOWED as PARTY_ALLOWED
from tests.whistle.web.test_party_access import PAGES as PARTY_PAGES
from whistle.auth import Role
from whistle.web.access import ACCESS
from whistle.web.keys import CLOCK, HIERARCHY, LIVE, STORE

REPORTER, RESPONDER, OPERATOR = "reporter", "responder", "operator"
COMMITTEE, ADMIN, INTEGRATION = "committee", "admin", "integration"
ANONYMOUS = "anonymous"  # no credentials
ROLES = (REPORTER, RESPONDER, OPERATOR, COMMITTEE, ADMIN, INTEGRATION, ANONYMOUS)
assert set(ROLES) - {ANONYMOUS} == {r.value for r in Role}

INSIDE, OUTSIDE = "inside", "outside"  # the resource is in town A / in town B
ANYWHERE = "anywhere"  # the endpoint names no resource of the grid
INTEGRATION_SOURCE = "police"


def inside(*roles: str) -> set[tuple[str, str]]:
    return {(role, INSIDE) for role in roles}


def everywhere(*roles: str) -> set[tuple[str, str]]:
    return {(role, where) for role in roles for where in (INSIDE, OUTSIDE, ANYWHERE)}


EVERY_ROLE = (REPORTER, RESPONDER, OPERATOR, COMMITTEE, ADMIN, INTEGRATION)

# endpoint -> the (role, where) that succeed; everything else is refused: 401 for anonymous,
# 403 for the others, unless REFUSED_WITH says otherwise.
ALLOWED: dict[str, set[tuple[str, str]]] = {
    "POST /api/v1/whistles": inside(REPORTER, OPERATOR, INTEGRATION),
    "GET /api/v1/whistles/{id}": inside(REPORTER, RESPONDER, OPERATOR, COMMITTEE)
    | everywhere(ADMIN),
    "GET /api/v1/whistles": inside(REPORTER, OPERATOR, COMMITTEE) | everywhere(ADMIN),
    "GET /api/v1/grids/{code}": everywhere(*EVERY_ROLE),
    "GET /api/v1/grids": everywhere(*EVERY_ROLE),
    "GET /api/v1/categories": everywhere(*EVERY_ROLE),
    "POST /api/v1/assignments/{id}/acknowledge": inside(RESPONDER),
    "POST /api/v1/assignments/{id}/start": inside(RESPONDER),
    "POST /api/v1/assignments/{id}/resolve": inside(RESPONDER),
    "POST /api/v1/assignments/{id}/return": inside(RESPONDER),
    "POST /api/v1/whistles/{id}/claim": inside(RESPONDER),
    "POST /api/v1/whistles/{id}/verify": inside(REPORTER, OPERATOR),
    "POST /api/v1/whistles/{id}/reopen": inside(REPORTER, OPERATOR),
    "POST /api/v1/whistles/{id}/rate": inside(REPORTER, OPERATOR),
    "POST /api/v1/whistles/{id}/hold": inside(OPERATOR),
    "POST /api/v1/whistles/{id}/release": inside(OPERATOR),
    "POST /api/v1/whistles/{id}/extend": inside(OPERATOR),
    "POST /api/v1/whistles/{id}/merge": inside(OPERATOR),
    "POST /api/v1/whistles/{id}/place": inside(OPERATOR),
    "POST /api/v1/whistles/{id}/urge": inside(OPERATOR),
    "POST /api/v1/whistles/{id}/supervise": inside(OPERATOR),
    "GET /api/v1/whistles/{id}/candidates": inside(OPERATOR),
    "GET /api/v1/responders/{id}/inbox": inside(RESPONDER, OPERATOR) | everywhere(ADMIN),
    "POST /api/v1/silences": inside(OPERATOR) | everywhere(ADMIN),
    "GET /api/v1/silences": everywhere(OPERATOR, COMMITTEE, ADMIN),
    "GET /api/v1/queue-counts": inside(OPERATOR, COMMITTEE) | everywhere(ADMIN),
    "DELETE /api/v1/silences/{id}": inside(OPERATOR) | everywhere(ADMIN),
    "POST /api/v1/tokens": everywhere(ADMIN),
    # What-if replay covers the whole county: an admin only.
    "POST /api/v1/replays": {(ADMIN, ANYWHERE)},
    "GET /api/v1/replays/{id}": {(ADMIN, ANYWHERE)},
    "GET /api/v1/replays/{id}/{table}.csv": {(ADMIN, ANYWHERE)},
    "GET /api/v1/tokens": everywhere(ADMIN),
    "DELETE /api/v1/tokens/{id}": everywhere(ADMIN),
    "POST /api/v1/users": everywhere(ADMIN),
    "GET /api/v1/audit": everywhere(ADMIN),
    "GET /api/v1/config/versions": everywhere(ADMIN),
    "GET /api/v1/config/versions/{id}": everywhere(ADMIN),
    "POST /api/v1/config/validate": everywhere(ADMIN),
    "POST /api/v1/config/versions": everywhere(ADMIN),
    "POST /api/v1/config/versions/{id}/apply": everywhere(ADMIN),
    "POST /api/v1/admin/reload-grids": everywhere(ADMIN),
    "GET /healthz": everywhere(*ROLES),
    "GET /readyz": everywhere(*ROLES),
    "GET /metrics": everywhere(*ROLES),
    "GET /api/v1/openapi.json": everywhere(*ROLES),
    # GeoReport v2 is public by the spec; POST authorises by the form's api_key, not the
    # caller's credentials (tests/whistle/test_open311.py covers that).
    "GET /open311/v2/discovery.{fmt}": everywhere(*ROLES),
    "GET /open311/v2/services.{fmt}": everywhere(*ROLES),
    "GET /open311/v2/services/{code}.{fmt}": everywhere(*ROLES),
    "GET /open311/v2/requests.{fmt}": everywhere(*ROLES),
    "GET /open311/v2/requests/{id}.{fmt}": everywhere(*ROLES),
    "GET /open311/v2/tokens/{id}.{fmt}": everywhere(*ROLES),
    "POST /open311/v2/requests.{fmt}": everywhere(*ROLES),
    # Feeds: only a signed integration of that very source (the matrix's files police).
    "POST /api/v1/feeds/police": everywhere(INTEGRATION),
    "POST /api/v1/feeds/camera": set(),
    "POST /api/v1/public/whistles": everywhere(*ROLES),
    "GET /api/v1/public/whistles/{id}": everywhere(*ROLES),
    "POST /api/v1/public/whistles/{id}/rate": everywhere(*ROLES),
    # The citizen's page: the grid's public structure and photo uploads, for everyone.
    "GET /api/v1/public/grids/{code}/shapes": everywhere(*ROLES),
    "GET /api/v1/public/locate": everywhere(*ROLES),
    "POST /api/v1/public/media": everywhere(*ROLES),
    "POST /api/v1/media": everywhere(REPORTER, RESPONDER, OPERATOR, INTEGRATION),
    "GET /api/v1/grids/{code}/shapes": everywhere(*EVERY_ROLE),
    "GET /api/v1/grids/{code}/roster": everywhere(*EVERY_ROLE),
    "GET /api/v1/responders/{id}/history": inside(RESPONDER, OPERATOR) | everywhere(ADMIN),
    "GET /vendor/{name}": everywhere(*ROLES),
    # A responder's stream carries only its own notices (filtered, never refused).
    "GET /api/v1/stream": everywhere(RESPONDER, OPERATOR, COMMITTEE, ADMIN),
    "GET /api/v1/stats": inside(OPERATOR, COMMITTEE) | everywhere(ADMIN),
    "GET /api/v1/stats/{table}.csv": inside(OPERATOR, COMMITTEE) | everywhere(ADMIN),
    "GET /api/v1/stats/cases": inside(OPERATOR, COMMITTEE) | everywhere(ADMIN),
    "GET /api/v1/wall": inside(OPERATOR, COMMITTEE) | everywhere(ADMIN),
    "POST /api/v1/assignments/{id}/reassign": inside(OPERATOR),
    "POST /api/v1/assignments/{id}/accept-return": inside(OPERATOR),
    "POST /api/v1/assignments/{id}/refuse-return": inside(OPERATOR),
    "POST /api/v1/assignments/{id}/request-extension": inside(RESPONDER),
    "POST /api/v1/whistles/{id}/approve-extension": inside(OPERATOR),
    "POST /api/v1/whistles/{id}/refuse-extension": inside(OPERATOR),
    # A photo is shown with its case, to those who may read the case.
    "GET /media/{name}": inside(REPORTER, RESPONDER, OPERATOR, COMMITTEE) | everywhere(ADMIN),
}

# A responder of town A is not eligible on town B's claim board: the claim is refused as a
# conflict with the case (409), after the role was accepted.
REFUSED_WITH = {("POST /api/v1/whistles/{id}/claim", RESPONDER, OUTSIDE): 409}


# -- the scenario ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One request; ``responder`` is who the responder principal acts as (default: the grid
    party member of town A's first micro-grid, who gets town A's citizen cases)."""

    method: str
    path: str
    body: dict[str, Any] | None = None
    responder: str | None = None
    raw: bytes | None = None  # a body sent as it is (a photo), not as JSON
    stream: bool = False  # an event stream: allowed means it opens (it never ends by itself)
    form: dict[str, str] | None = None  # a form-encoded body (GeoReport v2)


class Scenario:
    """Builds the resources a call needs, through the API, as a county-wide operator."""

    def __init__(self, live: Live, county: Hierarchy, role: str) -> None:
        self.live = live
        self.county = county
        self.role = role
        towns = list(county.cells(level=Level.TOWN))
        assert len(towns) == 2
        self.town = {INSIDE: towns[0].code, OUTSIDE: towns[1].code, ANYWHERE: towns[0].code}

    def micro(self, where: str) -> str:
        town = self.town[where]
        return next(c.code for c in self.county.cells(level=Level.MICRO_GRID) if c.is_within(town))

    def grid_member(self, where: str) -> str:
        """The grid's registered party member: the first responder of a citizen case there."""
        grid = self.county.at_level(self.micro(where), Level.GRID)
        return self.county.responders_at(grid.code, ResponderKind.REGISTERED_MEMBER)[0].id

    def board_member(self, where: str) -> str:
        """A registered party member of the community, eligible on its claim board."""
        community = self.county.at_level(self.micro(where), Level.COMMUNITY)
        members = self.county.responders_at(community.code, ResponderKind.REGISTERED_MEMBER)
        return next(r.id for r in members if r.handles("E0801"))

    def whistle(self, where: str, **overrides: Any) -> dict[str, Any]:
        return whistle_body(self.county, location={"grid": self.micro(where)}, **overrides)

    async def case(self, where: str, **overrides: Any) -> dict[str, Any]:
        status, _, doc = await self.live.post(self.whistle(where, **overrides))
        assert status == 201, doc
        return doc  # type: ignore[no-any-return]

    async def respond(self, assignment: dict[str, Any], action: str, **data: Any) -> None:
        """The assignment's own responder acts on it."""
        token = await self.live.token("responder", responder=assignment["responder"]["id"])
        await self.ok("POST", f"/api/v1/assignments/{assignment['id']}/{action}", data, token)

    async def operate(self, whistle_id: str, action: str, **data: Any) -> None:
        await self.ok("POST", f"/api/v1/whistles/{whistle_id}/{action}", data)

    async def resolved(self, where: str) -> dict[str, Any]:
        doc = await self.case(where)
        await self.respond(doc["assignments"][0], "acknowledge")
        await self.respond(doc["assignments"][0], "resolve", note="已清理")
        return doc

    async def closed(self, where: str) -> dict[str, Any]:
        doc = await self.resolved(where)
        await self.operate(doc["id"], "verify", passed=True)
        return doc

    async def admin_token(self) -> str:
        return await self.live.token("admin", scope=None)

    async def citizen_case(self, where: str) -> tuple[str, str]:
        """A whistle filed through the public door: (case number, follow key)."""
        response = await self.live.client.post(
            "/api/v1/public/whistles", json=self.public_whistle(where)
        )
        answer = await response.json()
        assert response.status == 201, answer
        return answer["whistle_id"], answer["key"]

    def public_whistle(self, where: str) -> dict[str, Any]:
        return {
            "category": "E0101",
            "description": "楼道堆放杂物",
            "location": {"grid": self.micro(where)},
        }

    async def ok(self, method: str, path: str, data: Any, token: str | None = None) -> Any:
        response = await self.live.client.request(
            method, path, json=data, headers=await self.live.auth(token)
        )
        answer = await response.json()
        assert response.status in (200, 201), answer
        return answer

    async def credentials(self, call: Call, body: bytes) -> dict[str, str]:
        scope = self.town[INSIDE]
        if self.role == ANONYMOUS:
            return {}
        if self.role == INTEGRATION:
            token = await self.live.token(INTEGRATION, scope=scope, source=INTEGRATION_SOURCE)
            return signed_headers(token, body, self.live.app[CLOCK].now())
        if self.role == ADMIN:
            token = await self.admin_token()
        elif self.role == RESPONDER:
            responder = call.responder or self.grid_member(INSIDE)
            token = await self.live.token(RESPONDER, scope=scope, responder=responder)
        else:
            token = await self.live.token(self.role, scope=scope)
        return {"Authorization": f"Bearer {token}"}


# -- one builder per endpoint: the call, with its resource in town A or B, ready to succeed ----

Builder = Callable[[Scenario, str], Awaitable[Call]]
ENDPOINTS: dict[str, tuple[tuple[str, ...], Builder]] = {}


def endpoint(name: str, *, scoped: bool = True) -> Callable[[Builder], Builder]:
    def register(builder: Builder) -> Builder:
        ENDPOINTS[name] = ((INSIDE, OUTSIDE) if scoped else (ANYWHERE,), builder)
        return builder

    return register


@endpoint("POST /api/v1/whistles")
async def _file(sc: Scenario, where: str) -> Call:
    if sc.role == INTEGRATION:  # its own source
        whistle = sc.whistle(where, source=INTEGRATION_SOURCE, category="E0701")
    else:
        whistle = sc.whistle(where)
    return Call("POST", "/api/v1/whistles", whistle)


@endpoint("GET /api/v1/whistles/{id}")
async def _read(sc: Scenario, where: str) -> Call:
    doc = await sc.case(where)
    return Call("GET", f"/api/v1/whistles/{doc['id']}")


@endpoint("GET /api/v1/whistles")
async def _list(sc: Scenario, where: str) -> Call:
    return Call("GET", f"/api/v1/whistles?grid={sc.town[where]}")


@endpoint("GET /api/v1/grids/{code}")
async def _grid(sc: Scenario, where: str) -> Call:
    return Call("GET", f"/api/v1/grids/{sc.town[where]}")


@endpoint("GET /api/v1/grids")
async def _grids(sc: Scenario, where: str) -> Call:
    return Call("GET", f"/api/v1/grids?parent={sc.town[where]}")


@endpoint("GET /api/v1/categories", scoped=False)
async def _categories(sc: Scenario, where: str) -> Call:
    return Call("GET", "/api/v1/categories")


def _assignment_endpoint(action: str, before: tuple[str, ...], body: dict[str, Any]) -> None:
    @endpoint(f"POST /api/v1/assignments/{{id}}/{action}")
    async def build(sc: Scenario, where: str) -> Call:
        doc = await sc.case(where)
        assignment = doc["assignments"][0]
        for step in before:
            await sc.respond(assignment, step)
        # Inside, it is the responder principal's own assignment; outside, town B's member's.
        assert assignment["responder"]["id"] == sc.grid_member(where)
        return Call("POST", f"/api/v1/assignments/{assignment['id']}/{action}", body)


_assignment_endpoint("acknowledge", (), {})
_assignment_endpoint("start", ("acknowledge",), {})
_assignment_endpoint("resolve", ("acknowledge",), {"note": "已清理"})
_assignment_endpoint("return", (), {"reason": "不属于本网格"})
_assignment_endpoint(
    "request-extension", ("acknowledge",), {"reason": "需协调物业", "duration": "2wd"}
)


@endpoint("POST /api/v1/whistles/{id}/claim")
async def _claim(sc: Scenario, where: str) -> Call:
    doc = await sc.case(where, category="E0801", description="独居老人需要上门探访")
    board = doc["assignments"][0]
    member = sc.board_member(INSIDE)  # eligible on town A's board, not on town B's
    assert (member in board["eligible_ids"]) == (where == INSIDE)
    return Call("POST", f"/api/v1/whistles/{doc['id']}/claim", {}, responder=member)


def _case_endpoint(
    action: str, prepare: Callable[[Scenario, str], Awaitable[dict[str, Any]]], body: dict[str, Any]
) -> None:
    @endpoint(f"POST /api/v1/whistles/{{id}}/{action}")
    async def build(sc: Scenario, where: str) -> Call:
        doc = await prepare(sc, where)
        return Call("POST", f"/api/v1/whistles/{doc['id']}/{action}", body)


async def _on_hold(sc: Scenario, where: str) -> dict[str, Any]:
    doc = await sc.case(where)
    await sc.operate(doc["id"], "hold", reason="等待产权单位答复")
    return doc


_case_endpoint("verify", Scenario.resolved, {"passed": True})
_case_endpoint("reopen", Scenario.resolved, {"reason": "群众反映仍有杂物"})
_case_endpoint("rate", Scenario.closed, {"grade": "satisfied"})
_case_endpoint("hold", Scenario.case, {"reason": "等待产权单位答复"})
_case_endpoint("release", _on_hold, {})
_case_endpoint("extend", Scenario.case, {"reason": "需协调物业", "duration": "2wd"})
_case_endpoint("urge", Scenario.case, {"note": "居民再次来电"})
_case_endpoint("supervise", Scenario.case, {"note": "超过三天未处理"})


@endpoint("GET /api/v1/whistles/{id}/candidates")
async def _candidates(sc: Scenario, where: str) -> Call:
    doc = await sc.case(where)
    return Call("GET", f"/api/v1/whistles/{doc['id']}/candidates")


async def _extension_asked(sc: Scenario, where: str) -> dict[str, Any]:
    doc = await sc.case(where)
    await sc.respond(doc["assignments"][0], "acknowledge")
    await sc.respond(
        doc["assignments"][0], "request-extension", reason="需协调物业", duration="2wd"
    )
    return doc


_case_endpoint("approve-extension", _extension_asked, {})
_case_endpoint("refuse-extension", _extension_asked, {"reason": "请按期办结"})


@endpoint("POST /api/v1/whistles/{id}/merge")
async def _merge(sc: Scenario, where: str) -> Call:
    duplicate, original = await sc.case(where), await sc.case(where)
    return Call("POST", f"/api/v1/whistles/{duplicate['id']}/merge", {"into": original["id"]})


@endpoint("POST /api/v1/whistles/{id}/place")
async def _place(sc: Scenario, where: str) -> Call:
    # An address naming only the town: held there (待定位), in that town's subtree.
    town = sc.county.cell(sc.town[where]).name
    body = whistle_body(sc.county, location={"address": f"{town}某处"})
    status, _, doc = await sc.live.post(body)
    assert status == 201, doc
    assert doc["status"] == "unplaced"
    return Call("POST", f"/api/v1/whistles/{doc['id']}/place", {"grid": sc.micro(where)})


@endpoint("GET /api/v1/responders/{id}/inbox")
async def _inbox(sc: Scenario, where: str) -> Call:
    # Inside: the responder principal's own inbox; outside: town B's grid member's.
    return Call("GET", f"/api/v1/responders/{sc.grid_member(where)}/inbox")


@endpoint("GET /api/v1/responders/{id}/history")
async def _history(sc: Scenario, where: str) -> Call:
    return Call("GET", f"/api/v1/responders/{sc.grid_member(where)}/history")


@endpoint("GET /api/v1/public/grids/{code}/shapes")
async def _public_shapes(sc: Scenario, where: str) -> Call:
    return Call("GET", f"/api/v1/public/grids/{sc.town[where]}/shapes")


@endpoint("GET /api/v1/public/locate")
async def _public_locate(sc: Scenario, where: str) -> Call:
    lat, lon = sc.live.app[HIERARCHY].centroid(sc.micro(where)) or (0.0, 0.0)
    return Call("GET", f"/api/v1/public/locate?lat={lat}&lon={lon}")


@endpoint("POST /api/v1/public/media", scoped=False)
async def _public_upload(sc: Scenario, where: str) -> Call:
    return Call("POST", "/api/v1/public/media", raw=PNG)


@endpoint("GET /api/v1/grids/{code}/shapes")
async def _shapes(sc: Scenario, where: str) -> Call:
    return Call("GET", f"/api/v1/grids/{sc.town[where]}/shapes")


@endpoint("GET /api/v1/grids/{code}/roster")
async def _roster(sc: Scenario, where: str) -> Call:
    return Call("GET", f"/api/v1/grids/{sc.town[where]}/roster")


@endpoint("GET /api/v1/stats")
async def _stats(sc: Scenario, where: str) -> Call:
    return Call("GET", f"/api/v1/stats?grid={sc.town[where]}")


@endpoint("GET /api/v1/stats/{table}.csv")
async def _stats_csv(sc: Scenario, where: str) -> Call:
    return Call("GET", f"/api/v1/stats/sources.csv?grid={sc.town[where]}")


@endpoint("GET /api/v1/stats/cases")
async def _stats_cases(sc: Scenario, where: str) -> Call:
    return Call("GET", f"/api/v1/stats/cases?metric=total&grid={sc.town[where]}")


@endpoint("GET /api/v1/wall")
async def _wall(sc: Scenario, where: str) -> Call:
    return Call("GET", f"/api/v1/wall?grid={sc.town[where]}")


@endpoint("GET /api/v1/stream", scoped=False)
async def _stream(sc: Scenario, where: str) -> Call:
    return Call("GET", "/api/v1/stream", stream=True)


@endpoint("POST /api/v1/assignments/{id}/reassign")
async def _reassign(sc: Scenario, where: str) -> Call:
    doc = await sc.case(where)
    grid = sc.county.at_level(sc.micro(where), Level.GRID)
    leader = sc.county.responders_at(grid.code, ResponderKind.GRID_LEADER)[0].id
    path = f"/api/v1/assignments/{doc['assignments'][0]['id']}/reassign"
    return Call("POST", path, {"responder": leader, "reason": "网格长亲自处理"})


async def _returned(sc: Scenario, where: str) -> str:
    """A community whistle whose grid department gave it back (退单): its assignment id."""
    doc = await sc.case(where, source="community")
    department = doc["assignments"][0]
    await sc.respond(department, "return", reason="不属于本部门")
    return str(department["id"])


@endpoint("POST /api/v1/assignments/{id}/accept-return")
async def _accept_return(sc: Scenario, where: str) -> Call:
    returned = await _returned(sc, where)
    # The dispatcher names who takes it: the town's other grid department for E0101.
    doc = await sc.live.app[STORE].get_whistle(returned.rsplit("-", 1)[0])
    assert doc is not None
    town = sc.county.at_level(doc.row_doc["grid"]["code"], Level.TOWN)
    taken = {(a.get("responder") or {}).get("id") for a in doc.assignments}
    target = next(
        r.id
        for r in sc.county.responders_at(town.code, ResponderKind.GRID_DEPARTMENT)
        if r.id not in taken and r.handles(doc.row_doc["category"]["code"])
    )
    path = f"/api/v1/assignments/{returned}/accept-return"
    return Call("POST", path, {"responder": target})


@endpoint("POST /api/v1/assignments/{id}/refuse-return")
async def _refuse_return(sc: Scenario, where: str) -> Call:
    path = f"/api/v1/assignments/{await _returned(sc, where)}/refuse-return"
    return Call("POST", path, {"reason": "属于本部门职责"})


@endpoint("GET /vendor/{name}", scoped=False)
async def _vendor(sc: Scenario, where: str) -> Call:
    return Call("GET", "/vendor/echarts.min.js")


def _grid_silence(code: str) -> dict[str, Any]:
    return {
        "matchers": {"grid": code, "category": "E01"},
        "duration_minutes": 60,
        "author": "值班员",
        "comment": "道路施工，重复上报",
    }


@endpoint("POST /api/v1/silences")
async def _silence(sc: Scenario, where: str) -> Call:
    return Call("POST", "/api/v1/silences", _grid_silence(sc.town[where]))


@endpoint("GET /api/v1/silences", scoped=False)
async def _silences(sc: Scenario, where: str) -> Call:
    return Call("GET", "/api/v1/silences")


@endpoint("GET /api/v1/queue-counts")
async def _queue_counts(sc: Scenario, where: str) -> Call:
    return Call("GET", f"/api/v1/queue-counts?grid={sc.town[where]}")


@endpoint("DELETE /api/v1/silences/{id}")
async def _unsilence(sc: Scenario, where: str) -> Call:
    silence = await sc.ok(
        "POST", "/api/v1/silences", _grid_silence(sc.town[where]), await sc.admin_token()
    )
    return Call("DELETE", f"/api/v1/silences/{silence['id']}")


@endpoint("POST /api/v1/tokens")
async def _new_token(sc: Scenario, where: str) -> Call:
    return Call("POST", "/api/v1/tokens", {"role": "reporter", "scope": sc.town[where]})


_REPLAY = {"since": "2026-11-01", "until": "2026-11-30", "config": "active"}


async def _replay(sc: Scenario, *, done: bool) -> str:
    """A replay an admin started (``done``: waited for, so that its report is there)."""
    headers = await sc.live.auth(await sc.admin_token())
    response = await sc.live.client.post("/api/v1/replays", json=_REPLAY, headers=headers)
    job = await response.json()
    assert response.status == 202, job
    for _ in range(1200 if done else 0):
        status = (
            await (await sc.live.client.get(f"/api/v1/replays/{job['id']}", headers=headers)).json()
        )["status"]
        if status != "running":
            break
        await asyncio.sleep(0.1)
    return str(job["id"])


@endpoint("POST /api/v1/replays", scoped=False)
async def _start_replay(sc: Scenario, where: str) -> Call:
    return Call("POST", "/api/v1/replays", _REPLAY)


@endpoint("GET /api/v1/replays/{id}", scoped=False)
async def _get_replay(sc: Scenario, where: str) -> Call:
    return Call("GET", f"/api/v1/replays/{await _replay(sc, done=False)}")


@endpoint("GET /api/v1/replays/{id}/{table}.csv", scoped=False)
async def _replay_csv(sc: Scenario, where: str) -> Call:
    # Refused roles are refused before the replay is looked up: only the admin's needs one.
    job = await _replay(sc, done=True) if sc.role == ADMIN else "unknown"
    return Call("GET", f"/api/v1/replays/{job}/kinds.csv")


@endpoint("GET /api/v1/tokens", scoped=False)
async def _tokens(sc: Scenario, where: str) -> Call:
    return Call("GET", "/api/v1/tokens")


@endpoint("DELETE /api/v1/tokens/{id}")
async def _revoke(sc: Scenario, where: str) -> Call:
    issued = await sc.live.app[ACCESS].issue_token(
        role=Role.REPORTER, scope=sc.town[where], by="tests"
    )
    return Call("DELETE", f"/api/v1/tokens/{issued.id}")


@endpoint("POST /api/v1/users")
async def _new_user(sc: Scenario, where: str) -> Call:
    user = {"name": "wangfang", "password": "correct horse", "role": "reporter"}
    return Call("POST", "/api/v1/users", {**user, "scope": sc.town[where]})


@endpoint("GET /api/v1/audit", scoped=False)
async def _audit(sc: Scenario, where: str) -> Call:
    return Call("GET", "/api/v1/audit")


def _active_version(sc: Scenario) -> tuple[int, dict[str, str]]:
    current = sc.live.app[LIVE].current
    assert current.version_id is not None
    return current.version_id, dict(current.files)


@endpoint("GET /api/v1/config/versions", scoped=False)
async def _config_versions(sc: Scenario, where: str) -> Call:
    return Call("GET", "/api/v1/config/versions")


@endpoint("GET /api/v1/config/versions/{id}", scoped=False)
async def _config_version(sc: Scenario, where: str) -> Call:
    return Call("GET", f"/api/v1/config/versions/{_active_version(sc)[0]}")


@endpoint("POST /api/v1/config/validate", scoped=False)
async def _validate_config(sc: Scenario, where: str) -> Call:
    return Call("POST", "/api/v1/config/validate", {"files": _active_version(sc)[1]})


@endpoint("POST /api/v1/config/versions", scoped=False)
async def _propose_config(sc: Scenario, where: str) -> Call:
    files = _active_version(sc)[1]
    return Call(
        "POST",
        "/api/v1/config/versions",
        {"files": {**files, "rules.toml": files["rules.toml"] + "\n"}},
    )


@endpoint("POST /api/v1/config/versions/{id}/apply", scoped=False)
async def _apply_config(sc: Scenario, where: str) -> Call:
    return Call("POST", f"/api/v1/config/versions/{_active_version(sc)[0]}/apply", {})


@endpoint("POST /api/v1/admin/reload-grids", scoped=False)
async def _reload_grids(sc: Scenario, where: str) -> Call:
    return Call("POST", "/api/v1/admin/reload-grids")


@endpoint("GET /healthz", scoped=False)
async def _healthz(sc: Scenario, where: str) -> Call:
    return Call("GET", "/healthz")


@endpoint("GET /api/v1/openapi.json", scoped=False)
async def _openapi(sc: Scenario, where: str) -> Call:
    return Call("GET", "/api/v1/openapi.json")


@endpoint("GET /metrics", scoped=False)
async def _metrics(sc: Scenario, where: str) -> Call:
    return Call("GET", "/metrics")


def _open311(path: str, needs_case: bool = False) -> None:
    @endpoint(f"GET /open311/v2/{path}", scoped=False)
    async def build(sc: Scenario, where: str) -> Call:
        target = path.replace("{fmt}", "json").replace("{code}", "E0101")
        if needs_case:
            case_number, _ = await sc.citizen_case(INSIDE)
            target = target.replace("{id}", case_number)
        return Call("GET", f"/open311/v2/{target}")


for _path in ("discovery.{fmt}", "services.{fmt}", "services/{code}.{fmt}", "requests.{fmt}"):
    _open311(_path)
for _path in ("requests/{id}.{fmt}", "tokens/{id}.{fmt}"):
    _open311(_path, needs_case=True)


@endpoint("POST /api/v1/feeds/police", scoped=False)
async def _police_feed(sc: Scenario, where: str) -> Call:
    alert = {
        "alert_id": "110-matrix-1",
        "category": "E0701",
        "location": {"grid": sc.micro(INSIDE)},
        "description": "群众报警：有人打架",
        "time": "2026-11-23T09:00:00+08:00",
    }
    return Call("POST", "/api/v1/feeds/police", raw=orjson.dumps(alert))


@endpoint("POST /api/v1/feeds/camera", scoped=False)
async def _camera_feed(sc: Scenario, where: str) -> Call:
    detection = {
        "camera_id": "CAM-X",
        "event_type": "garbage_exposed",
        "confidence": 0.9,
        "time": "2026-11-23T09:00:00+08:00",
        "snapshot_url": "https://cam.example/1.jpg",
    }
    return Call("POST", "/api/v1/feeds/camera", raw=orjson.dumps(detection))


@endpoint("POST /open311/v2/requests.{fmt}", scoped=False)
async def _open311_post(sc: Scenario, where: str) -> Call:
    api_key = await sc.live.token("operator")  # the form's api_key decides, not the caller
    point = sc.county.centroid(sc.micro(INSIDE))
    assert point is not None
    form = {
        "api_key": api_key,
        "service_code": "E0101",
        "lat": str(point[0]),
        "long": str(point[1]),
        "description": "open311",
    }
    return Call("POST", "/open311/v2/requests.json", form=form)


@endpoint("GET /readyz", scoped=False)
async def _readyz(sc: Scenario, where: str) -> Call:
    return Call("GET", "/readyz")


@endpoint("POST /api/v1/public/whistles")
async def _citizen_files(sc: Scenario, where: str) -> Call:
    return Call("POST", "/api/v1/public/whistles", sc.public_whistle(where))


@endpoint("GET /api/v1/public/whistles/{id}")
async def _citizen_follows(sc: Scenario, where: str) -> Call:
    case_number, key = await sc.citizen_case(where)
    return Call("GET", f"/api/v1/public/whistles/{case_number}?key={key}")


@endpoint("POST /api/v1/public/whistles/{id}/rate")
async def _citizen_rates(sc: Scenario, where: str) -> Call:
    case_number, key = await sc.citizen_case(where)
    stored = await sc.live.app[STORE].get_whistle(case_number)
    assert stored is not None
    first = stored.assignments[0]
    await sc.respond(first, "acknowledge")
    await sc.respond(first, "resolve", note="已清理")
    await sc.operate(case_number, "verify", passed=True)
    return Call("POST", f"/api/v1/public/whistles/{case_number}/rate?key={key}", {"grade": "满意"})


@endpoint("POST /api/v1/media", scoped=False)
async def _upload(sc: Scenario, where: str) -> Call:
    return Call("POST", "/api/v1/media", raw=PNG)


@endpoint("GET /media/{name}")
async def _photo(sc: Scenario, where: str) -> Call:
    # Uploaded by a grid worker of the case's town (not one of the principals under test).
    uploader = await sc.live.app[ACCESS].issue_token(
        role=Role.REPORTER, scope=sc.town[where], label="uploader", by="tests"
    )
    response = await sc.live.client.post(
        "/api/v1/media", data=PNG, headers=await sc.live.auth(uploader.token)
    )
    assert response.status == 201
    url = (await response.json())["url"]
    doc = await sc.case(where, media_urls=[str(sc.live.client.make_url(url))])
    return Call("GET", f"{url}?case={doc['id']}")


assert set(ENDPOINTS) == set(ALLOWED), set(ENDPOINTS) ^ set(ALLOWED)

# Pages have their own tests (tests/whistle/test_pages.py): they answer with redirects.
PAGES = {"GET /login", "POST /login", "POST /logout", "GET /", "GET /cases", "GET /cases/{id}",
         "GET /static", "GET /report", "GET /console", "GET /claims", "GET /stats", "GET /grids",
         "GET /tasks", "GET /tasks/{assignment_id}",
         "GET /stats/cases", "GET /wall", "GET /hotline", "POST /hotline", "GET /silences",
         "GET /silences/new", "GET /admin/config",
         "GET /track/{id}", "POST /track/{id}/rate", "GET /citizen", "GET /favicon.ico",
         "GET /public/{name}", "GET /admin/replay"}  # fmt: skip


def party_routes() -> set[str]:
    return set(PARTY_ALLOWED) | PARTY_PAGES


def test_every_route_of_the_app_is_in_the_matrix(live: Live) -> None:
    routes = {
        f"{route.method} {route.resource.canonical}"
        for route in live.app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    # The party-building API has its own matrix (tests/whistle/web/test_party_access.py).
    missing = routes - set(ALLOWED) - PAGES - party_routes()
    assert not missing, f"add these endpoints to the access matrix: {sorted(missing)}"


MATRIX = [
    pytest.param(name, role, where, id=f"{name} | {role} | {where}")
    for name, (places, _) in ENDPOINTS.items()
    for role in ROLES
    for where in places
]


@pytest.mark.parametrize(("name", "role", "where"), MATRIX)
async def test_access_matrix(
    live: Live, county: Hierarchy, name: str, role: str, where: str
) -> None:
    scenario = Scenario(live, county, role)
    call = await ENDPOINTS[name][1](scenario, where)
    if call.form is not None:
        body = urllib.parse.urlencode(call.form).encode()
    elif call.raw is not None:
        body = call.raw
    else:
        body = b"" if call.body is None else orjson.dumps(call.body)
    headers = await scenario.credentials(call, body)
    if call.body is not None:
        headers["Content-Type"] = "application/json"
    elif call.raw is not None:
        headers["Content-Type"] = "application/octet-stream"
    elif call.form is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    response = await live.client.request(call.method, call.path, data=body or None, headers=headers)
    if call.stream and response.status == 200:
        assert (role, where) in ALLOWED[name]
        assert response.content_type == "text/event-stream"
        response.close()  # it would never end by itself
        return
    answer = await response.json() if "json" in response.content_type else await response.read()
    if (role, where) in ALLOWED[name]:
        assert 200 <= response.status < 300, answer
        return
    refused = REFUSED_WITH.get((name, role, where), 401 if role == ANONYMOUS else 403)
    assert response.status == refused, answer
    assert response.content_type == "application/problem+json"
    assert answer["status"] == refused
    if refused == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert "no credentials" in answer["detail"]
    elif (role, INSIDE) in ALLOWED[name]:  # the role may, only not on this resource
        assert "may not" not in answer["detail"], answer
    else:
        assert f"{role} may not {call.method} " in answer["detail"], answer


# -- the scope rules the matrix cannot show in one call -----------------------------------------


async def test_listing_defaults_to_the_principals_subtree(live: Live, county: Hierarchy) -> None:
    scenario = Scenario(live, county, REPORTER)
    ours, theirs = await scenario.case(INSIDE), await scenario.case(OUTSIDE)
    for role in (REPORTER, OPERATOR, COMMITTEE):
        token = await live.token(role, scope=scenario.town[INSIDE])
        status, page = await live.get("/api/v1/whistles", token=token)
        assert status == 200, page
        assert [item["id"] for item in page["items"]] == [ours["id"]]
    status, page = await live.get("/api/v1/whistles", token=await scenario.admin_token())
    assert status == 200
    assert {item["id"] for item in page["items"]} == {ours["id"], theirs["id"]}


async def test_merging_into_a_case_outside_the_subtree_is_forbidden(
    live: Live, county: Hierarchy
) -> None:
    scenario = Scenario(live, county, OPERATOR)
    ours, theirs = await scenario.case(INSIDE), await scenario.case(OUTSIDE)
    token = await live.token(OPERATOR, scope=scenario.town[INSIDE])
    response = await live.client.post(
        f"/api/v1/whistles/{ours['id']}/merge",
        json={"into": theirs["id"]},
        headers=await live.auth(token),
    )
    answer = await response.json()
    assert response.status == 403, answer
    assert "the target case" in answer["detail"]
    status, doc = await live.get(f"/api/v1/whistles/{ours['id']}")
    assert (status, doc["status"]) == (200, "dispatched")


@pytest.mark.parametrize(
    ("source", "allowed"),
    [
        ("citizen", True),
        ("community", True),
        ("town_committee", True),
        ("police", False),
        ("camera", False),
    ],
)
async def test_reporters_file_only_the_peoples_sources(
    live: Live, county: Hierarchy, source: str, allowed: bool
) -> None:
    scenario = Scenario(live, county, REPORTER)
    token = await live.token(REPORTER, scope=scenario.town[INSIDE])
    category = {"police": "E0701", "camera": "E0403"}.get(source, "E0101")
    status, _, answer = await live.post(
        scenario.whistle(INSIDE, source=source, category=category), token=token
    )
    assert status == (201 if allowed else 403), answer
    if not allowed:
        assert f"reporter may not file {source} whistles" in answer["detail"]


@pytest.mark.parametrize(
    ("matcher", "value", "scope", "status"),
    [
        ("camera", "CAM-001", "town", 403),
        ("category", "E01", "town", 403),
        ("camera", "CAM-001", "county", 201),
        ("category", "E01", "county", 201),
        ("camera", "CAM-001", "admin", 201),
        ("category", "E01", "admin", 201),
    ],
)
async def test_camera_and_category_silences_need_the_whole_county(
    live: Live, county: Hierarchy, matcher: str, value: str, scope: str, status: int
) -> None:
    scenario = Scenario(live, county, OPERATOR)
    tokens = {
        "town": await live.token(OPERATOR, scope=scenario.town[INSIDE]),
        "county": await live.token(OPERATOR),
        "admin": await scenario.admin_token(),
    }
    silence = {**_grid_silence(""), "matchers": {matcher: value}}
    response = await live.client.post(
        "/api/v1/silences", json=silence, headers=await live.auth(tokens[scope])
    )
    answer = await response.json()
    assert response.status == status, answer
    if status == 403:
        assert "reaches the whole county" in answer["detail"]
        # Nor may the town's operator lift one that the county set.
        made = await scenario.ok("POST", "/api/v1/silences", silence, tokens["county"])
        response = await live.client.delete(
            f"/api/v1/silences/{made['id']}", headers=await live.auth(tokens["town"])
        )
        assert response.status == 403
