"""The operator console (调度台): its page, the case page, and the operators' decisions on
assignments: reassign (改派) and the review of returns (退单: accept or refuse)."""

from __future__ import annotations

import re
from typing import Any

from grids import Hierarchy, Level, ResponderKind
from tests.support.console import operator_of, other_member, post_as, returned_case
from tests.support.harness import Live
from tests.support.images import PNG
from tests.support.lifecycle import Cases
from tests.support.pages import SCRIPT, add_user, log_in
from tests.support.requests import file_in, towns
from whistle.auth import Role
from whistle.web.keys import STORE

# -- reassign ----------------------------------------------------------------------------------


async def test_an_operator_reassigns_an_assignment_to_another_responder(
    live: Live, county: Hierarchy
) -> None:
    doc = await file_in(live, county, towns(county)[0])
    first = doc["assignments"][0]
    target = other_member(county, doc)
    code, after = await post_as(
        live,
        await operator_of(live, towns(county)[0]),
        f"/api/v1/assignments/{first['id']}/reassign",
        responder=target,
        reason="原报到党员外出",
    )
    assert code == 200, after
    by_id = {a["id"]: a for a in after["assignments"]}
    assert by_id[first["id"]]["status"] == "reassigned"
    new = next(
        a for a in after["assignments"] if a["id"] not in {x["id"] for x in doc["assignments"]}
    )
    assert new["responder"]["id"] == target
    assert new["status"] == "dispatched"
    assert new["origin"] == "reassign"
    assert new["acknowledge_due"] is not None
    timeline = await live.app[STORE].timeline(doc["id"])
    added = [e for e in timeline if e.type == "assignment.added"]
    assert added[-1].data["reason"] == "reassign"
    assert added[-1].data["replaces"] == first["id"]
    assert "原报到党员外出" in added[-1].data["why"]
    # The new responder can act on it.
    code, _ = await Cases(live, county).assignment(new, "acknowledge")
    assert code == 200


async def test_reassign_checks_the_responder(live: Live, county: Hierarchy) -> None:
    doc = await file_in(live, county, towns(county)[0])
    path = f"/api/v1/assignments/{doc['assignments'][0]['id']}/reassign"
    code, problem = await post_as(live, None, path, responder="nobody-here", reason="x")
    assert code == 422
    assert problem["errors"][0]["field"] == "responder"
    code, problem = await post_as(live, None, path, reason="x")
    assert code == 422
    code, problem = await post_as(live, None, path, responder=other_member(county, doc))
    assert code == 422
    assert problem["errors"] == [{"field": "reason", "reason": "required"}]
    holder = doc["assignments"][1]["responder"]["id"]  # already on the case
    code, problem = await post_as(live, None, path, responder=holder, reason="x")
    assert code == 422
    unknown = f"/api/v1/assignments/{doc['id']}-99/reassign"
    code, _ = await post_as(live, None, unknown, responder=other_member(county, doc), reason="x")
    assert code == 404


async def test_reassign_refuses_a_responder_for_other_categories(
    live: Live, county: Hierarchy
) -> None:
    doc = await file_in(live, county, towns(county)[0])
    town = county.at_level(doc["grid"]["code"], Level.TOWN)
    unfit = next(
        r.id
        for r in county.responders_at(town.code, ResponderKind.GRID_DEPARTMENT)
        if not r.handles("E0101")
    )
    code, problem = await post_as(
        live,
        None,
        f"/api/v1/assignments/{doc['assignments'][0]['id']}/reassign",
        responder=unfit,
        reason="x",
    )
    assert code == 422
    assert "does not handle" in problem["errors"][0]["reason"]


async def test_reassign_is_for_operators_inside_their_subtree(
    live: Live, county: Hierarchy
) -> None:
    town_a, town_b = towns(county)
    doc = await file_in(live, county, town_a)
    first = doc["assignments"][0]
    path = f"/api/v1/assignments/{first['id']}/reassign"
    target = other_member(county, doc)
    responder = await live.token("responder", responder=first["responder"]["id"])
    code, _ = await post_as(live, responder, path, responder=target, reason="x")
    assert code == 403
    committee = await live.token("committee", scope=town_a)
    code, _ = await post_as(live, committee, path, responder=target, reason="x")
    assert code == 403
    code, _ = await post_as(
        live, await operator_of(live, town_b), path, responder=target, reason="x"
    )
    assert code == 403
    # Nor may a town's operator hand a case to a responder of the other town.
    elsewhere = await file_in(live, county, town_b)
    code, _ = await post_as(
        live,
        await operator_of(live, town_a),
        path,
        responder=other_member(county, elsewhere),
        reason="x",
    )
    assert code == 403


async def test_reassign_needs_a_live_assignment_of_an_active_case(
    live: Live, county: Hierarchy
) -> None:
    cases = Cases(live, county)
    doc = await file_in(live, county, towns(county)[0])
    await cases.case(doc["id"], "hold", reason="等待产权单位答复")
    code, problem = await post_as(
        live,
        None,
        f"/api/v1/assignments/{doc['assignments'][0]['id']}/reassign",
        responder=other_member(county, doc),
        reason="x",
    )
    assert code == 409
    assert "on_hold" in problem["detail"]


# -- returns (退单) go to the dispatcher's queue ------------------------------------------------


def another_unit(county: Hierarchy, doc: dict[str, Any], returned: dict[str, Any]) -> str:
    """A responder of the case's town, not the returner, who handles its category."""
    town = county.at_level(doc["grid"]["code"], Level.TOWN)
    for kind in (ResponderKind.GRID_DEPARTMENT, ResponderKind.JURISDICTION_UNIT):
        for responder in county.responders_at(town.code, kind):
            if responder.id != returned["responder"]["id"] and responder.handles("E0101"):
                return responder.id
    raise AssertionError("the test town has no other unit for E0101")


async def test_a_return_goes_to_the_dispatchers_queue_not_to_the_county_backstop(
    live: Live, county: Hierarchy
) -> None:
    doc, department = await returned_case(live, county)
    # Nothing is re-routed by itself: no new assignment, none to the backstop.
    assert [a["id"] for a in doc["assignments"]] == [department["id"]]
    assert all(a["origin"] != "backstop" for a in doc["assignments"])
    pending = doc["case"]["returns_pending"]
    assert [(p["assignment"], p["reason"]) for p in pending] == [
        (department["id"], "应由环卫站处理")
    ]
    assert pending[0]["decide_by"] is not None
    # In the dispatcher's queue: the list API and the console's count.
    status, page = await live.get("/api/v1/whistles?queue=returned")
    assert status == 200
    assert [i["id"] for i in page["items"]] == [doc["id"]]
    status, problem = await live.get("/api/v1/whistles?queue=everything")
    assert status == 400
    assert problem["errors"][0]["field"] == "queue"
    await add_user(live, "op", Role.OPERATOR, county.root)
    await log_in(live.client, "op")
    html = await (await live.client.get("/console")).text()
    assert count_of(html, "returned") == 1
    assert 'value="returned"' in html  # a filter option


async def test_the_dispatcher_reassigns_a_return_to_the_responder_it_names(
    live: Live, county: Hierarchy
) -> None:
    doc, department = await returned_case(live, county)
    path = f"/api/v1/assignments/{department['id']}/accept-return"
    code, problem = await post_as(live, None, path, note="确属环卫站")
    assert code == 422
    assert problem["errors"] == [{"field": "responder", "reason": "required"}]
    code, problem = await post_as(live, None, path, responder=department["responder"]["id"])
    assert code == 422
    target = another_unit(county, doc, department)
    code, after = await post_as(live, None, path, responder=target, note="确属环卫站")
    assert code == 200, after
    new = after["assignments"][-1]
    assert new["responder"]["id"] == target
    assert (new["status"], new["origin"]) == ("dispatched", "reassign")
    assert after["case"]["returns_pending"] == []
    events = await live.app[STORE].timeline(doc["id"])
    accepted = [e for e in events if e.type == "assignment.return_accepted"]
    assert accepted[0].data["reassigned_to"] == target
    code, problem = await post_as(live, None, path, responder=target)
    assert code == 409
    assert "already accepted" in problem["detail"]
    status, page = await live.get("/api/v1/whistles?queue=returned")
    assert (status, page["items"]) == (200, [])
    code, _ = await Cases(live, county).assignment(new, "acknowledge")
    assert code == 200


async def test_the_dispatcher_refuses_a_return_with_a_reason_and_the_returner_takes_it_back(
    live: Live, county: Hierarchy
) -> None:
    doc, department = await returned_case(live, county)
    path = f"/api/v1/assignments/{department['id']}/refuse-return"
    code, problem = await post_as(live, None, path)
    assert code == 422
    assert problem["errors"] == [{"field": "reason", "reason": "required"}]
    code, after = await post_as(live, None, path, reason="属于本部门职责")
    assert code == 200, after
    back = after["assignments"][-1]
    assert back["responder"]["id"] == department["responder"]["id"]
    assert (back["status"], back["origin"]) == ("dispatched", "return_refused")
    assert after["case"]["returns_pending"] == []
    events = await live.app[STORE].timeline(doc["id"])
    refused = next(e for e in events if e.type == "assignment.return_refused")
    assert refused.data["reason"] == "属于本部门职责"
    code, _ = await post_as(live, None, path, reason="again")
    assert code == 409
    # The department now has to report in again.
    code, _ = await Cases(live, county).assignment(back, "acknowledge")
    assert code == 200


async def test_a_return_nobody_decides_on_in_time_is_supervised_by_the_level_above(
    live: Live, county: Hierarchy, clock: Any
) -> None:
    from datetime import datetime

    doc, department = await returned_case(live, county)
    decide_by = datetime.fromisoformat(doc["case"]["returns_pending"][0]["decide_by"])
    cases = Cases(live, county)
    clock.set(decide_by)
    await cases.tick()
    after = await cases.get(doc["id"])
    overdue = [e for e in after["timeline"] if e["type"] == "assignment.return_overdue"]
    assert len(overdue) == 1
    town = county.at_level(doc["grid"]["code"], Level.TOWN)
    assert overdue[0]["data"]["by_cell"] == town.parent  # the county above the town
    assert [n["notice"] for n in overdue[0]["data"]["notify"]] == ["supervise"]
    assert after["case"]["overdue"] is True
    assert after["case"]["returns_pending"][0]["escalated"] is True
    await cases.tick()  # once only
    again = await cases.get(doc["id"])
    assert [e["type"] for e in again["timeline"]].count("assignment.return_overdue") == 1
    # Still the dispatcher's to decide.
    code, _ = await post_as(
        live,
        None,
        f"/api/v1/assignments/{department['id']}/accept-return",
        responder=another_unit(county, doc, department),
    )
    assert code == 200


async def test_only_returned_assignments_are_reviewed(live: Live, county: Hierarchy) -> None:
    doc = await file_in(live, county, towns(county)[0])
    first = doc["assignments"][0]["id"]
    code, problem = await post_as(
        live, None, f"/api/v1/assignments/{first}/accept-return", responder="x"
    )
    assert code == 409
    assert "not returned" in problem["detail"]
    code, _ = await post_as(live, None, f"/api/v1/assignments/{first}/refuse-return", reason="x")
    assert code == 409
    code, _ = await post_as(
        live, None, f"/api/v1/assignments/{doc['id']}-99/accept-return", responder="x"
    )
    assert code == 404


async def test_reviewing_returns_is_for_operators_inside_their_subtree(
    live: Live, county: Hierarchy
) -> None:
    town_a, town_b = towns(county)
    doc, department = await returned_case(live, county)
    accept = {"responder": another_unit(county, doc, department)}
    for action, data in (("accept-return", accept), ("refuse-return", {"reason": "x"})):
        path = f"/api/v1/assignments/{department['id']}/{action}"
        responder = await live.token("responder", responder=department["responder"]["id"])
        assert (await post_as(live, responder, path, **data))[0] == 403
        committee = await live.token("committee", scope=town_a)
        assert (await post_as(live, committee, path, **data))[0] == 403
        admin = await live.token("admin", scope=None)
        assert (await post_as(live, admin, path, **data))[0] == 403
        assert (await post_as(live, await operator_of(live, town_b), path, **data))[0] == 403


# -- the list API's level filter -------------------------------------------------------------


async def test_the_list_filters_by_the_level_of_the_cell(live: Live, county: Hierarchy) -> None:
    doc = await file_in(live, county, towns(county)[0])
    status, page = await live.get("/api/v1/whistles?level=micro_grid")
    assert status == 200
    assert [i["id"] for i in page["items"]] == [doc["id"]]
    status, page = await live.get("/api/v1/whistles?level=2")
    assert status == 200
    assert page["items"] == []
    status, problem = await live.get("/api/v1/whistles?level=planet")
    assert status == 400
    assert problem["errors"][0]["field"] == "level"


# -- the console page ------------------------------------------------------------------------


def count_of(html: str, queue: str) -> int:
    match = re.search(rf'data-count="{queue}">(\d+)<', html)
    assert match, f"no count for {queue}"
    return int(match.group(1))


async def test_the_console_shows_filters_counts_and_the_queue(
    live: Live, county: Hierarchy
) -> None:
    town_a, town_b = towns(county)
    ours = await file_in(live, county, town_a)
    held = await file_in(live, county, town_a)
    theirs = await file_in(live, county, town_b)
    await Cases(live, county).case(held["id"], "hold", reason="等待答复")
    await add_user(live, "op", Role.OPERATOR, town_a)
    await log_in(live.client, "op")
    response = await live.client.get("/console")
    assert response.status == 200
    html = await response.text()
    assert "调度台" in html
    assert "/static/console.js" in html
    assert 'data-csrf="' in html
    assert count_of(html, "dispatched") == 1
    assert count_of(html, "on_hold") == 1
    assert count_of(html, "overdue") == 0
    assert ours["id"] in html
    assert held["id"] in html
    assert theirs["id"] not in html  # another town's case
    assert f'value="{town_a}"' in html
    assert f'value="{town_b}"' not in html  # filters offer only the subtree
    for option in ("micro_grid", "camera", "E0101", "on_hold"):
        assert f'value="{option}"' in html
    english = await (await live.client.get("/console?lang=en")).text()
    assert "Operator console" in english


async def test_the_console_names_a_held_case_yi_guazhang_and_its_action_guazhang(
    live: Live, county: Hierarchy
) -> None:
    """The status of a case on hold is 已挂账 (as Open311's status notes say it); 挂账 is the
    action that puts it there."""
    await add_user(live, "op", Role.OPERATOR, county.root)
    await log_in(live.client, "op")
    html = await (await live.client.get("/console")).text()
    assert '<option value="on_hold">已挂账</option>' in html
    assert '"hold":"挂账"' in html.replace("&#34;", '"').replace("&quot;", '"')
    english = await (await live.client.get("/console?lang=en")).text()
    assert '<option value="on_hold">on hold</option>' in english
    assert '<option value="town_committee">Town party committee</option>' in english


async def test_the_console_marks_overdue_cases_and_counts_them(
    live: Live, county: Hierarchy, clock: Any
) -> None:
    from datetime import timedelta

    doc = await file_in(live, county, towns(county)[0])
    clock.advance(timedelta(days=30))  # far past the resolution deadline
    await add_user(live, "op", Role.OPERATOR, county.root)
    await log_in(live.client, "op")
    html = await (await live.client.get("/console")).text()
    assert count_of(html, "overdue") == 1
    assert doc["id"] in html


async def test_the_console_escapes_what_people_typed(live: Live, county: Hierarchy) -> None:
    await file_in(live, county, towns(county)[0], description=SCRIPT)
    await add_user(live, "op", Role.OPERATOR, county.root)
    await log_in(live.client, "op")
    html = await (await live.client.get("/console")).text()
    assert SCRIPT not in html
    assert "&lt;script&gt;" in html


async def test_the_console_is_for_operators_committees_and_admins(
    live: Live, county: Hierarchy
) -> None:
    anonymous = await live.client.get("/console", allow_redirects=False)
    assert anonymous.status == 303
    assert anonymous.headers["Location"] == "/login"
    doc = await file_in(live, county, towns(county)[0])
    await live.app[__import__("whistle.web.access", fromlist=["ACCESS"]).ACCESS].add_user(
        name="member",
        password="correct horse battery",
        role=Role.RESPONDER,
        scope=county.root,
        responder_id=doc["assignments"][0]["responder"]["id"],
        by="tests",
    )
    await log_in(live.client, "member")
    assert (await live.client.get("/console")).status == 403


async def test_a_committee_sees_the_console_without_actions(live: Live, county: Hierarchy) -> None:
    await file_in(live, county, towns(county)[0])
    await add_user(live, "cm", Role.COMMITTEE, county.root)
    await log_in(live.client, "cm")
    response = await live.client.get("/console")
    assert response.status == 200
    html = await response.text()
    assert '"can_act":false' in html.replace("&#34;", '"').replace("&quot;", '"')
    assert "只读" in html


# -- the case page ---------------------------------------------------------------------------


async def test_the_case_page_shows_trace_timeline_and_photos(live: Live, county: Hierarchy) -> None:
    upload = await live.client.post("/api/v1/media", data=PNG, headers=await live.auth())
    assert upload.status == 201
    photo = (await upload.json())["url"]
    absolute = str(live.client.make_url(photo))  # media_urls are http(s) URLs
    doc = await file_in(live, county, towns(county)[0], media_urls=[absolute], description=SCRIPT)
    cases = Cases(live, county)
    first = doc["assignments"][0]
    await cases.assignment(first, "acknowledge")
    await cases.assignment(first, "resolve", note="已清理完毕", photos=[photo])
    await add_user(live, "op", Role.OPERATOR, county.root)
    await log_in(live.client, "op")
    response = await live.client.get(f"/cases/{doc['id']}")
    assert response.status == 200
    html = await response.text()
    assert SCRIPT not in html
    assert "&lt;script&gt;" in html
    assert f'<img src="{photo}?case={doc["id"]}"' in html  # a photo is shown with its case
    assert "派单路径" in html
    route, timeline = html.split("派单路径", 1)[1].split("处置记录", 1)
    for step in doc["trace"][0]["steps"]:
        assert county.cell(step["cell"]).name in route  # the climb, cell by cell, by name
        assert step["cell"] not in route
    assert f"按规则「{doc['rule']['name']}」" in route
    for shown in ("报到", "办结", "已清理完毕"):
        assert shown in timeline
    assert first["responder"]["name"] in timeline  # who, by name
    assert first["responder"]["id"] not in timeline
    assert "+08:00" not in html.split("处置记录", 1)[1]  # times shown as local wall time
    assert "token:" not in html  # filed with a token: named by its role, not the token's id
    assert 'data-action="merge"' in html  # an operator may act on a resolved case
    assert 'data-action="reassign"' not in html  # but its assignments are done


async def test_the_case_page_offers_the_review_of_a_return(live: Live, county: Hierarchy) -> None:
    doc, department = await returned_case(live, county)
    await add_user(live, "op", Role.OPERATOR, county.root)
    await log_in(live.client, "op")
    html = await (await live.client.get(f"/cases/{doc['id']}")).text()
    assert f'data-action="accept_return" data-assignment="{department["id"]}"' in html
    assert "退单待定" in html
    assert "应由环卫站处理" in html  # why it was returned
    await post_as(
        live,
        None,
        f"/api/v1/assignments/{department['id']}/accept-return",
        responder=another_unit(county, doc, department),
    )
    html = await (await live.client.get(f"/cases/{doc['id']}")).text()
    assert 'data-action="accept_return"' not in html
    assert "同意退单" in html  # in the timeline now
