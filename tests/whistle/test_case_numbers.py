"""受理编号: short case numbers, drawn by the database in the whistle's own transaction.

Real servers over real SQLite files: concurrent intake, a restart, a new month, and two
processes drawing from one database file at once.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from grids import Hierarchy, Level
from tests.support.harness import Live, StartServer
from whistle.bus import Bus
from whistle.clock import FakeClock
from whistle.store.case_numbers import MAX_LENGTH, format_number, letters, prefix
from whistle.store.sqlite import SqliteStore


def _micro_grids_by_town(county: Hierarchy) -> dict[str, list[str]]:
    towns: dict[str, list[str]] = defaultdict(list)
    for cell in county.cells(level=Level.MICRO_GRID):
        towns[county.at_level(cell.code, Level.TOWN).code].append(cell.code)
    return towns


def _body(grid: str, n: int = 0) -> dict[str, Any]:
    return {
        "source": "citizen",
        "category": "E0102",
        "description": f"楼道堆物 {n}",
        "location": {"grid": grid},
    }


async def _file(live: Live, grid: str, n: int = 0) -> dict[str, Any]:
    status, _, doc = await live.post(_body(grid, n))
    assert status == 201, doc
    return doc


def test_a_case_number_is_the_towns_letters_the_month_and_a_sequence() -> None:
    when = datetime(2026, 12, 3, 17, 0, tzinfo=UTC)  # 4 December 01:00 in Shanghai
    assert letters("530524101") == "DX"  # 101 = 3 * 26 + 23
    assert prefix("530524101", when, _shanghai()) == "DX2612-"
    assert format_number("DX2612-", 42) == "DX2612-0042"
    assert format_number("DX2612-", 99_999) == "DX2612-99999"
    assert len("DX2612-99999") == MAX_LENGTH
    # Past twelve characters there is no number (the whistle is kept without one).
    assert format_number("DX2612-", 100_000) is None
    # The month is the deployment's: 31 December 20:00 UTC is already January in Shanghai.
    assert prefix("530524101", datetime(2026, 12, 31, 20, tzinfo=UTC), _shanghai()) == "DX2701-"


def _shanghai() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Shanghai")


async def test_concurrent_intake_draws_distinct_numbers_in_sequence_per_town(
    live: Live, county: Hierarchy
) -> None:
    towns = _micro_grids_by_town(county)
    assert len(towns) == 2
    grids = [cells[i % len(cells)] for cells in towns.values() for i in range(15)]
    docs = await asyncio.gather(*(_file(live, grid, n) for n, grid in enumerate(grids)))
    numbers = [d["case_number"] for d in docs]
    assert len(set(numbers)) == len(numbers) == 30
    assert all(len(n) <= MAX_LENGTH for n in numbers)
    by_prefix: dict[str, list[int]] = defaultdict(list)
    for doc in docs:
        town = county.at_level(doc["grid"]["code"], Level.TOWN).code
        head, _, tail = doc["case_number"].partition("-")
        assert head[:2] == letters(town)
        by_prefix[head].append(int(tail))
    assert sorted(len(v) for v in by_prefix.values()) == [15, 15]
    for sequence in by_prefix.values():
        assert sorted(sequence) == list(range(1, 16))  # no gap, no repeat
    # Stored with the whistle, in its document, its list item and its received event.
    doc = docs[7]
    status, stored = await live.get(f"/api/v1/whistles/{doc['id']}")
    assert status == 200
    assert stored["case_number"] == doc["case_number"]
    received = next(e for e in stored["timeline"] if e["type"] == "whistle.received")
    assert received["data"]["case_number"] == doc["case_number"]
    status, found = await live.get(f"/api/v1/whistles?case_number={doc['case_number'].lower()}")
    assert status == 200
    assert [i["id"] for i in found["items"]] == [doc["id"]]
    assert found["items"][0]["case_number"] == doc["case_number"]
    # The number stands in for the id when an operator reads a case.
    status, by_number = await live.get(f"/api/v1/whistles/{doc['case_number']}")
    assert (status, by_number["id"]) == (200, doc["id"])


async def test_a_bad_case_number_in_the_list_is_a_400_naming_the_field(live: Live) -> None:
    status, problem = await live.get("/api/v1/whistles?case_number=12345")
    assert status == 400
    assert problem["errors"][0]["field"] == "case_number"


async def test_numbering_continues_after_a_restart_and_never_reuses_a_number(
    start_server: StartServer, county: Hierarchy, tmp_path: Path
) -> None:
    grid = next(county.cells(level=Level.MICRO_GRID)).code
    db = tmp_path / "restart.sqlite3"
    first = await start_server(db=db)
    before = [(await _file(first, grid, n))["case_number"] for n in range(3)]
    await first.client.close()
    second = await start_server(db=db)
    after = [(await _file(second, grid, n))["case_number"] for n in range(2)]
    head = before[0][:7]
    assert before + after == [f"{head}{n:04d}" for n in range(1, 6)]


async def test_a_new_month_starts_its_own_sequence(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    grid = next(county.cells(level=Level.MICRO_GRID)).code
    first = (await _file(live, grid))["case_number"]
    clock.advance(timedelta(days=32))
    second = (await _file(live, grid))["case_number"]
    assert first.endswith("-0001")
    assert second.endswith("-0001")
    assert first[:2] == second[:2]
    assert first[2:6] != second[2:6]


ROOT = Path(__file__).resolve().parents[2]
_DRAW = """
import sqlite3, sys
from whistle.store.case_numbers import allocate
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
drawn = []
for _ in range(int(sys.argv[2])):
    db.execute("BEGIN IMMEDIATE")
    drawn.append(allocate(db, "AA2612-"))
    db.execute("COMMIT")
print(" ".join(drawn))
"""


async def test_two_processes_sharing_one_database_never_draw_the_same_number(
    tmp_path: Path,
) -> None:
    db = tmp_path / "shared.sqlite3"
    store = SqliteStore(db, Bus())
    await store.open()  # migrated: the case_numbers table exists
    await store.close()
    procs = [
        subprocess.Popen(  # noqa: ASYNC220 - both must run at once; waited for below
            [sys.executable, "-c", _DRAW, str(db), "150"], cwd=ROOT, stdout=subprocess.PIPE
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120)[0].decode().split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    drawn = outputs[0] + outputs[1]
    assert len(set(drawn)) == 300
    assert sorted(drawn) == [f"AA2612-{n:04d}" for n in range(1, 301)]
