"""POST /api/v1/whistles end to end: a real server, a real SQLite file, the shipped rules."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from typing import Any

import pytest

from grids import Hierarchy, Level, ResponderKind
from tests.support.harness import Live, whistle_count
from tests.support.requests import body, first_micro_grid, point_of
from whistle.web.i18n import REASONS

MICRO = "micro"


def expected_responder(
    county: Hierarchy, micro: str, kind: ResponderKind, level: Level, category: str
) -> str:
    """What DOMAIN.md says: the first responder of ``kind`` at the ``level`` cell above the
    micro-grid who can handle the category."""
    cell = county.at_level(micro, level)
    found = [r for r in county.responders_at(cell.code, kind) if r.handles(category)]
    assert found, f"test county has no {kind} at {cell.code}"
    return found[0].id


# Each of the five whistles, routed as DOMAIN.md's table says: (source, category) -> the
# kinds that must report, the level where each is found, and push or claim.
FIVE_WHISTLES = [
    pytest.param(
        "citizen",
        "E0101",
        [
            ("registered_member", Level.GRID, "push"),
            ("unposted_member", Level.GRID, "push"),
            ("community_police", Level.COMMUNITY, "push"),
        ],
        id="citizen: the grid's 1+1 party members and the community police officer",
    ),
    pytest.param(
        "citizen",
        "E0801",
        [("registered_member", Level.COMMUNITY, "claim")],
        id="citizen need: the community's registered party members' claim board",
    ),
    pytest.param(
        "community",
        "E0101",
        [("grid_department", Level.TOWN, "push")],
        id="community party organisation: the town's grid department for the category",
    ),
    pytest.param(
        "town_committee",
        "E0601",
        [("jurisdiction_unit", Level.TOWN, "push")],
        id="town party committee: a jurisdiction unit of the town",
    ),
    pytest.param(
        "police",
        "E0701",
        [("police_station", Level.TOWN, "push")],
        id="police alert: the police station covering the grid",
    ),
    pytest.param(
        "camera",
        "E0403",
        [("safety_patrol", Level.COMMUNITY, "push")],
        id="camera: the safety patrol of the camera's grid",
    ),
    pytest.param(
        "citizen",
        "E0501",
        [
            ("registered_member", Level.GRID, "push"),
            ("unposted_member", Level.GRID, "push"),
            ("community_police", Level.COMMUNITY, "push"),
            ("grid_department", Level.TOWN, "push"),
        ],
        id="citizen fire: the category adds the town's emergency office",
    ),
]


@pytest.mark.parametrize(("source", "category", "expected"), FIVE_WHISTLES)
async def test_five_whistles_route_as_the_domain_says(
    live: Live,
    county: Hierarchy,
    source: str,
    category: str,
    expected: list[tuple[str, Level, str]],
) -> None:
    micro = first_micro_grid(county)
    status, _, doc = await live.post(body(county, source=source, category=category))
    assert status == 201, doc
    assert doc["grid"]["code"] == micro
    got = [(a["kind"], a["level"], a["mode"]) for a in doc["assignments"]]
    assert got == [(kind, level.key, mode) for kind, level, mode in expected]
    for assignment, (kind, level, mode) in zip(doc["assignments"], expected, strict=True):
        assert assignment["cell"] == county.at_level(micro, level).code
        if mode == "push":
            assert assignment["responder"]["id"] == expected_responder(
                county, micro, ResponderKind(kind), level, category
            )
            assert assignment["acknowledge_due"] is not None
        else:
            assert assignment["responder"] is None
            assert assignment["eligible"] > 0
            assert assignment["claim_due"] is not None
    # The trace names the rule and the node that chose each responder.
    assert [t["assignment"] for t in doc["trace"]] == [a["id"] for a in doc["assignments"]]
    for trace, assignment in zip(doc["trace"], doc["assignments"], strict=True):
        assert trace["chosen_at"] == assignment["cell"]
        assert trace["rule"] == doc["rule"]["id"]
        assert trace["steps"][-1]["cell"] == assignment["cell"]


async def test_citizen_whistle_at_a_point_goes_to_that_grids_pair_and_police(
    live: Live, county: Hierarchy
) -> None:
    micro = first_micro_grid(county)
    grid = county.at_level(micro, Level.GRID)
    pair = {
        county.responders_at(grid.code, ResponderKind.REGISTERED_MEMBER)[0].id,
        county.responders_at(grid.code, ResponderKind.UNPOSTED_MEMBER)[0].id,
    }
    status, headers, doc = await live.post(body(county))
    assert status == 201
    assert headers["Location"] == f"/api/v1/whistles/{doc['id']}"
    assert doc["status"] == "dispatched"
    assert doc["grid"]["level"] == "micro_grid"
    assert [c["code"] for c in doc["grid"]["path"]] == list(county.cell(micro).path)
    ids = {a["responder"]["id"] for a in doc["assignments"]}
    assert pair < ids
    police = [a for a in doc["assignments"] if a["kind"] == "community_police"]
    assert len(police) == 1
    assert "community_police" in doc["trace"][2]["explain"]
    assert [s["result"] for s in doc["trace"][2]["steps"]] == ["none_of_kind", "chosen"]


async def test_whistle_placed_by_grid_code(live: Live, county: Hierarchy) -> None:
    grid = next(county.cells(level=Level.GRID)).code
    status, _, doc = await live.post(body(county, location={"grid": grid}))
    assert status == 201
    assert doc["grid"]["code"] == grid
    assert doc["location"] == {"grid": grid, "lat": None, "lon": None}


async def test_grid_code_wins_over_coordinates(live: Live, county: Hierarchy) -> None:
    grid = list(county.cells(level=Level.GRID))[-1].code
    point = point_of(county, first_micro_grid(county))
    status, _, doc = await live.post(body(county, location={"grid": grid, **point}))
    assert status == 201
    assert doc["grid"]["code"] == grid


async def test_201_means_the_whistle_is_in_the_database_file(live: Live, county: Hierarchy) -> None:
    status, _, doc = await live.post(body(county))
    assert status == 201
    with sqlite3.connect(live.db) as raw:
        row = raw.execute("SELECT status, grid_code FROM whistles WHERE id = ?", (doc["id"],))
        assert row.fetchone() == ("dispatched", doc["grid"]["code"])
        events = raw.execute(
            "SELECT type FROM events WHERE whistle_id = ? ORDER BY seq", (doc["id"],)
        ).fetchall()
        assert events == [("whistle.received",), ("whistle.routed",)]


async def test_deadlines_follow_urgency(live: Live, county: Hierarchy, clock: Any) -> None:
    _, _, normal = await live.post(body(county, urgency="normal"))
    _, _, urgent = await live.post(body(county, urgency="urgent"))
    assert normal["urgency"] == "normal"
    assert urgent["urgency"] == "urgent"
    received = normal["received_at"]
    assert received.endswith("+08:00")
    assert normal["assignments"][0]["acknowledge_due"] == "2026-11-23T09:30:00.000+08:00"
    assert urgent["assignments"][0]["acknowledge_due"] == "2026-11-23T09:10:00.000+08:00"


# -- idempotency -------------------------------------------------------------------------


async def test_retry_with_the_same_key_returns_the_same_whistle(
    live: Live, county: Hierarchy
) -> None:
    first_status, first_headers, first = await live.post(body(county), **{"Idempotency-Key": "k-1"})
    again_status, again_headers, again = await live.post(body(county), **{"Idempotency-Key": "k-1"})
    assert (first_status, again_status) == (201, 201)
    assert again["id"] == first["id"]
    assert again == first
    assert "Idempotent-Replayed" not in first_headers
    assert again_headers["Idempotent-Replayed"] == "true"
    assert await whistle_count(live) == 1


async def test_concurrent_retries_with_one_key_make_one_whistle(
    live: Live, county: Hierarchy
) -> None:
    results = await asyncio.gather(
        *(live.post(body(county), **{"Idempotency-Key": "burst"}) for _ in range(20))
    )
    assert {status for status, _, _ in results} == {201}
    assert len({doc["id"] for _, _, doc in results}) == 1
    assert await whistle_count(live) == 1


async def test_same_key_with_a_different_body_is_refused(live: Live, county: Hierarchy) -> None:
    status, _, first = await live.post(body(county), **{"Idempotency-Key": "k-2"})
    assert status == 201
    status, _, problem = await live.post(
        body(county, description="另一件事"), **{"Idempotency-Key": "k-2"}
    )
    assert status == 422
    assert problem["errors"] == [
        {"field": "Idempotency-Key", "reason": "already used with a different request body"}
    ]
    assert problem["whistle_id"] == first["id"]
    assert await whistle_count(live) == 1


async def test_without_a_key_each_post_is_a_new_whistle(live: Live, county: Hierarchy) -> None:
    await live.post(body(county))
    await live.post(body(county))
    assert await whistle_count(live) == 2


# -- bad input ---------------------------------------------------------------------------

BAD = [
    ({"source": "mayor"}, 422, "source", "unknown source 'mayor'; expected one of citizen"),
    ({"category": "X9999"}, 422, "category", "unknown category 'X9999'"),
    ({"category": 12}, 422, "category", "expected a string"),
    ({"location": None}, 422, "location", "expected an object"),
    (
        {"location": {}},
        422,
        "location",
        'give {"grid": CODE}, {"lat": .., "lon": ..} or {"address": "..."}',
    ),
    ({"location": {"lat": 24.9}}, 422, "location", "lon is missing"),
    ({"location": {"lat": 91, "lon": 99}}, 422, "location.lat", "out of range"),
    ({"location": {"lat": "north", "lon": 99}}, 422, "location.lat", "expected a number"),
    ({"location": {"grid": "999"}}, 422, "location.grid", "unknown grid code '999'"),
    ({"location": {"lat": 30.0, "lon": 120.0}}, 422, "location", "is outside every grid cell"),
    ({"description": "x" * 2001}, 422, "description", "too long: at most 2000 characters"),
    ({"description": "   "}, 422, "description", "must not be empty"),
    ({"occurred_at": "yesterday"}, 422, "occurred_at", "not an RFC 3339 date-time"),
    ({"occurred_at": "2026-11-21T09:30:00"}, 422, "occurred_at", "with an offset"),
    ({"occurred_at": "2026-02-30T09:30:00+08:00"}, 422, "occurred_at", "not a valid date-time"),
    ({"urgency": "asap"}, 422, "urgency", "unknown urgency 'asap'"),
    ({"media_urls": ["file:///etc/passwd"]}, 422, "media_urls.0", "not an http(s) URL"),
    ({"media_urls": ["http://a/b"] * 11}, 422, "media_urls", "too many items: at most 10"),
    ({"colour": "red"}, 422, "colour", "unknown field"),
]


@pytest.mark.parametrize(
    ("change", "status", "field", "reason"),
    [pytest.param(*case, id=f"{case[2]}: {case[3][:40]}") for case in BAD],
)
async def test_bad_field_is_named_with_its_reason(
    live: Live,
    county: Hierarchy,
    change: dict[str, Any],
    status: int,
    field: str,
    reason: str,
) -> None:
    got_status, headers, problem = await live.post(body(county, **change))
    assert got_status == status
    assert headers["Content-Type"].startswith("application/problem+json")
    assert problem["status"] == status
    matching = [e for e in problem["errors"] if e["field"] == field]
    assert matching, problem
    assert reason in matching[0]["reason"]
    assert await whistle_count(live) == 0


@pytest.mark.parametrize("change", [pytest.param(c[0], id=c[2]) for c in BAD])
async def test_every_reason_has_a_code_a_chinese_page_can_say_it_with(
    live: Live, county: Hierarchy, change: dict[str, Any]
) -> None:
    _, _, problem = await live.post(body(county, **change))
    for error in problem["errors"]:
        said = REASONS["zh"].get(error.get("code", ""))
        assert said, error  # the report page would show the English reason
        placeholders = set(re.findall(r"\{(\w+)\}", said))
        assert placeholders <= set(error["params"]), (error, said)


async def test_missing_fields_are_all_named_at_once(live: Live) -> None:
    status, _, problem = await live.post({})
    assert status == 422
    assert [e["field"] for e in problem["errors"]] == [
        "source",
        "category",
        "description",
        "location",
    ]
    assert {e["reason"] for e in problem["errors"]} == {"required"}


async def test_several_bad_fields_are_reported_together(live: Live, county: Hierarchy) -> None:
    status, _, problem = await live.post(body(county, source="x", category="nope"))
    assert status == 422
    assert [e["field"] for e in problem["errors"]] == ["source", "category"]


@pytest.mark.parametrize(
    ("data", "content_type", "status", "reason"),
    [
        (b"{not json", "application/json", 400, "not valid JSON"),
        (b"", "application/json", 400, "empty: expected a JSON object"),
        (b"[1, 2]", "application/json", 422, "expected a JSON object"),
        (b'"text"', "application/json", 422, "expected a JSON object"),
        (b"source=citizen", "application/x-www-form-urlencoded", 415, "expected application/json"),
    ],
)
async def test_body_that_is_not_a_json_object(
    live: Live, data: bytes, content_type: str, status: int, reason: str
) -> None:
    response = await live.client.post(
        "/api/v1/whistles",
        data=data,
        headers={"Content-Type": content_type, **await live.auth()},
    )
    problem = await response.json()
    assert response.status == status
    assert reason in problem["errors"][0]["reason"]
    assert await whistle_count(live) == 0


async def test_body_too_large_is_413(live: Live, county: Hierarchy) -> None:
    huge = body(county, description="x" * 70_000)
    response = await live.client.post("/api/v1/whistles", json=huge, headers=await live.auth())
    problem = await response.json()
    assert response.status == 413
    assert problem["errors"] == [
        {"field": "body", "reason": "request body too large: the limit is 65536 bytes"}
    ]


async def test_bad_idempotency_key_is_400(live: Live, county: Hierarchy) -> None:
    status, _, problem = await live.post(body(county), **{"Idempotency-Key": "x" * 300})
    assert status == 400
    assert problem["errors"][0]["field"] == "Idempotency-Key"


async def test_rejected_requests_leave_nothing_behind(live: Live, county: Hierarchy) -> None:
    for change, *_ in BAD:
        await live.post(body(county, **change))
    await live.client.post(
        "/api/v1/whistles",
        data=b"{",
        headers={"Content-Type": "application/json", **await live.auth()},
    )
    with sqlite3.connect(live.db) as raw:
        assert raw.execute("SELECT count(*) FROM whistles").fetchone() == (0,)
        assert raw.execute("SELECT count(*) FROM assignments").fetchone() == (0,)
        assert raw.execute("SELECT count(*) FROM events").fetchone() == (0,)


@pytest.mark.parametrize("path", ["/api/v1/silences", "/api/v1/whistles/X/hold"])
async def test_body_too_large_is_413_on_every_endpoint(live: Live, path: str) -> None:
    response = await live.client.post(
        path, json={"comment": "x" * 70_000}, headers=await live.auth()
    )
    problem = await response.json()
    assert response.status == 413
    assert problem["errors"] == [
        {"field": "body", "reason": "request body too large: the limit is 65536 bytes"}
    ]
