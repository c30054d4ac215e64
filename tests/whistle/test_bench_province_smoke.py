"""The province start-up benchmark runs end to end at a tiny size (its figures are not
asserted, only that each is there and the servers it started are gone)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.harness import run_bench

MEASURES = (
    "province cold start to /readyz s",
    "province cold start peak MiB",
    "province cold place names s",
    "province warm start to /readyz s",
    "province warm resident MiB",
    "province PSS of 1 server MiB",
    "province PSS of 2 servers MiB",
    "province PSS of 3 servers MiB",
)


@pytest.mark.slow
def test_province_bench_reports_every_figure(tmp_path: Path) -> None:
    report, stdout = run_bench("province.py", tmp_path / "province.json", "--size", "tiny")

    rows = {row["measure"].replace(" (smaller)", ""): row for row in report["rows"]}
    assert sorted(rows) == sorted(MEASURES)
    for measure, row in rows.items():
        # The tiny province's names are indexed before /readyz: they may take no time after.
        assert row["value"] > 0 or measure == "province cold place names s", measure
    details = report["details"]
    # Two servers share the mapped cache: together they cost less than twice one.
    assert details["warm2"]["pss_sum_mib"] < 2 * details["warm1"]["pss_sum_mib"]
    assert "| province | province (smaller) PSS of 3 servers MiB |" in stdout
