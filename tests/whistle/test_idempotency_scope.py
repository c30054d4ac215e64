"""Idempotency keys belong to the caller's scope (issue 24, item 6).

Two towns may use one key independently; a key reused with another body is refused naming
only a case the caller may see; the citizens' door names none; a 12345 ticket or a camera
detection id of another town is not answered with that town's case.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from grids import Hierarchy, Level
from tests.support.cameras import detection, towns
from tests.support.harness import Live
from tests.support.hotline import HEADER
from tests.support.pages import add_user, hidden_csrf, log_in
from whistle.auth import Role
from whistle.clock import FakeClock

PUBLIC = "/api/v1/public/whistles"


def whistle(county: Hierarchy, town: str, **over: Any) -> dict[str, Any]:
    micro = next(c for c in county.cells(level=Level.MICRO_GRID) if c.is_within(town))
    return {
        "source": "citizen",
        "category": "E0101",
        "description": "楼道堆放杂物",
        "location": {"grid": micro.code},
        **over,
    }


def citizen(county: Hierarchy, **over: Any) -> dict[str, Any]:
    body = whistle(county, county.root, **over)
    del body["source"]
    return body


async def test_two_towns_may_use_one_idempotency_key_independently(
    live: Live, county: Hierarchy
) -> None:
    a, b = (town.code for town in county.cells(level=Level.TOWN))
    operator_a = await live.token("operator", scope=a)
    operator_b = await live.token("operator", scope=b)
    key = {"Idempotency-Key": "ticket-1"}
    status, _, in_a = await live.post(whistle(county, a), token=operator_a, **key)
    assert status == 201, in_a
    status, headers, in_b = await live.post(whistle(county, b), token=operator_b, **key)
    assert status == 201, in_b
    assert in_b["id"] != in_a["id"]
    assert "Idempotent-Replayed" not in headers
    # Each town's retry finds its own whistle.
    for token, mine, town in ((operator_a, in_a, a), (operator_b, in_b, b)):
        status, headers, again = await live.post(whistle(county, town), token=token, **key)
        assert (status, headers["Idempotent-Replayed"], again["id"]) == (201, "true", mine["id"])
    # Reused with another body inside its own scope: refused, naming its own case only.
    status, _, problem = await live.post(
        whistle(county, b, description="另一件事"), token=operator_b, **key
    )
    assert status == 422, problem
    assert problem["whistle_id"] == in_b["id"]
    assert in_a["id"] not in orjson.dumps(problem).decode()


async def test_the_citizens_door_never_names_another_case_for_a_reused_key(
    live: Live, county: Hierarchy
) -> None:
    status, _, operators = await live.post(
        whistle(county, county.root), **{"Idempotency-Key": "shared-1"}
    )
    assert status == 201
    # Unauthenticated, with the operator's key: the citizen's own case, nothing of the other.
    key = {"Idempotency-Key": "shared-1"}
    response = await live.client.post(
        PUBLIC, json=citizen(county, description="路灯坏了"), headers=key
    )
    mine = await response.json()
    assert response.status == 201, mine
    assert mine["case_number"] != operators["id"]
    # The citizen retries: the same case number back, no second link.
    response = await live.client.post(
        PUBLIC, json=citizen(county, description="路灯坏了"), headers=key
    )
    again = await response.json()
    assert (response.status, again["case_number"], again["key"]) == (201, mine["case_number"], None)
    # The same key with another body: refused, and no case is named.
    response = await live.client.post(
        PUBLIC, json=citizen(county, description="别的事"), headers=key
    )
    problem = await response.json()
    assert response.status == 422, problem
    assert [e["field"] for e in problem["errors"]] == ["Idempotency-Key"]
    assert "whistle_id" not in problem
    text = orjson.dumps(problem).decode()
    assert mine["case_number"] not in text
    assert operators["id"] not in text


async def test_the_citizens_door_checks_the_key_like_the_api(live: Live, county: Hierarchy) -> None:
    response = await live.client.post(
        PUBLIC, json=citizen(county), headers={"Idempotency-Key": "x" * 300}
    )
    problem = await response.json()
    assert response.status == 400, problem
    assert [e["field"] for e in problem["errors"]] == ["Idempotency-Key"]


async def test_two_towns_camera_platforms_may_use_one_detection_id(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    t = await towns(live, county)
    platform_a = await live.token("integration", scope=t.a, source="camera")
    platform_b = await live.token("integration", scope=t.b, source="camera")
    first = await t.feed(platform_a, clock, detection(t.camera_a, "det-7"))
    second = await t.feed(platform_b, clock, detection(t.camera_b, "det-7"))
    assert [r["status"] for r in first] == ["created"]
    assert [r["status"] for r in second] == ["created"]
    assert second[0]["whistle_id"] != first[0]["whistle_id"]


def ticket_csv(ticket: str, grid: str) -> bytes:
    row = f"{ticket},2026-11-20 09:30:00,城市管理-垃圾清运,楼下垃圾没人清,{grid},,,"
    return f"{HEADER}\n{row}\n".encode()


async def upload(live: Live, user: str, data: bytes) -> str:
    assert (await log_in(live.client, user)).status == 303
    page = await live.client.get("/hotline")
    form = aiohttp.FormData()
    form.add_field("csrf_token", hidden_csrf(await page.text()))
    form.add_field("file", data, filename="12345.csv", content_type="text/csv")
    response = await live.client.post("/hotline", data=form)
    assert response.status == 200
    return await response.text()


async def test_a_hotline_ticket_of_another_town_is_not_answered_with_its_case(
    feeds_live: Live, county: Hierarchy
) -> None:
    live = feeds_live
    a, b = (town.code for town in county.cells(level=Level.TOWN))
    grid_a, grid_b = (
        next(c.code for c in county.cells(level=Level.GRID) if c.is_within(town)) for town in (a, b)
    )
    await add_user(live, "op-a", Role.OPERATOR, a)
    await add_user(live, "op-b", Role.OPERATOR, b)
    text = await upload(live, "op-b", ticket_csv("T-77", grid_b))
    assert "created 1, skipped duplicates 0, errors 0" in text
    _, listed = await live.get("/api/v1/whistles?source=citizen")
    case_b = listed["items"][0]["id"]
    # Town A's file carries the same ticket number: town B's case is neither named nor
    # taken for town A's.
    text = await upload(live, "op-a", ticket_csv("T-77", grid_a))
    assert "created 1, skipped duplicates 0, errors 0" in text
    assert case_b not in text
    # Each town's re-import is still a duplicate of its own.
    text = await upload(live, "op-a", ticket_csv("T-77", grid_a))
    assert "created 0, skipped duplicates 1, errors 0" in text
    assert case_b not in text
    text = await upload(live, "op-b", ticket_csv("T-77", grid_b))
    assert "created 0, skipped duplicates 1, errors 0" in text
    assert case_b in text
