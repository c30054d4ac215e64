"""The console's queue in a desktop browser (issue 17): search as you type finds a case by a
Chinese substring of its description, and the queue is sorted by time left, in the order of
the API's deadlines."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from tests.support.browser import COMMUNITY, Site


def file(site: Site, description: str, **extra: Any) -> dict[str, Any]:
    status, doc = site.api(
        "POST",
        "/api/v1/whistles",
        {"source": "citizen", "category": "E0101", "description": description,
         "location": {"grid": COMMUNITY}, "reporter": "网格员测试", **extra},
        **{"Idempotency-Key": uuid.uuid4().hex},
    )  # fmt: skip
    assert status == 201, doc
    return doc  # type: ignore[no-any-return]


def page_ids(console: Any) -> list[str]:
    rows = "#queue-rows tr[data-id]"
    return list(console.eval_on_selector_all(rows, "rs => rs.map(r => r.dataset.id)"))


def test_search_by_a_word_of_a_description_finds_the_case_as_the_operator_types(
    open_as: Any, site: Site
) -> None:
    marker = uuid.uuid4().hex[:6]
    wanted = file(site, f"菜市场后门消防栓漏水，地面结冰 {marker}")
    file(site, f"楼道堆放杂物，影响通行 {marker}")
    console = open_as("operator")
    console.goto(f"{site.url}/console")
    console.locator("#live-state.ok").wait_for()
    # A word from the middle of the sentence, typed key by key: no button to press.
    console.locator("#q-search").press_sequentially("消防栓漏水", delay=30)
    row = console.locator(f'#queue-rows tr[data-id="{wanted["id"]}"]')
    row.wait_for(timeout=15_000)
    console.wait_for_function(
        "n => document.querySelectorAll('#queue-rows tr[data-id]').length === n", arg=1
    )
    assert "消防栓漏水" in row.inner_text()
    # The page shows what the API answers for the same search.
    status, page = site.api("GET", "/api/v1/whistles?queue=open&sort=due&q=" + quote("消防栓漏水"))
    assert status == 200
    assert [item["id"] for item in page["items"]] == page_ids(console) == [wanted["id"]]
    # Filters combine with it: another source leaves nothing.
    console.select_option("#f-source", "police")
    console.wait_for_function("() => !document.querySelector('#queue-rows tr[data-id]')")
    console.select_option("#f-source", "")
    row.wait_for(timeout=15_000)


def test_the_queue_is_sorted_by_time_left_as_the_api_orders_the_deadlines(
    open_as: Any, site: Site, shots: Any
) -> None:
    # Cases with different deadlines: an urgent police alert reports in sooner.
    for n in range(3):
        file(site, f"排序测试 {n}")
    status, doc = site.api(
        "POST", "/api/v1/whistles",
        {"source": "police", "category": "E0703", "description": "排序测试 警情",
         "location": {"grid": COMMUNITY}},
        **{"Idempotency-Key": uuid.uuid4().hex},
    )  # fmt: skip
    assert status == 201, doc
    console = open_as("operator")
    console.goto(f"{site.url}/console")
    console.locator("#live-state.ok").wait_for()
    console.locator("#queue-rows tr[data-id] td.countdown").first.wait_for()
    status, page = site.api("GET", "/api/v1/whistles?queue=open&sort=due&limit=100")
    assert status == 200
    api_order = [item["id"] for item in page["items"]]
    dues = [item["case"]["next_due"]["at"] for item in page["items"] if item["case"]["next_due"]]
    assert dues == sorted(dues)
    assert page_ids(console) == api_order
    heading = console.locator('th[data-sort="left"]')
    assert heading.get_attribute("aria-sort") == "ascending"
    # Another sort by a click on its heading, and back.
    console.locator('th[data-sort="urgency"]').click()
    urgent_first = page_ids(console)
    assert urgent_first[0] in {i["id"] for i in page["items"] if i["urgency"] == "urgent"}
    heading.click()
    assert page_ids(console) == api_order
    # Each row counts down to the deadline it shows; the counts are the store's.
    first = console.locator("#queue-rows tr[data-id] td.countdown").first
    assert first.get_attribute("data-due") == page["items"][0]["case"]["next_due"]["at"]
    status, counts = site.api("GET", "/api/v1/queue-counts")
    assert status == 200
    shown = console.locator('[data-count="dispatched"]').inner_text()
    assert int(shown) == counts["counts"]["dispatched"]
    console.screenshot(path=str(shots / "console.png"), full_page=False)


def test_the_sound_alert_is_off_until_turned_on_and_then_rings_for_an_urgent_whistle(
    open_as: Any, site: Site
) -> None:
    console = open_as("operator")
    console.goto(f"{site.url}/console")
    console.locator("#live-state.ok").wait_for()
    toggle = console.locator("#q-sound")
    assert not toggle.is_checked()
    toggle.check()
    console.reload()
    console.locator("#live-state.ok").wait_for()
    assert console.locator("#q-sound").is_checked()  # remembered in this browser
    before = int(console.locator("#console").get_attribute("data-beeps") or 0)
    status, doc = site.api(
        "POST", "/api/v1/whistles",
        {"source": "police", "category": "E0703", "description": "提示音测试",
         "location": {"grid": COMMUNITY}},
        **{"Idempotency-Key": uuid.uuid4().hex},
    )  # fmt: skip
    assert status == 201, doc
    assert doc["urgency"] == "urgent"
    console.locator(f'tr[data-id="{doc["id"]}"]').wait_for(timeout=15_000)
    console.wait_for_function(
        "n => +(document.getElementById('console').dataset.beeps || 0) > n", arg=before
    )


def test_a_case_merged_while_the_console_is_open_leaves_the_queue_and_the_counts(
    open_as: Any, site: Site
) -> None:
    marker = uuid.uuid4().hex[:6]
    keep = file(site, f"合并测试 保留 {marker}")
    dup = file(site, f"合并测试 重复 {marker}")
    console = open_as("operator")
    console.goto(f"{site.url}/console")
    console.locator("#live-state.ok").wait_for()
    gone = console.locator(f'#queue-rows tr[data-id="{dup["id"]}"]')
    gone.wait_for()
    status, answer = site.api("POST", f"/api/v1/whistles/{dup['id']}/merge", {"into": keep["id"]})
    assert status == 200, answer
    # The merge arrives on the stream: the row goes without a reload, the case it joined stays.
    gone.wait_for(state="detached", timeout=15_000)
    assert console.locator(f'#queue-rows tr[data-id="{keep["id"]}"]').count() == 1
    status, counts = site.api("GET", "/api/v1/queue-counts")
    assert status == 200
    console.wait_for_function(
        "n => document.querySelector('[data-count=\"dispatched\"]').textContent === String(n)",
        arg=counts["counts"]["dispatched"],
    )
    status, page = site.api("GET", "/api/v1/whistles?queue=open&limit=200")
    assert dup["id"] not in {item["id"] for item in page["items"]}
