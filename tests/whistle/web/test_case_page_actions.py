"""The case page offers only the actions the case's state and the reader's role allow
(issue 17), named in the page's language; their dialogs live in /static/dialogs.js."""

from __future__ import annotations

import re
from typing import Any

from grids import Hierarchy
from tests.support.harness import Live
from tests.support.lifecycle import Cases
from tests.support.pages import add_user, log_in
from whistle.auth import Role


def offered(html: str) -> list[str]:
    return re.findall(r'data-action="([a-z_]+)"', html)


async def page(live: Live, whistle_id: str, query: str = "") -> str:
    response = await live.client.get(f"/cases/{whistle_id}{query}")
    assert response.status == 200
    return await response.text()


async def resolved(cases: Cases) -> dict[str, Any]:
    doc = await cases.new()
    owner = doc["assignments"][0]
    for action, body in (("acknowledge", {}), ("resolve", {"note": "已清理"})):
        status, answer = await cases.assignment(owner, action, **body)
        assert status == 200, answer
    return doc


async def test_an_open_case_offers_urging_and_every_assignment_its_own_reassign(
    live: Live, county: Hierarchy
) -> None:
    cases = Cases(live, county)
    doc = await cases.new()
    await add_user(live, "op", Role.OPERATOR, county.root)
    await log_in(live.client, "op")
    html = await page(live, doc["id"])
    actions = offered(html)
    assert {"urge", "supervise", "hold", "merge"} <= set(actions)
    # A silence is made on the silences page, filled in from the case.
    assert f'href="/silences/new?from={doc["id"]}"' in html
    assert "verify_pass" not in actions
    assert "release" not in actions
    assert actions.count("reassign") == len(doc["assignments"])
    for assignment in doc["assignments"]:
        assert f'data-assignment="{assignment["id"]}">改派</button>' in html
    assert "/static/dialogs.js" in html
    assert "window.prompt" not in html


async def test_a_resolved_case_offers_verification_and_a_held_one_resume(
    live: Live, county: Hierarchy
) -> None:
    cases = Cases(live, county)
    doc = await resolved(cases)
    await add_user(live, "op", Role.OPERATOR, county.root)
    await log_in(live.client, "op")
    actions = offered(await page(live, doc["id"]))
    assert {"verify_pass", "verify_fail", "merge"} <= set(actions)
    assert not {"urge", "supervise", "hold", "reassign", "reopen"} & set(actions)

    held = await cases.new(description="第二件")
    status, _ = await cases.case(held["id"], "hold", reason="等待鉴定")
    assert status == 200
    actions = offered(await page(live, held["id"]))
    assert "release" in actions
    assert not {"hold", "urge", "reassign"} & set(actions)


async def test_a_closed_case_can_be_reopened(live: Live, county: Hierarchy) -> None:
    cases = Cases(live, county)
    doc = await resolved(cases)
    status, _ = await cases.case(doc["id"], "verify", passed=True)
    assert status == 200
    await add_user(live, "op", Role.OPERATOR, county.root)
    await log_in(live.client, "op")
    html = await page(live, doc["id"], "?lang=en")
    assert offered(html) == ["reopen"]
    assert ">Reopen</button>" in html


async def test_a_reporter_may_verify_but_not_dispatch(live: Live, county: Hierarchy) -> None:
    cases = Cases(live, county)
    doc = await resolved(cases)
    await add_user(live, "rep", Role.REPORTER, county.root)
    await log_in(live.client, "rep")
    assert offered(await page(live, doc["id"])) == ["verify_pass", "verify_fail"]


async def test_a_committee_member_sees_no_actions(live: Live, county: Hierarchy) -> None:
    cases = Cases(live, county)
    doc = await cases.new()
    await add_user(live, "cm", Role.COMMITTEE, county.root)
    await log_in(live.client, "cm")
    assert offered(await page(live, doc["id"])) == []
