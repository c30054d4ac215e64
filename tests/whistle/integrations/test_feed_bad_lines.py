"""A bad line of a feed batch is that line's error, never the batch's (issue 24, item 5).

The probe sent a camera batch whose second line had ``"time":"0001-01-01T00:00:00+14:00"``:
the good first line was stored, then the batch answered 500, and a platform that retries got
500 for ever. Now every bad line is named in the per-line answer, the good lines are stored,
and the batch is ``200`` when all lines went in, ``207 Multi-Status`` when some did not.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from structlog.testing import capture_logs

from grids import Hierarchy, Level
from tests.support.feeds import CAMERA, POLICE, a_camera, detection, jsonl, send, signed
from tests.support.harness import Live
from whistle.clock import FakeClock

# (what the probe changed on a good line, the field its error names)
BAD_DETECTIONS = [
    pytest.param({"time": "0001-01-01T00:00:00+14:00"}, "time", id="year-1-at-plus-14"),
    pytest.param({"time": "9999-12-31T23:59:59-14:00"}, "time", id="year-9999-at-minus-14"),
    pytest.param({"time": "1969-07-20T20:17:40Z"}, "time", id="before-1970"),
    pytest.param({"time": "2026-02-30T09:00:00+08:00"}, "time", id="no-such-day"),
    pytest.param({"time": "2026-11-23T09:00:00"}, "time", id="no-offset"),
    pytest.param({"time": 1764000000}, "time", id="a-number"),
    pytest.param({"event_type": "ufo_landing"}, "event_type", id="unknown-event"),
    pytest.param({"camera_id": "CAM-NOPE"}, "camera_id", id="unknown-camera"),
    pytest.param({"confidence": -0.1}, "confidence", id="negative-confidence"),
    pytest.param({"confidence": "high"}, "confidence", id="confidence-as-text"),
    pytest.param({"snapshot_url": "javascript:alert(1)"}, "snapshot_url", id="bad-url"),
    pytest.param({"extra": 1}, "extra", id="unknown-field"),
]


@pytest.mark.parametrize(("change", "field"), BAD_DETECTIONS)
async def test_a_bad_detection_is_its_own_error_and_the_good_line_is_stored(
    feeds_live: Live, clock: FakeClock, change: dict[str, Any], field: str
) -> None:
    live = feeds_live
    camera = a_camera(live)
    token = await live.token("integration", source="camera")
    bad = {**detection(camera, detection_id="bad"), **change}
    body = jsonl(detection(camera, detection_id="good"), bad)
    with capture_logs() as logs:
        status, answer = await send(live, CAMERA, body, signed(token, body, clock.now()))
    assert status == 207, answer
    good, wrong = answer["results"]
    assert (good["line"], good["status"], good["errors"]) == (1, "created", [])
    assert (wrong["line"], wrong["status"], wrong["whistle_id"]) == (2, "error", None)
    assert [e["field"] for e in wrong["errors"]] == [field]
    assert answer["counts"]["error"] == 1
    assert [e for e in logs if e.get("log_level") == "error"] == []
    code, stored = await live.get(f"/api/v1/whistles/{good['whistle_id']}")
    assert (code, stored["external_id"]) == (200, "good")

    # The platform retries the batch: the good line is a duplicate, the bad one named again.
    clock.advance(timedelta(seconds=1))
    status, again = await send(live, CAMERA, body, signed(token, body, clock.now()))
    assert status == 207, again
    assert [r["status"] for r in again["results"]] == ["duplicate", "error"]
    assert again["results"][0]["whistle_id"] == good["whistle_id"]
    _, listed = await live.get("/api/v1/whistles?source=camera")
    assert [item["id"] for item in listed["items"]] == [good["whistle_id"]]


async def test_a_batch_of_good_lines_is_200_and_of_bad_lines_only_207(
    feeds_live: Live, clock: FakeClock
) -> None:
    live = feeds_live
    camera = a_camera(live)
    token = await live.token("integration", source="camera")
    good = jsonl(detection(camera, detection_id="g1"), detection(camera, detection_id="g2"))
    status, answer = await send(live, CAMERA, good, signed(token, good, clock.now()))
    assert status == 200, answer
    assert answer["counts"]["error"] == 0
    bad = jsonl(
        detection(camera, time="0001-01-01T00:00:00+14:00"), "[1, 2]", detection(camera, time="")
    )
    clock.advance(timedelta(seconds=1))
    status, answer = await send(live, CAMERA, bad, signed(token, bad, clock.now()))
    assert status == 207, answer
    assert [(r["line"], r["status"]) for r in answer["results"]] == [
        (1, "error"),
        (2, "error"),
        (3, "error"),
    ]
    assert answer["results"][1]["errors"] == [{"field": "line", "reason": "expected a JSON object"}]


async def test_a_bad_police_alert_is_its_own_error_and_the_good_ones_are_stored(
    feeds_live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    live = feeds_live
    grid = next(county.cells(level=Level.GRID))
    token = await live.token("integration", source="police")
    good = {
        "alert_id": "JQ100",
        "alert_type": "fight",
        "location": {"grid": grid.code},
        "description": "两人在菜市场门口打架",
        "time": "2026-11-23T08:55:00+08:00",
    }
    body = jsonl(
        good,
        {**good, "alert_id": "JQ101", "time": "0001-01-01T00:00:00+14:00"},
        {**good, "alert_id": "JQ102", "time": "9999-12-31T23:59:59-14:00"},
        {**good, "alert_id": "JQ103", "location": {"lat": 0.0, "lon": 0.0}},
        {**good, "alert_id": "JQ104", "location": {"lat": 95.0, "lon": 99.0}},
        {**good, "alert_id": "JQ105", "alert_type": None, "category": "X9999"},
        {**good, "alert_id": "JQ106", "urgency": "whenever"},
        {**good, "alert_id": "JQ107"},
    )
    with capture_logs() as logs:
        status, answer = await send(live, POLICE, body, signed(token, body, clock.now()))
    assert status == 207, answer
    results = answer["results"]
    assert [(r["line"], r["status"]) for r in results] == [
        (1, "created"),
        (2, "error"),
        (3, "error"),
        (4, "error"),
        (5, "error"),
        (6, "error"),
        (7, "error"),
        (8, "created"),
    ]
    assert [[e["field"] for e in r["errors"]] for r in results[1:7]] == [
        ["time"],
        ["time"],
        ["location"],
        ["location.lat"],
        ["category"],
        ["urgency"],
    ]
    assert "out of range" in results[1]["errors"][0]["reason"]
    assert [e for e in logs if e.get("log_level") == "error"] == []
    _, listed = await live.get("/api/v1/whistles?source=police")
    assert {item["external_id"] for item in listed["items"]} == {"JQ100", "JQ107"}
