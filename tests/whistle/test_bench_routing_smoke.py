"""The routing benchmark runs end to end at a tiny size (its figures are not asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.harness import run_bench

MEASURES = (
    "county µs per whistle",
    "county locate µs",
    "county load s",
    "county memory MiB",
    "province cells",
    "province generation s",
    "province load s",
    "province memory MiB",
    "province µs per whistle",
)


@pytest.mark.slow
def test_routing_bench_reports_every_figure(tmp_path: Path) -> None:
    report, stdout = run_bench("routing.py", tmp_path / "routing.json", "--size", "tiny")

    rows = {row["measure"].split(" (")[0]: row for row in report["rows"]}
    assert sorted(rows) == sorted(MEASURES)
    for measure, row in rows.items():
        assert row["value"] > 0, measure
    assert report["details"]["province"]["cells"] == rows["province cells"]["value"]
    assert "| routing | province µs per whistle |" in stdout
