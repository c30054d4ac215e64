"""``whistle replay`` as a person runs it: one JSON object with ``--json``, the same figures
split over two processes, a report in text without it, and a stored ``--version``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from grids import Hierarchy
from tests.support.harness import Live
from tests.support.replay import FIRST_DAY, LAST_DAY, record_month, rules_variant
from tests.whistle.replay.test_engine import STREETLIGHT_TO_TOWN
from whistle.clock import FakeClock

ROOT = Path(__file__).resolve().parents[3]


def whistle(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "whistle.cli", "replay", *args],
        capture_output=True, text=True, timeout=300, check=False, cwd=ROOT,
    )  # fmt: skip


@pytest.fixture
async def recorded(live: Live, county: Hierarchy, clock: FakeClock) -> Path:
    await record_month(live, county, clock, n=64)
    await live.client.close()
    return live.db


def _json(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)  # type: ignore[no-any-return]


@pytest.mark.slow
async def test_the_command_prints_one_json_object_and_two_processes_agree_with_one(
    recorded: Path, county_dir: Path, tmp_path: Path
) -> None:
    proposed = rules_variant(county_dir, tmp_path / "p", rules=STREETLIGHT_TO_TOWN)
    period = ("--db", str(recorded), "--from", FIRST_DAY, "--to", LAST_DAY)
    one = _json(whistle(*period, "--config", str(proposed), "--json", "--workers", "1"))
    two = _json(whistle(*period, "--config", str(proposed), "--json", "--workers", "2"))
    assert one["cases"] == two["cases"] == 64
    assert one["changed"] == two["changed"] > 0
    for key in ("rates", "kinds", "levels", "units", "busiest"):
        assert one[key] == two[key], key
    assert [c["id"] for c in one["changed_cases"]] == [c["id"] for c in two["changed_cases"]]
    text = whistle(*period, "--config", str(proposed))
    assert text.returncode == 0, text.stderr[-2000:]
    assert f"{one['cases']} cases replayed, {one['changed']} routed differently" in text.stdout
    assert "响应率" in text.stdout


async def test_a_stored_version_replays_and_one_not_stored_is_refused_clearly(
    recorded: Path, county_dir: Path
) -> None:
    period = ("--db", str(recorded), "--from", FIRST_DAY, "--to", LAST_DAY)
    # Version 1 is the files the server started on, which routed every recorded case.
    same = _json(whistle(*period, "--version", "1", "--grids", str(county_dir), "--json"))
    assert (same["cases"], same["changed"]) == (64, 0)
    for asked, said in (("7", "no such version"), ("v7", "not a version number")):
        done = whistle(*period, "--version", asked, "--grids", str(county_dir))
        assert done.returncode == 2
        assert said in done.stderr, done.stderr
