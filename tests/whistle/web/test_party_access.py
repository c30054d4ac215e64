"""Who may call what of the party-building API, where: every role against every endpoint,
inside and outside its subtree, in the form of tests/whistle/web/test_access_matrix.py (which
leaves these routes to this file).

Every principal but the admin is scoped to town A; "inside" records lie in a community of
town A, "outside" ones in town B. A member (the responder) registers where they live, which
may lie outside their grid's scope, and then reads and acts on what is theirs there: their
registration, their claims, their pairing's visits, and their community's board.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from grids import Hierarchy, Level, ResponderKind
from tests.support.auth import signed_headers
from tests.support.harness import Live
from whistle.web.keys import CLOCK
from whistle.web.party_api import KINDS

REPORTER, RESPONDER, OPERATOR = "reporter", "responder", "operator"
COMMITTEE, ADMIN, INTEGRATION, ANONYMOUS = "committee", "admin", "integration", "anonymous"
ROLES = (REPORTER, RESPONDER, OPERATOR, COMMITTEE, ADMIN, INTEGRATION, ANONYMOUS)
INSIDE, OUTSIDE = "inside", "outside"


def inside(*roles: str) -> set[tuple[str, str]]:
    return {(role, INSIDE) for role in roles}


def everywhere(*roles: str) -> set[tuple[str, str]]:
    return {(role, where) for role in roles for where in (INSIDE, OUTSIDE)}


KEEP = inside(REPORTER, OPERATOR) | everywhere(ADMIN)
READ = inside(REPORTER, RESPONDER, OPERATOR, COMMITTEE) | everywhere(ADMIN)
FIGURES = inside(REPORTER, OPERATOR, COMMITTEE) | everywhere(ADMIN)
OWN = KEEP | everywhere(RESPONDER)  # the member's own record, wherever they registered

ALLOWED: dict[str, set[tuple[str, str]]] = {
    "POST /api/v1/registrations/{id}/withdraw": OWN,
    "POST /api/v1/registrations/bulk": KEEP,
    "POST /api/v1/projects/{id}/claims": OWN,
    "POST /api/v1/claims/{id}/complete": OWN,
    "POST /api/v1/pairings/{id}/visits": OWN,
    "GET /api/v1/party/summary": FIGURES,
    "GET /api/v1/units/{id}/report": FIGURES,
    "GET /api/v1/members/{id}/party": FIGURES | everywhere(RESPONDER),
}
for _spec in KINDS:
    _base = f"/api/v1/{_spec.path}"
    ALLOWED[f"GET {_base}"] = READ
    ALLOWED[f"GET {_base}/{{id}}"] = READ
    if _spec.model is not None:
        ALLOWED[f"POST {_base}"] = OWN if _spec.path == "registrations" else KEEP
PAGES = {
    "GET /party",
    "GET /party/list",
    "GET /party/me",
    "GET /party/members/{id}",
    "GET /party/units/{id}",
}


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: Any = None
    raw: bytes | None = None


class Scenario:
    """Records made as the county's admin; the responder is a registered member of town A's
    first community."""

    def __init__(self, live: Live, county: Hierarchy, role: str) -> None:
        self.live, self.county, self.role = live, county, role
        towns = list(county.cells(level=Level.TOWN))
        self.town = {INSIDE: towns[0].code, OUTSIDE: towns[1].code}
        member_grid = next(g for g in county.cells(level=Level.GRID) if g.is_within(towns[0].code))
        self.member = county.responders_at(member_grid.code, ResponderKind.REGISTERED_MEMBER)[0].id

    def community(self, where: str) -> str:
        return next(
            c.code
            for c in self.county.cells(level=Level.COMMUNITY)
            if c.is_within(self.town[where])
        )

    async def ok(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        token = token or await self.live.token("admin", scope=None)
        response = await self.live.client.request(
            method, path, json=body, headers={"Authorization": f"Bearer {token}"}
        )
        answer = await response.json()
        assert response.status in (200, 201), answer
        return answer

    async def unit(self, where: str) -> dict[str, Any]:
        body = {"name": "县供电局", "type": "institution", "community": self.community(where),
                "party_org": "县供电局党支部", "members": 20}  # fmt: skip
        return await self.ok("POST", "/api/v1/units", body)  # type: ignore[no-any-return]

    async def registered(self, where: str) -> dict[str, Any]:
        """The member registered with a community of ``where``, with a unit paired there (on a
        server shared by many calls, the registration already made, if it still holds)."""
        token = await self.live.token("admin", scope=None)
        status, listing = await self.live.get(
            f"/api/v1/registrations?grid={self.town[where]}", token=token
        )
        assert status == 200, listing
        for held in listing["items"]:
            if held.get("person") == self.member and held.get("status") == "active":
                return held  # type: ignore[no-any-return]
        unit = await self.unit(where)
        body = {"community": self.community(where), "unit_id": unit["id"], "member": self.member}
        return await self.ok("POST", "/api/v1/registrations", body)  # type: ignore[no-any-return]

    async def project(self, where: str) -> dict[str, Any]:
        body = {"community": self.community(where), "title": "关爱独居老人",
                "type": "assistance", "starts_on": "2026-11-23", "ends_on": "2026-12-23",
                "owner": "社区党委"}  # fmt: skip
        return await self.ok("POST", "/api/v1/projects", body)  # type: ignore[no-any-return]

    async def claimed(self, where: str) -> dict[str, Any]:
        await self.registered(where)
        project = await self.project(where)
        body = {"by": "member", "member": self.member}
        return await self.ok("POST", f"/api/v1/projects/{project['id']}/claims", body)  # type: ignore[no-any-return]

    async def headers(self, body: bytes) -> dict[str, str]:
        scope = self.town[INSIDE]
        if self.role == ANONYMOUS:
            return {}
        if self.role == INTEGRATION:
            token = await self.live.token(INTEGRATION, scope=scope, source="police")
            return signed_headers(token, body, self.live.app[CLOCK].now())
        if self.role == ADMIN:
            token = await self.live.token("admin", scope=None)
        elif self.role == RESPONDER:
            token = await self.live.token(RESPONDER, scope=scope, responder=self.member)
        else:
            token = await self.live.token(self.role, scope=scope)
        return {"Authorization": f"Bearer {token}"}


Builder = Callable[[Scenario, str], Awaitable[Call]]


def _bodies(sc: Scenario, where: str, unit: dict[str, Any]) -> dict[str, Any]:
    community = sc.community(where)
    return {
        "units": {"name": "县一中", "type": "institution", "community": community,
                  "party_org": "县一中党总支"},
        "committee-seats": {"unit_id": unit["id"], "community": community, "member_name": "李明"},
        "unit-pacts": {"unit_id": unit["id"], "community": community, "since": "2026-01-01"},
        "meetings": {"community": community, "held_on": "2026-11-20", "attendees": ["李明"],
                     "matters": [{"text": "增设路灯", "taken_by": "县供电局", "becomes": "need"}]},
        "registrations": {"community": community, "unit_id": unit["id"]},
        "needs": {"community": community, "month": "2026-11", "text": "独居老人需要探访"},
        "projects": {"community": community, "title": "助老", "type": "assistance",
                     "starts_on": "2026-11-23", "ends_on": "2026-12-23", "owner": "社区"},
        "volunteer-teams": {"community": community, "name": "巾帼志愿服务队", "kind": "women",
                            "captain": "V1", "members": [{"id": "V1", "name": "王芳"}]},
        "pairings": {"community": community, "household": "张奶奶家", "unit_id": unit["id"],
                     "starts_on": "2026-11-23", "ends_on": "2027-11-23"},
    }  # fmt: skip


def _kind_builders(path: str, has_model: bool) -> dict[str, Builder]:
    base = f"/api/v1/{path}"

    async def create(sc: Scenario, where: str) -> Call:
        unit = await sc.unit(where)
        body = _bodies(sc, where, unit)[path]
        if path == "registrations" and sc.role != RESPONDER:
            body = {**body, "member": sc.member}
        return Call("POST", base, body)

    async def listing(sc: Scenario, where: str) -> Call:
        return Call("GET", f"{base}?grid={sc.town[where]}")

    async def one(sc: Scenario, where: str) -> Call:
        record = await _one_of(sc, where, path)
        return Call("GET", f"{base}/{record}")

    out: dict[str, Builder] = {f"GET {base}": listing, f"GET {base}/{{id}}": one}
    if has_model:
        out[f"POST {base}"] = create
    return out


async def _one_of(sc: Scenario, where: str, path: str) -> str:
    """A record of ``path``'s kind in ``where``, made as the admin (not the member's own)."""
    unit = await sc.unit(where)
    if path == "units":
        return str(unit["id"])
    if path == "claims":
        project = await sc.project(where)
        await sc.ok("POST", "/api/v1/unit-pacts", _bodies(sc, where, unit)["unit-pacts"])
        claim = await sc.ok(
            "POST",
            f"/api/v1/projects/{project['id']}/claims",
            {"by": "unit", "unit_id": unit["id"]},
        )
        return str(claim["id"])
    if path == "visits":
        pairing = await sc.ok("POST", "/api/v1/pairings", _bodies(sc, where, unit)["pairings"])
        return f"{pairing['id']}-1"
    body = _bodies(sc, where, unit)[path]
    if path == "registrations":
        body = {**body, "name": "单位报到"}
    return str((await sc.ok("POST", f"/api/v1/{path}", body))["id"])


async def _withdraw(sc: Scenario, where: str) -> Call:
    registration = await sc.registered(where)
    return Call("POST", f"/api/v1/registrations/{registration['id']}/withdraw", {})


async def _bulk(sc: Scenario, where: str) -> Call:
    unit = await sc.unit(where)
    text = f"member,name,unit_id\n{sc.member},李明,{unit['id']}\n"
    return Call(
        "POST", f"/api/v1/registrations/bulk?community={sc.community(where)}", raw=text.encode()
    )


async def _claim(sc: Scenario, where: str) -> Call:
    await sc.registered(where)
    project = await sc.project(where)
    return Call(
        "POST", f"/api/v1/projects/{project['id']}/claims", {"by": "member", "member": sc.member}
    )


async def _complete(sc: Scenario, where: str) -> Call:
    claim = await sc.claimed(where)
    body = {"hours": [{"person": sc.member, "hours": 2}]}
    return Call("POST", f"/api/v1/claims/{claim['id']}/complete", body)


async def _visit(sc: Scenario, where: str) -> Call:
    body = {**_bodies(sc, where, {"id": ""})["pairings"], "unit_id": None, "member": sc.member}
    pairing = await sc.ok("POST", "/api/v1/pairings", body)
    return Call("POST", f"/api/v1/pairings/{pairing['id']}/visits", {"note": "走访"})


async def _summary(sc: Scenario, where: str) -> Call:
    return Call("GET", f"/api/v1/party/summary?grid={sc.town[where]}")


async def _report(sc: Scenario, where: str) -> Call:
    unit = await sc.unit(where)
    return Call("GET", f"/api/v1/units/{unit['id']}/report")


async def _member(sc: Scenario, where: str) -> Call:
    await sc.registered(where)
    return Call("GET", f"/api/v1/members/{sc.member}/party")


ENDPOINTS: dict[str, Builder] = {
    "POST /api/v1/registrations/{id}/withdraw": _withdraw,
    "POST /api/v1/registrations/bulk": _bulk,
    "POST /api/v1/projects/{id}/claims": _claim,
    "POST /api/v1/claims/{id}/complete": _complete,
    "POST /api/v1/pairings/{id}/visits": _visit,
    "GET /api/v1/party/summary": _summary,
    "GET /api/v1/units/{id}/report": _report,
    "GET /api/v1/members/{id}/party": _member,
}
for _spec in KINDS:
    ENDPOINTS.update(_kind_builders(_spec.path, _spec.model is not None))
assert set(ENDPOINTS) == set(ALLOWED), set(ENDPOINTS) ^ set(ALLOWED)


def test_every_party_route_is_in_the_matrix(live: Live) -> None:
    routes = {
        f"{route.method} {route.resource.canonical}"
        for route in live.app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    party = {r for r in routes if "/party" in r or any(f"/api/v1/{s.path}" in r for s in KINDS)}
    assert party == set(ALLOWED) | PAGES


MATRIX = [
    pytest.param(name, role, where, id=f"{name} | {role} | {where}")
    for name in ENDPOINTS
    for role in ROLES
    for where in (INSIDE, OUTSIDE)
]


@pytest.mark.parametrize(("name", "role", "where"), MATRIX)
async def test_party_access_matrix(
    live: Live, county: Hierarchy, name: str, role: str, where: str
) -> None:
    sc = Scenario(live, county, role)
    call = await ENDPOINTS[name](sc, where)
    body = (
        call.raw
        if call.raw is not None
        else (b"" if call.body is None else orjson.dumps(call.body))
    )
    headers = await sc.headers(body)
    headers["Content-Type"] = "text/csv" if call.raw is not None else "application/json"
    response = await live.client.request(call.method, call.path, data=body or None, headers=headers)
    answer = await response.json() if "json" in response.content_type else await response.read()
    if (role, where) in ALLOWED[name]:
        assert 200 <= response.status < 300, answer
        return
    refused = 401 if role == ANONYMOUS else 403
    assert response.status == refused, answer
    assert answer["status"] == refused
    if refused == 403 and (role, INSIDE) in ALLOWED[name]:
        assert "may not" not in answer["detail"], answer
    elif refused == 403:
        assert f"{role} may not {call.method} " in answer["detail"], answer
