"""The party-building side in a real browser: a member registers (双报到) on their phone,
claims a project of their community's board, and the committee's numbers change, checked
through the API; then the member withdraws through the page's own dialog. The community
registers members in bulk from a CSV on the same page the committee reads."""

from __future__ import annotations

from typing import Any

from grids.loader import load_hierarchy
from tests.support.browser import COMMUNITY, MEMBER, Site, assert_fits
from tests.support.party import members_of


def _summary(site: Site) -> dict[str, Any]:
    status, figures = site.api("GET", f"/api/v1/party/summary?grid={COMMUNITY}")
    assert status == 200, figures
    return figures  # type: ignore[no-any-return]


def _setup(site: Site) -> tuple[dict[str, Any], dict[str, Any]]:
    unit = {"name": "县自来水公司", "type": "institution", "community": COMMUNITY,
            "party_org": "县自来水公司党支部", "members": 8}  # fmt: skip
    status, made = site.api("POST", "/api/v1/units", unit)
    assert status == 201, made
    project = {"community": COMMUNITY, "title": "为独居老人检修水管", "type": "assistance",
               "people": 2, "starts_on": "2026-12-01", "ends_on": "2026-12-31",
               "owner": "社区党委"}  # fmt: skip
    status, listed = site.api("POST", "/api/v1/projects", project)
    assert status == 201, listed
    return made, listed


def test_a_member_registers_and_claims_and_the_committee_sees_it(
    open_as: Any, site: Site, shots: Any
) -> None:
    unit, project = _setup(site)
    before = _summary(site)

    page = open_as("member", phone=True)
    page.goto(f"{site.url}/party/me")
    assert page.locator("h1").inner_text() == "我的报到"
    assert page.locator("header a[href='/party/me']").count() == 1  # beside 我的任务
    assert page.locator("#community option:checked").get_attribute("value") == COMMUNITY
    page.select_option("#unit", label="县自来水公司")
    page.fill("#services", "水电维修，政策宣传")
    assert_fits(page)
    page.click("#register")
    page.locator("#registered-at").filter(has_text="县自来水公司").wait_for()
    claim = page.locator(f'button.claim[data-project="{project["id"]}"]')
    claim.wait_for()
    assert_fits(page)
    page.screenshot(path=str(shots / "party-member.png"), full_page=True)
    claim.click()
    page.locator("#my-claims li").filter(has_text="为独居老人检修水管").wait_for()
    assert page.locator(f'button.claim[data-project="{project["id"]}"]').count() == 0

    after = _summary(site)
    assert after["registrations"]["members"] == before["registrations"]["members"] + 1
    assert after["board"]["claimed"] == before["board"]["claimed"] + 1
    assert after["board"]["claimed_by"]["member"] == before["board"]["claimed_by"]["member"] + 1
    share = {u["unit_id"]: u["registered"] for u in after["registrations"]["by_unit"]}
    assert share[unit["id"]] == 1
    status, mine = site.api("GET", f"/api/v1/members/{MEMBER}/party")
    assert status == 200
    assert mine["registration"]["doc"]["services"] == ["水电维修", "政策宣传"]
    assert [c["ref"] for c in mine["claims"]] == [project["id"]]

    # The committee's page shows the new number, and the number opens the records behind it.
    desk = open_as("operator")
    desk.goto(f"{site.url}/party?grid={COMMUNITY}")
    shown = desk.locator("#members-registered .value a")
    assert shown.inner_text() == str(after["registrations"]["members"])
    desk.screenshot(path=str(shots / "party.png"), full_page=True)
    shown.click()
    desk.locator("#party-list").filter(has_text="县自来水公司").wait_for()

    # Withdrawing asks in the page, never with window.confirm (open_as fails on those).
    page.click("#withdraw")
    page.locator("#withdraw-dialog").wait_for()
    page.click("#withdraw-confirm")
    page.locator("#register-form").wait_for()
    status, mine = site.api("GET", f"/api/v1/members/{MEMBER}/party")
    assert mine["registration"] is None
    assert mine["registrations"][0]["status"] == "withdrawn"


def test_the_community_registers_members_in_bulk_from_a_csv(open_as: Any, site: Site) -> None:
    county = load_hierarchy(site.county)
    others = [m for m in members_of(county, COMMUNITY) if m != MEMBER][-2:]
    status, unit = site.api(
        "POST",
        "/api/v1/units",
        {"name": "县邮政分公司", "type": "institution", "community": COMMUNITY,
         "party_org": "县邮政分公司党支部"},
    )  # fmt: skip
    assert status == 201, unit
    page = open_as("operator")
    page.goto(f"{site.url}/party?grid={COMMUNITY}")
    bad = f"member,unit_id,since\n{others[0]},{unit['id']},2026-13-40\n"
    page.set_input_files(
        "#bulk-file", files=[{"name": "bad.csv", "mimeType": "text/csv", "buffer": bad.encode()}]
    )
    page.click("#bulk-submit")
    page.locator("#bulk-errors li").filter(has_text="line 2.since").wait_for()
    good = "member,name,unit_id,services\n" + "".join(
        f"{m},,{unit['id']},投递助老\n" for m in others
    )
    page.set_input_files(
        "#bulk-file", files=[{"name": "good.csv", "mimeType": "text/csv", "buffer": good.encode()}]
    )
    page.click("#bulk-submit")
    page.locator("#bulk-result").filter(has_text="已登记 2 名党员").wait_for()
    status, listed = site.api("GET", f"/api/v1/registrations?ref={unit['id']}&status=active")
    assert status == 200
    assert sorted(r["person"] for r in listed["items"]) == sorted(others)
    assert {r["doc"]["registered_by"] for r in listed["items"]} == {"bulk"}
