"""我的任务 on a phone: party members see a new assignment arrive live, report in (through a
dropped answer), finish it with a note and a photo, give one back (退单) with a reason, and ask
for more time (申请延期). Each journey checks its outcome through the API."""

from __future__ import annotations

import csv
from typing import Any

from grids import ResponderKind
from grids.loader import load_hierarchy
from tests.support.browser import COMMUNITY, NARROW_PHONE, PNG, Site, _add_user, assert_fits


def grids_of_community(site: Site) -> list[str]:
    with (site.county / "grids.csv").open(encoding="utf-8") as rows:
        return sorted(r["code"] for r in csv.DictReader(rows) if r["parent"] == COMMUNITY)


def micro_of(site: Site, grid: str) -> str:
    with (site.county / "grids.csv").open(encoding="utf-8") as rows:
        return sorted(r["code"] for r in csv.DictReader(rows) if r["parent"] == grid)[0]


def member_login(site: Site, grid: str, kind: ResponderKind, name: str) -> str:
    """A login for the grid's party member of ``kind``; its responder id."""
    (member,) = load_hierarchy(site.county).responders_at(grid, kind)
    _add_user(site.server, name, "responder", COMMUNITY, responder=member.id)
    return member.id


def file_case(site: Site, grid: str, description: str, key: str) -> dict[str, Any]:
    status, doc = site.api(
        "POST",
        "/api/v1/whistles",
        {"source": "citizen", "category": "E0101", "description": description,
         "location": {"grid": micro_of(site, grid)}},
        **{"Idempotency-Key": key},
    )  # fmt: skip
    assert status == 201, doc
    return doc  # type: ignore[no-any-return]


def assignment_of(doc: dict[str, Any], responder: str) -> dict[str, Any]:
    return next(a for a in doc["assignments"] if (a["responder"] or {}).get("id") == responder)


def test_a_member_sees_a_task_arrive_reports_in_and_finishes_it_with_a_photo(
    open_as: Any, site: Site, shots: Any
) -> None:
    grid = grids_of_community(site)[1]
    me = member_login(site, grid, ResponderKind.REGISTERED_MEMBER, "member-a")
    page = open_as("member-a", phone=True)
    assert page.url.endswith("/tasks")  # a responder lands on 我的任务
    assert page.locator("h1").inner_text().startswith("我的任务")
    page.locator("#live-state.ok").wait_for()  # the event stream is open

    doc = file_case(site, grid, "小区门口垃圾满溢，无人清运", "tasks-journey-a")
    mine = assignment_of(doc, me)
    card = page.locator(f'.task-card[data-assignment="{mine["id"]}"]')
    card.wait_for(timeout=15_000)  # arrived without a reload
    text = card.inner_text()
    assert "小区门口垃圾满溢" in text
    assert "待报到" in text
    assert "报到剩余" in text
    assert card.locator(".countdown").inner_text() not in ("", "…")
    assert doc["grid"]["name"] in text  # the place by name
    assert mine["id"] not in text
    assert me not in text
    assert page.locator("#arrived").is_visible()
    assert int(page.locator("#task-count").inner_text()) >= 1
    assert_fits(page)
    page.screenshot(path=str(shots / "tasks.png"), full_page=True)

    card.locator("a").click()
    page.wait_for_url(f"**/tasks/{mine['id']}")
    assert page.locator("#actions button").all_inner_texts() == ["报到", "退单"]
    assert "按规则「" in page.locator("#timeline").inner_text()
    assert page.locator("#place-map polygon.here").count() >= 1
    assert doc["id"] not in page.inner_text("main")
    assert_fits(page)
    page.screenshot(path=str(shots / "task.png"), full_page=True)

    # 报到 through a dropped answer: sent again with the same key, acted once.
    keys: list[str] = []

    def flaky(route: Any) -> None:
        keys.append(route.request.headers["idempotency-key"])
        if len(keys) == 1:
            route.fetch()  # the server acts, and the answer is lost on the way back
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/acknowledge", flaky)
    page.click("#actions button[data-action=acknowledge]")
    page.locator("#actions button[data-action=start]").wait_for(timeout=15_000)
    assert len(keys) == 2
    assert keys[0] == keys[1]
    assert page.locator("#form-error").inner_text() == ""
    assert page.locator("#actions button").all_inner_texts() == [
        "开始处置",
        "办结",
        "退单",
        "申请延期",
    ]
    assert "报到" in page.locator("#timeline").inner_text()

    # 办结 with a note and a photo, in an in-page dialog.
    page.click("#actions button[data-action=resolve]")
    dialog = page.locator("#dialog-resolve")
    dialog.wait_for()
    assert page.locator("#resolve-photos").get_attribute("capture") == "environment"
    page.click("#resolve-send")  # no note yet: said next to the field, in Chinese
    assert dialog.locator('[data-error-for="note"]').inner_text() == "请填写处理情况"
    page.fill("#resolve-note", "已联系环卫清运，现场已清理")
    page.set_input_files(
        "#resolve-photos", files=[{"name": "p.png", "mimeType": "image/png", "buffer": PNG}]
    )
    dialog.locator("#resolve-thumbs img").wait_for()
    page.click("#resolve-send")
    page.locator("#actions .muted").wait_for(timeout=15_000)  # nothing left to do
    assert "已联系环卫清运" in page.locator("#timeline").inner_text()
    assert page.locator("#photos img").count() == 1
    assert_fits(page)

    status, after = site.api("GET", f"/api/v1/whistles/{doc['id']}")
    assert status == 200
    assert after["status"] == "resolved"
    assert assignment_of(after, me)["status"] == "resolved"
    resolution = after["case"]["resolution"]
    assert resolution["note"] == "已联系环卫清运，现场已清理"
    assert len(resolution["photos"]) == 1

    # It leaves 我的任务 and shows under 本月完成 with the committee's figures.
    page.goto(f"{site.url}/tasks")
    assert page.locator(f'.task-card[data-assignment="{mine["id"]}"]').count() == 0
    assert page.locator(f'#done li[data-whistle="{doc["id"]}"]').count() == 1
    token = site.server.create_token("responder", COMMUNITY, responder=me)
    _, history = site.api(
        "GET", f"/api/v1/responders/{me}/history", Authorization=f"Bearer {token}"
    )
    shown = {
        key: page.locator(f'#figures [data-figure="{key}"]').inner_text()
        for key in ("answered", "claimed", "completed", "hours")
    }
    assert shown == {key: str(history["month"][key]) for key in shown}
    assert history["month"]["answered"] >= 1


def test_a_member_returns_a_task_with_a_reason_and_it_reaches_the_operators_queue(
    open_as: Any, site: Site
) -> None:
    grid = grids_of_community(site)[2]
    me = member_login(site, grid, ResponderKind.REGISTERED_MEMBER, "member-b")
    doc = file_case(site, grid, "楼下商铺占道经营", "tasks-journey-b")
    mine = assignment_of(doc, me)
    page = open_as("member-b", phone=True)
    page.goto(f"{site.url}/tasks/{mine['id']}")
    page.click("#actions button[data-action=return]")
    page.locator("#dialog-return").wait_for()
    options = page.locator("#return-reason option").all_inner_texts()
    assert options == ["不属于本网格", "不属于本部门", "信息不全", "其他"]
    page.select_option("#return-reason", "other")
    page.click("#return-send")  # 其他 needs a word more
    assert page.locator('#dialog-return [data-error-for="details"]').inner_text()
    page.select_option("#return-reason", "not_my_grid")
    page.fill("#return-details", "地址在隔壁网格")
    assert_fits(page)
    page.click("#return-send")
    page.locator("#task-status").filter(has_text="已退单").wait_for(timeout=15_000)
    assert "退单：不属于本网格：地址在隔壁网格" in page.locator("#timeline").inner_text()

    status, queue = site.api("GET", f"/api/v1/whistles?queue=returned&grid={COMMUNITY}")
    assert status == 200
    returned = next(w for w in queue["items"] if w["id"] == doc["id"])
    (pending,) = returned["case"]["returns_pending"]
    assert pending["assignment"] == mine["id"]
    assert pending["reason"] == "不属于本网格：地址在隔壁网格"


def test_a_member_asks_for_more_time_within_the_rules_limit(open_as: Any, site: Site) -> None:
    grid = grids_of_community(site)[2]
    me = member_login(site, grid, ResponderKind.UNPOSTED_MEMBER, "member-c")
    doc = file_case(site, grid, "小区路灯不亮，需更换线路", "tasks-journey-c")
    mine = assignment_of(doc, me)
    page = open_as("member-c", phone=True)
    page.goto(f"{site.url}/tasks/{mine['id']}?lang=en")
    assert page.locator("#actions button").all_inner_texts() == ["Report in", "Return"]
    page.goto(f"{site.url}/tasks/{mine['id']}?lang=zh")
    page.click("#actions button[data-action=acknowledge]")
    page.locator("#actions button[data-action=request_extension]").click()
    page.locator("#dialog-extension").wait_for()
    choices = page.locator("#extension-duration option").all_inner_texts()
    assert choices[0] == "1个工作日"
    assert choices[-1] == "10个工作日"
    assert "不超过10个工作日" in page.locator("#dialog-extension").inner_text()
    page.select_option("#extension-duration", "3wd")
    page.fill("#extension-reason", "需供电部门配合更换线路")
    page.click("#extension-send")
    page.locator("#extension-waiting").wait_for(timeout=15_000)
    assert "3个工作日" in page.locator("#extension-waiting").inner_text()
    # Asked once: the button is no longer offered while the request waits.
    assert page.locator("#actions button[data-action=request_extension]").count() == 0
    assert "申请延期 3个工作日：需供电部门配合更换线路" in page.locator("#timeline").inner_text()
    assert_fits(page)
    page.set_viewport_size(NARROW_PHONE)  # the narrowest phone: still nothing sideways
    assert_fits(page)
    page.goto(f"{site.url}/tasks?lang=en")
    assert page.locator("h1").inner_text().startswith("My tasks")
    assert page.locator(f'.task-card[data-assignment="{mine["id"]}"]').count() == 1
    assert_fits(page)

    status, after = site.api("GET", f"/api/v1/whistles/{doc['id']}")
    assert status == 200
    request = after["case"]["extension_request"]
    assert (request["responder_id"], request["duration"]) == (me, "3wd")
    assert request["reason"] == "需供电部门配合更换线路"


def test_another_members_task_is_refused_in_chinese(open_as: Any, site: Site) -> None:
    doc = file_case(site, grids_of_community(site)[0], "井盖松动", "tasks-refused")
    other = next(a for a in doc["assignments"] if a["mode"] == "push")
    page = open_as("member", phone=True)  # the community's member, not this grid's
    response = page.goto(f"{site.url}/tasks/{other['id']}")
    assert response is not None
    assert response.status == 403
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert other["id"] not in page.inner_text("body")


def test_a_need_claimed_on_the_board_shows_in_my_tasks(open_as: Any, site: Site) -> None:
    status, need = site.api(
        "POST",
        "/api/v1/whistles",
        {"source": "citizen", "category": "E0801", "description": "独居老人需要送药上门",
         "location": {"grid": grids_of_community(site)[0]}},
        **{"Idempotency-Key": "tasks-claim-1"},
    )  # fmt: skip
    assert status == 201, need
    board = next(a for a in need["assignments"] if a["mode"] == "claim")
    page = open_as("member", phone=True)
    assert page.locator(f'.task-card[data-assignment="{board["id"]}"]').count() == 0
    page.goto(f"{site.url}/claims")
    page.locator(f'#open-needs li[data-whistle="{need["id"]}"] button.claim').click()
    page.locator(f'#my-work li[data-whistle="{need["id"]}"]').wait_for()
    page.goto(f"{site.url}/")
    card = page.locator(f'.task-card[data-assignment="{board["id"]}"]')
    assert "独居老人需要送药上门" in card.inner_text()
    assert "办结剩余" in card.inner_text()
    assert_fits(page)
