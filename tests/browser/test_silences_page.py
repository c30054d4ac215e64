"""静默管理 in a desktop browser (issue 17): an operator creates a silence in the page, sees it
active, and expires it early; one made from a camera case is filled in with that camera, its
cell and its category. Each outcome is checked through the API."""

from __future__ import annotations

import uuid
from typing import Any

from grids.loader import load_hierarchy
from tests.support.browser import COMMUNITY, Site
from whistle.cameras import camera_rows


def silence(site: Site, comment: str) -> dict[str, Any]:
    status, listing = site.api("GET", "/api/v1/silences")
    assert status == 200
    return next(s for s in listing["items"] if s["comment"] == comment)  # type: ignore[no-any-return]


def test_an_operator_creates_a_silence_on_the_page_and_expires_it_early(
    open_as: Any, site: Site, shots: Any
) -> None:
    comment = f"道路施工，井盖更换 {uuid.uuid4().hex[:4]}"
    page = open_as("operator")
    page.goto(f"{site.url}/silences")
    # A comment is required: the page says so in Chinese and sends nothing.
    page.select_option("#s-category", "E0101")
    page.click("#s-create")
    assert "请填写说明" in page.locator("#silence-errors").inner_text()
    page.select_option("#s-grid", COMMUNITY)
    page.fill("#s-duration", "45")
    page.fill("#s-comment", comment)
    page.click("#s-create")
    row = page.locator("#silences-active tr", has_text=comment)
    row.wait_for(timeout=15_000)
    made = silence(site, comment)
    assert made["active"] is True
    assert made["matchers"] == {"grid": COMMUNITY, "category": "E0101"}
    assert made["author"] == "operator"  # the operator's own name, not "console"
    assert "operator" in row.inner_text()
    page.screenshot(path=str(shots / "silences.png"), full_page=True)

    row.locator("button.expire").click()
    page.locator("#silences-expired tr", has_text=comment).wait_for(timeout=15_000)
    after = silence(site, comment)
    assert after["active"] is False
    assert after["ends_at"] < made["ends_at"]


def test_a_silence_made_from_a_camera_case_names_that_camera_in_its_cell_and_category(
    open_as: Any, site: Site
) -> None:
    # The community's second camera: the console's silence test files with its first.
    camera_id, camera_grid = [
        (row[0], row[1])
        for row in camera_rows(load_hierarchy(site.county))
        if row[1].startswith(COMMUNITY)
    ][1]
    status, doc = site.api(
        "POST", "/api/v1/whistles",
        {"source": "camera", "category": "E0403", "description": "占道经营",
         "location": {"grid": camera_grid}, "camera_id": camera_id},
        **{"Idempotency-Key": uuid.uuid4().hex},
    )  # fmt: skip
    assert status == 201, doc
    console = open_as("operator")
    console.goto(f"{site.url}/console")
    console.locator(f'tr[data-id="{doc["id"]}"] a.action-silence').click()
    console.wait_for_url(f"**/silences/new?from={doc['id']}")
    assert console.locator("#s-camera").input_value() == camera_id
    assert console.locator("#s-grid").input_value() == doc["grid"]["code"]
    assert console.locator("#s-category").input_value() == "E0403"
    comment = f"摄像头误报 {uuid.uuid4().hex[:4]}"
    console.fill("#s-comment", comment)
    console.click("#s-create")
    console.locator("#silences-active tr", has_text=comment).wait_for(timeout=15_000)
    made = silence(site, comment)
    assert made["matchers"] == {
        "camera": camera_id,
        "grid": doc["grid"]["code"],
        "category": "E0403",
    }
