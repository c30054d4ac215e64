"""Webhooks wired into the app: a new whistle's assignment reaches a real local receiver,
signed; a refusing receiver leaves a visible failure on the case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from grids import Hierarchy
from tests.support.harness import StartServer
from tests.support.lifecycle import Cases
from tests.support.webhooks import SECRET, config_with_hook, delivered, grid_member, receiver
from whistle.webhooks import verify


async def test_assignment_reaches_the_receiver_signed(
    start_server: StartServer, county: Hierarchy, county_dir: Path, tmp_path: Path
) -> None:
    server, seen, bodies = await receiver(200)
    try:
        member = grid_member(county)
        config = config_with_hook(county_dir, tmp_path, member, str(server.make_url("/hook")))
        live = await start_server(config=config)
        cases = Cases(live, county)
        doc = await cases.new()
        await delivered(live.app)
        assert len(seen) == 1
        request, body = seen[0], bodies[0]
        stamp = int(request.headers["X-Whistle-Timestamp"])
        assert verify(SECRET, stamp, body, request.headers["X-Whistle-Signature"], now=stamp)
        payload = orjson.loads(body)
        assert payload["responder_id"] == member
        assert payload["notice"] == "assignment"
        assert payload["event"]["whistle_id"] == doc["id"]
        assert payload["assignment_id"] == doc["assignments"][0]["id"]
        assert "notify" not in payload["event"]["data"]
    finally:
        await server.close()


async def test_refused_notice_is_recorded_on_the_case(
    start_server: StartServer, county: Hierarchy, county_dir: Path, tmp_path: Path
) -> None:
    server, seen, _ = await receiver(410)  # gone: a final refusal, not retried
    try:
        member = grid_member(county)
        config = config_with_hook(county_dir, tmp_path, member, str(server.make_url("/hook")))
        live = await start_server(config=config)
        cases = Cases(live, county)
        doc = await cases.new()
        await delivered(live.app)
        assert len(seen) == 1
        doc = await cases.get(doc["id"])
        assert doc["case"]["notification_failures"] == 1
        failed = [e for e in doc["timeline"] if e["type"] == "notification.failed"]
        assert len(failed) == 1
        assert failed[0]["data"]["responder_id"] == member
        assert "notify" not in failed[0]["data"]
    finally:
        await server.close()


async def test_bad_webhooks_file_stops_check_config(
    county_dir: Path, tmp_path: Path, capsys: Any
) -> None:
    from whistle.cli import main

    config = config_with_hook(county_dir, tmp_path, "NOBODY", "ftp://x")
    assert main(["check-config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "webhooks.csv" in err
    assert "NOBODY" in err
