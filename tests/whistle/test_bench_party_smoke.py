"""The party-building benchmark runs end to end at a tiny size (its figures are not
asserted: only that the sample was written and the figures read it back)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.harness import run_bench


@pytest.mark.slow
def test_party_bench_writes_the_sample_and_times_the_figures(
    tmp_path: Path, county_dir: Path
) -> None:
    report, stdout = run_bench(
        "party.py", tmp_path / "party.json", "--size", "tiny", "--config", str(county_dir),
        "--repeat", "2",
    )  # fmt: skip
    measures = {row["measure"] for row in report["rows"]}
    assert {"summary, county p50", "双报告 p50", "sample: write"} <= measures
    assert report["details"]["county"]["units"]["total"] == 87
    assert report["details"]["county"]["board"]["claimed"] == 300
    assert "summary, county p99" in stdout
