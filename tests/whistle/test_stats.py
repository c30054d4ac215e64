"""Committee statistics (统计): exact figures over a small known set of cases, scope, CSV, the
drill-down, the page, the projection's two write paths agreeing, and the benchmark script."""

from __future__ import annotations

import json
import sqlite3
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from grids import Hierarchy, Level
from tests.support.harness import Live
from tests.support.lifecycle import Cases
from tests.support.pages import add_user, log_in
from tests.support.requests import point_of
from whistle.auth import Role
from whistle.bus import Bus
from whistle.clock import FakeClock
from whistle.events import NewEvent
from whistle.store import AssignmentRow, NewWhistle, SqliteStore, StatsQuery, WhistleRow, facts
from whistle.store.facts import DAY_TZ, new_whistle_facts
from whistle.store.sqlite import parse_db_time

ROOT = Path(__file__).resolve().parents[2]
DAY1, DAY2 = "2026-11-23", "2026-11-24"
WINDOW = f"since={DAY1}&until={DAY2}"


@pytest.fixture
def slive(live: Live) -> Live:
    """The standard live server (the statistics routes are wired by the app)."""
    return live


def _micro_in_town(county: Hierarchy, town_index: int) -> str:
    town = list(county.cells(level=Level.TOWN))[town_index].code
    return next(c.code for c in county.cells(level=Level.MICRO_GRID) if c.is_within(town))


def _push(doc: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(a for a in doc["assignments"] if a["kind"] == kind and a["mode"] == "push")


class Scenario:
    """Seven cases over two days (see ``build``); what they should add up to is in the tests."""

    def __init__(self, live: Live, county: Hierarchy, clock: FakeClock) -> None:
        self.cases = Cases(live, county)
        self.live, self.county, self.clock = live, county, clock
        self.town_a, self.town_b = (c.code for c in county.cells(level=Level.TOWN))
        self.ids: dict[str, str] = {}
        self.docs: dict[str, dict[str, Any]] = {}
        self.t0 = clock.now()

    async def new(self, name: str, town: int, **overrides: Any) -> dict[str, Any]:
        where = point_of(self.county, _micro_in_town(self.county, town))
        doc = await self.cases.new(location=where, **overrides)
        self.ids[name], self.docs[name] = doc["id"], doc
        return doc

    def at(self, delta: timedelta) -> None:
        self.clock.set(self.t0 + delta)

    async def ok(self, result: Any) -> None:
        status, body = result
        assert status == 200, body

    async def build(self) -> None:
        c, m = self.cases, timedelta(minutes=1)
        member = "registered_member"
        # Day 1, Monday 09:00: four citizen/community cases and a need for the claim board.
        d1 = await self.new("c1", 0)
        d2 = await self.new("c2", 0)
        d3 = await self.new("c3", 1)
        d4 = await self.new("c4", 0, source="community")
        d5 = await self.new("c5", 0, category="E0801")
        board = d5["assignments"][0]
        assert board["mode"] == "claim"
        self.member_a = _push(d1, member)["responder"]["id"]
        eligible = [e for e in board["eligible_ids"] if e != self.member_a]
        self.claimer = eligible[0] if eligible else board["eligible_ids"][0]
        self.at(10 * m)
        await self.ok(await c.assignment(_push(d1, member), "acknowledge"))  # in time
        await self.ok(await c.assignment(_push(d3, member), "acknowledge"))  # in time
        await self.ok(await c.case(d5["id"], "claim", actor=self.claimer))
        self.at(40 * m)  # the 30-minute acknowledgement deadline has passed
        await self.ok(await c.assignment(_push(d2, member), "acknowledge"))  # late
        await self.ok(await c.assignment(d4["assignments"][0], "acknowledge"))  # late
        self.at(60 * m)
        for doc in (d1, d2, d3):
            await self.ok(await c.assignment(_push(doc, member), "resolve", note="已清理"))
        await self.ok(
            await c.assignment(board, "resolve", actor=self.claimer, note="已探访"),
        )
        self.at(70 * m)
        for name in ("c1", "c2", "c5"):
            await self.ok(await c.case(self.ids[name], "verify", passed=True))
        await self.ok(await c.case(d3["id"], "reopen", reason="仍有垃圾"))  # 返工
        await self.ok(await c.case(d4["id"], "hold", reason="等待物业"))  # 挂账
        self.at(80 * m)
        await self.ok(await c.assignment(_push(d3, member), "resolve", note="再次清理"))
        self.at(90 * m)
        await self.ok(await c.case(d3["id"], "verify", passed=True))
        for name, grade in (
            ("c1", "very_satisfied"),
            ("c2", "basically_satisfied"),
            ("c3", "dissatisfied"),
            ("c5", "satisfied"),
        ):
            await self.ok(await c.case(self.ids[name], "rate", grade=grade))
        # Day 2, Tuesday 09:00: a town committee whistle nobody answers, and a case closed late.
        self.at(timedelta(days=1))
        await self.new("c6", 1, source="town_committee", category="E0601")
        d7 = await self.new("c7", 1)
        self.at(timedelta(days=1, minutes=5))
        await self.ok(await c.assignment(_push(d7, member), "acknowledge"))
        due = datetime.fromisoformat(d7["case"]["resolve_due"])
        self.c7_resolved = due + timedelta(hours=1)
        self.clock.set(self.c7_resolved)
        await self.ok(await c.assignment(_push(d7, member), "resolve", note="已清理"))
        await self.ok(await c.case(d7["id"], "verify", passed=True))  # closed late
        self.at(timedelta(days=20))  # every deadline has passed


@pytest.fixture
async def scenario(slive: Live, county: Hierarchy, clock: FakeClock) -> Scenario:
    built = Scenario(slive, county, clock)
    await built.build()
    return built


async def _stats(live: Live, query: str, token: str | None = None) -> tuple[int, Any]:
    return await live.get(f"/api/v1/stats?{query}", token=token)


async def test_the_county_figures_are_exact(scenario: Scenario, slive: Live) -> None:
    committee = await slive.token("committee")
    status, doc = await _stats(slive, WINDOW, committee)
    assert status == 200, doc
    counts = doc["counts"]
    assert {k: counts[k] for k in ("total", "acknowledged", "resolved", "due", "closed")} == {
        "total": 7,
        "acknowledged": 6,  # c6 was never answered
        "resolved": 5,  # c4 is on hold, c6 untouched
        "due": 7,  # every deadline has passed
        "closed": 5,
    }
    assert counts["closed_on_time"] == 4  # c7 was resolved an hour after its deadline
    assert counts["due_not_held"] == 6
    assert counts["on_hold"] == 1
    assert counts["reworked"] == 1
    assert counts["rated"] == 4
    assert counts["satisfied"] == 3
    # 响应率 counts cases: six were pushed and every deadline passed (c5 is only on the claim
    # board); a pushed responder reported in by the deadline in three (c1, c3, c7).
    assert counts["response_due"] == 6
    assert counts["responded_in_time"] == 3
    assert counts["claimed"] == 1
    assert counts["completed"] == 1
    rates = {r["key"]: (r["numerator"], r["denominator"], r["rate"]) for r in doc["rates"]}
    assert rates == {
        "response": (3, 6, 0.5),
        "resolution": (5, 7, round(5 / 7, 4)),
        "satisfaction": (3, 4, 0.75),
        "on_time_closure": (4, 6, round(4 / 6, 4)),
        "closure": (5, 7, round(5 / 7, 4)),
        "rework": (1, 5, 0.2),
        # c3's 不满意 opened a rectification, due in 15 working days: not yet due.
        "rectification": (0, 0, None),
    }
    # acknowledge: 5, 10, 10, 10, 40, 40 min; resolve: 60, 60, 60, 80 min and c7's
    assert doc["durations"]["acknowledge"] == {"count": 6, "median": 600.0, "p90": 2400.0}
    c7_seconds = (scenario.c7_resolved - (scenario.t0 + timedelta(days=1))).total_seconds()
    assert doc["durations"]["resolve"] == {"count": 5, "median": 3600.0, "p90": c7_seconds}

    def totals(table: str) -> dict[str, int]:
        return {row["key"]: row["total"] for row in doc[table]}

    assert totals("sources") == {"citizen": 5, "community": 1, "town_committee": 1}
    assert {r["key"]: r["name"] for r in doc["sources"]}["citizen"] == "群众吹哨"
    assert totals("places") == {scenario.town_a: 4, scenario.town_b: 3}
    assert totals("categories") == {"E01": 5, "E06": 1, "E08": 1}
    assert {r["key"]: r["name"] for r in doc["categories"]}["E01"] == "市容环境"
    assert totals("days") == {DAY1: 5, DAY2: 2}
    closed = {row["key"]: row["closed_on_time"] for row in doc["days"]}
    assert closed == {DAY1: 4, DAY2: 0}
    people = {r["responder_id"]: r for r in doc["responders"]}
    member = people[scenario.member_a]
    # c1: acknowledged at 10 min, resolved at 60; c2: 40 and 60: 70 minutes served.
    assert member["answered"] == 2
    if scenario.claimer != scenario.member_a:
        assert member["hours"] == round(70 / 60, 2)
    claimer = people[scenario.claimer]
    assert claimer["claimed"] == 1
    assert claimer["completed"] == 1
    assert claimer["name"]
    # Busiest first: the most assignments answered and claimed, then the most hours served.
    ranks = [(r["answered"] + r["claimed"], r["hours"]) for r in doc["responders"]]
    assert ranks == sorted(ranks, reverse=True)
    assert len(set(ranks)) > 1


async def test_a_town_committee_sees_its_town_only(scenario: Scenario, slive: Live) -> None:
    town = await slive.token("committee", scope=scenario.town_a)
    status, doc = await _stats(slive, WINDOW, town)
    assert status == 200
    assert doc["grid"]["code"] == scenario.town_a
    assert doc["counts"]["total"] == 4
    # one level below a town: its communities, each named
    assert sum(r["total"] for r in doc["places"]) == 4
    assert all(r["name"] for r in doc["places"])
    for grid in (scenario.town_b, scenario.county.root):
        status, problem = await _stats(slive, f"grid={grid}&{WINDOW}", town)
        assert status == 403, problem
    for role in ("reporter", "responder"):
        responder = scenario.member_a if role == "responder" else None
        token = await slive.token(role, responder=responder)
        status, _ = await _stats(slive, WINDOW, token)
        assert status == 403
    operator = await slive.token("operator", scope=scenario.town_b)
    status, doc = await _stats(slive, f"grid={scenario.town_b}&{WINDOW}", operator)
    assert status == 200
    assert doc["counts"]["total"] == 3


async def test_bad_parameters_are_400(slive: Live) -> None:
    token = await slive.token("committee")
    for query in (
        "grid=nowhere",
        "since=2026-13-01",
        "since=2026-11-02&until=2026-11-01",
        "since=2020-01-01&until=2026-01-01",
        "colour=red",
    ):
        status, problem = await _stats(slive, query, token)
        assert status == 400, (query, problem)


async def test_the_default_window_is_the_last_30_days_of_ones_scope(
    slive: Live, county: Hierarchy
) -> None:
    status, doc = await _stats(slive, "", await slive.token("committee"))
    assert status == 200
    assert (doc["grid"]["code"], doc["since"], doc["until"]) == (county.root, "2026-10-25", DAY1)
    assert len(doc["days"]) == 30
    assert doc["counts"]["total"] == 0
    assert all(r["rate"] is None for r in doc["rates"])


async def test_drill_down_lists_exactly_the_cases_behind_each_number(
    scenario: Scenario, slive: Live
) -> None:
    token = await slive.token("committee")
    _, doc = await _stats(slive, WINDOW, token)
    for metric, number in doc["counts"].items():
        status, drill = await slive.get(
            f"/api/v1/stats/cases?metric={metric}&{WINDOW}", token=token
        )
        assert status == 200, drill
        assert drill["count"] == number == len(drill["ids"]), metric
    ids = scenario.ids
    _, closed = await slive.get(f"/api/v1/stats/cases?metric=closed&{WINDOW}", token=token)
    assert set(closed["ids"]) == {ids[n] for n in ("c1", "c2", "c3", "c5", "c7")}
    _, on_hold = await slive.get(f"/api/v1/stats/cases?metric=on_hold&{WINDOW}", token=token)
    assert on_hold["ids"] == [ids["c4"]]
    _, in_time = await slive.get(
        f"/api/v1/stats/cases?metric=responded_in_time&{WINDOW}", token=token
    )
    assert in_time["kind"] == "case"
    assert set(in_time["ids"]) == {ids["c1"], ids["c3"], ids["c7"]}
    for table, bucket_kind in (
        ("sources", "source"),
        ("places", "place"),
        ("categories", "category"),
        ("days", "day"),
    ):
        for row in doc[table]:
            for metric in ("total", "closed", "satisfied"):
                status, drill = await slive.get(
                    f"/api/v1/stats/cases?metric={metric}&bucket={bucket_kind}:{row['key']}"
                    f"&{WINDOW}",
                    token=token,
                )
                assert status == 200, drill
                assert drill["count"] == row[metric], (table, row["key"], metric)
    for person in doc["responders"]:
        for metric in ("answered", "claimed", "completed"):
            _, drill = await slive.get(
                f"/api/v1/stats/cases?metric={metric}&bucket=responder:{person['responder_id']}"
                f"&{WINDOW}",
                token=token,
            )
            assert drill["count"] == person[metric]
    for bad in ("metric=nonsense", "metric=total&bucket=responder:x", "metric=total&bucket=x"):
        status, _ = await slive.get(f"/api/v1/stats/cases?{bad}&{WINDOW}", token=token)
        assert status == 400, bad


async def test_every_table_exports_as_excel_ready_csv(scenario: Scenario, slive: Live) -> None:
    headers = await slive.auth(await slive.token("committee"))
    response = await slive.client.get(f"/api/v1/stats/sources.csv?{WINDOW}", headers=headers)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="stats-sources-{scenario.county.root}-{DAY1}-{DAY2}.csv"'
    )
    raw = await response.read()
    assert raw.startswith(b"\xef\xbb\xbf")
    lines = raw.decode("utf-8-sig").splitlines()
    assert lines[0] == "编码,名称,受理,已报到,已解决,应办结,已结案,按期结案,已评价,满意"
    assert "citizen,群众吹哨,5,5,5,5,5,4,4,3" in lines
    for table in ("rates", "places", "categories", "days", "responders"):
        response = await slive.client.get(
            f"/api/v1/stats/{table}.csv?{WINDOW}&lang=en", headers=headers
        )
        assert response.status == 200, table
        text = (await response.read()).decode("utf-8-sig")
        assert len(text.splitlines()) > 1, table
    rates = (
        await (await slive.client.get(f"/api/v1/stats/rates.csv?{WINDOW}", headers=headers)).read()
    ).decode("utf-8-sig")
    assert "satisfaction,满意率,3,4,0.75" in rates
    missing = await slive.client.get(f"/api/v1/stats/nothing.csv?{WINDOW}", headers=headers)
    assert missing.status == 404


async def test_the_page_shows_the_figures_with_links_and_escapes(
    scenario: Scenario, slive: Live
) -> None:
    await add_user(slive, "committee1", Role.COMMITTEE, scenario.county.root)
    assert (await log_in(slive.client, "committee1")).status == 303
    response = await slive.client.get(f"/stats?{WINDOW}")
    assert response.status == 200
    html = await response.text()
    assert "响应率" in html
    assert "按期结案率" in html
    assert "75.0%" in html
    assert "/api/v1/stats/sources.csv?" in html
    assert "/stats/cases?" in html
    assert "metric=closed" in html
    assert '<script src="/vendor/echarts.min.js"></script>' in html
    assert '<script src="/static/stats.js"></script>' in html
    english = await (await slive.client.get(f"/stats?{WINDOW}&lang=en")).text()
    assert "Response rate" in english
    hostile = "source:<script>alert(1)</script>"
    drill = await slive.client.get(
        "/stats/cases", params={"metric": "total", "bucket": hostile, "since": DAY1, "until": DAY2}
    )
    assert drill.status == 200
    text = await drill.text()
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;" in text
    listed = await slive.client.get(f"/stats/cases?metric=closed&{WINDOW}")
    assert f'href="/cases/{scenario.ids["c1"]}"' in await listed.text()


async def test_the_page_needs_a_login_and_a_reading_role(slive: Live, county: Hierarchy) -> None:
    response = await slive.client.get("/stats", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/login"
    await add_user(slive, "rep", Role.REPORTER, county.root)
    await log_in(slive.client, "rep")
    assert (await slive.client.get("/stats")).status == 403


async def test_creating_with_a_history_gives_the_same_facts_as_stepping(
    scenario: Scenario, slive: Live
) -> None:
    """The create path (the benchmark writes whole histories at once) and the transition path
    agree: rebuild each case's facts from its stored events and compare with the store's."""
    with sqlite3.connect(slive.db) as db:
        stored_cases = {r[0]: r for r in db.execute("SELECT * FROM case_facts ORDER BY 1")}
        stored_assignments = sorted(db.execute("SELECT * FROM assignment_facts"))
        rebuilt = sqlite3.connect(":memory:")
        for (sql,) in db.execute("SELECT sql FROM sqlite_master WHERE name LIKE '%facts'"):
            rebuilt.execute(sql)
        whistles = db.execute(
            "SELECT id, received_at, source, category, urgency, status, grid_code, grid_path, "
            "grid_level, case_doc FROM whistles"
        ).fetchall()
        for wid, received, source, category, urgency, status, code, path, level, case in whistles:
            events = [
                NewEvent(t, wid, parse_db_time(at), actor, json.loads(data))
                for t, at, actor, data in db.execute(
                    "SELECT type, at, actor, data FROM events WHERE whistle_id = ? ORDER BY seq",
                    (wid,),
                )
            ]
            assignments = [
                AssignmentRow(
                    aid,
                    wid,
                    rid,
                    kind,
                    mode,
                    st,
                    cell,
                    None if ack is None else parse_db_time(ack),
                    None,
                    None,
                    {},
                )
                for aid, rid, kind, mode, st, cell, ack in db.execute(
                    "SELECT id, responder_id, kind, mode, status, cell, acknowledge_due "
                    "FROM assignments WHERE whistle_id = ?",
                    (wid,),
                )
            ]
            row = WhistleRow(
                wid,
                parse_db_time(received),
                source,
                category,
                urgency,
                status,
                code,
                path,
                level,
                {},
            )
            new = NewWhistle(row, assignments, events, case_doc=json.loads(case))
            for sql, params in new_whistle_facts(new):
                rebuilt.execute(sql, params)
    again = {r[0]: r for r in rebuilt.execute("SELECT * FROM case_facts ORDER BY 1")}
    assert again == stored_cases
    # The claim board's responder is the claimer in both; assignment rows match too.
    assert sorted(rebuilt.execute("SELECT * FROM assignment_facts")) == stored_assignments


async def test_wide_windows_read_the_indexes_and_agree_with_the_sort(
    scenario: Scenario, slive: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wide window (a county-year) is answered from migration 6's covering indexes (streamed
    groups, the durations at their offsets); a short one by sorting its range. Both give the
    same figures, exact, for the county and for a town, short and long windows alike."""
    store = SqliteStore(slive.db, Bus())
    await store.open()
    try:
        day1 = datetime.combine(date.fromisoformat(DAY1), time(), DAY_TZ)
        now = scenario.clock.now()
        answers: dict[int, list[dict[str, Any]]] = {}
        for wide_days in (0, 10**6):
            monkeypatch.setattr(facts, "WIDE_DAYS", wide_days)
            answers[wide_days] = []
            for code in (scenario.county.root, scenario.town_a, scenario.town_b):
                path = "/" + "/".join(scenario.county.cell(code).path) + "/"
                for since, days in ((day1, 2), (day1 - timedelta(days=200), 400)):
                    until = since + timedelta(days=days)
                    for top in (None, 1):
                        query = StatsQuery(path, since, until, now, top=top)
                        answers[wide_days].append(await store.statistics(query))
    finally:
        await store.close()
    assert answers[0] == answers[10**6]
    county = answers[0][0]
    assert county["counts"]["total"] == 7
    assert county["durations"]["acknowledge"] == {"count": 6, "median": 600.0, "p90": 2400.0}


async def test_responders_are_listed_busiest_first_not_longest_serving(tmp_path: Path) -> None:
    """Busiest is the most assignments answered and claimed; the hours served only break a
    tie. A member who answered three quick ones ranks above one who spent ten hours on one."""
    db = tmp_path / "busiest.sqlite3"
    store = SqliteStore(db, Bus())
    await store.open()
    await store.close()
    t0 = datetime(2026, 11, 2, 9, tzinfo=DAY_TZ).timestamp()
    rows = [("quick", i, 600.0) for i in range(3)] + [("slow", 9, 36_000.0)]
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO assignment_facts (assignment_id, whistle_id, received_at, grid_path, "
            "responder_id, kind, mode, acknowledged_at, resolved_at) "
            "VALUES (?, ?, ?, '/c/', ?, 'party_member', 'push', ?, ?)",
            [
                (f"a{n}", f"w{n}", t0 + n, who, t0 + n + 60, t0 + n + 60 + spent)
                for who, n, spent in rows
            ],
        )
    store = SqliteStore(db, Bus())
    await store.open()
    try:
        since = datetime(2026, 11, 1, tzinfo=DAY_TZ)
        for top in (None, 1):
            query = StatsQuery("/c/", since, since + timedelta(days=7), since, top=top)
            listed = (await store.statistics(query))["responders"]
            assert [r["responder_id"] for r in listed] == ["quick", "slow"][: top or 2]
    finally:
        await store.close()
