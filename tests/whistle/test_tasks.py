"""A responder's part through the API: 申请延期 and the operator's decision, actions sent again
with the same Idempotency-Key, the responder's own event stream, the task link in notices,
timelines as sentences, and this month's figures as the committee counts them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from grids import Hierarchy, Level
from tests.support.harness import Live
from tests.support.lifecycle import Cases
from whistle.clock import FakeClock
from whistle.web.timeline import Names, duration_text, sentences
from whistle.webhooks import Endpoint, WebhookNotifier

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def _acknowledged(cases: Cases) -> tuple[dict[str, Any], dict[str, Any]]:
    doc = await cases.new()
    pushed = next(a for a in doc["assignments"] if a["mode"] == "push")
    status, answer = await cases.assignment(pushed, "acknowledge")
    assert status == 200, answer
    return doc, pushed


async def test_a_responder_asks_for_an_extension_and_the_case_shows_the_request(
    live: Live, county: Hierarchy
) -> None:
    cases = Cases(live, county)
    _doc, pushed = await _acknowledged(cases)
    status, answer = await cases.assignment(
        pushed, "request-extension", reason="需协调物业", duration="3wd"
    )
    assert status == 200, answer
    request = answer["case"]["extension_request"]
    assert request["assignment"] == pushed["id"]
    assert request["responder_id"] == pushed["responder"]["id"]
    assert (request["reason"], request["duration"]) == ("需协调物业", "3wd")
    assert request["at"].endswith("+08:00")
    assert answer["case"]["extended"] is False

    # A second request while the first waits is refused, and says why.
    status, again = await cases.assignment(
        pushed, "request-extension", reason="再次申请", duration="1wd"
    )
    assert status == 409
    assert "waiting for a decision" in again["detail"]


async def test_an_extension_request_beyond_the_rules_limit_names_the_field(
    live: Live, county: Hierarchy
) -> None:
    cases = Cases(live, county)
    _, pushed = await _acknowledged(cases)
    status, answer = await cases.assignment(
        pushed, "request-extension", reason="工程量大", duration="11wd"
    )
    assert status == 422
    assert [e["field"] for e in answer["errors"]] == ["duration"]
    assert "at most 10wd" in str(answer["errors"][0])
    status, answer = await cases.assignment(pushed, "request-extension", duration="2wd")
    assert status == 422
    assert [e["field"] for e in answer["errors"]] == ["reason"]


async def test_a_dispatched_responder_reports_in_before_asking_for_more_time(
    live: Live, county: Hierarchy
) -> None:
    cases = Cases(live, county)
    doc = await cases.new()
    pushed = next(a for a in doc["assignments"] if a["mode"] == "push")
    status, answer = await cases.assignment(
        pushed, "request-extension", reason="需协调物业", duration="2wd"
    )
    assert status == 409
    assert "报到" in answer["detail"]


async def test_an_operator_approves_the_request_and_the_deadline_moves_once(
    live: Live, county: Hierarchy
) -> None:
    cases = Cases(live, county)
    doc, pushed = await _acknowledged(cases)
    before = datetime.fromisoformat((await cases.get(doc["id"]))["case"]["resolve_due"])
    await cases.assignment(pushed, "request-extension", reason="需协调物业", duration="2wd")
    status, answer = await cases.case(doc["id"], "approve-extension", note="同意")
    assert status == 200, answer
    assert answer["case"]["extended"] is True
    assert answer["case"]["extension_request"] is None
    assert datetime.fromisoformat(answer["case"]["resolve_due"]) > before
    # Extended once: neither another request nor the operator's own extend.
    status, _ = await cases.assignment(
        pushed, "request-extension", reason="还要时间", duration="1wd"
    )
    assert status == 409
    status, _ = await cases.case(doc["id"], "extend", reason="再延", duration="1wd")
    assert status == 409
    _, events = await _timeline(live, doc["id"])
    extended = next(e for e in events if e["type"] == "case.extended")
    assert extended["data"]["requested_by"] == pushed["responder"]["id"]


async def test_an_operator_refuses_the_request_with_a_reason_and_the_deadline_stays(
    live: Live, county: Hierarchy
) -> None:
    cases = Cases(live, county)
    doc, pushed = await _acknowledged(cases)
    due = (await cases.get(doc["id"]))["case"]["resolve_due"]
    await cases.assignment(pushed, "request-extension", reason="需协调物业", duration="2wd")
    status, answer = await cases.case(doc["id"], "refuse-extension", reason="")
    assert status == 422
    assert [e["field"] for e in answer["errors"]] == ["reason"]
    status, answer = await cases.case(doc["id"], "refuse-extension", reason="请按期办结")
    assert status == 200, answer
    assert answer["case"]["extension_request"] is None
    assert answer["case"]["resolve_due"] == due
    assert answer["case"]["extended"] is False
    # Nothing waits any more: approving now is a conflict.
    status, _ = await cases.case(doc["id"], "approve-extension")
    assert status == 409
    # The responder may ask again (the case was never extended).
    status, _ = await cases.assignment(
        pushed, "request-extension", reason="物业已答复，需两天", duration="2wd"
    )
    assert status == 200


async def test_the_operators_own_extend_still_works(live: Live, county: Hierarchy) -> None:
    cases = Cases(live, county)
    doc = await cases.new()
    status, answer = await cases.case(doc["id"], "extend", reason="需协调物业", duration="2wd")
    assert status == 200, answer
    assert answer["case"]["extended"] is True


async def _timeline(live: Live, whistle_id: str) -> tuple[int, list[dict[str, Any]]]:
    from whistle.web.keys import STORE

    events = await live.app[STORE].timeline(whistle_id)
    return len(events), [{"type": e.type, "data": e.data} for e in events]


async def _send(
    live: Live, assignment: dict[str, Any], action: str, body: dict[str, Any], key: str
) -> tuple[int, Any]:
    token = await live.token("responder", responder=assignment["responder"]["id"])
    response = await live.client.post(
        f"/api/v1/assignments/{assignment['id']}/{action}",
        json=body,
        headers={**await live.auth(token), "Idempotency-Key": key},
    )
    return response.status, await response.json()


async def test_the_same_idempotency_key_sent_again_does_not_act_twice(
    live: Live, county: Hierarchy
) -> None:
    cases = Cases(live, county)
    doc, pushed = await _acknowledged(cases)
    body = {"note": "已清理完毕"}
    first = await _send(live, pushed, "resolve", body, "press-1")
    count, _ = await _timeline(live, doc["id"])
    again = await _send(live, pushed, "resolve", body, "press-1")
    assert first[0] == again[0] == 200
    assert again[1]["status"] == "resolved"
    assert (await _timeline(live, doc["id"]))[0] == count  # nothing more was written
    _, events = await _timeline(live, doc["id"])
    assert [e["type"] for e in events].count("assignment.resolved") == 1
    # Without the key the repeat is what it always was: a conflict.
    token = await live.token("responder", responder=pushed["responder"]["id"])
    response = await live.client.post(
        f"/api/v1/assignments/{pushed['id']}/resolve", json=body, headers=await live.auth(token)
    )
    assert response.status == 409


async def test_two_sends_of_one_key_at_once_act_once(live: Live, county: Hierarchy) -> None:
    cases = Cases(live, county)
    doc = await cases.new()
    pushed = next(a for a in doc["assignments"] if a["mode"] == "push")
    answers = await asyncio.gather(
        *(_send(live, pushed, "acknowledge", {}, "press-together") for _ in range(3))
    )
    assert [status for status, _ in answers] == [200, 200, 200]
    _, events = await _timeline(live, doc["id"])
    assert [e["type"] for e in events].count("assignment.acknowledged") == 1


async def test_a_key_used_for_another_action_is_refused(live: Live, county: Hierarchy) -> None:
    cases = Cases(live, county)
    _, pushed = await _acknowledged(cases)
    assert (await _send(live, pushed, "start", {}, "press-2"))[0] == 200
    status, answer = await _send(live, pushed, "resolve", {"note": "好了"}, "press-2")
    assert status == 422
    assert answer["errors"][0]["field"] == "Idempotency-Key"


async def test_a_responders_stream_carries_its_own_new_assignments_only(
    live: Live, county: Hierarchy
) -> None:
    cases = Cases(live, county)
    micro = list(county.cells(level=Level.MICRO_GRID))
    first = await cases.new(location={"grid": micro[0].code})
    me = next(a for a in first["assignments"] if a["mode"] == "push")["responder"]["id"]
    token = await live.token("responder", responder=me)
    last = max(e.seq for e in await _all_events(live))
    response = await live.client.get(
        f"/api/v1/stream?last_event_id={last}", headers=await live.auth(token)
    )
    assert response.status == 200
    # Far away: not mine. Then one in my micro-grid: mine.
    other = await cases.new(location={"grid": micro[-1].code})
    assert me not in {(a["responder"] or {}).get("id") for a in other["assignments"]}
    mine = await cases.new(location={"grid": micro[0].code})
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(10):
        while not any(s["whistle_id"] == mine["id"] for s in seen):
            line = await response.content.readline()
            if line.startswith(b"data: "):
                seen.append(orjson.loads(line[6:]))
    response.close()
    assert {s["whistle_id"] for s in seen} == {mine["id"]}


async def _all_events(live: Live) -> list[Any]:
    from whistle.web.keys import STORE

    return list(await live.app[STORE].events_after(0, 10_000))


async def test_a_notice_of_a_new_task_carries_the_link_to_the_task_page() -> None:
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        endpoint = Endpoint(responder_id="R1", url=str(server.make_url("/hook")), secret="s")
        notifier = WebhookNotifier(
            {"R1": endpoint}, FakeClock(), public_url="https://whistle.example.org/"
        )
        await notifier.start()
        from whistle.events import Event

        event = Event(
            seq=7,
            type="whistle.routed",
            whistle_id="W1",
            at=datetime(2026, 12, 3, 2, 32, tzinfo=UTC),
            actor="router",
            data={
                "notify": [
                    {"responder_id": "R1", "notice": "assignment", "assignment_id": "W1-1",
                     "summary": "楼道堆物"},
                    {"responder_id": "R1", "notice": "inform", "assignment_id": None,
                     "summary": "知会"},
                ]
            },
        )  # fmt: skip
        await notifier.handle(event)
        await notifier.join()
        await notifier.stop()
    finally:
        await server.close()
    links = sorted(((r["notice"], r["link"]) for r in received), key=str)
    assert links == [
        ("assignment", "https://whistle.example.org/tasks/W1-1"),
        ("inform", None),
    ]


class _Event:
    def __init__(self, type_: str, at: datetime, actor: str | None, **data: Any) -> None:
        self.type, self.at, self.actor, self.data = type_, at, actor, data


NAMES = Names(
    responder={"P1": "田园镇派出所", "M1": "李梅"}.get,
    rule={"police": "公安哨"}.get,
    cell={"T1": "田园镇"}.get,
)


def test_a_timeline_reads_as_sentences_with_names() -> None:
    at = datetime(2026, 12, 3, 2, 32, tzinfo=UTC)  # 10:32 in Shanghai
    routed = [
        {"cell": "T1", "mode": "push", "responder": {"id": "P1", "name": "田园镇派出所"}},
        {"cell": "T1", "mode": "push", "responder": {"id": "M1", "name": "李梅"}},
    ]
    events = [
        _Event("whistle.received", at, "op-token-01J0", request={"source": "police"}),
        _Event("whistle.routed", at, "router", rule="police", assignments=routed),
        _Event("assignment.acknowledged", at, "P1", assignment="W-1", responder_id="P1"),
        _Event("case.extension_requested", at, "M1", responder_id="M1", reason="需协调",
               duration="3wd"),
        _Event("assignment.returned", at, "M1", responder_id="M1", reason="不属于本网格"),
        _Event("something.new", at, "01J9ZZZZZZZZZZZZZZZZZZZZZZ"),
    ]  # fmt: skip
    lines = sentences(events, NAMES, lang="zh", tz=SHANGHAI)
    assert [line.at for line in lines] == ["2026-12-03 10:32"] * len(events)
    texts = [line.text for line in lines]
    assert texts[1] == "按规则「公安哨」派至田园镇派出所、田园镇·李梅"
    assert texts[2] == "田园镇派出所 报到"
    assert texts[3] == "李梅 申请延期 3个工作日：需协调"
    assert texts[4] == "李梅 退单：不属于本网格"
    for text in texts:
        assert "01J" not in text
        assert "." not in text
        assert "P1" not in text
        assert "op-token" not in text
    english = sentences(events, NAMES, lang="en", tz=SHANGHAI)
    assert english[2].text == "田园镇派出所 reported in"
    assert duration_text("2wh", "en") == "2 working hours"


async def test_the_month_figures_of_a_responder_are_the_committees(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    cases = Cases(live, county)
    doc, pushed = await _acknowledged(cases)
    clock.advance(timedelta(minutes=20))
    status, answer = await cases.assignment(pushed, "resolve", note="已清理")
    assert status == 200, answer
    rid = pushed["responder"]["id"]
    token = await live.token("responder", responder=rid)
    status, history = await live.get(f"/api/v1/responders/{rid}/history", token=token)
    assert status == 200, history
    month = history["month"]
    assert any(i["whistle"]["id"] == doc["id"] for i in history["items"])
    status, stats = await live.get(f"/api/v1/stats?grid={month['grid']}&since={month['since']}")
    assert status == 200, stats
    row = next(r for r in stats["responders"] if r["responder_id"] == rid)
    assert {k: month[k] for k in ("answered", "claimed", "completed", "hours")} == {
        k: row[k] for k in ("answered", "claimed", "completed", "hours")
    }
    # 报到 once, 20 minutes from 报到 to 办结 (completed counts finished claims only).
    assert (month["answered"], month["hours"]) == (1, 0.33)
