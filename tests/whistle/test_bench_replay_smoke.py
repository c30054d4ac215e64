"""The replay benchmark runs end to end at a tiny size: same rules reproduce every route, the
changed rule moves some (its timing is measured, never asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.harness import run_bench


@pytest.mark.slow
def test_replay_bench_reproduces_every_route_and_moves_the_changed_rules_cases(
    tmp_path: Path, county_dir: Path
) -> None:
    report, stdout = run_bench(
        "replay.py",
        tmp_path / "replay.json",
        *("--size", "tiny", "--config", str(county_dir), "--db", str(tmp_path / "r.sqlite3")),
    )
    replays = report["details"]["replays"]
    assert replays["same rules"]["cases"] == 3_000
    assert replays["same rules"]["changed"] == 0
    assert 0 < replays["changed rule"]["changed"] < 3_000
    assert "| replay | county-year replay, same rules" in stdout
