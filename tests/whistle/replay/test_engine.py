"""What-if replay against a month recorded through the real intake: unchanged rules reproduce
every recorded route and the recorded figures; a changed rule moves exactly its cases; the
store is never written."""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from grids import Hierarchy
from tests.support.harness import Live
from tests.support.replay import FIRST_DAY, LAST_DAY, STREETLIGHT, record_month, rules_variant
from whistle.clock import FakeClock
from whistle.replay import Period, ProposedRules, replay
from whistle.replay.recorded import connect_readonly
from whistle.store import StatsQuery
from whistle.web.keys import STORE

PERIOD = Period(date.fromisoformat(FIRST_DAY), date.fromisoformat(LAST_DAY))


@pytest.fixture
async def month(live: Live, county: Hierarchy, clock: FakeClock) -> list[str]:
    return await record_month(live, county, clock)


def _digest(db: Path) -> tuple[str, bytes]:
    """The database file's hash and its write-ahead log's content (SQLite may leave an empty
    log beside a WAL database even for a reader; a write would put frames in it)."""
    wal = Path(f"{db}-wal")
    return hashlib.sha256(db.read_bytes()).hexdigest(), wal.read_bytes() if wal.exists() else b""


async def test_unchanged_rules_reproduce_every_recorded_route(
    live: Live, month: list[str], county_dir: Path, clock: FakeClock
) -> None:
    report = replay(live.db, PERIOD, ProposedRules.from_dir(county_dir), now=clock.now())
    assert report["cases"] == len(month)
    assert report["changed"] == 0
    assert report["retimed"] == 0
    assert report["changed_cases"] == []
    assert report["skipped"] == {}
    before, after = report["rates"]["before"], report["rates"]["after"]
    assert before == after
    assert all(row["before"] == row["after"] for row in report["kinds"] + report["levels"])
    assert report["busiest"]["before"] == report["busiest"]["after"]
    # The many whistles sharing inputs were routed once.
    assert report["routing"]["routed"] + report["routing"]["from_cache"] == len(month)


async def test_recorded_figures_are_the_statistics_figures(
    live: Live, month: list[str], county_dir: Path, clock: FakeClock, county: Hierarchy
) -> None:
    report = replay(live.db, PERIOD, ProposedRules.from_dir(county_dir), now=clock.now())
    stats = await live.app[STORE].statistics(
        StatsQuery(f"/{county.root}/", PERIOD.since, PERIOD.until, clock.now())
    )
    counts: dict[str, Any] = stats["counts"]
    before = report["rates"]["before"]
    assert before["response_due"] == counts["response_due"] > 0
    assert before["responded_in_time"] == counts["responded_in_time"] > 0
    assert before["due_not_held"] == counts["due_not_held"] > 0
    assert before["closed_on_time"] == counts["closed_on_time"] > 0


STREETLIGHT_TO_TOWN = f"""
[[rule]]
id = "citizen-streetlight"
source = "citizen"
name = "群众吹哨·路灯归城管"
description = "Street lights go to the town's grid department, not the grid."
categories = ["{STREETLIGHT}"]

[[rule.report]]
kind = "grid_department"
level = "town"
"""


async def test_a_changed_rule_moves_exactly_its_cases(
    live: Live, month: list[str], county_dir: Path, clock: FakeClock, tmp_path: Path
) -> None:
    proposed = rules_variant(county_dir, tmp_path / "p", rules=STREETLIGHT_TO_TOWN)
    store = live.app[STORE]
    docs = [(await store.get_whistle(wid)).document() for wid in month]  # type: ignore[union-attr]
    expected = {
        d["id"] for d in docs if d["source"] == "citizen" and d["category"]["code"] == STREETLIGHT
    }
    assert expected
    report = replay(live.db, PERIOD, ProposedRules.from_dir(proposed), now=clock.now())
    moved = {c["id"] for c in report["changed_cases"]}
    assert report["changed"] == len(expected)
    assert moved == expected
    for case in report["changed_cases"]:
        assert case["rule_before"] == "citizen"
        assert case["rule_after"] == "citizen-streetlight"
        assert {a["kind"] for a in case["after"]} == {"grid_department"}
        assert "registered_member" in {a["kind"] for a in case["before"]}
        assert all(a["explain"] and a["steps"] for a in case["before"] + case["after"])
    kinds = {row["kind"]: row for row in report["kinds"]}
    assert kinds["grid_department"]["delta"] == len(expected)
    assert kinds["registered_member"]["delta"] == -len(expected)


async def test_a_shorter_report_limit_changes_deadlines_and_the_response_rate_only(
    live: Live, month: list[str], county_dir: Path, clock: FakeClock, tmp_path: Path
) -> None:
    proposed = rules_variant(
        county_dir,
        tmp_path / "p",
        edit=lambda t: t.replace('normal = "30m"', 'normal = "20m"', 1),
    )
    now = clock.now()
    was = replay(live.db, PERIOD, ProposedRules.from_dir(county_dir), now=now)
    report = replay(live.db, PERIOD, ProposedRules.from_dir(proposed), now=now)
    assert report["changed"] == 0
    assert report["retimed"] > 0
    before, after = report["rates"]["before"], report["rates"]["after"]
    assert before == was["rates"]["after"]
    # Those who reported in at 25 minutes were in time under 30 and are late under 20.
    assert after["responded_in_time"] < before["responded_in_time"]
    assert after["response"] < before["response"]
    assert report["kinds"] == was["kinds"]


async def test_replay_never_writes_the_store(
    live: Live, month: list[str], county_dir: Path, clock: FakeClock, tmp_path: Path
) -> None:
    await live.client.close()  # the server's own connections closed: the file is at rest
    digest = _digest(live.db)
    proposed = rules_variant(county_dir, tmp_path / "p", rules=STREETLIGHT_TO_TOWN)
    report = replay(live.db, PERIOD, ProposedRules.from_dir(proposed), now=clock.now())
    assert report["changed"] > 0
    assert _digest(live.db) == digest


def test_the_replay_connection_refuses_writes(tmp_path: Path) -> None:
    db = tmp_path / "w.sqlite3"
    with contextlib.closing(sqlite3.connect(db)) as raw:
        raw.execute("CREATE TABLE t (x)")
        raw.commit()
    conn = connect_readonly(db)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("INSERT INTO t VALUES (1)")
    conn.close()
