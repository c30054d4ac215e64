"""The places benchmark runs end to end at a tiny size (its timings are not asserted: only
that every kind of address was placed as it should be, or held)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.harness import run_bench


@pytest.mark.slow
def test_places_bench_places_aliases_and_chains_and_holds_the_rest(
    tmp_path: Path, county_dir: Path
) -> None:
    report, stdout = run_bench(
        "places.py", tmp_path / "places.json", "--size", "tiny", "--config", str(county_dir)
    )
    details = report["details"]
    assert details["aliases"] > 0
    kinds = details["kinds"]
    assert kinds["alias in a full address"]["share"] == 1.0
    assert kinds["chain of grid names"]["share"] == 1.0
    assert kinds["only a town (held)"]["share"] == 0.0
    assert kinds["no known name (held)"]["share"] == 0.0
    assert "build the gazetteer" in stdout
