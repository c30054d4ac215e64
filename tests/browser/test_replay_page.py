"""规则推演 in a real browser (desktop): an admin replays this month under a proposed rule that
moves citizens' street lights (路灯) to the town's grid department, and the page shows the
numbers the API reports for that replay."""

from __future__ import annotations

import shutil
from typing import Any

from grids import Level
from grids.loader import load_hierarchy
from tests.support.browser import Site
from tests.support.replay import STREETLIGHT
from tests.whistle.replay.test_engine import STREETLIGHT_TO_TOWN


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def _propose(site: Site) -> None:
    """A copy of the server's config with the street-light rule first, where the server
    looks for proposals (``proposals`` beside its database)."""
    where = site.server.db.parent / "proposals" / "streetlight"
    if where.exists():
        return
    shutil.copytree(site.county, where)
    rules = where / "rules.toml"
    head, sep, tail = rules.read_text(encoding="utf-8").partition("\n[[rule]]\n")
    rules.write_text(f"{head}\n{STREETLIGHT_TO_TOWN.strip()}\n{sep}{tail}", encoding="utf-8")


def _file(site: Site, micro: str, category: str) -> None:
    body = {
        "source": "citizen",
        "category": category,
        "description": "路灯不亮，晚上看不见路" if category == STREETLIGHT else "楼道堆放杂物",
        "location": {"grid": micro},
        "reporter": "推演测试",
    }
    status, doc = site.api("POST", "/api/v1/whistles", body)
    assert status == 201, doc


def test_an_admin_replays_the_month_and_sees_what_the_api_reports(
    open_as: Any, site: Site, shots: Any
) -> None:
    county = load_hierarchy(site.county)
    micro = [c.code for c in county.cells(level=Level.MICRO_GRID)]
    for i in range(3):
        _file(site, micro[i], STREETLIGHT)
        _file(site, micro[i + 3], "E0101")
    _propose(site)

    page = open_as("admin")
    page.goto(f"{site.url}/admin/replay")
    assert page.locator("h1").inner_text() == "规则推演"
    page.select_option("#r-config", "streetlight")
    page.click("#r-run")
    page.wait_for_selector("#replay-result:not([hidden])", timeout=120_000)
    job_id = page.locator("#replay").get_attribute("data-replay")
    assert job_id

    admin = site.server.create_token("admin", None)
    status, job = site.api(
        "GET", f"/api/v1/replays/{job_id}", **{"Authorization": f"Bearer {admin}"}
    )
    assert status == 200, job
    report = job["report"]
    assert report["changed"] >= 3  # the street lights filed above, at least
    assert page.locator("#replay-cases").inner_text() == str(report["cases"])
    assert page.locator("#replay-changed").inner_text() == str(report["changed"])
    for key in ("response", "on_time_closure", "backstop_share"):
        for side in ("before", "after"):
            shown = page.locator(f"#rate-{key}-{side}").inner_text()
            assert shown == _pct(report["rates"][side][key]), (key, side)
    rows = page.locator("#table-changed tbody tr")
    assert rows.count() == len(report["changed_cases"])
    assert "grid_department" in {a["kind"] for a in report["changed_cases"][0]["after"]}
    kinds = page.locator("#table-kinds tbody tr")
    assert kinds.count() == len(report["kinds"])
    department = next(k for k in report["kinds"] if k["kind"] == "grid_department")
    assert page.locator("#table-kinds").get_by_text(department["name"]).count() == 1
    # Charts drawn (ECharts is served), and every table downloadable.
    assert page.locator("#replay-charts").is_visible()
    assert page.locator("#chart-kinds canvas").count() == 1
    href = page.locator("#csv-kinds").get_attribute("href")
    assert href == f"/api/v1/replays/{job_id}/kinds.csv"
    page.screenshot(path=str(shots / "replay.png"), full_page=True)

    page.click("#lang-switch")
    assert page.locator("h1").inner_text() == "Rules replay"
