"""The field pages in a real browser: report a whistle from a phone (with a photo, and again
through a dropped answer), claim a need as a team, and look at the grid tree and its map."""

from __future__ import annotations

import csv
import re
from typing import Any

from tests.support.browser import COMMUNITY, MEMBER, PNG, TEAM, Site, fill_report


def first_grid(site: Site) -> str:
    with (site.county / "grids.csv").open(encoding="utf-8") as rows:
        return next(r["code"] for r in csv.DictReader(rows) if r["parent"] == COMMUNITY)


def test_report_files_a_whistle_with_a_photo(open_as: Any, site: Site, shots: Any) -> None:
    page = open_as("reporter", phone=True)
    page.goto(f"{site.url}/report")
    assert page.locator("h1").inner_text() == "上报事件"
    sources = page.locator("#source option").evaluate_all("options => options.map(o => o.value)")
    assert sources == ["citizen", "community", "town_committee"]  # what a reporter may file
    code = fill_report(page, "楼道堆放杂物，堵塞消防通道")
    page.set_input_files(
        "#photos", files=[{"name": "p.png", "mimeType": "image/png", "buffer": PNG}]
    )
    page.locator("#thumbs img").wait_for()
    photo = page.locator("#thumbs img").get_attribute("src")
    assert photo is not None
    assert photo.startswith("/media/")
    page.screenshot(path=str(shots / "report.png"), full_page=True)

    page.click("#submit")
    page.locator("#result").wait_for()
    went_to = page.locator("#went-to li.assignment")
    assert went_to.count() >= 2
    assert all(name.strip() for name in went_to.locator(".who").all_inner_texts())
    assert "时限" in page.locator("#went-to").inner_text()
    page.screenshot(path=str(shots / "report-sent.png"), full_page=True)

    whistle_id = page.locator("#result-link").get_attribute("href").rsplit("/", 1)[1]
    status, listing = site.api("GET", f"/api/v1/whistles?grid={COMMUNITY}")
    assert status == 200
    filed = next(w for w in listing["items"] if w["id"] == whistle_id)
    assert filed["grid"]["code"] == code
    assert filed["media_urls"] == [site.url + photo]
    names = {(a.get("responder") or {}).get("name") for a in filed["assignments"]}
    assert set(went_to.locator(".who").all_inner_texts()) <= names


def test_field_errors_show_next_to_the_fields(open_as: Any, site: Site) -> None:
    page = open_as("reporter", phone=True)
    page.goto(f"{site.url}/report?lang=en")
    assert page.locator("h1").inner_text() == "Report a case"
    page.fill("#category", "NOPE")
    page.click("#submit")
    page.locator('[data-error-for="category"]').filter(has_text="NOPE").wait_for()
    assert page.locator('[data-error-for="location"]').inner_text()  # no place chosen
    assert page.locator('[data-error-for="description"]').inner_text()
    assert page.locator("#result").is_hidden()


def test_field_errors_are_said_in_chinese_on_a_chinese_page(open_as: Any, site: Site) -> None:
    page = open_as("reporter", phone=True)
    page.goto(f"{site.url}/report")
    page.fill("#category", "NOPE")
    page.click("#submit")
    category = page.locator('[data-error-for="category"]')
    category.filter(has_text="没有“NOPE”这个事件类别").wait_for()
    assert page.locator('[data-error-for="description"]').inner_text() == "不能为空"
    assert page.locator('[data-error-for="location"]').inner_text() == "必填"
    said = " ".join(page.locator(".field-error").all_inner_texts()).replace("NOPE", "")
    assert not re.search(r"[A-Za-z]", said), said  # nothing left in the API's English


def test_a_dropped_answer_is_retried_with_the_same_key(open_as: Any, site: Site) -> None:
    page = open_as("reporter", phone=True)
    page.goto(f"{site.url}/report")
    description = "路灯损坏，夜间无照明（重试测试）"
    fill_report(page, description)
    keys: list[str] = []

    def flaky(route: Any) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        keys.append(route.request.headers["idempotency-key"])
        if len(keys) == 1:
            route.fetch()  # the server files it, and the answer is lost on the way back
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/api/v1/whistles", flaky)
    page.click("#submit")
    page.locator("#result").wait_for(timeout=15_000)
    assert len(keys) == 2
    assert keys[0] == keys[1]
    assert page.evaluate("sessionStorage.getItem('whistle.report.key')") is None
    _, listing = site.api("GET", f"/api/v1/whistles?grid={COMMUNITY}&limit=200")
    assert [w["description"] for w in listing["items"]].count(description) == 1


def test_a_member_claims_a_need_for_the_team(open_as: Any, site: Site, shots: Any) -> None:
    status, need = site.api(
        "POST",
        "/api/v1/whistles",
        {"source": "citizen", "category": "E0801", "description": "独居老人需要上门探访",
         "location": {"grid": first_grid(site)}},
        **{"Idempotency-Key": "browser-claim-1"},
    )  # fmt: skip
    assert status in (200, 201), need
    assert any(a["mode"] == "claim" for a in need["assignments"])
    page = open_as("member", phone=True)
    page.goto(f"{site.url}/claims")
    row = page.locator(f'#open-needs li[data-whistle="{need["id"]}"]')
    row.wait_for()
    page.screenshot(path=str(shots / "claims.png"), full_page=True)
    row.locator(f'button.claim-team[data-team="{TEAM}"]').click()
    page.locator(f'#my-work li[data-whistle="{need["id"]}"]').wait_for()
    assert page.locator(f'#open-needs li[data-whistle="{need["id"]}"]').count() == 0
    _, claimed = site.api("GET", f"/api/v1/whistles/{need['id']}")
    board = next(a for a in claimed["assignments"] if a["mode"] == "claim")
    assert board["team"] == TEAM
    assert MEMBER in board["members"]

    # The member reports the work done: it moves to 已完成.
    token = site.server.create_token("responder", COMMUNITY, responder=MEMBER)
    site.token, operator = token, site.token
    try:
        status, _ = site.api(
            "POST", f"/api/v1/assignments/{board['id']}/resolve", {"note": "已探访"}
        )
        assert status == 200
    finally:
        site.token = operator
    page.reload()
    page.locator(f'#done li[data-whistle="{need["id"]}"]').wait_for()
    page.screenshot(path=str(shots / "claims-done.png"), full_page=True)


def test_the_grid_tree_responders_and_map(open_as: Any, site: Site, shots: Any) -> None:
    page = open_as("operator")
    page.goto(f"{site.url}/grids")
    page.locator("#tree li[data-code='530524'] > ul > li").first.wait_for()
    page.locator("#map canvas").wait_for()
    page.locator("#map[data-map='530524']").wait_for()
    page.locator("#responders li.responder").first.wait_for()  # the county's backstop
    # Drill down to a community: its members, its cases and the map of its grids.
    page.locator("#tree li[data-code='530524101'] > .tree-row button.name").click()
    page.locator(f"#tree li[data-code='{COMMUNITY}'] > .tree-row button.name").click()
    page.locator(f"#map[data-map='{COMMUNITY}']").wait_for()
    page.locator("#responders li.responder").first.wait_for()
    page.locator("#cases li.case").first.wait_for()  # filed by the tests before
    assert "社区" in page.locator("#cell-title").inner_text()
    page.screenshot(path=str(shots / "grids.png"), full_page=True)

    # ECharts comes from npm, through /vendor; other names are refused.
    assert page.request.get(f"{site.url}/vendor/echarts.min.js").status == 200
    assert page.request.get(f"{site.url}/vendor/other.js").status == 404


def test_grid_shapes_roster_and_history_endpoints(site: Site) -> None:
    status, shapes = site.api("GET", f"/api/v1/grids/{COMMUNITY}/shapes")
    assert status == 200
    assert shapes["type"] == "FeatureCollection"
    assert {f["geometry"]["type"] for f in shapes["features"]} <= {"Polygon", "MultiPolygon"}
    assert all(f["properties"]["code"].startswith(COMMUNITY) for f in shapes["features"])
    status, roster = site.api("GET", "/api/v1/grids/530524101/roster")
    assert status == 200
    assert any(r["shifts"] for r in roster["responders"])  # grid departments work shifts
    status, history = site.api("GET", f"/api/v1/responders/{MEMBER}/history")
    assert status == 200
    assert isinstance(history["items"], list)
    assert site.api("GET", "/api/v1/grids/nope/shapes")[0] == 404
