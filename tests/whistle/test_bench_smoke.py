"""The benchmark script runs end to end at a tiny size (its figures are not asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest
from whistle_support import run_bench


@pytest.mark.slow
def test_intake_bench_runs_and_loses_nothing(tmp_path: Path, county_dir: Path) -> None:
    report, stdout = run_bench(
        "intake.py",
        tmp_path / "bench.json",
        *("--requests", "60", "--concurrency", "4", "--config", str(county_dir)),
    )
    assert report["acknowledged_missing_from_db"] == 0
    assert report["intake"]["errors"] == {}
    assert report["intake"]["whistles_per_s"] > 0
    assert "| intake whistles/s" in stdout
