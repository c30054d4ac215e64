"""Shared helpers for the whistle tests: a small county on disk, a live server handle."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from grids.sample import generate_county
from whistle.keys import STORE

SHIPPED = Path(__file__).resolve().parents[2] / "config"
HAND_WRITTEN = ("rules.toml", "categories.toml", "calendar.toml", "lifecycle.toml")


def small_county(outdir: Path, *, seed: int = 11) -> Path:
    """A generated county of 2 towns and 60 micro-grids, with the shipped rules."""
    generate_county(outdir, seed=seed, towns=2, communities=4, grids=12, micro_grids=60)
    for name in HAND_WRITTEN:
        shutil.copyfile(SHIPPED / name, outdir / name)
    return outdir


@dataclass
class Live:
    """A running app: its HTTP client, its app object and its database file."""

    client: TestClient[web.Request, web.Application]
    app: web.Application
    db: Path

    async def post(self, body: Any, **headers: str) -> tuple[int, dict[str, Any], Any]:
        response = await self.client.post("/api/v1/whistles", json=body, headers=headers)
        return response.status, dict(response.headers), await response.json()

    async def get(self, path: str) -> tuple[int, Any]:
        response = await self.client.get(path)
        return response.status, await response.json()


StartServer = Callable[..., Coroutine[Any, Any, Live]]


def whistle_count(live: Live) -> Any:
    return live.app[STORE].count_whistles()
