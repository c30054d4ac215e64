"""The benchmark script runs end to end at a tiny size (its figures are not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_intake_bench_runs_and_loses_nothing(tmp_path: Path, county_dir: Path) -> None:
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "intake.py"),
            "--requests",
            "60",
            "--concurrency",
            "4",
            "--config",
            str(county_dir),
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["acknowledged_missing_from_db"] == 0
    assert report["intake"]["errors"] == {}
    assert report["intake"]["whistles_per_s"] > 0
    assert "| intake whistles/s" in result.stdout
