"""Personal data (issue 18, whistle/privacy.py) through the live server.

- Every public route (no login, no token: the router's own list, so a new public route fails
  here until it is listed) answers without the reporter, a phone number, a responder's name
  or the exact point; Open311 and /track name units and roles.
- Phone numbers are masked on pages and in the API for everyone but the operators and the
  case's own responders, who call back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis.strategies import sampled_from, text

from grids import Hierarchy
from tests.support.harness import Live
from tests.support.lifecycle import Cases
from tests.support.pages import add_user, log_in
from tests.support.requests import first_micro_grid, point_of
from whistle.auth import Role
from whistle.privacy import PERSONAL, has_phone, mask_phones, redact

REPORTER, PHONE, NOTE_PHONE = "张三丰", "13900001111", "13700002222"
MASKED = "139****1111"


@pytest.fixture
async def citizen_case(live: Live, county: Hierarchy) -> dict[str, Any]:
    """A citizen's case with a name, a call-back number and a phone in the description,
    reported in by its owner (a 报到党员, a person) with a phone in the note."""
    point = point_of(county, first_micro_grid(county))
    # A point with more decimals than a block: the exact place must not leave.
    point = {"lat": round(point["lat"], 3) + 0.000417, "lon": round(point["lon"], 3) + 0.000383}
    filed = await live.client.post(
        "/api/v1/public/whistles",
        json={
            "category": "E0101",
            "description": f"楼道堆放杂物，请打{PHONE}",
            "location": point,
            "reporter": REPORTER,
            "phone": PHONE,
        },
    )
    assert filed.status == 201
    answer = await filed.json()
    cases = Cases(live, county)
    doc = await cases.get(answer["whistle_id"])
    owner = next(a for a in doc["assignments"] if a["kind"] == "registered_member")
    assert (await cases.assignment(owner, "acknowledge"))[0] == 200
    assert (await cases.assignment(owner, "start"))[0] == 200
    status, _ = await cases.assignment(owner, "resolve", note=f"已清理，联系{NOTE_PHONE}")
    assert status == 200
    return {**answer, "doc": await cases.get(answer["whistle_id"]), "owner": owner, "point": point}


def public_urls(case: dict[str, Any], county: Hierarchy) -> dict[str, list[str]]:
    """Every public GET route's template, with the URLs that try it on this case."""
    wid, number, key = case["whistle_id"], case["case_number"], case["key"]
    point = case["point"]
    open311 = {
        "discovery": "/open311/v2/discovery.{fmt}",
        "services": "/open311/v2/services.{fmt}",
        "services/E0101": "/open311/v2/services/{code}.{fmt}",
        "requests": "/open311/v2/requests.{fmt}",
        f"requests/{wid}": "/open311/v2/requests/{id}.{fmt}",
        f"tokens/{wid}": "/open311/v2/tokens/{id}.{fmt}",
    }
    urls: dict[str, list[str]] = {
        template: [f"/open311/v2/{path}.json", f"/open311/v2/{path}.xml"]
        for path, template in open311.items()
    }
    plain = ["/", "/api/v1/openapi.json", "/cases", "/citizen", "/claims", "/console"]
    plain += ["/favicon.ico", "/grids", "/healthz", "/hotline", "/login", "/metrics", "/readyz"]
    plain += ["/report", "/silences", "/silences/new", "/stats", "/stats/cases", "/tasks"]
    plain += ["/wall", "/admin/config", "/admin/replay", "/party", "/party/me", "/party/list"]
    urls |= {path: [path] for path in plain}
    urls |= {
        "/api/v1/public/grids/{code}/shapes": [f"/api/v1/public/grids/{county.root}/shapes"],
        "/api/v1/public/locate": [f"/api/v1/public/locate?lat={point['lat']}&lon={point['lon']}"],
        "/api/v1/public/whistles/{id}": [
            f"/api/v1/public/whistles/{number}?key={key}",
            f"/api/v1/public/whistles/{number}?key={key}&lang=en",
        ],
        "/cases/{id}": [f"/cases/{wid}", f"/cases/{number}"],
        "/public/{name}": ["/public/citizen.js", "/public/field.js", "/public/common.css"],
        "/tasks/{assignment_id}": [f"/tasks/{case['owner']['id']}"],
        "/party/members/{id}": [f"/party/members/{case['owner']['id']}"],
        "/party/units/{id}": ["/party/units/U1"],
        "/track/{id}": [f"/track/{number}?key={key}", f"/track/{number}?key={key}&lang=en"],
        "/vendor/{name}": ["/vendor/echarts.min.js"],
    }
    return urls


def public_get_routes(app: web.Application) -> set[str]:
    return {
        route.resource.canonical
        for route in app.router.routes()
        if route.method == "GET"
        and route.resource is not None
        and getattr(route.handler, "__whistle_public__", False)
    }


async def test_no_public_answer_names_a_person_a_phone_or_the_exact_point(
    live: Live, county: Hierarchy, citizen_case: dict[str, Any]
) -> None:
    urls = public_urls(citizen_case, county)
    assert public_get_routes(live.app) == set(urls), "a public route is not probed here"
    names = {
        a["responder"]["name"] for a in citizen_case["doc"]["assignments"] if a.get("responder")
    }
    units = {
        a["responder"]["name"]
        for a in citizen_case["doc"]["assignments"]
        if a.get("responder") and a["kind"] in ("police_station", "grid_department", "backstop")
    }
    point = citizen_case["point"]
    secrets = {REPORTER, PHONE, NOTE_PHONE, str(point["lat"]), str(point["lon"])}
    secrets |= names - units
    assert citizen_case["owner"]["responder"]["name"] in secrets
    answered = 0
    for url in (u for group in urls.values() for u in group):
        response = await live.client.get(url, allow_redirects=False)
        assert response.status < 500, url
        text = (await response.read()).decode("utf-8", "replace")
        for secret in secrets:
            assert secret not in text, f"{url} shows {secret!r}"
        answered += response.status == 200
    assert answered >= 20  # most of them answer something, not a redirect to the login


async def test_open311_and_track_name_the_unit_or_the_role(
    live: Live, citizen_case: dict[str, Any]
) -> None:
    owner = citizen_case["owner"]
    role = f"{owner['cell_name']}{owner['kind_name']}"  # 第1网格报到党员
    wid = citizen_case["whistle_id"]
    found = await (await live.client.get(f"/open311/v2/requests/{wid}.json")).json()
    assert found[0]["agency_responsible"] == role
    assert MASKED in found[0]["description"]
    view = await live.client.get(
        f"/api/v1/public/whistles/{citizen_case['case_number']}?key={citizen_case['key']}"
    )
    doc = await view.json()
    assert role in doc["handled_by"]
    assert doc["description"] == f"楼道堆放杂物，请打{MASKED}"
    assert doc["resolution"] == "已清理，联系137****2222"
    page = await (await live.client.get(citizen_case["follow_url"])).text()
    assert role in page


@pytest.mark.parametrize(
    ("role", "full"),
    [("operator", True), ("responder", True), ("committee", False), ("reporter", False)],
)
async def test_phone_numbers_are_whole_only_for_those_who_call_back(
    live: Live, citizen_case: dict[str, Any], role: str, full: bool
) -> None:
    responder = citizen_case["owner"]["responder"]["id"] if role == "responder" else None
    token = await live.token(role, responder=responder)
    status, doc = await live.get(f"/api/v1/whistles/{citizen_case['whistle_id']}", token=token)
    assert status == 200
    text = json.dumps(doc, ensure_ascii=False)
    assert (PHONE in text, NOTE_PHONE in text) == (full, full)
    if not full:
        assert doc["reporter"] == f"{REPORTER} 回电 {MASKED}"
        assert MASKED in doc["description"]
        assert "137****2222" in text
    if role != "responder":
        status, page = await live.get("/api/v1/whistles?limit=5", token=token)
        assert status == 200
        assert (PHONE in json.dumps(page, ensure_ascii=False)) == full


@pytest.mark.parametrize(("role", "full"), [(Role.OPERATOR, True), (Role.COMMITTEE, False)])
async def test_the_case_page_masks_phone_numbers_but_for_operators(
    live: Live, county: Hierarchy, citizen_case: dict[str, Any], role: Role, full: bool
) -> None:
    await add_user(live, "viewer", role, county.root)
    await log_in(live.client, "viewer")
    page = await (await live.client.get(f"/cases/{citizen_case['whistle_id']}")).text()
    assert REPORTER in page  # logged-in roles in scope see who reported
    assert (PHONE in page) == full
    assert (NOTE_PHONE in page) == full
    assert (MASKED in page) == (not full)


def test_redact_blanks_what_is_personal_keeps_the_rest_and_is_idempotent() -> None:
    doc = {
        "id": "W1",
        "status": "closed",
        "reporter": "张三丰 回电 13900001111",
        "location": {"grid": "530524101", "lat": 25.1, "lon": 99.3},
        "media_urls": ["http://x/media/a.jpg"],
        "filed_by": {"kind": "session", "id": "wangfang", "role": "operator"},
        "assignments": [{"id": "W1-1", "responder": {"id": "RM1", "name": "夏琳琳"}}],
        "case": {"resolution": {"note": "已清理", "photos": ["/media/b.jpg"]}},
        "category": {"code": "E0101", "name": "暴露垃圾"},
        "other": "请打13700002222",
    }
    clean = redact(doc)
    assert clean == {
        "id": "W1",
        "status": "closed",
        "reporter": "",
        "location": {"grid": "530524101", "lat": None, "lon": None},
        "media_urls": [],
        "filed_by": {"kind": "session", "id": None, "role": "operator"},
        "assignments": [{"id": "W1-1", "responder": {"id": "RM1", "name": None}}],
        "case": {"resolution": {"note": "", "photos": []}},
        "category": {"code": "E0101", "name": "暴露垃圾"},
        "other": "请打137****2222",
    }
    assert redact(clean) == clean


async def test_an_informed_grid_leader_sees_the_number_masked_in_the_inbox(
    live: Live, citizen_case: dict[str, Any]
) -> None:
    informed = citizen_case["doc"]["informed"]
    leader = next(i["responder"]["id"] for i in informed if i["kind"] == "grid_leader")
    token = await live.token("responder", responder=leader)
    status, inbox = await live.get(f"/api/v1/responders/{leader}/inbox", token=token)
    assert status == 200
    told = [c for c in inbox["informed"] if c["id"] == citizen_case["whistle_id"]]
    assert told[0]["description"] == f"楼道堆放杂物，请打{MASKED}"
    status, as_operator = await live.get(f"/api/v1/responders/{leader}/inbox")
    assert status == 200
    assert PHONE in json.dumps(as_operator["informed"], ensure_ascii=False)


def test_the_readme_lists_every_personal_field() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Personal data", 1)[1].split("\n### ", 1)[0]
    table = [line for line in section.splitlines() if line.startswith("| ")]
    assert len(table) >= len(PERSONAL) + 1
    for field in PERSONAL:
        assert field.field in section, field


@settings(max_examples=3000, deadline=None)
@given(
    text(
        alphabet=sampled_from("0123456789-- a\x00１３８０"),  # fullwidth digits are digits too
        max_size=40,
    )
)
def test_the_quick_phone_check_finds_exactly_the_numbers_masking_would_mask(line: str) -> None:
    assert has_phone(line) is (mask_phones(line) != line)
