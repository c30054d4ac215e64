"""静默管理, the silences page (issue 17): each silence recorded under the operator's own name,
the page's lists by name, and a silence filled in from a case (a camera's repeats: the camera
in its cell and category, never the cell alone)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from grids import Hierarchy, Level
from tests.support.harness import Live
from tests.support.pages import add_user, hidden_csrf, log_in
from tests.support.requests import file_in, towns
from whistle.auth import Role
from whistle.web.keys import CAMERAS


async def logged_in(live: Live, county: Hierarchy, name: str = "王值班") -> str:
    """Log ``name`` in as a county operator; the session's CSRF token."""
    await add_user(live, name, Role.OPERATOR, county.root)
    await log_in(live.client, name)
    return hidden_csrf(await (await live.client.get("/cases")).text())


def selected(html: str, select_id: str) -> str | None:
    block = html[html.index(f'id="{select_id}"') :].split("</select>")[0]
    found = re.search(r'<option value="([^"]*)" selected>', block)
    return None if found is None else found.group(1)


async def test_a_silence_from_the_console_is_recorded_under_the_operators_own_name(
    live: Live, county: Hierarchy
) -> None:
    csrf = await logged_in(live, county)
    town = towns(county)[0]
    response = await live.client.post(
        "/api/v1/silences",
        # What the console used to send: its own name as the author.
        json={
            "matchers": {"grid": town, "category": "E01"},
            "duration_minutes": 30,
            "author": "console",
            "comment": "道路施工",
        },
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status == 201, await response.text()
    assert (await response.json())["author"] == "王值班"
    status, listing = await live.get("/api/v1/silences")
    assert status == 200
    assert [s["author"] for s in listing["items"]] == ["王值班"]


async def test_a_token_may_still_name_the_person_it_files_for(live: Live) -> None:
    body = {"matchers": {"source": "camera"}, "duration_minutes": 5, "comment": "检修"}
    response = await live.client.post(
        "/api/v1/silences", json={**body, "author": "值班员"}, headers=await live.auth()
    )
    assert (await response.json())["author"] == "值班员"
    response = await live.client.post("/api/v1/silences", json=body, headers=await live.auth())
    assert response.status == 201
    assert (await response.json())["author"]  # the token's own name, never empty


async def test_the_silences_page_lists_active_and_expired_silences_by_name(
    live: Live, county: Hierarchy, clock: Any
) -> None:
    csrf = await logged_in(live, county)
    town = county.cell(towns(county)[0])
    for comment, minutes in (("早已结束", 10), ("仍然有效", 600)):
        response = await live.client.post(
            "/api/v1/silences",
            json={
                "matchers": {"grid": town.code, "category": "E0101"},
                "duration_minutes": minutes,
                "comment": comment,
            },
            headers={"X-CSRF-Token": csrf},
        )
        assert response.status == 201
    clock.advance(timedelta(minutes=30))
    html = await (await live.client.get("/silences")).text()
    active = html[html.index('id="silences-active"') : html.index('id="silences-expired"')]
    expired = html[html.index('id="silences-expired"') :]
    assert "仍然有效" in active
    assert "早已结束" not in active
    assert "早已结束" in expired
    # By name: the town and the category, not their codes.
    assert town.name in active
    assert "E0101" not in active.replace('value="E0101"', "")
    assert "王值班" in active
    assert 'class="expire"' in active


async def test_a_silence_from_a_camera_case_is_filled_in_with_camera_cell_and_category(
    live: Live, county: Hierarchy
) -> None:
    await logged_in(live, county)
    cameras = live.app[CAMERAS]
    camera_id = sorted(cameras)[0]
    cell = cameras.home(camera_id)
    status, _, doc = await live.post(
        {"source": "camera", "category": "E0403", "camera_id": camera_id,
         "description": "占道经营", "location": {"grid": cell.code}}
    )  # fmt: skip
    assert status == 201, doc
    html = await (await live.client.get(f"/silences/new?from={doc['id']}")).text()
    assert selected(html, "s-camera") == camera_id
    assert selected(html, "s-grid") == doc["grid"]["code"]
    assert selected(html, "s-category") == "E0403"
    assert selected(html, "s-source") is None


async def test_a_silence_from_a_citizens_case_names_its_category_in_its_cell(
    live: Live, county: Hierarchy
) -> None:
    await logged_in(live, county)
    doc = await file_in(live, county, towns(county)[0])
    html = await (await live.client.get(f"/silences/new?from={doc['id']}")).text()
    assert selected(html, "s-camera") is None
    assert selected(html, "s-grid") == doc["grid"]["code"]
    assert selected(html, "s-category") == doc["category"]["code"]
    # The cell's chain is offered by name, from the case's own cell up to its town.
    town = county.at_level(doc["grid"]["code"], Level.TOWN)
    assert f"{town.name} (" in html


async def test_a_town_operator_cannot_fill_in_a_silence_from_another_towns_case(
    live: Live, county: Hierarchy
) -> None:
    doc = await file_in(live, county, towns(county)[1])
    await add_user(live, "甲镇值班", Role.OPERATOR, towns(county)[0])
    await log_in(live.client, "甲镇值班")
    response = await live.client.get(f"/silences/new?from={doc['id']}")
    assert response.status == 403


async def test_the_silences_page_and_the_queue_switch_to_english(
    live: Live, county: Hierarchy
) -> None:
    await logged_in(live, county)
    doc = await file_in(live, county, towns(county)[0])
    page = await (await live.client.get(f"/silences/new?from={doc['id']}&lang=en")).text()
    assert "New silence" in page
    assert f"Filled in from case {doc['case_number']}" in page
    console = await (await live.client.get("/console?lang=en")).text()
    assert "Time left" in console
    assert "剩余时间" not in console
