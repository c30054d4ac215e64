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
    for name in ("same rules, one process", "same rules, two processes"):
        assert replays[name]["cases"] == 3_000
        assert replays[name]["changed"] == 0
    assert (
        replays["same rules, two processes"]["rates"] == replays["same rules, one process"]["rates"]
    )
    assert 0 < replays["changed rule, two processes"]["changed"] < 3_000
    assert "| replay | county-year replay, same rules" in stdout
