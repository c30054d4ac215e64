"""规则版本 in a desktop browser (issue 20): the admin shortens the 报到 limit from 30 to 20
minutes on the page, sees a typo refused by its line while typing, fixes it, applies the
version, and rolls back to the one before; each outcome is checked through the API."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from tests.support.browser import COMMUNITY, Site

ACK_30 = 'acknowledge = { urgent = "10m", normal = "30m" }'
ACK_20 = 'acknowledge = { urgent = "10m", normal = "20m" }'
TYPO = 'acknowledge = { urgent = "10m", normal = "20mm" }'


def _ack_minutes(site: Site) -> tuple[int | None, set[int]]:
    """A new whistle's config version and the acknowledge limits of its pushes, in minutes."""
    status, doc = site.api(
        "POST", "/api/v1/whistles",
        {"source": "citizen", "category": "E0101", "description": "楼道堆放杂物",
         "location": {"grid": COMMUNITY}},
        **{"Idempotency-Key": uuid.uuid4().hex},
    )  # fmt: skip
    assert status == 201, doc
    received = datetime.fromisoformat(doc["received_at"])
    limits = {
        int((datetime.fromisoformat(a["acknowledge_due"]) - received) / timedelta(minutes=1))
        for a in doc["assignments"]
        if a["acknowledge_due"] is not None
    }
    return doc["config_version"], limits


def test_the_admin_shortens_the_report_limit_on_the_page_and_rolls_it_back(
    open_as: Any, site: Site, shots: Any
) -> None:
    admin = {"Authorization": f"Bearer {site.server.create_token('admin', None)}"}
    status, listing = site.api("GET", "/api/v1/config/versions", **admin)
    assert status == 200
    before = listing["active"]
    assert _ack_minutes(site) == (before, {30})

    page = open_as("admin")
    page.goto(f"{site.url}/admin/config")
    rules = page.locator('textarea[data-file="rules.toml"]')
    text = rules.input_value()
    line = text.splitlines().index(ACK_30) + 1

    # A typo: the page names the file and the line while the admin types, before any submit.
    rules.fill(text.replace(ACK_30, TYPO))
    problem = page.locator(f'[data-problems-for="rules.toml"] li[data-line="{line}"]')
    problem.wait_for(timeout=15_000)
    assert f"第 {line} 行" in problem.inner_text()
    assert "20mm" in problem.inner_text()
    assert "1 处问题" in page.locator("#config-status").inner_text()

    rules.fill(text.replace(ACK_30, ACK_20))
    page.locator("#config-status.ok").wait_for(timeout=15_000)
    assert page.locator('[data-problems-for="rules.toml"] li').count() == 0
    page.fill("#config-reason", "报到时限由30分钟缩短为20分钟")
    page.click("#config-propose-apply")
    page.locator("#config-message", has_text="已生效").wait_for(timeout=15_000)
    page.screenshot(path=str(shots / "config-versions.png"), full_page=True)

    status, listing = site.api("GET", "/api/v1/config/versions", **admin)
    applied = listing["active"]
    assert applied != before
    newest = listing["items"][0]
    assert (newest["id"], newest["state"], newest["author"]) == (applied, "active", "admin")
    assert newest["reason"] == "报到时限由30分钟缩短为20分钟"
    assert page.locator("#active-hash").inner_text() == newest["hash"][:12]
    start_row = page.locator(f'#config-versions tr[data-id="{before}"]').inner_text()
    assert "配置目录" in start_row
    assert "config-dir" not in start_row
    assert _ack_minutes(site) == (applied, {20})

    # Roll back from the versions table, confirmed in the page's own dialog.
    page.locator(f'#config-versions tr[data-id="{before}"] button.apply-version').click()
    page.click("#config-confirm-yes")
    page.locator("#config-message", has_text="已回退").wait_for(timeout=15_000)
    assert _ack_minutes(site) == (before, {30})
    status, audit = site.api("GET", "/api/v1/audit", **admin)
    actions = [e["action"] for e in audit["items"] if e["action"].startswith("config.")]
    assert actions[:3] == ["config.rollback", "config.apply", "config.propose"]
