"""The party-building sample: deterministic, in the headline numbers of Tianyuan Town's report
on the shipped county, and written by ``whistle sample-party`` into a database the committee's
figures then read."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from grids import Hierarchy
from grids.loader import load_hierarchy
from tests.support.harness import SHIPPED
from whistle.bus import Bus
from whistle.party import Window, summary
from whistle.party.sample import generate
from whistle.store import open_store

NOW = datetime(2026, 12, 4, 4, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[3]
TZ = ZoneInfo("Asia/Shanghai")


def test_the_same_seed_and_day_make_the_same_sample(county: Hierarchy) -> None:
    kw = {"members": 40, "projects": 60, "claims": 50, "completed": 30, "teams": 3, "pairings": 5}
    one = generate(county, NOW, TZ, **kw)  # type: ignore[arg-type]
    two = generate(county, NOW, TZ, **kw)  # type: ignore[arg-type]
    assert one.records == two.records
    assert one.hours == two.hours
    other = generate(county, NOW, TZ, seed=7, **kw)  # type: ignore[arg-type]
    assert other.records != one.records


def test_no_unit_of_the_sample_has_more_members_registered_than_it_has() -> None:
    sample = generate(load_hierarchy(SHIPPED), NOW, TZ)
    registered: dict[str, int] = {}
    for record in sample.records:
        if record.kind.value == "registration" and record.doc.get("of") == "member":
            registered[str(record.ref)] = registered.get(str(record.ref), 0) + 1
    sizes = {r.id: int(r.doc["members"]) for r in sample.records if r.kind.value == "unit"}
    assert registered, "the sample registers members"
    over = {unit: (n, sizes[unit]) for unit, n in registered.items() if n > sizes[unit]}
    assert not over, over


def test_the_shipped_sample_is_close_to_tianyuans_numbers() -> None:
    counts = generate(load_hierarchy(SHIPPED), NOW, TZ).counts()
    assert counts["unit"] == 87
    assert counts["claim"] == 3000
    assert 6000 <= counts["报到"] <= 7200
    assert counts["registration"] >= 2600


def _sample_party(db: Path, config: Path) -> int:
    """``whistle sample-party`` as a person runs it: in a process of its own (it configures
    logging for the command line, which would stay configured in this one)."""
    done = subprocess.run(
        [sys.executable, "-m", "whistle.cli", "sample-party", "--db", str(db),
         "--config", str(config)],
        capture_output=True, text=True, timeout=300, check=False, cwd=ROOT,
    )  # fmt: skip
    return done.returncode


def test_sample_party_writes_what_the_summary_reads(tmp_path: Path, county_dir: Path) -> None:
    db = tmp_path / "party.sqlite3"
    assert _sample_party(db, county_dir) == 0
    assert _sample_party(db, county_dir) == 1  # once
    figures = asyncio.run(_figures(db))
    assert figures["units"]["total"] == 87
    assert figures["board"]["claimed"] > 0
    assert figures["board"]["completed"] > 0
    assert figures["hours"]["reports"] > 0
    assert figures["pairings"]["active"] > 0


async def _figures(db: Path) -> dict[str, Any]:
    store = await open_store(db, Bus())
    try:
        now = datetime.now(UTC)
        figures = await summary(store.party, Window(None, now - timedelta(days=365), now, now), {})
    finally:
        await store.close()
    return figures
