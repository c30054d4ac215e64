"""The intake's cross-process decisions on one PostgreSQL database, with real processes: a
camera's burst posted to three processes at once opens one case, and a silence created on
one process mutes a matching whistle on another within about a second."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from grids import Hierarchy
from tests.support.cluster import cluster, get_json, post
from tests.support.postgres import fresh_database
from whistle.cameras import CameraRegistry
from whistle.testing import ServerProcess

pytestmark = pytest.mark.slow


@pytest.fixture
async def servers(tmp_path: Path, county_dir: Path) -> AsyncIterator[list[ServerProcess]]:
    async with fresh_database() as database, cluster(database, county_dir, tmp_path, 3) as started:
        yield started


def detection(cameras: CameraRegistry, camera: int, n: int) -> dict[str, Any]:
    """A detection of the ``camera``-th camera, in its own grid."""
    camera_id = sorted(cameras)[camera]
    return {
        "source": "camera",
        "category": "E0403",
        "description": f"路口机动车乱停放 #{n}",
        "location": {"grid": cameras.home(camera_id).code},
        "camera_id": camera_id,
    }


async def test_one_cameras_burst_over_three_processes_opens_one_case(
    servers: list[ServerProcess], county: Hierarchy, county_dir: Path
) -> None:
    cameras = CameraRegistry.load(county_dir, county)
    token = servers[0].create_token("operator", county.root)
    async with aiohttp.ClientSession() as session:
        # Two cameras, each bursting 12 detections spread over the three processes at once.
        answers = await asyncio.gather(
            *(
                post(session, servers[n % 3].url, token, detection(cameras, n % 2, n), f"d{n}")
                for n in range(24)
            )
        )
        by_camera: dict[int, set[str | None]] = {0: set(), 1: set()}
        for n, (status, whistle_id) in enumerate(answers):
            assert status in (200, 201), (n, status)
            by_camera[n % 2].add(whistle_id)
        assert [len(ids) for ids in by_camera.values()] == [1, 1]  # one case per camera
        # The first detection opened it (201), the other eleven joined it as repeats.
        assert sorted(status for status, _ in answers).count(201) == 2
        for ids in by_camera.values():
            (case_id,) = ids
            doc = await get_json(session, f"{servers[1].url}/api/v1/whistles/{case_id}", token)
            assert doc["case"]["repeats"] == 11
            assert len(doc["assignments"]) == 1  # dispatched once


async def test_a_silence_made_on_one_process_mutes_a_whistle_on_another_within_a_second(
    servers: list[ServerProcess], county: Hierarchy, county_dir: Path
) -> None:
    cameras = CameraRegistry.load(county_dir, county)
    maker, other, _ = servers
    token = maker.create_token("operator", county.root)
    silence = {
        "matchers": {"camera": sorted(cameras)[0]},
        "author": "调度员李娜",
        "comment": "镜头维修",
        "duration_minutes": 60,
    }
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{maker.url}/api/v1/silences",
            json=silence,
            headers={"Authorization": f"Bearer {token}"},
        ) as response:
            assert response.status == 201, await response.text()
        made = asyncio.get_running_loop().time()
        status, whistle_id = await post(session, other.url, token, detection(cameras, 0, 1), "s1")
        took = asyncio.get_running_loop().time() - made
        assert status == 201
        doc = await get_json(session, f"{other.url}/api/v1/whistles/{whistle_id}", token)
        created = await get_json(session, f"{maker.url}/api/v1/silences", token)
    # Posted as soon as the silence was made: the other process knew of it already (the
    # notification at its commit), well inside the second the poll would take.
    assert took < 1.0
    assert doc["status"] == "muted", doc
    assert doc["assignments"] == []  # stored, never dispatched
    assert doc["muted_by"]["id"] in {item["id"] for item in created["items"]}
