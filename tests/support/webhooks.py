"""A webhook receiver on a socket and a config whose webhooks.csv points at it."""

from __future__ import annotations

import shutil
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestServer

from grids import Hierarchy, Level, ResponderKind
from whistle.web.keys import OUTBOX, WEBHOOKS

SECRET = "s3cret-s3cret-s3cret"


async def receiver(status: int) -> tuple[TestServer, list[web.Request], list[bytes]]:
    seen: list[web.Request] = []
    bodies: list[bytes] = []

    async def hook(request: web.Request) -> web.Response:
        seen.append(request)
        bodies.append(await request.read())
        return web.Response(status=status)

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server, seen, bodies


def config_with_hook(county_dir: Path, tmp_path: Path, responder: str, url: str) -> Path:
    target = tmp_path / "config"
    shutil.copytree(county_dir, target)
    (target / "webhooks.csv").write_text(
        f"responder,url,secret\n{responder},{url},{SECRET}\n", encoding="utf-8"
    )
    return target


def grid_member(county: Hierarchy) -> str:
    micro = next(iter(county.cells(level=Level.MICRO_GRID)))
    grid = county.at_level(micro.code, Level.GRID)
    return county.responders_at(grid.code, ResponderKind.REGISTERED_MEMBER)[0].id


async def delivered(app: web.Application) -> None:
    """Wait until every notice written so far has been delivered (or given up on): through
    the database's outbox when the store has one (PostgreSQL), else the notifier's tasks."""
    outbox = app.get(OUTBOX)
    if outbox is not None:
        await outbox.drain()
    await app[WEBHOOKS].join()
