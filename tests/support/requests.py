"""Whistle bodies and places of the small county, for the API tests."""

from __future__ import annotations

from typing import Any

from grids import Hierarchy, Level
from tests.support.harness import Live


def first_micro_grid(county: Hierarchy) -> str:
    return next(county.cells(level=Level.MICRO_GRID)).code


def point_of(county: Hierarchy, code: str) -> dict[str, float]:
    centroid = county.centroid(code)
    assert centroid is not None
    return {"lat": centroid[0], "lon": centroid[1]}


def body(county: Hierarchy, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "source": "citizen",
        "category": "E0101",
        "description": "楼道堆放杂物，影响通行",
        "location": point_of(county, first_micro_grid(county)),
        "reporter": "网格员王芳",
    }
    base.update(overrides)
    return base


def towns(county: Hierarchy) -> list[str]:
    return [c.code for c in county.cells(level=Level.TOWN)]


def micro_in(county: Hierarchy, town: str) -> str:
    return next(c.code for c in county.cells(level=Level.MICRO_GRID) if c.is_within(town))


async def file_in(live: Live, county: Hierarchy, town: str, **overrides: Any) -> dict[str, Any]:
    status, _, doc = await live.post(
        body(county, location={"grid": micro_in(county, town)}, **overrides)
    )
    assert status == 201, doc
    return doc  # type: ignore[no-any-return]
