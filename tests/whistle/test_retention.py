"""Retention (issue 18): ``whistle retention`` blanks the personal fields of cases closed
longer ago than ``retention`` (three years by default), in the documents and the event log
alike, deletes their photos, and leaves every statistic as it was.

Two citizens' cases are filed through the live server, with a name, a call-back number, a
phone number in the description and in the responder's note, and a photo each; one is closed
at once, the other 400 days later. The command runs (as cron would, in this process, with
``--now``) three years and a day after the first closure: the first is blanked, the second is
kept.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from grids import Hierarchy
from tests.support.harness import Live
from tests.support.images import gps_jpeg
from tests.support.lifecycle import Cases
from tests.support.requests import first_micro_grid, point_of
from whistle.clock import FakeClock

ROOT = Path(__file__).resolve().parents[2]
REPORTER, PHONE, NOTE_PHONE = "张三丰", "13900001111", "13700002222"
STATS = "/api/v1/stats?since=2026-11-01&until=2028-01-31"  # both cases


async def closed_case(live: Live, county: Hierarchy, colour: int) -> dict[str, Any]:
    """A citizen's case with personal data everywhere, resolved with a photo and closed."""
    photo = await live.client.post("/api/v1/public/media", data=gps_jpeg(size=(40 + colour, 20)))
    url = str(live.client.make_url((await photo.json())["url"]))
    filed = await live.client.post(
        "/api/v1/public/whistles",
        json={
            "category": "E0101",
            "description": f"楼道堆放杂物，请打{PHONE}",
            "location": point_of(county, first_micro_grid(county)),
            "reporter": REPORTER,
            "phone": PHONE,
            "media_urls": [url],
        },
    )
    assert filed.status == 201, await filed.text()
    cases = Cases(live, county)
    doc = await cases.get((await filed.json())["whistle_id"])
    owner = next(a for a in doc["assignments"] if a["mode"] == "push" and a["responder"])
    assert (await cases.assignment(owner, "acknowledge"))[0] == 200
    status, _ = await cases.assignment(owner, "resolve", note=f"已清理，联系{NOTE_PHONE}")
    assert status == 200
    status, verified = await cases.case(doc["id"], "verify", passed=True)
    assert status == 200, verified
    return await cases.get(doc["id"])


async def run_retention(live: Live, config: Path, now: str, *more: str) -> tuple[int, str]:
    """``whistle retention`` in its own process, as cron runs it beside the server."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "whistle.cli",
        "retention",
        "--db",
        str(live.db),
        "--config",
        str(config),
        "--now",
        now,
        *more,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    assert not err.strip(), err.decode()
    return process.returncode, out.decode()


def personal_strings(owner_name: str) -> tuple[str, ...]:
    return (REPORTER, PHONE, NOTE_PHONE, "楼道堆放杂物", owner_name)


def rows_of(db: Path, whistle_id: str) -> str:
    """Every text the database holds of one case: whistle, assignments, events, search."""
    with sqlite3.connect(db) as raw:
        parts = [
            *raw.execute("SELECT doc, case_doc FROM whistles WHERE id = ?", (whistle_id,)),
            *raw.execute("SELECT doc FROM assignments WHERE whistle_id = ?", (whistle_id,)),
            *raw.execute("SELECT data FROM events WHERE whistle_id = ?", (whistle_id,)),
            *raw.execute(
                "SELECT s.body FROM whistle_search s JOIN whistles w ON w.rowid = s.rowid "
                "WHERE w.id = ?",
                (whistle_id,),
            ),
        ]
    return json.dumps(parts, ensure_ascii=False)


@pytest.fixture
async def two_cases(
    live: Live, county: Hierarchy, clock: FakeClock
) -> tuple[dict[str, Any], dict[str, Any]]:
    old = await closed_case(live, county, 0)
    clock.advance(timedelta(days=400))
    recent = await closed_case(live, county, 1)
    return old, recent


async def test_retention_blanks_personal_fields_and_keeps_the_statistics(
    live: Live,
    county: Hierarchy,
    county_dir: Path,
    clock: FakeClock,
    two_cases: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    old, recent = two_cases
    owner = next(a for a in old["assignments"] if a["mode"] == "push" and a["responder"])
    status, before = await live.get(STATS)
    assert status == 200, before
    assert before["counts"]["closed"] == 2
    photo = live.db.parent / "media" / old["media_urls"][0].rsplit("/", 1)[1]
    assert photo.exists()
    assert all(
        s in rows_of(live.db, old["id"]) for s in personal_strings(owner["responder"]["name"])
    )

    # Three years and a day after the first closure; the second closed 400 days later.
    now = (clock.now() - timedelta(days=400) + timedelta(days=1096)).isoformat()
    code, out = await run_retention(live, county_dir, now)
    assert code == 0
    assert "blanked the personal fields of 1 cases" in out
    assert old["id"] in out
    assert recent["id"] not in out

    held = rows_of(live.db, old["id"])
    for text in personal_strings(owner["responder"]["name"]):
        assert text not in held
    assert "/media/" not in held
    assert not photo.exists()
    kept = rows_of(live.db, recent["id"])
    assert all(s in kept for s in personal_strings(owner["responder"]["name"]))

    # Through the server: the same case, its shape and its numbers, without the person.
    status, doc = await live.get(f"/api/v1/whistles/{old['id']}")
    assert status == 200
    assert (doc["status"], doc["category"], doc["grid"]) == (
        old["status"],
        old["category"],
        old["grid"],
    )
    assert doc["reporter"] == ""
    assert doc["description"] == ""
    assert (doc["location"]["lat"], doc["location"]["lon"]) == (None, None)
    assert [e["type"] for e in doc["timeline"]] == [e["type"] for e in old["timeline"]]
    assert (await live.get(STATS))[1] == before


async def test_dry_run_lists_and_changes_nothing_and_a_second_run_finds_nothing(
    live: Live,
    county_dir: Path,
    clock: FakeClock,
    two_cases: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    old, _ = two_cases
    untouched = rows_of(live.db, old["id"])
    now = (clock.now() + timedelta(days=3000)).isoformat()
    code, out = await run_retention(live, county_dir, now, "--dry-run")
    assert code == 0
    assert "would blank the personal fields of 2 cases" in out
    assert rows_of(live.db, old["id"]) == untouched

    assert (
        "blanked the personal fields of 2 cases" in (await run_retention(live, county_dir, now))[1]
    )
    assert "of 0 cases" in (await run_retention(live, county_dir, now))[1]
    status, audit = await live.get("/api/v1/audit", token=await live.token("admin", scope=None))
    assert status == 200
    assert any(row["action"] == "retention" for row in audit["items"])


def test_retention_is_a_setting_of_lifecycle_toml(tmp_path: Path, county_dir: Path) -> None:
    from dispatch import load_dispatch_config

    assert str(load_dispatch_config(county_dir).policy.retention) == "1095d"
    config = tmp_path / "config"
    config.mkdir()
    for item in county_dir.iterdir():
        (config / item.name).write_bytes(item.read_bytes())
    lifecycle = config / "lifecycle.toml"
    lifecycle.write_text(lifecycle.read_text(encoding="utf-8").replace('"1095d"', '"30d"'))
    assert str(load_dispatch_config(config).policy.retention) == "30d"
