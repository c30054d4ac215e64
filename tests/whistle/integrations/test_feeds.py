"""Camera (天眼) and police (警情) batch feeds: signed JSON Lines, per-line results, grouping of
camera repeats, low-confidence detections stored but not dispatched."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path

import pytest

from grids import Hierarchy, Level
from grids.loader import load_hierarchy
from tests.support.feeds import (
    CAMERA,
    POLICE,
    a_camera,
    detection,
    jsonl,
    send,
    signed,
)
from tests.support.harness import Live
from tests.support.lifecycle import Cases
from tests.support.requests import body as whistle_body
from whistle.clock import FakeClock
from whistle.exceptions import CameraConfigError
from whistle.integrations.feeds import MAX_LINES, load_cameras
from whistle.web.keys import HIERARCHY


async def test_a_signed_batch_groups_repeats_keeps_low_confidence_and_names_bad_lines(
    feeds_live: Live, clock: FakeClock
) -> None:
    live = feeds_live
    camera = a_camera(live)
    token = await live.token("integration", source="camera")
    body = jsonl(
        detection(camera, detection_id="d1"),
        detection(camera, detection_id="d2", time="2026-11-23T09:01:00+08:00"),
        "",  # blank lines are skipped, but still counted for the line numbers
        detection(camera, detection_id="d3", time="2026-11-23T09:02:00+08:00"),
        detection(camera, detection_id="d4", event_type="illegal_parking", confidence=0.3),
        "{not json",
        detection(camera, camera_id="CAM-NOPE"),
        detection(camera, confidence=1.5, time="yesterday"),
    )
    status, answer = await send(live, CAMERA, body, signed(token, body, clock.now()))
    assert status == 207, answer  # some lines are errors: Multi-Status
    results = answer["results"]
    assert [(r["line"], r["status"]) for r in results] == [
        (1, "created"),
        (2, "grouped"),
        (4, "grouped"),
        (5, "low_confidence"),
        (6, "error"),
        (7, "error"),
        (8, "error"),
    ]
    assert answer["counts"] == {
        "created": 1, "grouped": 2, "low_confidence": 1, "duplicate": 0, "error": 3,
    }  # fmt: skip
    case_id = results[0]["whistle_id"]
    assert results[1]["whistle_id"] == results[2]["whistle_id"] == case_id
    assert "not valid JSON" in results[4]["errors"][0]["reason"]
    assert results[5]["errors"] == [
        {"field": "camera_id", "reason": "unknown camera 'CAM-NOPE'; not in cameras.csv"}
    ]
    assert {e["field"] for e in results[6]["errors"]} == {"confidence", "time"}

    code, case = await live.get(f"/api/v1/whistles/{case_id}")
    assert code == 200
    assert case["case"]["repeats"] == 2
    assert case["source"] == "camera"
    assert case["camera_id"] == camera.camera_id
    assert case["external_id"] == "d1"
    assert case["media_urls"] == ["https://cam.example/snap/1.jpg"]
    assert case["occurred_at"] == "2026-11-23T09:00:00.000+08:00"
    assert case["assignments"], "a confident detection is dispatched"

    code, low = await live.get(f"/api/v1/whistles/{results[3]['whistle_id']}")
    assert code == 200
    assert low["status"] == "muted"
    assert low["assignments"] == []
    assert "confidence" in low["muted_by"]["matchers"]
    assert low["category"]["code"] == "E0403"
    code, listed = await live.get("/api/v1/whistles?source=camera")
    assert {item["id"] for item in listed["items"]} == {case_id, low["id"]}  # visible


async def test_camera_whistles_take_their_ids_in_filing_order_with_the_apps_others(
    feeds_live: Live, clock: FakeClock
) -> None:
    # One id factory for the whole app: a whistle filed after another has the greater id,
    # whether it came through the API, a confident detection or a low-confidence one.
    live = feeds_live
    camera = a_camera(live)
    token = await live.token("integration", source="camera")
    county = live.app[HIERARCHY]
    # In filing order: an API whistle, then a batch (its lines' ids in any order), and so on.
    filed: list[set[str]] = []
    for n in range(3):  # the clock stands still: every id is made in the same millisecond
        code, _, doc = await live.post(whistle_body(county, description=f"楼道堆放杂物 #{n}"))
        assert code == 201
        filed.append({doc["id"]})
        batch = jsonl(
            detection(camera, detection_id=f"low-{n}", confidence=0.2),
            detection(camera, detection_id=f"sure-{n}", event_type="illegal_parking"),
        )
        code, answer = await send(live, CAMERA, batch, signed(token, batch, clock.now()))
        assert code == 200, answer
        assert answer["results"][0]["status"] == "low_confidence"
        filed.append({r["whistle_id"] for r in answer["results"] if r["status"] != "grouped"})
    for earlier, later in itertools.pairwise(filed):
        assert max(earlier) < min(later)


async def test_a_low_confidence_repeat_is_kept_apart_from_the_cameras_open_case(
    feeds_live: Live, clock: FakeClock
) -> None:
    live = feeds_live
    camera = a_camera(live)
    token = await live.token("integration", source="camera")
    body = jsonl(detection(camera, detection_id="sure"))
    _, first = await send(live, CAMERA, body, signed(token, body, clock.now()))
    case_id = first["results"][0]["whistle_id"]
    clock.advance(timedelta(seconds=2))
    body = jsonl(detection(camera, detection_id="unsure", confidence=0.1))
    _, second = await send(live, CAMERA, body, signed(token, body, clock.now()))
    assert second["results"][0]["status"] == "low_confidence"
    low_id = second["results"][0]["whistle_id"]
    assert low_id != case_id
    _, case = await live.get(f"/api/v1/whistles/{case_id}")
    assert case["case"]["repeats"] == 0
    _, low = await live.get(f"/api/v1/whistles/{low_id}")
    assert low["status"] == "muted"
    assert low["muted_by"]["matchers"] == {"confidence": "0.10 < 0.60"}


async def test_resending_a_batch_creates_nothing_new(feeds_live: Live, clock: FakeClock) -> None:
    live = feeds_live
    camera = a_camera(live)
    token = await live.token("integration", source="camera")
    body = jsonl(detection(camera, confidence=0.2))
    _, first = await send(live, CAMERA, body, signed(token, body, clock.now()))
    clock.advance(timedelta(seconds=2))  # a new signature: not a replay
    _, again = await send(live, CAMERA, body, signed(token, body, clock.now()))
    assert first["results"][0]["status"] == "low_confidence"
    assert again["results"][0]["status"] == "duplicate"
    assert again["results"][0]["whistle_id"] == first["results"][0]["whistle_id"]


async def test_a_grouped_detection_sent_again_is_a_duplicate_and_counts_once(
    feeds_live: Live, clock: FakeClock
) -> None:
    live = feeds_live
    camera = a_camera(live)
    token = await live.token("integration", source="camera")
    first = jsonl(detection(camera, detection_id="a1"))
    _, opened = await send(live, CAMERA, first, signed(token, first, clock.now()))
    case_id = opened["results"][0]["whistle_id"]
    clock.advance(timedelta(minutes=1))
    body = jsonl(
        detection(camera, detection_id="a2", time="2026-11-23T09:01:00+08:00"),
        detection(camera, detection_id="a3", time="2026-11-23T09:02:00+08:00"),
        detection(camera, detection_id="a2", time="2026-11-23T09:01:00+08:00"),  # twice
    )
    _, grouped = await send(live, CAMERA, body, signed(token, body, clock.now()))
    assert [r["status"] for r in grouped["results"]] == ["grouped", "grouped", "duplicate"]
    clock.advance(timedelta(seconds=2))  # the platform resends the whole batch
    _, again = await send(live, CAMERA, body, signed(token, body, clock.now()))
    assert [r["status"] for r in again["results"]] == ["duplicate"] * 3
    assert {r["whistle_id"] for r in grouped["results"] + again["results"]} == {case_id}

    _, case = await live.get(f"/api/v1/whistles/{case_id}")
    assert case["case"]["repeats"] == 2  # a2 and a3, each once
    repeated = [e for e in case["timeline"] if e["type"] == "case.repeated"]
    assert len(repeated) == 1  # one event for the batch's two detections
    assert [d["external_id"] for d in repeated[0]["data"]["detections"]] == ["a2", "a3"]
    assert repeated[0]["data"]["added"] == 2


async def test_repeats_of_a_closed_case_open_a_new_one_and_the_case_stays_actionable(
    feeds_live: Live, clock: FakeClock, county: Hierarchy
) -> None:
    live = feeds_live
    camera = a_camera(live)
    token = await live.token("integration", source="camera")
    body = jsonl(detection(camera, detection_id="b1"), detection(camera, detection_id="b2"))
    _, opened = await send(live, CAMERA, body, signed(token, body, clock.now()))
    case_id = opened["results"][0]["whistle_id"]
    _, case = await live.get(f"/api/v1/whistles/{case_id}")
    assert case["case"]["repeats"] == 1
    # A repeat moved the case's version: the next actions still apply at once.
    cases = Cases(live, county)
    patrol = case["assignments"][0]
    assert (await cases.assignment(patrol, "acknowledge"))[0] == 200
    assert (await cases.assignment(patrol, "resolve", note="已清理"))[0] == 200
    assert (await cases.case(case_id, "verify", passed=True, actor="checker"))[0] == 200
    clock.advance(timedelta(minutes=1))
    later = jsonl(detection(camera, detection_id="b3", time="2026-11-23T09:05:00+08:00"))
    _, after = await send(live, CAMERA, later, signed(token, later, clock.now()))
    assert after["results"][0]["status"] == "created"
    assert after["results"][0]["whistle_id"] != case_id


async def test_unsigned_batch_is_401(feeds_live: Live) -> None:
    camera = a_camera(feeds_live)
    body = jsonl(detection(camera))
    response = await feeds_live.client.post(CAMERA, data=body)
    assert response.status == 401
    assert "no credentials" in (await response.json(content_type=None))["detail"]


async def test_wrongly_signed_batch_is_401_and_stores_nothing(
    feeds_live: Live, clock: FakeClock
) -> None:
    live = feeds_live
    camera = a_camera(live)
    token = await live.token("integration", source="camera")
    body = jsonl(detection(camera))
    headers = signed(token, b"another body", clock.now())
    status, answer = await send(live, CAMERA, body, headers)
    assert status == 401
    assert "wrong signature" in answer["detail"]
    _, listed = await live.get("/api/v1/whistles?source=camera")
    assert listed["items"] == []


async def test_bearer_and_other_sources_may_not_post_a_camera_batch(
    feeds_live: Live, clock: FakeClock
) -> None:
    live = feeds_live
    body = jsonl(detection(a_camera(live)))
    police = await live.token("integration", source="police")
    status, answer = await send(live, CAMERA, body, signed(police, body, clock.now()))
    assert status == 403
    assert "police" in answer["detail"]
    operator = await live.auth()
    status, _ = await send(live, CAMERA, body, operator)
    assert status == 403


async def test_too_many_lines_is_413(feeds_live: Live, clock: FakeClock) -> None:
    live = feeds_live
    token = await live.token("integration", source="camera")
    body = b"{}\n" * (MAX_LINES + 1)
    status, answer = await send(live, CAMERA, body, signed(token, body, clock.now()))
    assert status == 413
    assert "at most 1000" in answer["detail"]


async def test_police_feed_files_alerts_and_reports_bad_lines(
    feeds_live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    live = feeds_live
    grid = next(county.cells(level=Level.GRID))
    token = await live.token("integration", source="police")
    good = {
        "alert_id": "JQ001",
        "alert_type": "fight",
        "location": {"grid": grid.code},
        "description": "两人在菜市场门口打架",
        "time": "2026-11-23T08:55:00+08:00",
    }
    body = jsonl(
        good,
        {**good, "alert_id": "JQ002", "alert_type": "alien_landing"},
        {**good, "alert_id": "JQ003", "alert_type": None, "category": "E0601"},
        {**good, "alert_id": "JQ004", "location": {"grid": "nowhere"}},
    )
    status, answer = await send(live, POLICE, body, signed(token, body, clock.now()))
    assert status == 207, answer
    results = answer["results"]
    assert [(r["line"], r["status"]) for r in results] == [
        (1, "created"),
        (2, "error"),
        (3, "created"),
        (4, "error"),
    ]
    assert results[1]["errors"][0]["field"] == "alert_type"
    assert "alien_landing" in results[1]["errors"][0]["reason"]
    assert results[3]["errors"] == [
        {
            "field": "location.grid",
            "reason": "unknown grid code 'nowhere'",
            "code": "unknown_grid",
            "params": {"value": "nowhere"},
        }
    ]
    code, case = await live.get(f"/api/v1/whistles/{results[0]['whistle_id']}")
    assert code == 200
    assert (case["source"], case["category"]["code"], case["external_id"]) == (
        "police",
        "E0703",
        "JQ001",
    )
    # The camera endpoint is not the police system's.
    clock.advance(timedelta(seconds=1))  # a new signature, not a replay
    status, _ = await send(live, CAMERA, body, signed(token, body, clock.now()))
    assert status == 403


def test_the_shipped_camera_registry_loads() -> None:
    config = Path(__file__).resolve().parents[3] / "config"
    hierarchy = load_hierarchy(config)
    cameras = load_cameras(config, hierarchy)
    assert len(cameras) == 500
    assert all(c.grid in hierarchy for c in cameras.values())


def test_camera_registry_problems_name_file_and_line(tmp_path: Path, county: Hierarchy) -> None:
    grid = next(county.cells(level=Level.GRID)).code
    (tmp_path / "cameras.csv").write_text(
        "camera_id,grid,lat,lon,name\n"
        f"C1,{grid},,,one\n"
        f"C1,{grid},,,again\n"
        "C2,nowhere,,,two\n"
        f"C3,{grid},north,,three\n",
        encoding="utf-8",
    )
    with pytest.raises(CameraConfigError) as caught:
        load_cameras(tmp_path, county)
    text = str(caught.value)
    assert "cameras.csv:3: C1: duplicate camera; first defined on line 2" in text
    assert "cameras.csv:4: C2: unknown grid 'nowhere'" in text
    assert "cameras.csv:5: C3: bad point" in text


async def test_a_batch_over_the_single_whistle_limit_is_accepted(
    feeds_live: Live, clock: FakeClock
) -> None:
    live = feeds_live
    camera = a_camera(live)
    token = await live.token("integration", source="camera")
    lines = [
        detection(
            camera, detection_id=f"big-{n}", snapshot_url=f"https://cam.example/{n:0>200}.jpg"
        )
        for n in range(400)
    ]
    body = jsonl(*lines)
    assert len(body) > 64 * 1024  # more than one whistle's body may be
    status, answer = await send(live, CAMERA, body, signed(token, body, clock.now()))
    assert status == 200, answer
    assert answer["counts"]["created"] + answer["counts"]["grouped"] == 400
