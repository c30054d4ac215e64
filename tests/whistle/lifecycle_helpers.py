"""Driving cases through the HTTP API in tests."""

from __future__ import annotations

from typing import Any

from test_api_intake import body
from whistle_support import Live

from grids import Hierarchy, Level


class Cases:
    """A thin client for the lifecycle endpoints."""

    def __init__(self, live: Live, county: Hierarchy) -> None:
        self.live = live
        self.county = county

    async def new(self, **overrides: Any) -> dict[str, Any]:
        status, _, doc = await self.live.post(body(self.county, **overrides))
        assert status == 201, doc
        return doc

    async def assignment(self, assignment: dict[str, Any], action: str, **data: Any) -> Any:
        actor = data.pop("actor", None) or (assignment["responder"] or {}).get("id")
        response = await self.live.client.post(
            f"/api/v1/assignments/{assignment['id']}/{action}", json={"actor": actor, **data}
        )
        return response.status, await response.json()

    async def case(self, whistle_id: str, action: str, **data: Any) -> Any:
        data.setdefault("actor", "operator-1")
        response = await self.live.client.post(f"/api/v1/whistles/{whistle_id}/{action}", json=data)
        return response.status, await response.json()

    async def get(self, whistle_id: str) -> dict[str, Any]:
        status, doc = await self.live.get(f"/api/v1/whistles/{whistle_id}")
        assert status == 200
        return doc  # type: ignore[no-any-return]

    async def tick(self) -> int:
        from whistle.keys import CASES

        return await self.live.app[CASES].tick()

    def micro(self, index: int = 0) -> str:
        return list(self.county.cells(level=Level.MICRO_GRID))[index].code
