"""Statistics corrections: 响应率 counts cases (DOMAIN.md: acknowledged in time / dispatched),
the drill-down lists cases as named rows, and the language switch keeps the window."""

from __future__ import annotations

import re
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

from grids import Hierarchy, Level
from tests.support.harness import Live, StartServer
from tests.support.lifecycle import Cases
from tests.support.migrations import rewind
from tests.support.pages import add_user, log_in
from tests.support.requests import point_of
from whistle.auth import Role
from whistle.clock import FakeClock
from whistle.web.keys import LIVE

DAY = "2026-11-23"
WINDOW = f"since={DAY}&until={DAY}"


def _push(doc: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(a for a in doc["assignments"] if a["kind"] == kind and a["mode"] == "push")


def _micro(county: Hierarchy, index: int) -> str:
    return list(county.cells(level=Level.MICRO_GRID))[index].code


async def _ok(result: Any) -> None:
    status, body = result
    assert status == 200, body


async def _both_late_board_merged(
    live: Live, county: Hierarchy, clock: FakeClock
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Four cases: one with a responder in time and one late, one only late, one on the claim
    board, one merged before its deadlines; a day later. The first two, as filed."""
    cases, t0, m = Cases(live, county), clock.now(), timedelta(minutes=1)
    where = point_of(county, _micro(county, 0))
    # Two pushed responders, one in time and one late: the case was responded to in time.
    both = await cases.new(location=where)
    # Only late: responded to, not in time.
    late = await cases.new(location=where, description="路灯不亮")
    # On the claim board only: nobody was pushed, so it is in neither figure.
    board = await cases.new(location=where, category="E0801")
    assert all(a["mode"] == "claim" for a in board["assignments"])
    # Merged before any deadline: its push assignments ended before falling due.
    merged = await cases.new(location=point_of(county, _micro(county, 1)), description="重复")
    clock.set(t0 + 5 * m)
    await _ok(await cases.case(merged["id"], "merge", into=both["id"]))
    clock.set(t0 + 10 * m)
    await _ok(await cases.assignment(_push(both, "registered_member"), "acknowledge"))
    clock.set(t0 + 40 * m)  # past the 30-minute acknowledgement deadline
    await _ok(await cases.assignment(_push(both, "unposted_member"), "acknowledge"))
    await _ok(await cases.assignment(_push(late, "registered_member"), "acknowledge"))
    clock.set(t0 + timedelta(days=1))
    return both, late


async def test_the_response_rate_counts_cases_not_assignments(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    both, late = await _both_late_board_merged(live, county, clock)
    status, doc = await live.get(f"/api/v1/stats?{WINDOW}", token=await live.token("committee"))
    assert status == 200, doc
    response = next(r for r in doc["rates"] if r["key"] == "response")
    assert (response["numerator"], response["denominator"], response["rate"]) == (1, 2, 0.5)
    counts = doc["counts"]
    assert (counts["responded_in_time"], counts["response_due"]) == (1, 2)
    assert response["numerator_metric"] == "responded_in_time"
    assert "push_due" not in counts
    # The drill-down lists the cases behind each figure, once each.
    for metric, expected in (
        ("responded_in_time", [both["id"]]),
        ("response_due", [both["id"], late["id"]]),
    ):
        status, drill = await live.get(f"/api/v1/stats/cases?metric={metric}&{WINDOW}")
        assert status == 200, drill
        assert drill["kind"] == "case"
        assert sorted(drill["ids"]) == sorted(expected), metric
        assert drill["count"] == counts[metric]
    # A case metric like any other: it breaks down by source, 大类, place and day too.
    status, drill = await live.get(
        f"/api/v1/stats/cases?metric=response_due&bucket=source:citizen&{WINDOW}"
    )
    assert status == 200, drill
    assert sorted(drill["ids"]) == sorted([both["id"], late["id"]])
    source = next(row for row in doc["sources"] if row["key"] == "citizen")
    assert (source["responded_in_time"], source["response_due"]) == (1, 2)


_RESPONSE_COLUMNS = "SELECT whistle_id, response_due_from, responded_in_time FROM case_facts"


async def test_migration_15_backfills_the_response_facts_that_writes_keep(
    start_server: StartServer, county: Hierarchy, clock: FakeClock, tmp_path: Path
) -> None:
    db = tmp_path / "old.sqlite3"
    first = await start_server(db=db)
    await _both_late_board_merged(first, county, clock)
    await Cases(first, county).tick()  # what is due fires now, not when the server restarts
    status, before = await first.get(f"/api/v1/stats?{WINDOW}")
    assert status == 200, before
    await first.client.close()
    with sqlite3.connect(db) as conn:
        written = sorted(conn.execute(_RESPONSE_COLUMNS).fetchall())
        # The database as version 14 left it: no response columns on the case rows.
        rewind(conn, 14)
    second = await start_server(db=db)
    with sqlite3.connect(db) as conn:
        assert sorted(conn.execute(_RESPONSE_COLUMNS).fetchall()) == written
    assert {value for _, value, _ in written} >= {0.0, None}  # acknowledged, and never due
    status, after = await second.get(f"/api/v1/stats?{WINDOW}")
    assert status == 200, after
    assert after["counts"] == before["counts"]
    assert (after["counts"]["responded_in_time"], after["counts"]["response_due"]) == (1, 2)


async def test_the_drill_down_lists_cases_as_named_rows_linked_to_each_case(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    cases, t0 = Cases(live, county), clock.now()
    micro = _micro(county, 0)
    doc = await cases.new(location=point_of(county, micro))
    clock.set(t0 + timedelta(minutes=10))
    member = _push(doc, "registered_member")
    await _ok(await cases.assignment(member, "acknowledge"))
    await _ok(await cases.assignment(member, "resolve", note="已清理"))
    await add_user(live, "committee1", Role.COMMITTEE, county.root)
    assert (await log_in(live.client, "committee1")).status == 303
    html = await (await live.client.get(f"/stats/cases?metric=resolved&{WINDOW}")).text()
    table = html[html.index('id="drill-cases"') :]
    row = table[table.index(f'data-case="{doc["id"]}"') :]
    row = row[: row.index("</tr>")]
    cells = re.findall(r"<td>(.*?)</td>", row, re.S)
    # Named by its 受理编号, linked to the case.
    assert doc["case_number"]
    assert f'<a href="/cases/{doc["id"]}">{doc["case_number"]}</a>' == cells[0]
    assert cells[1] == county.cell(doc["grid"]["code"]).name
    assert cells[2] == live.app[LIVE].catalog.get("E0101").name
    assert cells[3] == "已反馈"
    assert cells[4] == "2026-11-23 09:00"
    assert cells[5] == "2026-11-23 09:10"
    assert cells[6] == "—"
    for heading in ("受理编号", "地点", "类别", "状态", "受理时间", "解决时间", "结案时间"):
        assert f"<th>{heading}</th>" in table
    # The 26-character id is in the link, never as the text of a cell.
    assert not any(doc["id"] == text for text in cells)
    place = await (
        await live.client.get(f"/stats/cases?metric=total&bucket=source:citizen&{WINDOW}")
    ).text()
    assert "群众吹哨" in place


async def test_switching_the_language_keeps_the_subtree_and_the_dates(
    live: Live, county: Hierarchy
) -> None:
    town = next(county.cells(level=Level.TOWN)).code
    await add_user(live, "committee1", Role.COMMITTEE, county.root)
    assert (await log_in(live.client, "committee1")).status == 303
    for path in (f"/stats?grid={town}&{WINDOW}", f"/stats/cases?metric=total&grid={town}&{WINDOW}"):
        # (the first round's switch left the cookie on English: start each in Chinese)
        html = await (await live.client.get(path + "&lang=zh")).text()
        href = re.search(r'id="lang-switch" href="([^"]+)"', html)
        assert href is not None, path
        link = href.group(1).replace("&amp;", "&")
        for part in (f"grid={town}", f"since={DAY}", f"until={DAY}", "lang=en"):
            assert part in link, (path, link)
        assert "lang=zh" not in link
        english = await live.client.get(link)
        assert english.status == 200
        text = await english.text()
        assert "Statistics" in text
        # and back again, still on the same window
        back = re.search(r'id="lang-switch" href="([^"]+)"', text)
        assert back is not None
        again = back.group(1).replace("&amp;", "&")
        for part in (f"grid={town}", f"since={DAY}", f"until={DAY}", "lang=zh"):
            assert part in again, (path, again)
