"""催办 and 督办 by hand (issue 17): an operator urges or supervises a case with a note; the
holder is told through its webhook, the timeline names the operator and the note, and the
rule's own urge still comes when its time does."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import orjson

from grids import Hierarchy
from tests.support.harness import Live, StartServer
from tests.support.lifecycle import Cases
from tests.support.webhooks import config_with_hook, delivered, grid_member, receiver
from whistle.clock import FakeClock


def events(doc: dict[str, object], kind: str) -> list[dict[str, object]]:
    return [e for e in doc["timeline"] if e["type"] == kind]  # type: ignore[attr-defined,index]


async def test_an_operators_urge_reaches_the_holder_with_the_note_and_names_the_operator(
    start_server: StartServer, county: Hierarchy, county_dir: Path, tmp_path: Path
) -> None:
    server, _, bodies = await receiver(200)
    try:
        member = grid_member(county)
        config = config_with_hook(county_dir, tmp_path, member, str(server.make_url("/hook")))
        live = await start_server(config=config)
        cases = Cases(live, county)
        doc = await cases.new()
        await delivered(live.app)
        bodies.clear()  # the assignment's own notice

        status, answer = await cases.case(doc["id"], "urge", note="居民再次来电，请今天处理")
        assert status == 200, answer
        await delivered(live.app)
        notices = [orjson.loads(b) for b in bodies]
        assert [(n["notice"], n["responder_id"]) for n in notices] == [("urge", member)]
        assert notices[0]["summary"] == "催办: 居民再次来电，请今天处理"

        (urged,) = events(await cases.get(doc["id"]), "case.urged")
        assert urged["data"]["note"] == "居民再次来电，请今天处理"  # type: ignore[index]
        assert urged["data"]["manual"] is True  # type: ignore[index]
        # Recorded under the operator's own principal, the same name as its other actions.
        assert urged["actor"] == urged["data"]["by"]  # type: ignore[index]
        assert urged["actor"] not in (None, "", "console")
    finally:
        await server.close()


async def test_urge_and_supervise_need_a_note(live: Live, county: Hierarchy) -> None:
    cases = Cases(live, county)
    doc = await cases.new()
    for action in ("urge", "supervise"):
        for body in ({}, {"note": "   "}):
            status, problem = await cases.case(doc["id"], action, **body)
            assert status == 422, problem
            assert [e["field"] for e in problem["errors"]] == ["note"]


async def test_only_a_case_being_worked_on_can_be_urged(live: Live, county: Hierarchy) -> None:
    cases = Cases(live, county)
    doc = await cases.new()
    status, _ = await cases.case(doc["id"], "hold", reason="等待住建部门鉴定")
    assert status == 200
    status, problem = await cases.case(doc["id"], "urge", note="快点")
    assert status == 409, problem
    assert problem["current"] == "on_hold"


async def test_a_reporter_may_not_urge(live: Live, county: Hierarchy) -> None:
    cases = Cases(live, county)
    doc = await cases.new()
    status, _ = await cases.case(doc["id"], "urge", actor="网格员王芳", note="催一下")
    assert status == 403


async def test_a_manual_urge_leaves_the_rules_own_urge_to_come(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    cases = Cases(live, county)
    doc = await cases.new()
    owner = doc["assignments"][0]
    status, _ = await cases.assignment(owner, "acknowledge")
    assert status == 200
    status, _ = await cases.case(doc["id"], "urge", note="先提醒一次")
    assert status == 200
    status, _ = await cases.case(doc["id"], "supervise", note="领导关注")
    assert status == 200
    doc = await cases.get(doc["id"])
    assert doc["case"]["urged"] is False
    assert doc["case"]["supervised"] is False
    clock.set(datetime.fromisoformat(doc["case"]["resolve_due"]))
    await cases.tick()
    doc = await cases.get(doc["id"])
    automatic = [e for e in events(doc, "case.urged") if not e["data"].get("manual")]  # type: ignore[attr-defined]
    assert len(automatic) == 1
    assert doc["case"]["urged"] is True
    assert doc["case"]["supervised"] is True


async def test_supervision_by_hand_tells_the_level_above(live: Live, county: Hierarchy) -> None:
    cases = Cases(live, county)
    doc = await cases.new()
    owner = doc["assignments"][0]
    status, _ = await cases.assignment(owner, "acknowledge")
    assert status == 200
    status, answer = await cases.case(doc["id"], "supervise", note="三天未处理，街道督办")
    assert status == 200, answer
    (supervised,) = events(await cases.get(doc["id"]), "case.supervised")
    data = supervised["data"]
    assert data["note"] == "三天未处理，街道督办"  # type: ignore[index]
    assert data["by_cell"] == county.cell(owner["cell"]).parent  # type: ignore[index]


async def test_resuming_a_held_case_keeps_the_reason(live: Live, county: Hierarchy) -> None:
    cases = Cases(live, county)
    doc = await cases.new()
    status, _ = await cases.case(doc["id"], "hold", reason="等待鉴定")
    assert status == 200
    status, answer = await cases.case(doc["id"], "release", reason="鉴定报告已出")
    assert status == 200, answer
    (released,) = events(await cases.get(doc["id"]), "case.released")
    assert released["data"]["reason"] == "鉴定报告已出"  # type: ignore[index]
