"""The benchmark scripts run end to end at a tiny size (their figures are not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.harness import run_bench

BENCH = Path(__file__).resolve().parents[2] / "bench"


def row(report: dict[str, Any], measure: str) -> dict[str, Any]:
    """The report's row whose measure starts with ``measure``."""
    found = [r for r in report["rows"] if r["measure"].startswith(measure)]
    assert len(found) == 1, [r["measure"] for r in report["rows"]]
    return found[0]


@pytest.mark.slow
def test_intake_bench_loads_the_pipeline_and_both_bounds_and_loses_nothing(
    tmp_path: Path, county_dir: Path
) -> None:
    report, stdout = run_bench(
        "intake.py", tmp_path / "intake.json", "--size", "tiny", "--config", str(county_dir)
    )
    assert report["section"] == "intake"
    assert row(report, "acknowledged but missing")["value"] == 0
    assert row(report, "pipeline answers other than 201")["value"] == 0
    details = report["details"]
    for system in ("bare", "ceiling", "pipeline"):
        assert details[system]["acknowledged"] > 0, system
        assert details[system]["failures"] == {}, system
    assert details["ceiling"]["acknowledged_missing"] == 0
    assert "| intake | pipeline / ceiling |" in stdout
    # What each whistle cost, by thread, from /proc; and bytes stored and written.
    costs = details["costs"]
    assert costs["whistles"] == details["pipeline"]["acknowledged"]
    assert costs["loop_us"] > 0
    assert costs["writer_us"] > 0
    assert costs["stored_bytes"] > 0
    assert costs["written_bytes"] > 0
    # wrk posted whistles, not GET / (a script error makes it do that, answered 200).
    wrk = details["wrk"]
    assert wrk["requests"] > 0
    assert wrk["non_2xx"] == 0
    assert details["stored"] >= details["pipeline"]["acknowledged"] + wrk["requests"]
    assert "| intake | wrk / Python client |" in stdout


@pytest.mark.slow
def test_camera_bench_stores_every_acknowledged_detection(tmp_path: Path, county_dir: Path) -> None:
    report, stdout = run_bench(
        "camera.py", tmp_path / "camera.json", "--size", "tiny", "--config", str(county_dir)
    )
    assert row(report, "acknowledged but missing")["value"] == 0
    assert row(report, "detections sent but not stored")["value"] == 0
    lines = report["details"]["lines"]
    # A burst's first detection opens a case and its repeats group into it.
    assert lines["created"] > 0
    assert lines["grouped"] > 0
    assert report["details"]["load"]["statuses"] == {"200": report["details"]["load"]["sent"]}
    assert "| camera | detections/s" in stdout


@pytest.mark.slow
def test_the_runner_merges_the_sections_it_is_given(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    done = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--size", "tiny", "--sections", "intake",
         "--out", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert list(result["sections"]) == ["intake"]
    assert result["sections"]["intake"]["exit"] == 0
    assert {r["section"] for r in result["rows"]} == {"intake"}
    assert row(result, "acknowledged but missing")["value"] == 0
    assert "## All sections" in done.stdout
    assert (out / "results.md").read_text(encoding="utf-8").startswith("| section |")
