"""Signed camera and police feeds, for the feed tests."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from grids.loader import load_hierarchy
from tests.support.harness import Live
from whistle.app import create_app
from whistle.auth import parse_token, sign_request, signing_key
from whistle.clock import FakeClock
from whistle.integrations.feeds import Camera, load_cameras, write_cameras
from whistle.web.keys import HIERARCHY, SETTINGS, Settings

CAMERA = "/api/v1/feeds/camera"


POLICE = "/api/v1/feeds/police"


def feeds_config(tmp_path: Path, county_dir: Path) -> Path:
    """The test county with a camera registry and the shipped hotline category table."""
    config = tmp_path / "config"
    shutil.copytree(county_dir, config)
    write_cameras(config, load_hierarchy(config))
    shutil.copyfile(
        Path(__file__).resolve().parents[2] / "config" / "hotline_categories.csv",
        config / "hotline_categories.csv",
    )
    return config


@pytest.fixture
async def feeds_live(tmp_path: Path, county_dir: Path, clock: FakeClock) -> AsyncIterator[Live]:
    """A live server on a config that has cameras and hotline categories."""
    settings = Settings(
        db_path=tmp_path / "whistle.sqlite3",
        config_dir=feeds_config(tmp_path, county_dir),
        run_timer=False,
    )
    app = create_app(settings, clock=clock)
    client: TestClient[web.Request, web.Application] = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    yield Live(client, app, settings.db_path)
    await client.close()


def jsonl(*items: dict[str, Any] | str) -> bytes:
    return b"\n".join(
        item.encode() if isinstance(item, str) else orjson.dumps(item) for item in items
    )


def signed(token: str, body: bytes, at: datetime) -> dict[str, str]:
    token_id = parse_token(token)
    assert token_id is not None
    stamp = int(at.timestamp())
    return {
        "X-Whistle-Key": token_id,
        "X-Whistle-Timestamp": str(stamp),
        "X-Whistle-Signature": sign_request(signing_key(token), stamp, body),
        "Content-Type": "application/x-ndjson",
    }


async def send(
    live: Live, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    response = await live.client.post(path, data=body, headers=headers)
    answer: dict[str, Any] = await response.json(content_type=None)
    return response.status, answer


def a_camera(live: Live) -> Camera:
    cameras = load_cameras(live.app[SETTINGS].config_dir, live.app[HIERARCHY])
    return cameras[sorted(cameras)[0]]


def detection(camera: Camera, **over: Any) -> dict[str, Any]:
    item = {
        "camera_id": camera.camera_id,
        "event_type": "garbage_exposed",
        "confidence": 0.9,
        "time": "2026-11-23T09:00:00+08:00",
        "snapshot_url": "https://cam.example/snap/1.jpg",
    }
    return {**item, **over}
