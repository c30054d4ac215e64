"""The party-building pages: the committee's page with its numbers as links and its CSVs,
the records behind a number, a unit's 双报告, and the member's own page."""

from __future__ import annotations

from typing import Any

from grids import Hierarchy
from tests.support.harness import Live
from tests.support.pages import PASSWORD, add_user, log_in
from tests.support.party import Party, members_of
from whistle.auth import Role
from whistle.web.access import ACCESS


async def _served(party: Party, community: str) -> dict[str, Any]:
    """A unit, a member registered with it who claimed and completed a project."""
    unit = await party.unit(community, "县烟草公司", members=5)
    member = members_of(party.county, community)[0]
    await party.register(member, community, unit["id"])
    project = await party.project(community, "清理河道垃圾", type="environment")
    token = await party.member_token(member)
    claim = await party.ok(
        "POST", f"/api/v1/projects/{project['id']}/claims", {"by": "member"}, token=token
    )
    body = {"hours": [{"person": member, "hours": 2.5}], "rating": "satisfied"}
    await party.ok("POST", f"/api/v1/claims/{claim['id']}/complete", body, token=token)
    return {"unit": unit, "member": member, "project": project}


async def test_the_committee_page_links_every_number_and_has_csv(
    live: Live, county: Hierarchy
) -> None:
    party = Party(live, county)
    community = party.communities[0]
    served = await _served(party, community)
    await add_user(live, "dw", Role.COMMITTEE, county.root)
    await log_in(live.client, "dw")
    html = await (await live.client.get(f"/party?grid={community}")).text()
    assert "县烟草公司" in html
    assert 'id="members-registered"' in html
    assert "/party/list?kind=registration&amp;status=active&amp;of=member" in html
    assert f"/party/units/{served['unit']['id']}" in html
    assert "table=unit_hours&amp;format=csv" in html
    csv = await live.client.get(
        f"/api/v1/party/summary?grid={community}&table=unit_hours&format=csv"
    )
    text = await csv.text()
    assert csv.status == 200
    assert "县烟草公司" in text
    assert "2.5" in text
    listed = await (
        await live.client.get(f"/party/list?kind=unit&grid={community}&type=private")
    ).text()
    assert "县烟草公司" not in listed  # it is an 企事业单位
    listed = await (
        await live.client.get(f"/party/list?kind=unit&grid={community}&type=institution")
    ).text()
    assert "县烟草公司" in listed
    report = await (await live.client.get(f"/party/units/{served['unit']['id']}")).text()
    assert "双报告" in report
    assert "138****0000" in report  # the unit's contact, masked for the committee
    assert "13800000000" not in report
    assert county.responder(served["member"]).name in report  # type: ignore[union-attr]
    english = await (await live.client.get(f"/party?grid={community}&lang=en")).text()
    assert "Members registered" in english
    assert "Enterprise or institution" in english
    bad = await live.client.get("/party/list?kind=nope", headers={"Accept": "text/html"})
    assert bad.status == 400


async def test_a_member_page_offers_registration_then_the_board(
    live: Live, county: Hierarchy
) -> None:
    party = Party(live, county)
    community = party.communities[0]
    unit = await party.unit(community, "县农业银行")
    await party.project(community, "助老送餐")
    member = members_of(county, community)[0]
    await live.app[ACCESS].add_user(
        name="m1", password=PASSWORD, role=Role.RESPONDER, scope=county.responder(member).grid,  # type: ignore[union-attr]
        responder_id=member, by="tests",
    )  # fmt: skip
    await log_in(live.client, "m1")
    html = await (await live.client.get("/party/me")).text()
    assert 'id="register-form"' in html
    assert "县农业银行" in html
    assert 'href="/party/me"' in html  # in the bar, beside 我的任务
    await party.register(member, community, unit["id"])
    html = await (await live.client.get("/party/me")).text()
    assert 'id="register-form"' not in html
    assert "助老送餐" in html
    assert 'class="big claim"' in html
