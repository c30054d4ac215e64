"""Who may call what of the party-building API, where: every role against every endpoint,
inside and outside its subtree (the matrix is tests/support/party_access.py)."""

from __future__ import annotations

import orjson
import pytest

from grids import Hierarchy
from tests.support.harness import Live
from tests.support.party_access import (
    ALLOWED,
    ANONYMOUS,
    ENDPOINTS,
    INSIDE,
    OUTSIDE,
    PAGES,
    ROLES,
    Scenario,
)
from whistle.web.party_api import KINDS


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
