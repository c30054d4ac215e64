"""The search benchmark runs end to end at a tiny size (its figures are not asserted: only
that every kind of query ran and found what the built rows hold)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.harness import run_bench

KINDS = (
    "word (≥3 characters)",
    "rare word (a reporter)",
    "place name",
    "受理编号 fragment",
    "two characters (LIKE scan)",
    "town + 大类 + word",
    "open queue by time left + word",
    "open queue by time left, no word",
)


@pytest.mark.slow
def test_search_bench_builds_the_cases_and_times_every_kind_of_query(
    tmp_path: Path, county_dir: Path
) -> None:
    report, stdout = run_bench(
        "search.py",
        tmp_path / "search.json",
        *("--size", "tiny", "--config", str(county_dir), "--db", str(tmp_path / "s.sqlite3")),
    )
    details = report["details"]
    assert details["build"]["cases"] == 5_000
    assert sorted(details["queries"]) == sorted(KINDS)
    for kind in ("word (≥3 characters)", "place name", "two characters (LIKE scan)"):
        assert details["queries"][kind]["rows_per_page"] > 0, kind
    writes = details["write_path"]
    assert writes["with_ms"] > 0
    assert writes["without_ms"] > 0
    assert "| search | intake write" in stdout
