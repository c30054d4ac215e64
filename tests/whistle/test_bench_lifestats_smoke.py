"""The lifecycle and statistics benchmarks run end to end at a tiny size (figures are not
asserted: only that every row came out and nothing was lost or left unarmed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.harness import run_bench


@pytest.mark.slow
def test_lifecycle_bench_answers_every_transition_and_rearms_every_pending_row(
    tmp_path: Path, county_dir: Path
) -> None:
    report, stdout = run_bench(
        "lifecycle.py",
        tmp_path / "lifecycle.json",
        *("--size", "tiny", "--config", str(county_dir), "--work", str(tmp_path / "work")),
    )
    measures = [row["measure"] for row in report["rows"]]
    for expected in (
        "transitions/s",
        "transition p50 / p99",
        "deadlines held after",
        "memory per pending deadline",
        "re-arm",
        "whistle serve start to ready",
        "section wall time",
    ):
        assert any(m.startswith(expected) for m in measures), (expected, measures)
    transitions = report["details"]["transitions"]
    assert transitions["acted_on"] > 0
    # Acknowledge and resolve of every case acted on, each answered 200.
    assert transitions["statuses"] == {"200": 2 * transitions["acted_on"]}
    assert transitions["held_after_intake"] > 0
    rearm = report["details"]["rearm"]
    assert rearm["pending_rows"] >= 600
    assert rearm["rearmed"] == rearm["pending_rows"]
    assert rearm["serve_rearmed"] == rearm["pending_rows"]
    assert rearm["fired_at_start"] == 0
    assert report["details"]["memory"]["bytes_per_deadline"] > 0
    assert "| lifecycle | re-arm" in stdout


@pytest.mark.slow
def test_stats_bench_generates_every_case_and_times_each_query(
    tmp_path: Path, county_dir: Path
) -> None:
    report, stdout = run_bench(
        "stats.py",
        tmp_path / "stats.json",
        *("--size", "tiny", "--config", str(county_dir), "--db", str(tmp_path / "b.sqlite3")),
    )
    details = report["details"]
    assert details["cases"] == 3_000
    assert details["generation"]["stepped"] > 0
    assert details["queries"]["county"]["counts"]["total"] == 3_000
    assert 0 < details["queries"]["town"]["counts"]["total"] < 3_000
    measures = [row["measure"] for row in report["rows"]]
    for expected in (
        "generation, 3,000 cases",
        "county-year statistics, 3,000 cases",
        "county drill-down, 3,000 cases",
        "town-year statistics, 3,000 cases",
        "town drill-down, 3,000 cases",
        "section wall time",
    ):
        assert expected in measures, (expected, measures)
    assert all(row["value"] for row in report["rows"])
    assert "| stats | county-year statistics" in stdout
