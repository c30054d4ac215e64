"""Cameras of two towns, for the camera scope tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from grids import Hierarchy, Level
from tests.support.feeds import CAMERA, send, signed
from tests.support.harness import Live
from whistle.clock import FakeClock
from whistle.web.keys import CAMERAS


@dataclass
class Towns:
    """Two towns, a camera in each, and a town-A operator."""

    live: Live
    a: str
    b: str
    camera_a: str
    camera_b: str
    operator_a: str

    def whistle(self, camera: str, **over: Any) -> dict[str, Any]:
        """A camera whistle of ``camera`` from its own grid."""
        home = self.live.app[CAMERAS].home(camera)
        return {
            "source": "camera",
            "category": "E0101",
            "description": "天眼：暴露垃圾",
            "location": {"grid": home.code},
            "camera_id": camera,
            **over,
        }

    def cell_in_a(self, county: Hierarchy) -> str:
        """A micro-grid of town A outside camera A's own grid."""
        home = self.live.app[CAMERAS].home(self.camera_a)
        return next(
            c.code
            for c in county.cells(level=Level.MICRO_GRID)
            if c.is_within(self.a) and not c.is_within(home.code)
        )

    async def feed(self, token: str, clock: FakeClock, *lines: dict[str, Any]) -> Any:
        body = b"\n".join(orjson.dumps(line) for line in lines)
        status, answer = await send(self.live, CAMERA, body, signed(token, body, clock.now()))
        # 207 Multi-Status when a line is an error (each line says which), else 200.
        errors = any(r["status"] == "error" for r in answer["results"])
        assert status == (207 if errors else 200), answer
        return answer["results"]


async def towns(live: Live, county: Hierarchy) -> Towns:
    a, b = (town.code for town in county.cells(level=Level.TOWN))
    registry = live.app[CAMERAS]
    camera_a = next(c for c in sorted(registry) if registry.home(c).is_within(a))
    camera_b = next(c for c in sorted(registry) if registry.home(c).is_within(b))
    return Towns(live, a, b, camera_a, camera_b, await live.token("operator", scope=a))


def detection(camera: str, detection_id: str, minute: int = 0) -> dict[str, Any]:
    return {
        "camera_id": camera,
        "event_type": "garbage_exposed",
        "confidence": 0.9,
        "time": f"2026-11-23T09:{minute:02d}:00+08:00",
        "detection_id": detection_id,
    }
