"""Operators acting through the API, and a case with a return (退单) waiting for them."""

from __future__ import annotations

from typing import Any

from grids import Hierarchy, Level, ResponderKind
from tests.support.harness import Live
from tests.support.lifecycle import Cases
from tests.support.requests import micro_in, towns


async def operator_of(live: Live, town: str) -> str:
    return await live.token("operator", scope=town)


async def post_as(live: Live, token: str | None, path: str, **data: Any) -> tuple[int, Any]:
    response = await live.client.post(path, json=data, headers=await live.auth(token))
    return response.status, await response.json()


def other_member(county: Hierarchy, doc: dict[str, Any], category: str = "E0101") -> str:
    """A registered party member of the case's community who is not on the case."""
    community = county.at_level(doc["grid"]["code"], Level.COMMUNITY)
    taken = {(a.get("responder") or {}).get("id") for a in doc["assignments"]}
    for cell in [community, *county.children(community.code)]:
        for responder in county.responders_at(cell.code, ResponderKind.REGISTERED_MEMBER):
            if responder.id not in taken and responder.handles(category):
                return responder.id
    raise AssertionError("the test county has no spare member")


async def returned_case(live: Live, county: Hierarchy) -> tuple[dict[str, Any], dict[str, Any]]:
    """A community whistle in town A whose grid department returned it (退单)."""
    cases = Cases(live, county)
    doc = await cases.new(
        source="community", category="E0101", location={"grid": micro_in(county, towns(county)[0])}
    )
    department = doc["assignments"][0]
    code, doc = await cases.assignment(department, "return", reason="应由环卫站处理")
    assert code == 200, doc
    return doc, department
