"""Pages: login with CSRF, sessions, escaping of what people typed, the citizen's page."""

from __future__ import annotations

import pytest

from grids import Hierarchy, Level
from tests.support.harness import Live
from tests.support.lifecycle import Cases
from tests.support.pages import PASSWORD, SCRIPT, add_user, hidden_csrf, log_in
from whistle.auth import Role


async def test_login_sets_a_strict_http_only_session(live: Live, county: Hierarchy) -> None:
    await add_user(live, "op", Role.OPERATOR, county.root)
    response = await log_in(live.client, "op")
    assert response.status == 303
    assert response.headers["Location"] == "/"
    cookie = response.cookies["whistle_session"]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Strict"
    landing = await live.client.get("/", allow_redirects=False)
    assert landing.status == 303
    assert landing.headers["Location"] == "/console"  # an operator's page
    home = await live.client.get("/cases")
    assert home.status == 200
    assert "op" in await home.text()


async def test_wrong_password_is_refused_without_saying_which_part(
    live: Live, county: Hierarchy
) -> None:
    await add_user(live, "op", Role.OPERATOR, county.root)
    response = await log_in(live.client, "op", "wrong password")
    assert response.status == 401
    assert "用户名或密码不正确" in await response.text()
    unknown = await log_in(live.client, "nobody", "wrong password")
    assert unknown.status == 401
    assert "whistle_session" not in unknown.cookies


async def test_login_without_its_csrf_token_is_refused(live: Live, county: Hierarchy) -> None:
    await add_user(live, "op", Role.OPERATOR, county.root)
    await live.client.get("/login")
    response = await live.client.post(
        "/login", data={"name": "op", "password": PASSWORD}, allow_redirects=False
    )
    assert response.status == 403
    forged = await live.client.post(
        "/login",
        data={"name": "op", "password": PASSWORD, "csrf_token": "forged"},
        allow_redirects=False,
    )
    assert forged.status == 403


async def test_pages_without_a_session_lead_to_login(live: Live) -> None:
    response = await live.client.get("/cases", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/login"


async def test_the_start_page_without_a_login_offers_the_citizens_page_and_the_login(
    live: Live,
) -> None:
    response = await live.client.get("/", allow_redirects=False)
    assert response.status == 200
    html = await response.text()
    assert 'href="/citizen"' in html
    assert 'href="/login"' in html
    assert "我要反映" in html
    login = await (await live.client.get("/login")).text()
    assert 'href="/citizen"' in login


async def test_session_requests_to_the_api_need_the_csrf_header(
    live: Live, county: Hierarchy
) -> None:
    await add_user(live, "op", Role.OPERATOR, county.root)
    await log_in(live.client, "op")
    cases = Cases(live, county)
    body = {
        "source": "citizen",
        "category": "E0101",
        "description": "x",
        "location": {"grid": cases.micro(0)},
    }
    refused = await live.client.post("/api/v1/whistles", json=body)
    assert refused.status == 403
    assert "CSRF" in (await refused.json())["detail"]
    home = await live.client.get("/cases")
    csrf = hidden_csrf(await home.text())
    accepted = await live.client.post("/api/v1/whistles", json=body, headers={"X-CSRF-Token": csrf})
    assert accepted.status == 201
    read = await live.client.get(f"/api/v1/whistles/{(await accepted.json())['id']}")
    assert read.status == 200  # safe methods need no CSRF token


async def test_script_typed_into_a_whistle_is_shown_not_run(live: Live, county: Hierarchy) -> None:
    cases = Cases(live, county)
    doc = await cases.new(description=SCRIPT, reporter=SCRIPT)
    await add_user(live, "op", Role.OPERATOR, county.root)
    await log_in(live.client, "op")
    for path in ("/cases", f"/cases/{doc['id']}"):
        response = await live.client.get(path)
        html = await response.text()
        assert response.status == 200
        assert "<script>alert" not in html
        assert "onerror=alert(1)>" not in html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]


async def test_case_page_outside_the_users_subtree_is_forbidden(
    live: Live, county: Hierarchy
) -> None:
    towns = list(county.cells(level=Level.TOWN))
    outside = next(c for c in county.cells(level=Level.MICRO_GRID) if c.is_within(towns[1].code))
    cases = Cases(live, county)
    doc = await cases.new(location={"grid": outside.code})
    await add_user(live, "town-a", Role.COMMITTEE, towns[0].code)
    await log_in(live.client, "town-a")
    response = await live.client.get(f"/cases/{doc['id']}")
    assert response.status == 403
    home = await live.client.get("/cases")
    assert doc["id"] not in await home.text()


async def test_logout_needs_its_csrf_token_and_ends_the_session(
    live: Live, county: Hierarchy
) -> None:
    await add_user(live, "op", Role.OPERATOR, county.root)
    await log_in(live.client, "op")
    home = await live.client.get("/cases")
    csrf = hidden_csrf(await home.text())
    refused = await live.client.post("/logout", data={}, allow_redirects=False)
    assert refused.status == 403
    done = await live.client.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert done.status == 303
    after = await live.client.get("/cases", allow_redirects=False)
    assert after.status == 303


async def test_english_switch(live: Live, county: Hierarchy) -> None:
    response = await live.client.get("/login?lang=en")
    html = await response.text()
    assert "Log in" in html
    assert 'lang="en"' in html
    again = await live.client.get("/login")
    assert "Log in" in await again.text()  # remembered in a cookie


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_citizen_follows_and_rates_their_case(
    live: Live, county: Hierarchy, lang: str
) -> None:
    cases = Cases(live, county)
    filed = await live.client.post(
        "/api/v1/public/whistles",
        json={"category": "E0101", "description": SCRIPT, "location": {"grid": cases.micro(0)}},
    )
    assert filed.status == 201
    answer = await filed.json()
    page = await live.client.get(f"{answer['follow_url']}&lang={lang}")
    html = await page.text()
    assert page.status == 200
    assert answer["case_number"] in html
    assert "<script>alert" not in html
    assert "grade" not in html  # no rating form before the case is closed
    wrong = await live.client.get(f"/track/{answer['case_number']}?key=guess")
    assert wrong.status == 404
    doc = await cases.get(answer["case_number"])
    assignment = doc["assignments"][0]
    await cases.assignment(assignment, "acknowledge")
    await cases.assignment(assignment, "resolve", note="已清理")
    await cases.case(doc["id"], "verify", passed=True)
    page = await live.client.get(answer["follow_url"])
    assert 'name="grade"' in await page.text()
    rated = await live.client.post(
        f"/track/{doc['id']}/rate?key={answer['key']}",
        data={"grade": "satisfied"},
        allow_redirects=False,
    )
    assert rated.status == 303
    doc = await cases.get(doc["id"])
    assert doc["status"] == "rated"
    assert doc["case"]["rating"]["grade"] == "satisfied"


async def test_a_browser_refused_a_page_gets_a_chinese_page_not_json(
    live: Live, county: Hierarchy
) -> None:
    towns = list(county.cells(level=Level.TOWN))
    outside = next(c for c in county.cells(level=Level.MICRO_GRID) if c.is_within(towns[1].code))
    doc = await Cases(live, county).new(location={"grid": outside.code})
    await add_user(live, "town-a", Role.COMMITTEE, towns[0].code)
    await log_in(live.client, "town-a")
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    page = await live.client.get(f"/cases/{doc['id']}", headers=browser)
    assert page.status == 403
    assert page.content_type == "text/html"
    html = await page.text()
    assert "您无权打开此页面或执行此操作" in html
    assert 'href="/"' in html  # a way back
    assert "Content-Security-Policy" in page.headers
    english = await live.client.get(f"/cases/{doc['id']}?lang=en", headers=browser)
    assert "You may not open this page or do this" in await english.text()
    missing = await live.client.get("/cases/01NOSUCHCASE0000000000000?lang=zh", headers=browser)
    assert missing.status == 404
    assert "找不到此页面或案件" in await missing.text()
    # The API keeps answering problem+json, whatever the client accepts.
    api = await live.client.get(f"/api/v1/whistles/{doc['id']}", headers=browser)
    assert api.status == 403
    assert api.content_type == "application/problem+json"
