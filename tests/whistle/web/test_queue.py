"""The console's queue (issue 17): search (FTS5 trigram, a LIKE for one or two characters),
the next deadline that the queue shows, sorts by and marks overdue, the open queue without
merged cases, and exact counts per queue."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from grids import Hierarchy, Level
from tests.support.console import returned_case
from tests.support.harness import Live, StartServer
from tests.support.lifecycle import Cases
from tests.support.migrations import rewind
from tests.support.pages import add_user, log_in
from tests.support.requests import file_in, towns
from whistle.auth import Role
from whistle.store.search import search_text
from whistle.web.queue import case_label


async def ids(live: Live, query: str) -> list[str]:
    status, page = await live.get(f"/api/v1/whistles?{query}")
    assert status == 200, page
    return [item["id"] for item in page["items"]]


def community_name(county: Hierarchy, doc: dict[str, Any]) -> str:
    return county.at_level(doc["grid"]["code"], Level.COMMUNITY).name


# -- search --------------------------------------------------------------------------------


async def test_search_finds_a_case_by_a_chinese_substring_of_its_description(
    live: Live, county: Hierarchy
) -> None:
    town = towns(county)[0]
    wanted = await file_in(live, county, town, description="小区门口的井盖松动，夜里有响声")
    await file_in(live, county, town, description="楼道堆放杂物，影响通行")
    assert await ids(live, "q=井盖松动") == [wanted["id"]]
    assert await ids(live, "q=门口的井") == [wanted["id"]]  # inside a sentence, no spaces
    assert await ids(live, "q=路灯不亮") == []


async def test_search_of_one_or_two_characters_falls_back_to_a_substring_scan(
    live: Live, county: Hierarchy
) -> None:
    town = towns(county)[0]
    wanted = await file_in(live, county, town, description="井盖松动")
    await file_in(live, county, town, description="楼道堆放杂物")
    # Two characters have no trigram: answered all the same, by LIKE over the same text.
    assert await ids(live, "q=井盖") == [wanted["id"]]
    assert await ids(live, "q=松") == [wanted["id"]]


async def test_search_covers_reporter_place_category_and_case_number(
    live: Live, county: Hierarchy
) -> None:
    town = towns(county)[0]
    doc = await file_in(live, county, town, reporter="网格员赵铁柱", description="一件事")
    other = await file_in(live, county, towns(county)[1], reporter="网格员钱多多")
    assert await ids(live, "q=赵铁柱") == [doc["id"]]
    assert doc["id"] in await ids(live, f"q={community_name(county, doc)}")
    assert other["id"] not in await ids(live, f"q={community_name(county, doc)}")
    assert doc["id"] in await ids(live, f"q={doc['category']['name']}")
    # The 受理编号 (until the citizens' branch adds it: the short form shown in the queue).
    label = case_label(doc)
    assert await ids(live, f"q={label.lstrip('#')}") == [doc["id"]]


async def test_filters_combine_with_search(live: Live, county: Hierarchy) -> None:
    town_a, town_b = towns(county)[:2]
    a = await file_in(live, county, town_a, description="下水道堵塞返臭")
    b = await file_in(live, county, town_b, description="下水道堵塞返臭")
    c = await file_in(live, county, town_a, description="下水道堵塞返臭", source="community")
    assert set(await ids(live, "q=下水道")) == {a["id"], b["id"], c["id"]}
    assert set(await ids(live, f"q=下水道&grid={town_a}")) == {a["id"], c["id"]}
    assert await ids(live, f"q=下水道&grid={town_a}&source=community") == [c["id"]]
    assert await ids(live, "q=下水道&category=E09") == []


async def test_every_word_of_a_search_must_occur(live: Live, county: Hierarchy) -> None:
    town = towns(county)[0]
    both = await file_in(live, county, town, description="井盖松动", reporter="网格员赵铁柱")
    await file_in(live, county, town, description="井盖松动", reporter="网格员钱多多")
    assert await ids(live, "q=井盖松动 赵铁柱") == [both["id"]]
    # Characters FTS5 reads as syntax are searched as text.
    assert await ids(live, 'q="井盖 OR *') == []


async def test_a_search_too_long_is_refused_naming_the_field(live: Live) -> None:
    status, problem = await live.get("/api/v1/whistles?q=" + "井" * 101)
    assert status == 400
    assert problem["errors"][0]["field"] == "q"


async def test_migration_14_indexes_the_whistles_already_stored(
    start_server: StartServer, county: Hierarchy, tmp_path: Any
) -> None:
    db = tmp_path / "old.sqlite3"
    first = await start_server(db=db)
    doc = await file_in(first, county, towns(county)[0], description="老数据里的井盖松动")
    await first.client.close()
    # The database as version 13 left it: no search table, nor what later migrations add.
    with sqlite3.connect(db) as conn:
        rewind(conn, 13)
    second = await start_server(db=db)
    assert await ids(second, "q=井盖松动") == [doc["id"]]
    with sqlite3.connect(db) as conn:
        (body,) = conn.execute("SELECT body FROM whistle_search").fetchone()
    stored = await second.get(f"/api/v1/whistles/{doc['id']}")
    assert body == search_text(stored[1])  # the migration writes what intake writes


# -- the next deadline ---------------------------------------------------------------------


async def test_an_overdue_case_shows_the_deadline_it_missed_not_its_resolution_deadline(
    live: Live, county: Hierarchy, clock: Any
) -> None:
    # Nobody reports in, up the ladder to the backstop: the case is overdue while its
    # resolution deadline is days away. The console showed that resolution deadline beside
    # the overdue flag; the deadline shown is now the acknowledgement that was missed.
    cases = Cases(live, county)
    doc = await file_in(live, county, towns(county)[0], category="E0101")
    for _ in range(12):
        if doc["case"]["overdue"]:
            break
        clock.set(datetime.fromisoformat(doc["case"]["next_due"]["at"]))
        await cases.tick()
        doc = await cases.get(doc["id"])
    assert doc["case"]["overdue"] is True
    now = clock.now().isoformat()
    assert datetime.fromisoformat(doc["case"]["resolve_due"]) > clock.now(), now
    shown = doc["case"]["next_due"]
    assert shown["kind"] == "acknowledge"
    assert datetime.fromisoformat(shown["at"]) <= clock.now()
    # The count of overdue cases is taken from the same deadline.
    status, counts = await live.get("/api/v1/queue-counts")
    assert status == 200
    assert counts["counts"]["overdue"] == 1
    # And the console's first rendering marks it overdue beside that deadline.
    await add_user(live, "op", Role.OPERATOR, county.root)
    await log_in(live.client, "op")
    html = await (await live.client.get("/console")).text()
    row = html[html.index(f'data-id="{doc["id"]}"') :].split("</tr>")[0]
    assert "overdue" in row.split(">")[0]
    assert shown["at"][:16].replace("T", " ") in row


async def test_a_return_awaiting_a_decision_is_due_by_its_decision_deadline(
    live: Live, county: Hierarchy
) -> None:
    doc, _ = await returned_case(live, county)
    decide_by = doc["case"]["returns_pending"][0]["decide_by"]
    assert doc["case"]["next_due"]["at"] <= decide_by
    assert doc["case"]["next_due"]["kind"] in ("return_decision", "resolve")


async def test_a_fresh_case_is_due_first_for_its_acknowledgement(
    live: Live, county: Hierarchy
) -> None:
    doc = await file_in(live, county, towns(county)[0])
    earliest = min(a["acknowledge_due"] for a in doc["assignments"] if a["acknowledge_due"])
    assert doc["case"]["next_due"]["kind"] == "acknowledge"
    assert doc["case"]["next_due"]["at"] == earliest


async def test_the_queue_sorted_by_time_left_follows_the_next_deadline_across_pages(
    live: Live, county: Hierarchy, clock: Any
) -> None:
    from datetime import timedelta

    filed = []
    for n, category in enumerate(["E0101", "E0703", "E0101", "E0403", "E0101"]):
        clock.advance(timedelta(minutes=7 * (n % 3)))
        filed.append(await file_in(live, county, towns(county)[n % 2], category=category))
    seen: list[dict[str, Any]] = []
    cursor = ""
    while True:
        status, page = await live.get(f"/api/v1/whistles?sort=due&limit=2{cursor}")
        assert status == 200, page
        seen += page["items"]
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    dues = [d["case"]["next_due"]["at"] for d in seen]
    assert dues == sorted(dues)
    assert {d["id"] for d in seen} == {d["id"] for d in filed}


# -- the open queue and its counts ---------------------------------------------------------


async def test_a_merged_case_leaves_the_open_queue_and_the_counts_stay_exact(
    live: Live, county: Hierarchy
) -> None:
    town = towns(county)[0]
    keep = await file_in(live, county, town)
    dup = await file_in(live, county, town)
    third = await file_in(live, county, town, description="另一件事")
    response = await live.client.post(
        f"/api/v1/whistles/{dup['id']}/merge", json={"into": keep["id"]}, headers=await live.auth()
    )
    assert response.status == 200, await response.text()
    assert set(await ids(live, "queue=open")) == {keep["id"], third["id"]}
    assert dup["id"] in await ids(live, "status=cancelled")
    status, counts = await live.get("/api/v1/queue-counts")
    assert status == 200
    # Exact, counted by the store: every case in each queue, not the rows a page loaded.
    for key in ("dispatched", "acknowledged", "in_progress", "resolved", "on_hold"):
        assert counts["counts"][key] == len(await ids(live, f"status={key}&limit=200")), key
    assert counts["counts"]["dispatched"] == 2


async def test_counts_of_a_town_operator_are_of_that_town(live: Live, county: Hierarchy) -> None:
    town_a, town_b = towns(county)[:2]
    for _ in range(3):
        await file_in(live, county, town_a)
    await file_in(live, county, town_b)
    token = await live.token("operator", scope=town_a)
    status, counts = await live.get("/api/v1/queue-counts", token=token)
    assert status == 200
    assert counts["counts"]["dispatched"] == 3
    status, problem = await live.get(f"/api/v1/queue-counts?grid={town_b}", token=token)
    assert status == 403, problem
