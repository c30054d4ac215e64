"""The config swap benchmark runs end to end at a tiny size: a version applied and rolled
back under load, no whistle refused (the figures themselves are not asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.harness import run_bench


@pytest.mark.slow
def test_config_swap_bench_applies_and_rolls_back_under_load(
    tmp_path: Path, county_dir: Path
) -> None:
    report, _ = run_bench(
        "config_swap.py", tmp_path / "swap.json", "--size", "tiny", "--config", str(county_dir)
    )
    rows = {row["measure"]: row for row in report["rows"]}
    refused = rows["answers other than 201 during apply + rollback (4 clients)"]
    assert (refused["value"], refused["met"]) == (0, True)
    assert [step["version"] for step in report["details"]["steps"]] == [2, 1]
    # In answer order: whistles in flight at a swap finish under the version they started
    # with, so the runs may alternate around each swap; they start and end with version 1.
    runs = report["details"]["runs"]
    assert (runs[0], runs[-1], set(runs)) == (1, 1, {1, 2})
