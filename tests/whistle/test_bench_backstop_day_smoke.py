"""The day's simulated sample (bench/backstop_day.py) runs at a tiny size over the shipped
county. Its figures are counts, not timings, so the town's target is asserted here too."""

from __future__ import annotations

from pathlib import Path

from tests.support.harness import run_bench


def test_a_days_sample_sends_under_five_percent_to_the_backstop_in_every_hour(
    tmp_path: Path,
) -> None:
    report, stdout = run_bench("backstop_day.py", tmp_path / "day.json", "--size", "tiny")

    hours = report["details"]["hours"]
    assert [row["hour"] for row in hours] == list(range(24))
    assert sum(row["whistles"] for row in hours) == report["details"]["whistles"] == 120
    assert sum(row["assignments"] for row in hours) == report["details"]["assignments"]
    # Off hours are in the sample, and the rota covers them (值班).
    assert sum(row["assignments"] for row in hours if row["hour"] >= 18) > 0
    assert report["details"]["covered"] > 0
    assert report["details"]["share"] < 0.05
    rows = {row["measure"]: row for row in report["rows"]}
    assert rows["share at the backstop, day"]["met"] is True
    assert "| 18:00 |" in stdout
    assert "| backstop_day | share at the backstop, day |" in stdout
