"""待定位 in the console: an operator, on a desktop, places a whistle its address could not
place by picking its cell down the levels in an in-page dialog; the API then shows it placed
by hand and routed from that cell, and the case page says so in words."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.support.browser import Site

TOWN, COMMUNITY, GRID = "530524101", "530524101001", "530524101001002"
MICRO = "530524101001002003"  # 田园镇新华社区第2网格3号楼栋


def test_an_operator_places_a_held_whistle_and_it_is_routed(
    open_as: Any, site: Site, shots: Any
) -> None:
    status, held = site.api(
        "POST",
        "/api/v1/whistles",
        {"source": "citizen", "category": "E0101", "description": "小区3栋门口垃圾堆放",
         "location": {"address": "幸福家园小区3栋门口"}, "reporter": "12345来电人"},
    )  # fmt: skip
    assert status == 201, held
    assert held["status"] == "unplaced"

    console = open_as("operator")
    console.goto(f"{site.url}/console")
    console.locator("#live-state.ok").wait_for()
    row = console.locator(f'tr[data-id="{held["id"]}"]')
    expect(row).to_contain_text("待定位")
    count = console.locator('[data-count="unplaced"]')
    assert int(count.inner_text()) >= 1

    row.locator("button.action-place").click()
    dialog = console.locator("dialog#action-dialog[open]")
    expect(dialog.locator(".pick-address")).to_have_text("地址：幸福家园小区3栋门口")
    dialog.locator("button.dialog-ok").click()  # nothing picked yet: told, nothing sent
    expect(dialog.locator(".dialog-error")).to_have_text("请选择所在的网格")
    for code in (TOWN, COMMUNITY, GRID):
        dialog.locator(f'label.pick-cell[data-code="{code}"] button.pick-down').click()
        expect(dialog.locator(".pick-crumbs")).to_contain_text(" › ")
    dialog.locator(f'label.pick-cell[data-code="{MICRO}"] input').check()
    console.screenshot(path=str(shots / "place-dialog.png"))
    dialog.locator("button.dialog-ok").click()
    expect(console.locator("dialog#action-dialog[open]")).to_have_count(0)
    expect(console.locator("#console-message")).to_contain_text("已完成")
    expect(row).to_contain_text("已派遣", timeout=15_000)  # refreshed live, routed
    expect(row).to_contain_text("新华社区 › 第2网格 › 3号楼栋")
    expect(row.locator("button.action-place")).to_have_count(0)

    status, doc = site.api("GET", f"/api/v1/whistles/{held['id']}")
    assert status == 200, doc
    assert doc["status"] == "dispatched"
    assert doc["grid"]["code"] == MICRO
    assert doc["placement"]["by"] == "hand"
    assert doc["placement"]["placed_by"] == "operator"
    assert {a["kind"] for a in doc["assignments"]} == {
        "registered_member",
        "unposted_member",
        "community_police",
    }
    assert [e["type"] for e in doc["timeline"]][-2:] == ["whistle.placed", "whistle.routed"]

    page = console.context.new_page()
    page.goto(f"{site.url}/cases/{held['id']}")
    expect(page.locator("#placement")).to_contain_text("人工定位：调度中心 operator于")
    expect(page.locator("#placement")).to_contain_text("田园镇新华社区第2网格3号楼栋")
