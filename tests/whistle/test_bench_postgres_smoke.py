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
    systems = [
        "SQLite, 1 process",
        *(f"PostgreSQL, {n} process{'es' * (n > 1)}" for n in (1, 2, 3)),
    ]
    kinds = ("", "camera opening a case each: ", "camera into open cases: ")
    missing = [r for r in report["rows"] if r["measure"].endswith("acknowledged but missing")]
    assert [r["measure"] for r in missing] == [
        f"{kind}{system}: acknowledged but missing" for system in systems for kind in kinds
    ]
    assert all(r["value"] == 0 for r in missing)
    for kind in ("opening a case each", "into open cases"):
        rates = [r for r in report["rows"] if r["measure"].startswith(f"camera {kind}: ")
                 and r["unit"] == "detections/s"]  # fmt: skip
        assert len(rates) == 4, kind
        assert all(r["value"] > 0 and "p99" in r["note"] and "CPU" in r["note"] for r in rates)
    for system in ("sqlite", "postgres_1", "postgres_2", "postgres_3"):
        assert report["details"][system]["acknowledged"] > 0, system
        for kind in ("opening", "repeats"):
            assert report["details"][f"{system}_{kind}"]["acknowledged"] > 0, (system, kind)
    assert "| postgres | PostgreSQL, 3 processes" in stdout
