"""The PostgreSQL bench runs end to end at a tiny size (its figures are not asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.harness import run_bench
from tests.support.postgres import require_postgres


@pytest.mark.slow
def test_postgres_bench_loads_one_to_three_processes_and_sqlite_and_loses_nothing(
    tmp_path: Path, county_dir: Path
) -> None:
    require_postgres()
    report, stdout = run_bench(
        "postgres.py", tmp_path / "postgres.json", "--size", "tiny", "--config", str(county_dir)
    )
    assert report["section"] == "postgres"
    missing = [r for r in report["rows"] if r["measure"].endswith("acknowledged but missing")]
    assert [r["measure"].split(":")[0] for r in missing] == [
        "SQLite, 1 process",
        "PostgreSQL, 1 process",
        "PostgreSQL, 2 processes",
        "PostgreSQL, 3 processes",
    ]
    assert all(r["value"] == 0 for r in missing)
    for system in ("sqlite", "postgres_1", "postgres_2", "postgres_3"):
        assert report["details"][system]["acknowledged"] > 0, system
    assert "| postgres | PostgreSQL, 3 processes" in stdout
