"""The whole day in a real browser: a grid worker reports from a phone, the operator sees it
arrive in the console without reloading, the responder reports in and resolves it through
the API, it is verified, and the statistics change."""

from __future__ import annotations

from typing import Any

from tests.support.browser import COMMUNITY, Site, fill_report


def stats(site: Site) -> dict[str, Any]:
    status, doc = site.api("GET", f"/api/v1/stats?grid={COMMUNITY}")
    assert status == 200, doc
    return doc["counts"]  # type: ignore[no-any-return]


def test_report_appears_live_in_the_console_and_changes_the_statistics(
    open_as: Any, site: Site, shots: Any
) -> None:
    before = stats(site)
    console = open_as("operator")
    console.goto(f"{site.url}/console")
    console.locator("#live-state.ok").wait_for()  # the event stream is open
    statistics = open_as("operator")
    statistics.goto(f"{site.url}/stats?grid={COMMUNITY}")
    sources_before = statistics.locator("#table-sources").inner_text()

    reporter = open_as("reporter", phone=True)
    reporter.goto(f"{site.url}/report")
    fill_report(reporter, "小区门口井盖缺失，夜间危险")
    reporter.click("#submit")
    reporter.locator("#result").wait_for()
    link = reporter.locator("#result-link").get_attribute("href")
    assert link is not None
    whistle_id = link.rsplit("/", 1)[1]

    # The console was not reloaded: the row arrives over the event stream.
    row = console.locator(f'tr[data-id="{whistle_id}"]')
    row.wait_for(timeout=15_000)
    assert "小区门口井盖缺失" in row.inner_text()
    console.screenshot(path=str(shots / "console.png"), full_page=True)

    # The responder reports in and resolves through the API; an operator verifies it.
    status, doc = site.api("GET", f"/api/v1/whistles/{whistle_id}")
    assert status == 200
    assignment = doc["assignments"][0]
    token = site.server.create_token(
        "responder", COMMUNITY, responder=assignment["responder"]["id"]
    )
    auth = {"Authorization": f"Bearer {token}"}
    for action, body in (("acknowledge", {}), ("resolve", {"note": "已安装新井盖"})):
        status, answer = site.api(
            "POST", f"/api/v1/assignments/{assignment['id']}/{action}", body, **auth
        )
        assert status == 200, answer
    status, answer = site.api("POST", f"/api/v1/whistles/{whistle_id}/verify", {"passed": True})
    assert status == 200, answer
    assert answer["status"] == "closed"

    # The console follows the case without a reload too: closed, it leaves the open queue,
    # and the closed cases list it as closed.
    console.locator(f'tr[data-id="{whistle_id}"]').wait_for(state="detached", timeout=15_000)
    console.select_option("#f-status", "closed")
    console.locator(f'tr[data-id="{whistle_id}"]').filter(has_text="结案").wait_for(timeout=15_000)

    after = stats(site)
    assert after["total"] == before["total"] + 1
    assert after["closed"] == before["closed"] + 1
    statistics.reload()
    assert statistics.locator("#table-sources").inner_text() != sources_before
    statistics.screenshot(path=str(shots / "stats.png"), full_page=True)

    case = open_as("operator")
    case.goto(f"{site.url}/cases/{whistle_id}")
    assert "小区门口井盖缺失" in case.inner_text("main")
    # docs/screenshots/case.png is taken of an open case, with its actions, in
    # test_case_actions.py.
