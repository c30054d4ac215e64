"""大屏 in a real browser at 1920×1080: the wall shows what ``GET /api/v1/wall`` counts, and
changes live when a whistle arrives (a source's count, and the cell's value and colour on the
map), without a reload."""

from __future__ import annotations

from typing import Any

from grids import Hierarchy, Level
from grids.loader import load_hierarchy
from tests.support.browser import Site

WALL_VIEWPORT = {"width": 1920, "height": 1080}
# (source, category, description): a morning's whistles for the map to show
MORNING = [
    ("citizen", "E0101", "楼道堆放杂物，影响通行"),
    ("citizen", "E0101", "小区门口垃圾未清运"),
    ("community", "E0101", "背街小巷乱堆乱放"),
    ("town_committee", "E0601", "集贸市场占道经营"),
    ("police", "E0101", "夜间噪音扰民"),
    ("citizen", "E0801", "独居老人需要探访"),
]


def _wall(site: Site) -> dict[str, Any]:
    status, doc = site.api("GET", "/api/v1/wall")
    assert status == 200, doc
    return doc  # type: ignore[no-any-return]


def _file(site: Site, micro: str, source: str, category: str, description: str) -> str:
    status, doc = site.api(
        "POST",
        "/api/v1/whistles",
        {
            "source": source,
            "category": category,
            "description": description,
            "location": {"grid": micro},
            "reporter": "指挥中心测试",
        },
    )
    assert status == 201, doc
    return str(doc["id"])


def _close_and_rate(site: Site, whistle_id: str) -> None:
    """The first responder reports in and resolves it, an operator verifies it, the citizen
    is satisfied: the 三率 have something to show."""
    status, doc = site.api("GET", f"/api/v1/whistles/{whistle_id}")
    assert status == 200, doc
    assignment = next(a for a in doc["assignments"] if a["mode"] == "push")
    responder = assignment["responder"]["id"]
    token = site.server.create_token("responder", "530524", responder=responder)
    auth = {"Authorization": f"Bearer {token}"}
    for action, body in (("acknowledge", {}), ("resolve", {"note": "已清理"})):
        status, answer = site.api(
            "POST", f"/api/v1/assignments/{assignment['id']}/{action}", body, **auth
        )
        assert status == 200, answer
    status, answer = site.api("POST", f"/api/v1/whistles/{whistle_id}/verify", {"passed": True})
    assert status == 200, answer
    status, answer = site.api("POST", f"/api/v1/whistles/{whistle_id}/rate", {"grade": "satisfied"})
    assert status == 200, answer


def _micro_in(county: Hierarchy, grid: str) -> str:
    return next(c.code for c in county.cells(level=Level.MICRO_GRID) if c.is_within(grid))


def _page_counts(page: Any) -> dict[str, int]:
    return page.evaluate(  # type: ignore[no-any-return]
        """() => Object.fromEntries(Array.from(document.querySelectorAll('#wall-sources li'))
            .map(li => [li.dataset.source, Number(li.querySelector('.count').textContent)]))"""
    )


def _map(page: Any, code: str) -> dict[str, Any]:
    """The value and colour the chart itself gives the cell's polygon."""
    return page.evaluate(  # type: ignore[no-any-return]
        """(code) => {
            const chart = echarts.getInstanceByDom(document.getElementById('wall-map'));
            const data = chart.getOption().series[0].data;
            const i = data.findIndex(d => d.name === code);
            return {value: data[i].value,
                    colour: chart.getVisual({seriesIndex: 0, dataIndex: i}, 'color')};
        }""",
        code,
    )


def test_the_wall_shows_todays_counts_and_updates_live_when_a_whistle_arrives(
    open_as: Any, site: Site, shots: Any
) -> None:
    county = load_hierarchy(site.county)
    grids = [c.code for c in county.cells(level=Level.GRID)]
    filed = [
        _file(site, _micro_in(county, grids[i % 3]), source, category, description)
        for i, (source, category, description) in enumerate(MORNING)
    ]
    _close_and_rate(site, filed[0])
    before = _wall(site)

    wall = open_as("operator")
    wall.set_viewport_size(WALL_VIEWPORT)
    wall.goto(f"{site.url}/wall")
    wall.locator("#wall-live", has_text="●").wait_for()  # the event stream is open
    wall.locator("#wall-sources li").first.wait_for()
    wall.wait_for_function("() => document.getElementById('wall-map').dataset.values")

    # The page shows what the API counts.
    assert _page_counts(wall) == {s["key"]: s["count"] for s in before["sources"]}
    assert wall.locator("#today-total").inner_text() == str(before["today_total"])
    assert wall.locator("#open-total").inner_text() == str(before["open_total"])
    shown = wall.evaluate("() => JSON.parse(document.getElementById('wall-map').dataset.values)")
    assert shown == {c["code"]: c["open"] for c in before["cells"]}
    rates = wall.locator("#wall-rates li")
    assert rates.count() == 3
    assert "响应率" in rates.first.inner_text()
    assert before["rates"]["items"][0]["key"] == "response"
    for rate in before["rates"]["items"]:
        shown_rate = wall.locator(f'#wall-rates li[data-rate="{rate["key"]}"] .value').inner_text()
        assert shown_rate == f"{rate['rate'] * 100:.1f}%", rate
    assert "指挥中心" in wall.locator("#wall-title").inner_text()
    # No bare ids on the wall: the overdue list names things.
    assert before["grid"]["code"] not in wall.locator("main").inner_text()

    # A citizen's whistle arrives in the quietest cell while the page is open.
    quiet = min(before["cells"], key=lambda c: (c["open"], c["code"]))
    was = _map(wall, quiet["code"])
    citizen_before = _page_counts(wall)["citizen"]
    _file(site, _micro_in(county, quiet["code"]), "citizen", "E0101", "路灯不亮，夜间出行不便")
    wall.wait_for_function(
        "(n) => Number(document.querySelector('#wall-sources li[data-source=citizen] .count')"
        ".textContent) === n",
        arg=citizen_before + 1,
        timeout=15_000,
    )
    wall.wait_for_function(
        "([code, n]) => JSON.parse(document.getElementById('wall-map').dataset.values)[code] === n",
        arg=[quiet["code"], quiet["open"] + 1],
        timeout=15_000,
    )
    now = _map(wall, quiet["code"])
    assert now["value"] == was["value"] + 1
    assert now["colour"] != was["colour"]

    # The API agrees with the page after the update too.
    after = _wall(site)
    sources = {s["key"]: s["count"] for s in after["sources"]}
    assert sources["citizen"] == citizen_before + 1
    assert _page_counts(wall) == sources
    assert {c["code"]: c["open"] for c in after["cells"]}[quiet["code"]] == quiet["open"] + 1
    # Readable across a room: big type, light on dark, and it fits the screen.
    size = wall.evaluate(
        "() => parseFloat(getComputedStyle(document.querySelector('#wall-sources .count'))"
        ".fontSize)"
    )
    assert size >= 48
    widths = wall.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1]
    wall.screenshot(path=str(shots / "wall.png"))
