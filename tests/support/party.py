"""Party-building helpers for tests: requests on a live server, and the people of the small
county to make them as."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from grids import Hierarchy, Level, ResponderKind
from tests.support.harness import Live

__all__ = ["Party", "members_of"]


def members_of(county: Hierarchy, community: str) -> list[str]:
    """The registered members (报到党员) of the roster whose grid lies in ``community``."""
    return sorted(
        r.id
        for grid, found in county.responders_of_kind(ResponderKind.REGISTERED_MEMBER).items()
        if county.cell(grid).is_within(community)
        for r in found
    )


@dataclass
class Party:
    """Calls of the party-building API, as the county's operator unless a token is given."""

    live: Live
    county: Hierarchy

    @property
    def communities(self) -> list[str]:
        return [c.code for c in self.county.cells(level=Level.COMMUNITY)]

    async def call(
        self, method: str, path: str, body: Any = None, *, token: str | None = None
    ) -> tuple[int, Any]:
        headers = await self.live.auth(token)
        response = await self.live.client.request(method, path, json=body, headers=headers)
        kind = response.headers.get("Content-Type", "")
        return response.status, (await response.json() if "json" in kind else await response.text())

    async def ok(
        self, method: str, path: str, body: Any = None, *, token: str | None = None
    ) -> Any:
        status, answer = await self.call(method, path, body, token=token)
        assert status in (200, 201), (status, answer)
        return answer

    async def member_token(self, member: str) -> str:
        responder = self.county.responder(member)
        assert responder is not None
        return await self.live.token("responder", scope=responder.grid, responder=member)

    async def unit(
        self, community: str, name: str = "县供电局", members: int = 10, **kw: Any
    ) -> Any:
        body = {
            "name": name,
            "type": kw.pop("type", "institution"),
            "community": community,
            "party_org": f"{name}党支部",
            "contact": "13800000000",
            "members": members,
            **kw,
        }
        return await self.ok("POST", "/api/v1/units", body)

    async def project(self, community: str, title: str = "关爱独居老人", **kw: Any) -> Any:
        body = {
            "community": community,
            "title": title,
            "type": kw.pop("type", "assistance"),
            "people": 2,
            "starts_on": "2026-11-23",
            "ends_on": "2026-12-23",
            "owner": "社区党委书记",
            **kw,
        }
        return await self.ok("POST", "/api/v1/projects", body)

    async def register(self, member: str, community: str, unit_id: str) -> Any:
        token = await self.member_token(member)
        body = {"community": community, "unit_id": unit_id, "services": ["政策宣传"]}
        return await self.ok("POST", "/api/v1/registrations", body, token=token)
