"""Phone numbers on the case page (issue 18): a grid worker who reads a case sees the
citizen's call-back number masked; the operator, who calls back, sees it whole."""

from __future__ import annotations

from typing import Any

from grids import Level
from grids.loader import load_hierarchy
from tests.support.browser import COMMUNITY, Site

PHONE, MASKED = "13900001111", "139****1111"


def _case_with_a_phone(site: Site) -> str:
    county = load_hierarchy(site.county)
    micro = next(c for c in county.cells(level=Level.MICRO_GRID) if c.is_within(COMMUNITY))
    status, doc = site.api(
        "POST",
        "/api/v1/whistles",
        {
            "source": "citizen",
            "category": "E0101",
            "description": f"楼道堆放杂物，请回电{PHONE}",
            "location": {"grid": micro.code},
            "reporter": f"市民张三丰 回电 {PHONE}",
        },
    )
    assert status == 201, doc
    return str(doc["id"])


def test_the_reporter_sees_the_number_masked_and_the_operator_sees_it_whole(
    open_as: Any, site: Site
) -> None:
    whistle_id = _case_with_a_phone(site)
    worker = open_as("reporter")
    worker.goto(f"{site.url}/cases/{whistle_id}")
    worker.get_by_text(f"市民张三丰 回电 {MASKED}").first.wait_for()
    assert PHONE not in worker.content()
    assert MASKED in worker.locator("body").inner_text()

    operator = open_as("operator")
    operator.goto(f"{site.url}/cases/{whistle_id}")
    operator.get_by_text(f"市民张三丰 回电 {PHONE}").first.wait_for()
    status, doc = site.api("GET", f"/api/v1/whistles/{whistle_id}")  # the operator's token
    assert status == 200
    assert doc["reporter"] == f"市民张三丰 回电 {PHONE}"
