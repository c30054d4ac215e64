"""Acting on a case from its page and from the console (issue 17), in in-page dialogs, on a
desktop: verify a resolved case, send another back with a reason, urge an open case, reassign
any assignment through the assignee picker, merge through the duplicates picker, and urge
and merge selected console rows. Each outcome is checked through the API."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from playwright.sync_api import expect

from grids import Hierarchy, Level
from grids.loader import load_hierarchy
from tests.support.browser import COMMUNITY, Site

_COUNTY: dict[str, Hierarchy] = {}


def county(site: Site) -> Hierarchy:
    if "h" not in _COUNTY:
        _COUNTY["h"] = load_hierarchy(site.county)
    return _COUNTY["h"]


def micro(site: Site, index: int) -> str:
    """A micro-grid of the test community: each test files in its own, so the likely
    duplicates of one test's cases are not another's."""
    cells = [c for c in county(site).cells(level=Level.MICRO_GRID) if c.is_within(COMMUNITY)]
    return cells[index].code


def file(site: Site, description: str, *, where: int, category: str = "E0101") -> dict[str, Any]:
    point = county(site).centroid(micro(site, where))
    assert point is not None
    status, doc = site.api(
        "POST",
        "/api/v1/whistles",
        {"source": "citizen", "category": category, "description": description,
         "location": {"lat": point[0], "lon": point[1]}, "reporter": "居民张先生"},
    )  # fmt: skip
    assert status == 201, doc
    return doc  # type: ignore[no-any-return]


def case(site: Site, whistle_id: str) -> dict[str, Any]:
    status, doc = site.api("GET", f"/api/v1/whistles/{whistle_id}")
    assert status == 200, doc
    return doc  # type: ignore[no-any-return]


def resolved(site: Site, description: str, *, where: int) -> dict[str, Any]:
    """A case its first responder reported in on and resolved, waiting for 核查."""
    doc = file(site, description, where=where)
    assignment = doc["assignments"][0]
    token = site.server.create_token(
        "responder", COMMUNITY, responder=assignment["responder"]["id"]
    )
    for action, body in (("acknowledge", {}), ("resolve", {"note": "已清理完毕"})):
        status, answer = site.api(
            "POST",
            f"/api/v1/assignments/{assignment['id']}/{action}",
            body,
            Authorization=f"Bearer {token}",
        )
        assert status == 200, answer
    return case(site, doc["id"])


def dialog(page: Any) -> Any:
    return page.locator("dialog#action-dialog[open]")


def submit(page: Any) -> None:
    """OK in the dialog, then the page reloads with the case as it now stands."""
    with page.expect_navigation():
        dialog(page).locator("button.dialog-ok").click()


def test_an_operator_verifies_a_resolved_case_and_it_closes(open_as: Any, site: Site) -> None:
    doc = resolved(site, "垃圾桶满溢无人清运", where=0)
    page = open_as("operator")
    page.goto(f"{site.url}/cases/{doc['id']}")
    page.locator("button.action-verify_pass").click()
    dialog(page).locator("textarea[name=note]").fill("现场查看已清理")
    submit(page)
    after = case(site, doc["id"])
    assert after["status"] == "closed"
    verified = [e for e in after["timeline"] if e["type"] == "case.verified"]
    assert verified[0]["data"]["note"] == "现场查看已清理"
    assert verified[0]["actor"] == "operator"
    # A closed case offers no 核查 any more, only what its state allows.
    assert page.locator("button.action-verify_pass").count() == 0
    assert page.locator("button.action-reopen").count() == 1


def test_a_failed_check_needs_a_reason_and_sends_the_case_back_to_its_owner(
    open_as: Any, site: Site
) -> None:
    doc = resolved(site, "路面污水外溢", where=1)
    owner = doc["case"]["owner"]["assignment"]
    page = open_as("operator")
    page.goto(f"{site.url}/cases/{doc['id']}")
    page.locator("button.action-verify_fail").click()
    dialog(page).locator("button.dialog-ok").click()
    # Told in Chinese, in the dialog, and nothing sent.
    assert dialog(page).locator(".dialog-error").inner_text() == "请填写原因"
    assert case(site, doc["id"])["status"] == "resolved"
    dialog(page).locator("textarea[name=reason]").fill("现场仍有污水，未彻底处理")
    assert dialog(page).locator(".dialog-error").inner_text() == ""  # typing clears it
    submit(page)
    after = case(site, doc["id"])
    assert after["status"] == "in_progress"
    assert after["case"]["rework"] == 1  # counts in 返工率
    assert after["case"]["owner"]["assignment"] == owner  # back to its owner
    reopened = next(e for e in after["timeline"] if e["type"] == "case.reopened")
    assert reopened["data"]["failed_verification"] is True
    assert reopened["data"]["reason"] == "现场仍有污水，未彻底处理"
    row = page.locator("tr.event-case-reopened")
    assert "现场仍有污水" in row.inner_text()


def test_an_operator_urges_an_open_case_and_the_timeline_names_them_and_why(
    open_as: Any, site: Site, shots: Any
) -> None:
    doc = file(site, "小区路灯不亮已三天", where=2)
    page = open_as("operator")
    page.goto(f"{site.url}/cases/{doc['id']}")
    for action in ("urge", "supervise", "hold", "merge"):
        assert page.locator(f"button.action-{action}").count() == 1, action
    # A silence is made on the silences page, filled in from the case.
    silence = page.locator("a.action-silence")
    assert silence.get_attribute("href") == f"/silences/new?from={doc['id']}"
    assert page.locator("button.action-verify_pass").count() == 0  # nothing to verify yet
    page.screenshot(path=str(shots / "case.png"), full_page=True)
    page.locator("button.action-urge").click()
    dialog(page).locator("textarea[name=note]").fill("居民再次来电，请尽快处理")
    submit(page)
    urged = [e for e in case(site, doc["id"])["timeline"] if e["type"] == "case.urged"]
    assert [(e["actor"], e["data"]["note"]) for e in urged] == [
        ("operator", "居民再次来电，请尽快处理")
    ]
    row = page.locator("tr.event-case-urged")
    assert "operator" in row.inner_text()
    assert "居民再次来电，请尽快处理" in row.inner_text()


def test_any_assignment_is_reassigned_through_the_picker(
    open_as: Any, site: Site, shots: Any
) -> None:
    doc = file(site, "楼道堆放杂物", where=3)
    # Not the first assignment: any one of them can move.
    moved = doc["assignments"][1]
    status, candidates = site.api("GET", f"/api/v1/whistles/{doc['id']}/candidates")
    assert status == 200, candidates
    target = next(
        item for group in candidates["groups"] for item in group["items"] if not item["on_case"]
    )
    page = open_as("operator")
    page.goto(f"{site.url}/cases/{doc['id']}")
    page.locator(f'tr[data-assignment="{moved["id"]}"] button.action-reassign').click()
    picker = dialog(page)
    picker.locator(".pick-item").first.wait_for()
    # The search box filters as one types.
    everyone = sum(len(g["items"]) for g in candidates["groups"])
    expect(picker.locator(".pick-item")).to_have_count(everyone)
    page.screenshot(path=str(shots / "case-dialog.png"))
    picker.locator("input.picker-search").fill(target["name"])
    status, narrowed = site.api(
        "GET", f"/api/v1/whistles/{doc['id']}/candidates?q={quote(target['name'])}"
    )
    matching = sum(len(g["items"]) for g in narrowed["groups"])
    assert matching < everyone
    expect(picker.locator(".pick-item")).to_have_count(matching)
    choice = picker.locator(f'.pick-item[data-responder="{target["id"]}"]')
    assert "在办" in choice.inner_text()
    assert "在岗" in choice.inner_text()  # 在岗 or 不在岗, from the duty roster
    choice.locator("input[type=radio]").check()
    picker.locator("textarea[name=reason]").fill("原承办人外出培训")
    submit(page)
    after = case(site, doc["id"])
    states = {a["id"]: a for a in after["assignments"]}
    assert states[moved["id"]]["status"] == "reassigned"
    assert states[doc["assignments"][0]["id"]]["status"] == doc["assignments"][0]["status"]
    new = [a for a in after["assignments"] if a["id"] not in {x["id"] for x in doc["assignments"]}]
    assert [(a["responder"]["id"], a["origin"]) for a in new] == [(target["id"], "reassign")]


def test_a_duplicate_is_merged_through_the_picker_of_likely_duplicates(
    open_as: Any, site: Site
) -> None:
    first = file(site, "井盖缺失，有安全隐患", where=4)
    second = file(site, "同一处井盖丢了", where=4)
    # Other journeys share the site and may have filed near here too.
    assert first["id"] in second["possible_duplicates"]
    page = open_as("operator")
    page.goto(f"{site.url}/cases/{second['id']}")
    page.locator("button.action-merge").click()
    picker = dialog(page)
    offered = picker.locator(f'.pick-item[data-whistle="{first["id"]}"]')
    offered.wait_for()
    text = offered.inner_text()
    assert "暴露垃圾" in text  # named by category, what was said, how far, when
    assert "井盖缺失，有安全隐患" in text
    assert "相距 0 米" in text
    assert first["id"] not in text  # never a raw id
    # OK without a choice is refused in the dialog.
    picker.locator("button.dialog-ok").click()
    assert picker.locator(".dialog-error").inner_text() == "请选择要合并到的案件"
    # The search finds cases by a word of their description, too.
    picker.locator("input.picker-search").fill("安全隐患")
    found = picker.locator(f'fieldset:has(legend:text("搜索结果")) [data-whistle="{first["id"]}"]')
    found.wait_for()
    found.locator("input[type=radio]").check()
    submit(page)
    after = case(site, second["id"])
    assert after["status"] == "cancelled"
    assert after["case"]["merged_into"] == first["id"]
    kept = case(site, first["id"])
    assert [m["id"] for m in kept["case"]["merged"]] == [second["id"]]


def test_selected_console_rows_are_urged_together_and_merged_into_one(
    open_as: Any, site: Site
) -> None:
    docs = [file(site, f"共享单车乱停放 {n}", where=5, category="E0404") for n in range(3)]
    console = open_as("operator")
    console.goto(f"{site.url}/console")
    console.locator("#live-state.ok").wait_for()
    bar = console.locator("#bulk-bar")
    console.locator(f'tr[data-id="{docs[-1]["id"]}"] input.row-select').wait_for()
    expect(bar).to_be_hidden()  # nothing selected yet
    for doc in docs:
        console.locator(f'tr[data-id="{doc["id"]}"] input.row-select').check()
    assert "已选 3 件" in bar.inner_text()
    bar.locator("button.bulk-urge").click()
    dialog(console).locator("textarea[name=note]").fill("请统一清理")
    dialog(console).locator("button.dialog-ok").click()
    console.locator("#console-message").filter(has_text="3 件完成").wait_for(timeout=15_000)
    for doc in docs:
        urged = [e for e in case(site, doc["id"])["timeline"] if e["type"] == "case.urged"]
        assert [(e["actor"], e["data"]["note"]) for e in urged] == [("operator", "请统一清理")]

    # Reassign two of them to one responder, chosen in the picker.
    status, candidates = site.api("GET", f"/api/v1/whistles/{docs[0]['id']}/candidates")
    assert status == 200
    target = next(
        item for group in candidates["groups"] for item in group["items"] if not item["on_case"]
    )
    for doc in docs[:2]:
        console.locator(f'tr[data-id="{doc["id"]}"] input.row-select').check()
    bar.locator("button.bulk-reassign").click()
    picker = dialog(console)
    picker.locator(f'.pick-item[data-responder="{target["id"]}"] input').check()
    picker.locator("textarea[name=reason]").fill("统一交由一人处理")
    picker.locator("button.dialog-ok").click()
    expect(dialog(console)).to_have_count(0)
    assert console.locator("#console-message").inner_text() == "2 件完成，0 件失败"
    for doc in docs[:2]:
        holders = [a["responder"]["id"] for a in case(site, doc["id"])["assignments"]
                   if a["origin"] == "reassign"]  # fmt: skip
        assert holders == [target["id"]]

    for doc in docs:
        console.locator(f'tr[data-id="{doc["id"]}"] input.row-select').check()
    bar.locator("button.bulk-merge").click()
    picker = dialog(console)
    picker.locator(f'.pick-item[data-whistle="{docs[0]["id"]}"] input').check()
    picker.locator("button.dialog-ok").click()
    expect(dialog(console)).to_have_count(0)  # closed once every merge was answered
    assert console.locator("#console-message").inner_text() == "2 件完成，0 件失败"
    assert case(site, docs[0]["id"])["status"] != "cancelled"
    for doc in docs[1:]:
        merged = case(site, doc["id"])
        assert merged["status"] == "cancelled"
        assert merged["case"]["merged_into"] == docs[0]["id"]


def test_a_return_is_accepted_and_reassigned_in_one_step(open_as: Any, site: Site) -> None:
    doc = file(site, "邻里噪音纠纷", where=6)
    returned = doc["assignments"][0]
    token = site.server.create_token("responder", COMMUNITY, responder=returned["responder"]["id"])
    status, answer = site.api(
        "POST",
        f"/api/v1/assignments/{returned['id']}/return",
        {"reason": "不属于本网格"},
        Authorization=f"Bearer {token}",
    )
    assert status == 200, answer
    status, candidates = site.api("GET", f"/api/v1/whistles/{doc['id']}/candidates")
    assert status == 200
    target = next(
        item for group in candidates["groups"] for item in group["items"] if not item["on_case"]
    )
    page = open_as("operator")
    page.goto(f"{site.url}/cases/{doc['id']}")
    page.locator(f'tr[data-assignment="{returned["id"]}"] button.action-accept_return').click()
    picker = dialog(page)
    picker.locator(f'.pick-item[data-responder="{target["id"]}"] input').check()
    picker.locator("textarea[name=note]").fill("改由社区处理")
    submit(page)
    after = case(site, doc["id"])
    accepted = [e for e in after["timeline"] if e["type"] == "assignment.return_accepted"]
    assert [(e["actor"], e["data"]["reassigned_to"]) for e in accepted] == [
        ("operator", target["id"])
    ]
    assert after["case"]["returns_pending"] == []
    assert (
        page.locator(f'tr[data-assignment="{returned["id"]}"] .action-accept_return').count() == 0
    )


def test_a_case_is_held_and_resumed_with_reasons(open_as: Any, site: Site) -> None:
    doc = file(site, "道路塌陷等待鉴定", where=7)
    page = open_as("operator")
    page.goto(f"{site.url}/cases/{doc['id']}")
    page.locator("button.action-hold").click()
    dialog(page).locator("textarea[name=reason]").fill("等待住建部门鉴定")
    submit(page)
    assert case(site, doc["id"])["status"] == "on_hold"
    page.locator("button.action-release").click()
    dialog(page).locator("textarea[name=reason]").fill("鉴定报告已出")
    submit(page)
    after = case(site, doc["id"])
    assert after["status"] == "dispatched"
    reasons = [
        (e["type"], e["data"].get("reason"))
        for e in after["timeline"]
        if e["type"] in ("case.held", "case.released")
    ]
    assert reasons == [("case.held", "等待住建部门鉴定"), ("case.released", "鉴定报告已出")]
    assert "鉴定报告已出" in page.locator("tr.event-case-released").inner_text()
