"""Driving cases through the HTTP API in tests."""

from __future__ import annotations

from typing import Any

from grids import Hierarchy, Level
from tests.support.harness import Live
from tests.support.requests import body
from whistle.auth import Role
from whistle.web.access import ACCESS


class Cases:
    """A thin client for the lifecycle endpoints."""

    def __init__(self, live: Live, county: Hierarchy) -> None:
        self.live = live
        self.county = county
        self._reporters: dict[str, str] = {}

    async def new(self, **overrides: Any) -> dict[str, Any]:
        status, _, doc = await self.live.post(body(self.county, **overrides))
        assert status == 201, doc
        return doc

    async def assignment(
        self, assignment: dict[str, Any], action: str, *, actor: str | None = None, **data: Any
    ) -> Any:
        """The assignment's responder (or ``actor``, a responder id) acts on it."""
        responder = actor or (assignment["responder"] or {}).get("id")
        token = await self.live.token("responder", responder=responder)
        response = await self.live.client.post(
            f"/api/v1/assignments/{assignment['id']}/{action}",
            json=data,
            headers=await self.live.auth(token),
        )
        return response.status, await response.json()

    async def case(
        self, whistle_id: str, action: str, *, actor: str | None = None, **data: Any
    ) -> Any:
        """An operator acts on the case; ``actor`` a responder id acts as that responder, any
        other ``actor`` as a reporter of that name (a different person from the operator)."""
        token = None
        if actor is not None:
            if self.county.responder(actor) is not None:
                token = await self.live.token("responder", responder=actor)
            else:
                token = await self._named_reporter(actor)
        response = await self.live.client.post(
            f"/api/v1/whistles/{whistle_id}/{action}",
            json=data,
            headers=await self.live.auth(token),
        )
        return response.status, await response.json()

    async def _named_reporter(self, name: str) -> str:
        if name not in self._reporters:
            access = self.live.app[ACCESS]
            issued = await access.issue_token(
                role=Role.REPORTER, scope=self.county.root, label=name, by="tests"
            )
            self._reporters[name] = issued.token
        return self._reporters[name]

    async def get(self, whistle_id: str) -> dict[str, Any]:
        status, doc = await self.live.get(f"/api/v1/whistles/{whistle_id}")
        assert status == 200
        return doc  # type: ignore[no-any-return]

    async def tick(self) -> int:
        from whistle.web.keys import CASES

        return await self.live.app[CASES].tick()

    def micro(self, index: int = 0) -> str:
        return list(self.county.cells(level=Level.MICRO_GRID))[index].code
