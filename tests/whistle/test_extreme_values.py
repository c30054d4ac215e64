"""Extreme values a hostile-input probe sent (issue 24, item 7): each is a 4xx naming the field,
never a 500, and none writes a traceback into the logs.

The probe's values: times of year 1 at +14:00 and year 9999 at -14:00 (valid until turned into
UTC), dates at the ends of the calendar, durations and ids beyond 64 bits, digits of other
scripts (``²``: ``str.isdigit()`` says yes, ``int()`` says no) and a 400-digit timestamp.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import aiohttp
import orjson
import pytest
from structlog.testing import capture_logs

from grids import Hierarchy, Level
from tests.support.feeds import CAMERA, a_camera, detection, feeds_config, jsonl, signed
from tests.support.harness import Live, StartServer
from tests.support.pages import add_user, hidden_csrf, log_in
from tests.support.requests import body
from whistle.auth import Role, parse_token, sign_request, signing_key
from whistle.clock import FakeClock
from whistle.integrations.hotline import COLUMNS

EARLY = "0001-01-01T00:00:00+14:00"
LATE = "9999-12-31T23:59:59-14:00"


@pytest.fixture
def logs() -> Iterator[list[dict[str, Any]]]:
    with capture_logs() as captured:
        yield captured


def no_traceback(logs: list[dict[str, Any]]) -> None:
    unhandled = [e for e in logs if e.get("log_level") in ("error", "critical")]
    assert unhandled == [], unhandled


def names(problem: dict[str, Any]) -> list[str]:
    return [e["field"] for e in problem.get("errors", [])]


# -- occurred_at ------------------------------------------------------------------------------


@pytest.mark.parametrize("when", [EARLY, LATE, "1969-12-31T23:59:59Z", "9000-01-01T00:00:00Z"])
async def test_a_whistle_that_occurred_outside_the_calendar_is_422_naming_occurred_at(
    live: Live, county: Hierarchy, logs: list[dict[str, Any]], when: str
) -> None:
    status, _, problem = await live.post(body(county, occurred_at=when))
    assert status == 422, problem
    assert names(problem) == ["occurred_at"]
    assert "out of range" in problem["errors"][0]["reason"]
    _, listed = await live.get("/api/v1/whistles")
    assert listed["items"] == []
    no_traceback(logs)


async def test_a_whistle_at_the_edges_of_the_range_is_stored(live: Live, county: Hierarchy) -> None:
    for when in ("1970-01-01T08:00:00+08:00", "8999-12-31T23:59:59Z"):
        status, _, doc = await live.post(body(county, occurred_at=when))
        assert status == 201, doc
        assert datetime.fromisoformat(doc["occurred_at"]) == datetime.fromisoformat(when)


# -- list filters -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (f"since={EARLY}", "since"),
        (f"until={LATE}", "until"),
        ("since=0001-01-01T00:00:00Z", "since"),
        ("limit=²", "limit"),
        ("limit=" + "9" * 400, "limit"),
        ("level=²", "level"),
        ("level=" + "9" * 5000, "level"),
    ],
)
async def test_list_filters_at_the_extremes_are_400_naming_the_parameter(
    live: Live, logs: list[dict[str, Any]], query: str, field: str
) -> None:
    status, problem = await live.get("/api/v1/whistles?" + query.replace("+", "%2B"))
    assert status == 400, problem
    assert names(problem) == [field]
    assert "int()" not in problem["detail"]  # a reason for people, not Python's
    no_traceback(logs)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("since=9999-12-30", "since"),
        ("until=9999-12-31", "until"),
        ("until=0001-01-05", "until"),
        ("since=0001-01-01&until=0001-01-02", "since"),
    ],
)
async def test_statistics_windows_at_the_ends_of_the_calendar_are_400_naming_the_date(
    live: Live, logs: list[dict[str, Any]], query: str, field: str
) -> None:
    token = await live.token("committee")
    status, problem = await live.get("/api/v1/stats?" + query, token=token)
    assert status == 400, problem
    assert field in names(problem)
    no_traceback(logs)


@pytest.mark.parametrize("limit", ["²", "٣", "9" * 400])
async def test_a_drill_down_limit_in_other_digits_is_400_naming_limit(
    live: Live, logs: list[dict[str, Any]], limit: str
) -> None:
    token = await live.token("committee")
    status, problem = await live.get(f"/api/v1/stats/cases?metric=total&limit={limit}", token=token)
    assert status == 400, problem
    assert names(problem) == ["limit"]
    no_traceback(logs)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("end_date", "0001-01-01T00:00:00Z"),
        ("start_date", "9999-12-31T00:00:00Z"),
        ("end_date", EARLY),
        ("start_date", LATE),
    ],
)
async def test_open311_dates_at_the_ends_of_the_calendar_are_400_naming_the_date(
    live: Live, logs: list[dict[str, Any]], name: str, value: str
) -> None:
    response = await live.client.get("/open311/v2/requests.json", params={name: value})
    answer = await response.json()
    assert response.status == 400, answer
    assert answer[0]["code"] == 400
    assert answer[0]["description"].startswith(f"{name}:")
    no_traceback(logs)


# -- durations ------------------------------------------------------------------------------------


@pytest.mark.parametrize("expires", ["99999999999d", "9999999999999s", "²d", "3651d"])
async def test_a_token_that_expires_beyond_ten_years_is_422_naming_expires(
    live: Live, logs: list[dict[str, Any]], expires: str
) -> None:
    admin = await live.token("admin", scope=None)
    response = await live.client.post(
        "/api/v1/tokens",
        json={"role": "operator", "scope": "530524", "expires": expires},
        headers=await live.auth(admin),
    )
    problem = await response.json()
    assert response.status == 422, problem
    assert names(problem) == ["expires"]
    no_traceback(logs)


@pytest.mark.parametrize("duration", ["99999999999d", "99999999999999wd"])
async def test_an_extension_beyond_ten_years_is_422_naming_duration(
    live: Live, county: Hierarchy, logs: list[dict[str, Any]], duration: str
) -> None:
    status, _, doc = await live.post(body(county))
    assert status == 201, doc
    response = await live.client.post(
        f"/api/v1/whistles/{doc['id']}/extend",
        json={"reason": "等待配件", "duration": duration},
        headers=await live.auth(),
    )
    problem = await response.json()
    assert response.status == 422, problem
    assert names(problem) == ["duration"]
    no_traceback(logs)


# -- the live stream ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        pytest.param({"Last-Event-ID": str(2**63)}, "", id="header-2^63"),
        pytest.param({"Last-Event-ID": "9" * 400}, "", id="header-400-digits"),
        pytest.param({}, "?last_event_id=" + str(2**64), id="query-2^64"),
        pytest.param({}, "?last_event_id=²", id="query-superscript-two"),
        pytest.param({"Last-Event-ID": "²"}, "", id="header-superscript-two"),
        pytest.param({"Last-Event-ID": "-1"}, "", id="header-negative"),
    ],
)
async def test_a_last_event_id_beyond_64_bits_or_in_other_digits_is_400(
    live: Live, logs: list[dict[str, Any]], headers: dict[str, str], query: str
) -> None:
    response = await live.client.get(
        "/api/v1/stream" + query, headers={**await live.auth(), **headers}
    )
    # Not response.text() in the message: a stream that was wrongly opened never ends.
    assert (response.status, response.content_type) == (400, "application/problem+json")
    problem = await response.json(content_type=None)
    assert names(problem) == ["Last-Event-ID" if headers else "last_event_id"]
    no_traceback(logs)


# -- signed feeds: refused before authentication, without a traceback ------------------------------


@pytest.mark.parametrize(
    "stamp",
    [
        pytest.param("²", id="superscript-two"),
        pytest.param("9" * 400, id="400-digits"),
        pytest.param("1e9", id="exponent"),
        pytest.param("-1", id="negative"),
    ],
)
async def test_a_feed_timestamp_in_other_digits_or_400_digits_long_is_401_naming_it(
    start_server: StartServer,
    tmp_path: Any,
    county_dir: Any,
    clock: FakeClock,
    logs: list[dict[str, Any]],
    stamp: str,
) -> None:
    live = await start_server(config=feeds_config(tmp_path, county_dir))
    token = await live.token("integration", source="camera")
    token_id = parse_token(token)
    assert token_id is not None
    payload = jsonl(detection(a_camera(live)))
    headers = {
        "X-Whistle-Key": token_id,
        "X-Whistle-Timestamp": stamp,
        "X-Whistle-Signature": sign_request(
            signing_key(token), int(clock.now().timestamp()), payload
        ),
        "Content-Type": "application/x-ndjson",
    }
    response = await live.client.post(CAMERA, data=payload, headers=headers)
    problem = await response.json(content_type=None)
    assert response.status == 401, problem
    assert "X-Whistle-Timestamp" in problem["detail"]
    no_traceback(logs)
    # The same detection, properly signed, still goes in: nothing was spoiled on the way.
    good = await live.client.post(CAMERA, data=payload, headers=signed(token, payload, clock.now()))
    assert good.status == 200, orjson.loads(await good.read())


# -- the 12345 hotline import ----------------------------------------------------------------------


@pytest.mark.parametrize("when", [EARLY, LATE])
async def test_a_hotline_ticket_called_outside_the_calendar_is_its_rows_error(
    start_server: StartServer,
    tmp_path: Any,
    county_dir: Any,
    county: Hierarchy,
    logs: list[dict[str, Any]],
    when: str,
) -> None:
    live = await start_server(config=feeds_config(tmp_path, county_dir))
    await add_user(live, "op", Role.OPERATOR, county.root)
    assert (await log_in(live.client, "op")).status == 303
    csrf = hidden_csrf(await (await live.client.get("/hotline")).text())
    grid = next(county.cells(level=Level.GRID)).code
    rows = [
        ",".join(COLUMNS),
        f"T001,2026-11-20 09:30:00,城市管理-垃圾清运,楼下垃圾没人清,{grid},,,张先生",
        f"T002,{when},城市管理-垃圾清运,楼下垃圾没人清,{grid},,,张先生",
    ]
    form = aiohttp.FormData()
    form.add_field("csrf_token", csrf)
    form.add_field("file", "\n".join(rows).encode(), filename="12345.csv", content_type="text/csv")
    response = await live.client.post("/hotline", data=form)
    text = await response.text()
    assert response.status == 200, text
    assert "2 rows: created 1, skipped duplicates 0, errors 1" in text
    assert 'data-row="3" data-status="error"' in text
    assert "out of range" in text
    no_traceback(logs)
