"""A resident with no login, on a phone: reports at /citizen by the phone's location, gets a
受理编号, follows it at /track, and rates it once the case is resolved and closed; another
places a report by tapping the grid map; a bot that fills the hidden field is refused."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import pytest

from grids import Level
from grids.loader import load_hierarchy
from tests.support.browser import (
    CITIZEN_BURST,
    COMMUNITY,
    NARROW_PHONE,
    PHONE,
    Site,
    _guard_dialogs,
    assert_fits,
)

# A 1x1 red PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
NUMBER = re.compile(r"[A-Z]{2}\d{4}-\d{4,5}")


@pytest.fixture
def citizen(browser: Any, site: Site) -> Iterator[Any]:
    """citizen(viewport, **context options): a page in a fresh context with no login."""
    contexts: list[Any] = []

    def open_(viewport: dict[str, int] = PHONE, **options: Any) -> Any:
        context = browser.new_context(
            viewport=viewport,
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
            **options,
        )
        _guard_dialogs(context)
        contexts.append(context)
        return context.new_page()

    yield open_
    dialogs = [d for context in contexts for d in context.whistle_dialogs]
    for context in contexts:
        context.close()
    assert not dialogs, f"a page used window.alert/confirm/prompt: {dialogs}"


def _first_micro_grid(site: Site) -> tuple[str, float, float, str]:
    county = load_hierarchy(site.county)
    micro = next(c for c in county.cells(level=Level.MICRO_GRID) if c.is_within(COMMUNITY))
    lat, lon = county.centroid(micro.code) or (0.0, 0.0)
    return micro.code, lat, lon, county.cell(COMMUNITY).name


def _close_through_the_api(site: Site, whistle_id: str) -> None:
    """What the responder and the operator do: report in, resolve, verify."""
    status, doc = site.api("GET", f"/api/v1/whistles/{whistle_id}")
    assert status == 200
    first = next(a for a in doc["assignments"] if a.get("responder"))
    token = site.server.create_token("responder", COMMUNITY, responder=first["responder"]["id"])
    for action, body in (("acknowledge", {}), ("resolve", {"note": "已清理楼道"})):
        status, answer = site.api(
            "POST",
            f"/api/v1/assignments/{first['id']}/{action}",
            body,
            Authorization=f"Bearer {token}",
        )
        assert status == 200, answer
    status, answer = site.api("POST", f"/api/v1/whistles/{whistle_id}/verify", {"passed": True})
    assert status == 200, answer


def test_a_citizen_reports_by_location_tracks_the_number_and_rates_it(
    citizen: Any, site: Site, shots: Any
) -> None:
    micro, lat, lon, community = _first_micro_grid(site)
    page = citizen(geolocation={"latitude": lat, "longitude": lon}, permissions=["geolocation"])
    page.goto(f"{site.url}/")
    page.locator("#welcome-citizen").click()
    page.wait_for_url(f"{site.url}/citizen")
    assert page.locator("h1").inner_text() == "我要反映"

    page.fill("#category-search", "楼道")
    pick = page.locator('#category-list button.pick[data-code="E0102"]')
    assert "楼道堆物" in pick.inner_text()
    assert page.locator("#category-list button.pick").count() == 1
    pick.click()
    page.locator('#category-chosen[data-code="E0102"]').wait_for()

    page.click("#use-location")
    page.locator(f'#place-chosen[data-code="{micro}"]').wait_for()
    assert community in page.locator("#place-chosen").inner_text()
    page.fill("#description", "3栋2单元楼道堆满杂物，堵住消防通道")
    page.fill("#phone", "138 1234 5678")
    assert_fits(page)
    page.screenshot(path=str(shots / "citizen.png"), full_page=True)

    page.click("#submit")
    page.locator("#result").wait_for()
    number = page.locator("#result-number").inner_text()
    assert NUMBER.fullmatch(number)
    assert len(number) <= 12
    link = page.locator("#result-link").get_attribute("href")
    assert link is not None
    assert link.startswith(f"/track/{number}?key=")
    assert_fits(page)

    # The operators find it by its number, placed where the phone was, with the call-back.
    status, found = site.api("GET", f"/api/v1/whistles?case_number={number}")
    assert status == 200
    assert len(found["items"]) == 1
    doc = found["items"][0]
    assert (doc["case_number"], doc["category"]["code"], doc["grid"]["code"]) == (
        number,
        "E0102",
        micro,
    )
    assert "13812345678" in doc["reporter"]

    page.goto(f"{site.url}{link}")
    assert page.locator("#case-number").inner_text() == number
    assert "等待处置单位报到" in page.locator("#status-text").inner_text()
    assert community in page.locator("#place").inner_text()
    assert page.locator("#rate-form").count() == 0  # not done yet

    _close_through_the_api(site, doc["id"])
    page.reload()
    timeline = page.locator("#timeline").inner_text()
    for step in ("已受理", "派遣至", "已报到", "已办结", "核查通过"):
        assert step in timeline, timeline
    names = {a["responder"]["name"] for a in doc["assignments"] if a.get("responder")}
    persons = {
        a["responder"]["name"]
        for a in doc["assignments"]
        if a.get("responder") and a["kind"] in ("registered_member", "unposted_member")
    }
    assert names
    assert persons
    text = page.locator("main").inner_text()
    assert not [n for n in persons if n in text], "a citizen sees no responder's name"
    assert "13812345678" not in text

    page.click("#rate-submit")  # no grade chosen: told so in Chinese
    assert page.locator("#rate-error").inner_text() == "请选择满意度"
    page.get_by_label("满意", exact=True).check()
    page.fill("#comment", "处理很快，谢谢")
    page.click("#rate-submit")
    page.locator("#rate-thanks").wait_for()
    assert "满意" in page.locator("#rated").inner_text()
    assert_fits(page)
    page.screenshot(path=str(shots / "track.png"), full_page=True)

    status, rated = site.api("GET", f"/api/v1/whistles/{doc['id']}")
    assert status == 200
    assert rated["case_number"] == number
    assert rated["status"] == "rated"
    assert rated["case"]["rating"]["grade"] == "satisfied"


def test_a_citizen_places_a_report_by_tapping_the_grid_map(citizen: Any, site: Site) -> None:
    page = citizen(NARROW_PHONE)
    page.goto(f"{site.url}/citizen")
    page.fill("#category-search", "路灯")
    page.locator('#category-list button.pick[data-code="F0103"]').click()
    for _ in range(4):  # town -> community -> grid -> micro-grid
        shape = page.locator("#cell-map path").first
        shape.wait_for()
        code = shape.get_attribute("data-code")
        shape.click()
        page.locator(f'#place-chosen[data-code="{code}"]').wait_for()
    chosen = page.locator("#place-chosen").inner_text()
    assert chosen.count("·") >= 2, chosen  # the place by name, town down
    page.set_input_files(
        "#photos", files=[{"name": "lamp.png", "mimeType": "image/png", "buffer": PNG}]
    )
    page.locator("#thumbs").filter(has_text="lamp.png").wait_for()
    page.fill("#description", "路灯不亮")
    assert_fits(page)
    page.click("#submit")
    page.locator("#result").wait_for()
    number = page.locator("#result-number").inner_text()
    status, found = site.api("GET", f"/api/v1/whistles?case_number={number}")
    assert status == 200
    assert found["items"][0]["grid"]["code"] == code
    photos = found["items"][0]["media_urls"]
    assert len(photos) == 1
    assert "/media/" in photos[0]


def test_a_bot_filling_the_hidden_field_is_refused_and_nothing_is_stored(
    citizen: Any, site: Site
) -> None:
    page = citizen()
    page.goto(f"{site.url}/citizen")
    page.click("#submit")  # nothing chosen: each field says what is missing, in Chinese
    assert page.locator('[data-error-for="category"]').inner_text() == "请选择问题类别"
    assert "请选择位置" in page.locator('[data-error-for="location"]').inner_text()
    assert page.locator('[data-error-for="description"]').inner_text() == "请描述问题"
    page.fill("#category-search", "噪音")
    page.locator('#category-list button.pick[data-code="E0301"]').click()
    page.locator("#cell-map path").first.click()
    page.fill("#description", "bot text")
    page.fill("#phone", "12")
    page.click("#submit")
    assert "手机号格式不对" in page.locator('[data-error-for="phone"]').inner_text()
    page.fill("#phone", "")
    page.evaluate("() => { document.getElementById('website').value = 'http://spam.example'; }")
    page.click("#submit")
    page.locator("#form-error").filter(has_text="未被受理").wait_for()
    assert page.locator("#result").is_hidden()
    # Nothing was stored: no case carries the bot's words.
    status, listed = site.api("GET", "/api/v1/whistles?limit=200")
    assert status == 200
    assert not [i for i in listed["items"] if i["description"] == "bot text"]


@pytest.mark.parametrize("viewport", [NARROW_PHONE, PHONE], ids=["360px", "390px"])
def test_the_field_and_citizen_pages_fit_a_phone(
    open_as: Any, citizen: Any, site: Site, viewport: dict[str, int]
) -> None:
    page = citizen(viewport)
    for path in ("/", "/citizen", "/login", "/no-such-page"):
        page.goto(f"{site.url}{path}")
        assert_fits(page)
    micro, _, _, _ = _first_micro_grid(site)
    status, doc = site.api(
        "POST",
        "/api/v1/whistles",
        {
            "source": "citizen",
            "category": "E0101",
            "description": "一段很长的描述" * 40,
            "location": {"grid": micro},
            "reporter": "网格员王芳",
        },
    )
    assert status == 201, doc
    whistle_id = doc["id"]
    staff = open_as("operator", phone=True)
    staff.set_viewport_size(viewport)
    for path in ("/report", f"/cases/{whistle_id}", "/cases", "/grids", "/claims"):
        staff.goto(f"{site.url}{path}")
        staff.wait_for_load_state("networkidle")
        assert_fits(staff)


def test_a_citizen_writes_an_address_instead_and_is_placed_or_told_it_is_being_placed(
    citizen: Any, site: Site
) -> None:
    page = citizen()
    for address, placed in (("田园文化路2号3单元", True), ("我家楼下的小卖部旁边", False)):
        page.goto(f"{site.url}/citizen")
        page.fill("#category-search", "楼道")
        page.locator('#category-list button.pick[data-code="E0102"]').click()
        page.fill("#address", address)
        page.fill("#description", "楼道堆满杂物")
        assert_fits(page)
        page.click("#submit")
        page.locator("#result").wait_for()
        number = page.locator("#result-number").inner_text()
        status, found = site.api("GET", f"/api/v1/whistles?case_number={number}")
        assert status == 200
        (doc,) = found["items"]
        assert doc["location"]["address"] == address
        if placed:  # 田园文化路2号: a building of places.csv
            assert doc["placement"]["by"] == "gazetteer"
            assert doc["grid"]["code"] == "530524101001003002"
            continue
        assert doc["status"] == "unplaced"  # 待定位, in the county's console
        page.goto(f"{site.url}{page.locator('#result-link').get_attribute('href')}")
        assert "正在确认位置" in page.locator("body").inner_text()


# Last in the module: it spends the citizens' rate limit, which the tests share.
def test_a_citizen_sending_too_often_is_told_in_chinese_when_to_try_again(
    citizen: Any, site: Site
) -> None:
    # Last in this file: it spends the address's allowance (CITIZEN_BURST at once, one every
    # 12 s); no other browser test uses the citizens' door.
    page = citizen()
    page.goto(f"{site.url}/citizen")
    statuses = page.evaluate(
        """async (tries) => {
            const seen = [];
            for (let i = 0; i < tries; i++) {
                const r = await fetch('/api/v1/public/whistles', {method: 'POST',
                    headers: {'Content-Type': 'application/json'}, body: '{}'});
                seen.push(r.status);
            }
            return seen;
        }""",
        CITIZEN_BURST + 3,
    )
    assert 429 in statuses, statuses
    page.fill("#category-search", "路灯")
    page.locator('#category-list button.pick[data-code="F0103"]').click()
    page.locator("#cell-map path").first.click()
    page.fill("#description", "路灯不亮")
    page.click("#submit")
    message = page.locator("#form-error")
    message.filter(has_text="提交太频繁").wait_for()
    assert re.search(r"请在\d+ 秒后再试", message.inner_text()), message.inner_text()
    assert page.locator("#result").is_hidden()
