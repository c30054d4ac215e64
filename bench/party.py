"""Party-building benchmark (issue 19): the sample county's party records and how long the
committee's figures take over them.

Generates the sample (``whistle.party.sample``: on the shipped county 87 units, 2,600 members
registered, 3,000 claims, about 6,700 报到) into a fresh database through the store's writer,
then times ``whistle.party.summary`` (what ``GET /api/v1/party/summary`` and the /party page
compute: every count, the unit shares and the hours tables) for the county and for its first
town, and a unit's 双报告, each ``--repeat`` times (p50 and p99).

    python bench/party.py [--size tiny|full|large] [--json PATH] [--config config]

``tiny`` (the smoke test) scales the sample down to a tenth on the given county.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Row, parser, percentile, write_report  # noqa: E402
from grids import Level  # noqa: E402
from grids.loader import load_hierarchy  # noqa: E402
from whistle.bus import Bus  # noqa: E402
from whistle.party import Window, cell_path, summary, unit_report  # noqa: E402
from whistle.party.sample import generate, load_sample  # noqa: E402
from whistle.store import PartyKind, PartyQuery, SqliteStore  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
TINY = {
    "members": 260,
    "projects": 340,
    "claims": 300,
    "completed": 260,
    "teams": 6,
    "pairings": 30,
}


async def _time(repeat: int, work: Any) -> list[float]:
    took = []
    for _ in range(repeat):
        began = time.perf_counter()
        await work()
        took.append((time.perf_counter() - began) * 1000)
    return sorted(took)


async def run(config: Path, size: str, repeat: int) -> tuple[list[Row], dict[str, Any]]:
    hierarchy = load_hierarchy(config)
    now = datetime.now(UTC)
    began = time.perf_counter()
    sample = generate(hierarchy, now, TZ, **(TINY if size == "tiny" else {}))
    generated = time.perf_counter() - began
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "party.sqlite3", Bus())
        await store.open()
        try:
            began = time.perf_counter()
            await load_sample(store.party, sample)
            written = time.perf_counter() - began
            town = next(hierarchy.cells(level=Level.TOWN))
            year = (now - timedelta(days=365), now)
            county_w = Window(None, *year, now)
            town_w = Window(cell_path(town), *year, now)
            unit = (await store.party.find(PartyQuery(PartyKind.UNIT, limit=1)))[0]
            county = await _time(repeat, lambda: summary(store.party, county_w, {}))
            in_town = await _time(repeat, lambda: summary(store.party, town_w, {}))
            report = await _time(repeat, lambda: unit_report(store.party, unit.id, county_w))
            figures = await summary(store.party, county_w, {})
        finally:
            await store.close()
    counts = sample.counts()
    rows = [
        Row("party", "sample records", len(sample.records), "", note=f"{counts}"),
        Row("party", "sample: generate", round(generated, 2), "s"),
        Row(
            "party", "sample: write", round(written, 2), "s", note="group writer, 2,000 rows a unit"
        ),
    ]
    timed = (("summary, county", county), (f"summary, {town.name}", in_town), ("双报告", report))
    for name, took in timed:
        rows.append(Row("party", f"{name} p50", round(statistics.median(took), 1), "ms"))
        rows.append(Row("party", f"{name} p99", round(percentile(took, 0.99), 1), "ms"))
    details = {"counts": counts, "county": {k: figures[k] for k in ("units", "board", "pairings")}}
    return rows, details


def main() -> int:
    p = parser(__doc__ or "")
    p.add_argument("--config", type=Path, default=ROOT / "config")
    p.add_argument("--repeat", type=int, default=20)
    args = p.parse_args()
    rows, details = asyncio.run(run(args.config, args.size, args.repeat))
    write_report(args.json, "party", args.size, rows, details)
    return 0


if __name__ == "__main__":
    sys.exit(main())
