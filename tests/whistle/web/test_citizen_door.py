"""The citizens' door and the pages everyone meets: honeypot, call-back number, the public
grid views, the citizen's timeline, the tracking page, error pages, the favicon, navigation.
A real server over a real SQLite file."""

from __future__ import annotations

import base64
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from grids import Hierarchy, Level, ResponderKind
from tests.support.harness import Live
from tests.support.pages import PASSWORD, add_user, log_in
from whistle.auth import Role
from whistle.web.access import ACCESS
from whistle.web.pages import html_errors
from whistle.web.problems import error_middleware

PUBLIC = "/api/v1/public/whistles"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
HTML = {"Accept": "text/html"}


def _micro(county: Hierarchy) -> str:
    return next(county.cells(level=Level.MICRO_GRID)).code


def _citizen(county: Hierarchy, **more: Any) -> dict[str, Any]:
    return {
        "category": "E0102",
        "description": "楼道堆物",
        "location": {"grid": _micro(county)},
        **more,
    }


async def test_a_filled_honeypot_is_refused_with_400_and_nothing_is_stored(
    live: Live, county: Hierarchy
) -> None:
    response = await live.client.post(PUBLIC, json=_citizen(county, website="http://spam"))
    problem = await response.json()
    assert response.status == 400
    assert [e["field"] for e in problem["errors"]] == ["website"]
    status, listed = await live.get("/api/v1/whistles")
    assert (status, listed["items"]) == (200, [])
    # An empty honeypot is what a person's browser sends: filed.
    response = await live.client.post(PUBLIC, json=_citizen(county, website=""))
    assert response.status == 201


async def test_a_call_back_number_reaches_the_operators_and_never_the_public(
    live: Live, county: Hierarchy
) -> None:
    response = await live.client.post(PUBLIC, json=_citizen(county, phone="138-1234-5678"))
    filed = await response.json()
    assert response.status == 201, filed
    status, doc = await live.get(f"/api/v1/whistles/{filed['whistle_id']}")
    assert status == 200
    assert "13812345678" in doc["reporter"]
    view = await live.client.get(
        f"/api/v1/public/whistles/{filed['case_number']}?key={filed['key']}"
    )
    assert view.status == 200
    assert "13812345678" not in await view.text()
    page = await live.client.get(filed["follow_url"])
    assert "13812345678" not in await page.text()


async def test_a_bad_call_back_number_is_a_422_naming_the_phone(
    live: Live, county: Hierarchy
) -> None:
    response = await live.client.post(PUBLIC, json=_citizen(county, phone="12345"))
    problem = await response.json()
    assert response.status == 422
    assert [e["field"] for e in problem["errors"]] == ["phone"]


async def test_the_citizens_view_names_units_and_roles_never_people(
    live: Live, county: Hierarchy
) -> None:
    response = await live.client.post(PUBLIC, json=_citizen(county))
    filed = await response.json()
    assert filed["follow_url"] == f"/track/{filed['case_number']}?key={filed['key']}"
    view = await (
        await live.client.get(f"/api/v1/public/whistles/{filed['case_number']}?key={filed['key']}")
    ).json()
    assert view["case_number"] == filed["case_number"] != filed["whistle_id"]
    steps = [s["text"] for s in view["timeline"]]
    assert steps[0] == "已受理"
    assert any(s.startswith("派遣至") for s in steps)
    _status, doc = await live.get(f"/api/v1/whistles/{filed['whistle_id']}")
    people = {
        a["responder"]["name"]
        for a in doc["assignments"]
        if a.get("responder") and a["kind"] in ("registered_member", "unposted_member")
    }
    assert people
    text = str(view)
    assert not [name for name in people if name in text]
    assert view["place"].count(" · ") >= 2  # 镇 · 社区 · 网格 · 微网格


async def test_locate_names_the_deepest_cell_and_refuses_points_outside(
    live: Live, county: Hierarchy
) -> None:
    micro = _micro(county)
    lat, lon = county.centroid(micro) or (0.0, 0.0)
    response = await live.client.get(f"/api/v1/public/locate?lat={lat}&lon={lon}")
    found = await response.json()
    assert response.status == 200
    assert (found["code"], found["level"]) == (micro, "micro_grid")
    assert county.cell(micro).name in found["place"]
    outside = await live.client.get("/api/v1/public/locate?lat=0&lon=0")
    assert outside.status == 404
    bad = await live.client.get("/api/v1/public/locate?lat=north&lon=1")
    assert bad.status == 400
    assert (await bad.json())["errors"][0]["field"] == "lat"


async def test_the_public_map_gives_shapes_and_names_and_nobody(
    live: Live, county: Hierarchy
) -> None:
    response = await live.client.get(f"/api/v1/public/grids/{county.root}/shapes")
    shapes = await response.json()
    assert response.status == 200
    assert {f["properties"]["level"] for f in shapes["features"]} == {"town"}
    assert all(
        set(f["properties"]) == {"code", "name", "level", "children"} for f in shapes["features"]
    )
    unknown = await live.client.get("/api/v1/public/grids/nosuch/shapes")
    assert unknown.status == 404


async def test_a_citizen_uploads_a_photo_without_a_login(live: Live) -> None:
    response = await live.client.post("/api/v1/public/media", data=PNG)
    answer = await response.json()
    assert response.status == 201, answer
    assert answer["url"].startswith("/media/")
    refused = await live.client.post("/api/v1/public/media", data=b"not an image")
    assert refused.status == 415


async def test_the_tracking_page_asks_for_a_grade_in_chinese(live: Live, county: Hierarchy) -> None:
    filed = await (await live.client.post(PUBLIC, json=_citizen(county))).json()
    page = await live.client.get(filed["follow_url"])
    html = await page.text()
    assert page.status == 200
    assert filed["case_number"] in html
    assert "已派遣" in html
    number, key = filed["case_number"], filed["key"]
    response = await live.client.post(f"/track/{number}/rate?key={key}", data={"grade": ""})
    assert response.status == 422
    assert "请选择满意度" in await response.text()
    wrong = await live.client.get(f"/track/{number}?key=guess", headers=HTML)
    assert wrong.status == 404
    assert "找不到此页面或案件" in await wrong.text()


async def test_an_unknown_page_is_a_chinese_page_for_a_browser_and_json_for_the_api(
    live: Live,
) -> None:
    page = await live.client.get("/no-such-page", headers=HTML)
    assert page.status == 404
    assert page.content_type == "text/html"
    html = await page.text()
    assert "找不到此页面或案件" in html
    assert 'href="/"' in html
    api = await live.client.get("/api/v1/no-such-thing", headers=HTML)
    assert (api.status, api.content_type) == (404, "application/problem+json")


async def test_a_favicon_is_served(live: Live) -> None:
    response = await live.client.get("/favicon.ico")
    assert response.status == 200
    assert response.content_type == "image/svg+xml"
    assert (await response.read()).startswith(b"<svg")


async def test_navigation_offers_only_the_pages_the_role_may_open(
    live: Live, county: Hierarchy
) -> None:
    members = county.responders_of_kind(ResponderKind.REGISTERED_MEMBER)
    responder = next(r for found in members.values() for r in found)
    await live.app[ACCESS].add_user(
        name="member",
        password=PASSWORD,
        role=Role.RESPONDER,
        scope=county.root,
        responder_id=responder.id,
        by="tests",
    )
    await log_in(live.client, "member")
    html = await (await live.client.get("/grids")).text()
    nav = html.split('<nav class="site-nav">', 1)[1].split("</nav>", 1)[0]
    assert 'href="/tasks"' in nav  # 我的任务, where / leads a responder
    assert 'href="/claims"' in nav
    assert 'href="/grids"' in nav
    assert 'href="/console"' not in nav
    assert 'href="/wall"' not in nav
    assert 'href="/report"' not in nav
    assert 'href="/stats"' not in nav


async def test_an_operators_navigation_and_a_case_found_by_its_number(
    live: Live, county: Hierarchy
) -> None:
    await add_user(live, "op", Role.OPERATOR, county.root)
    await log_in(live.client, "op")
    filed = await (await live.client.post(PUBLIC, json=_citizen(county))).json()
    html = await (await live.client.get("/cases")).text()
    nav = html.split('<nav class="site-nav">', 1)[1].split("</nav>", 1)[0]
    for href in ("/report", "/console", "/claims", "/cases", "/silences", "/hotline"):
        assert f'href="{href}"' in nav
    for href in ("/stats", "/wall", "/grids"):
        assert f'href="{href}"' in nav
    assert 'href="/tasks"' not in nav
    assert filed["case_number"] in html  # the list shows the 受理编号
    response = await live.client.get(f"/cases/{filed['case_number']}", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == f"/cases/{filed['whistle_id']}"
    page = await (await live.client.get(response.headers["Location"])).text()
    assert filed["case_number"] in page


async def test_a_server_failure_is_a_chinese_page_for_a_browser_and_json_for_a_client() -> None:
    # The app's own two error layers, over a real socket, around a handler that fails (no
    # route of the app fails on purpose).
    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("a bug")

    app = web.Application(middlewares=[html_errors, error_middleware])
    app.router.add_get("/broken", broken)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        page = await client.get("/broken", headers=HTML)
        assert page.status == 500
        assert page.content_type == "text/html"
        html = await page.text()
        assert "服务器出错了" in html
        assert 'href="/"' in html
        assert "a bug" not in html  # nothing of the inside
        api = await client.get("/broken")
        assert (api.status, api.content_type) == (500, "application/problem+json")


async def test_a_citizen_may_give_an_address_alone_and_is_told_it_is_being_placed(
    live: Live, county: Hierarchy
) -> None:
    placed = await live.client.post(
        PUBLIC, json=_citizen(county, location={"address": "田园文化路2号门口"})
    )
    assert placed.status == 201, await placed.text()
    _status, doc = await live.get(f"/api/v1/whistles/{(await placed.json())['whistle_id']}")
    assert doc["placement"]["by"] == "gazetteer"
    assert doc["grid"]["code"] == "530524101001003002"

    held = await live.client.post(PUBLIC, json=_citizen(county, location={"address": "我家楼下"}))
    assert held.status == 201, await held.text()
    filed = await held.json()
    view = await (
        await live.client.get(f"/api/v1/public/whistles/{filed['case_number']}?key={filed['key']}")
    ).json()
    assert view["status_text"] == "已受理，正在确认位置后派遣"
    _status, doc = await live.get(f"/api/v1/whistles/{filed['whistle_id']}")
    assert doc["status"] == "unplaced"
