"""Camera whistles keep to their camera's town (issue 24, item 1).

A camera whistle names a camera of ``cameras.csv``, comes from the camera's own cell, inside
the caller's scope, and groups only into that camera's cases in that cell. Each probe of the
issue is replayed here through the real server: a town-A operator naming a town-B camera, a
decoy that would capture town B's signed detections, and a detection's key used as an
Idempotency-Key from another town.
"""

from __future__ import annotations

import orjson

from grids import Hierarchy, Level
from tests.support.cameras import detection, towns
from tests.support.harness import Live
from whistle.clock import FakeClock
from whistle.web.keys import CAMERAS


async def test_an_operator_may_not_add_a_repeat_to_another_towns_camera_case(
    live: Live, county: Hierarchy
) -> None:
    t = await towns(live, county)
    operator_b = await live.token("operator", scope=t.b)
    status, _, case_b = await live.post(t.whistle(t.camera_b), token=operator_b)
    assert status == 201, case_b
    # The probe: town A's cell, town B's camera.
    probe = t.whistle(t.camera_b, location={"grid": t.cell_in_a(county)})
    status, headers, answer = await live.post(probe, token=t.operator_a)
    assert status == 403, answer
    assert "Whistle-Grouped" not in headers
    assert case_b["id"] not in orjson.dumps(answer).decode()
    assert f"camera {t.camera_b}" in answer["detail"]
    _, doc = await live.get(f"/api/v1/whistles/{case_b['id']}")
    assert doc["case"]["repeats"] == 0
    assert "case.repeated" not in [e["type"] for e in doc["timeline"]]


async def test_a_decoy_naming_another_towns_camera_cannot_capture_its_detections(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    t = await towns(live, county)
    decoy = t.whistle(t.camera_b, location={"grid": t.cell_in_a(county)})
    status, _, answer = await live.post(decoy, token=t.operator_a)
    assert status == 403, answer
    # Town B's camera platform sends its signed detections: they open a case in town B.
    platform_b = await live.token("integration", scope=t.b, source="camera")
    results = await t.feed(
        platform_b, clock, detection(t.camera_b, "real-1"), detection(t.camera_b, "real-2", 1)
    )
    assert [r["status"] for r in results] == ["created", "grouped"]
    _, case = await live.get(f"/api/v1/whistles/{results[0]['whistle_id']}")
    assert case["grid"]["path"][1]["code"] == t.b
    assert case["case"]["repeats"] == 1
    status, page = await live.get("/api/v1/whistles?source=camera")
    assert [item["id"] for item in page["items"]] == [case["id"]]


async def test_another_towns_detection_key_finds_no_case(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    t = await towns(live, county)
    platform_b = await live.token("integration", scope=t.b, source="camera")
    results = await t.feed(
        platform_b, clock, detection(t.camera_b, "d-1"), detection(t.camera_b, "d-2", 1)
    )
    assert [r["status"] for r in results] == ["created", "grouped"]
    case_b = results[0]["whistle_id"]
    # Town A files its own camera's whistle under the key of town B's grouped detection.
    for key, category in (("feed:camera:d-2", "E0101"), ("feed:camera:d-1", "E0102")):
        status, headers, answer = await live.post(
            t.whistle(t.camera_a, category=category),
            token=t.operator_a,
            **{"Idempotency-Key": key},
        )
        assert status == 201, answer
        assert answer["id"] != case_b
        assert "Whistle-Grouped" not in headers
        assert "Idempotent-Replayed" not in headers
        assert answer["grid"]["path"][1]["code"] == t.a
    _, doc = await live.get(f"/api/v1/whistles/{case_b}")
    assert doc["case"]["repeats"] == 1
    # Town B's platform sending d-2 again is still told it has it.
    again = await t.feed(platform_b, clock, detection(t.camera_b, "d-2", 1))
    assert [(r["status"], r["whistle_id"]) for r in again] == [("duplicate", case_b)]


async def test_a_town_camera_platform_may_not_report_for_another_towns_camera(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    t = await towns(live, county)
    platform_a = await live.token("integration", scope=t.a, source="camera")
    results = await t.feed(platform_a, clock, detection(t.camera_b, "x-1"))
    assert [r["status"] for r in results] == ["error"]
    assert f"camera {t.camera_b}" in results[0]["errors"][0]["reason"]
    _, page = await live.get("/api/v1/whistles")
    assert page["items"] == []


async def test_an_unknown_camera_is_refused_naming_camera_id(live: Live, county: Hierarchy) -> None:
    t = await towns(live, county)
    status, _, problem = await live.post(t.whistle(t.camera_a, camera_id="CAM-NOWHERE"))
    assert status == 422, problem
    assert problem["errors"] == [
        {"field": "camera_id", "reason": "unknown camera 'CAM-NOWHERE'; not in cameras.csv"}
    ]


async def test_only_a_camera_whistle_names_a_camera(live: Live, county: Hierarchy) -> None:
    t = await towns(live, county)
    status, _, problem = await live.post(t.whistle(t.camera_a, source="citizen"))
    assert status == 422, problem
    assert [e["field"] for e in problem["errors"]] == ["camera_id"]


async def test_a_camera_whistle_from_outside_the_cameras_cell_is_refused_naming_location(
    live: Live, county: Hierarchy
) -> None:
    t = await towns(live, county)
    elsewhere = t.cell_in_a(county)
    status, _, problem = await live.post(
        t.whistle(t.camera_a, location={"grid": elsewhere}), token=t.operator_a
    )
    assert status == 422, problem
    home = live.app[CAMERAS].home(t.camera_a)
    assert [e["field"] for e in problem["errors"]] == ["location"]
    assert f"camera {t.camera_a} watches {home.code}" in problem["errors"][0]["reason"]
    # A micro-grid of the camera's own grid is the camera's cell too.
    inside = next(c for c in county.children(home.code) if c.level is Level.MICRO_GRID)
    status, _, doc = await live.post(
        t.whistle(t.camera_a, location={"grid": inside.code}), token=t.operator_a
    )
    assert status == 201, doc
    assert doc["grid"]["code"] == inside.code


async def test_a_camera_whistle_without_a_location_is_placed_at_its_camera(
    live: Live, county: Hierarchy
) -> None:
    t = await towns(live, county)
    body = t.whistle(t.camera_a)
    del body["location"]
    status, _, doc = await live.post(body, token=t.operator_a)
    assert status == 201, doc
    place = live.app[CAMERAS].place(t.camera_a)
    assert place is not None
    assert doc["grid"]["code"] == place.code
    # Sent again, it is a repeat of the same case.
    status, headers, again = await live.post(body, token=t.operator_a)
    assert (status, headers.get("Whistle-Grouped"), again["id"]) == (200, "true", doc["id"])
