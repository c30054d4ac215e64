"""The console names the silence that matched a case (issue 14), live, and its silence link
fills the silences page in with a category in a cell, never a cell alone."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from grids.loader import load_hierarchy
from tests.support.browser import COMMUNITY, Site
from whistle.cameras import camera_rows


def test_the_console_shows_live_which_silence_muted_or_warned_a_case(
    open_as: Any, site: Site
) -> None:
    # The community's first camera (cameras.csv), filed at its own cell.
    camera_id, camera_grid = next(
        (row[0], row[1])
        for row in camera_rows(load_hierarchy(site.county))
        if row[1].startswith(COMMUNITY)
    )
    console = open_as("operator")
    console.goto(f"{site.url}/console")
    console.locator("#live-state.ok").wait_for()
    for matchers, comment in (
        ({"camera": camera_id}, "摄像头误报，等待检修"),
        ({"grid": COMMUNITY, "source": "police"}, "派出所演练"),
    ):
        status, answer = site.api(
            "POST",
            "/api/v1/silences",
            {"matchers": matchers, "duration_minutes": 60, "author": "值班员", "comment": comment},
        )
        assert status == 201, answer
    filed = {}
    for source, category, place, extra in (
        ("camera", "E0403", camera_grid, {"camera_id": camera_id}),
        ("police", "E0703", COMMUNITY, {}),
    ):
        status, doc = site.api(
            "POST",
            "/api/v1/whistles",
            {"source": source, "category": category, "description": f"{source} 测试",
             "location": {"grid": place}, **extra},
        )  # fmt: skip
        assert status == 201, doc
        filed[source] = doc["id"]

    muted = console.locator(f'tr[data-id="{filed["camera"]}"] .flag-muted-by')
    muted.wait_for(timeout=15_000)
    assert muted.inner_text() == "静默: 摄像头误报，等待检修"
    assert muted.get_attribute("title") == "值班员"
    warned = console.locator(f'tr[data-id="{filed["police"]}"] .flag-silence-warning')
    warned.wait_for(timeout=15_000)
    assert warned.inner_text() == "紧急不静默: 派出所演练"

    # The row's silence link opens the silences page filled in from the case: its category
    # in its cell, never the cell alone.
    row = console.locator(f'tr[data-id="{filed["police"]}"]')
    row.locator("a.action-silence").click()
    console.wait_for_url(f"**/silences/new?from={filed['police']}")
    console.fill("#s-duration", "30")
    console.fill("#s-comment", "同一警情重复上报")
    console.click("#s-create")
    console.locator("#silences-active tr", has_text="同一警情重复上报").wait_for(timeout=15_000)
    status, listing = site.api("GET", "/api/v1/silences")
    assert status == 200
    made = next(s for s in listing["items"] if s["comment"] == "同一警情重复上报")
    assert made["matchers"] == {"grid": COMMUNITY, "category": "E0703"}
    assert made["author"] == "operator"  # the operator's own name, not "console"
    lasts = datetime.fromisoformat(made["ends_at"]) - datetime.fromisoformat(made["starts_at"])
    assert lasts == timedelta(minutes=30)
