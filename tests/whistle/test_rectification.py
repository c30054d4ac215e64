"""差评整改: a 不满意 rating is not the end. It opens a rectification (整改) for the case's
owner, due in 15 working days, verified again, and counted apart in the statistics (整改率)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from dispatch import Duration
from grids import Hierarchy
from tests.support.harness import Live
from tests.support.lifecycle import Cases
from whistle.clock import FakeClock
from whistle.web.keys import LIVE

WINDOW = "since=2026-11-23&until=2026-11-23"


async def closed_case(cases: Cases) -> tuple[dict[str, Any], dict[str, Any]]:
    doc = await cases.new()
    owner = doc["assignments"][0]
    assert (await cases.assignment(owner, "acknowledge"))[0] == 200
    assert (await cases.assignment(owner, "resolve", note="已清理"))[0] == 200
    code, doc = await cases.case(doc["id"], "verify", passed=True)
    assert code == 200, doc
    assert doc["status"] == "closed"
    return doc, owner


async def rates(live: Live) -> dict[str, tuple[Any, ...]]:
    status, doc = await live.get(f"/api/v1/stats?{WINDOW}", token=await live.token("committee"))
    assert status == 200, doc
    return {r["key"]: (r["numerator"], r["denominator"], r["rate"]) for r in doc["rates"]}


async def test_a_dissatisfied_rating_opens_a_rectification_for_the_owner_in_15_working_days(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    cases = Cases(live, county)
    doc, owner = await closed_case(cases)
    clock.advance(timedelta(hours=1))
    rated_at = clock.now()
    code, doc = await cases.case(doc["id"], "rate", grade="不满意")
    assert code == 200, doc
    assert doc["status"] == "in_progress"  # back in the owner's hands
    rectification = doc["case"]["rectification"]
    due = live.app[LIVE].router.calendar.add(rated_at, Duration.parse("15wd"))
    assert datetime.fromisoformat(rectification["due"]) == due
    assert datetime.fromisoformat(doc["case"]["resolve_due"]) == due
    assert (rectification["grade"], rectification["count"]) == ("dissatisfied", 1)
    assert doc["case"]["owner"]["assignment"] == owner["id"]
    timeline = (await cases.get(doc["id"]))["timeline"]
    opened = next(e for e in timeline if e["type"] == "case.rectification_opened")
    assert [n["responder_id"] for n in opened["data"]["notify"]] == [owner["responder"]["id"]]
    # The owner reports the rectification done, and it is verified again.
    clock.advance(timedelta(days=2))
    code, doc = await cases.assignment(owner, "resolve", note="已整改, 加装围挡")
    assert code == 200, doc
    assert doc["status"] == "resolved"
    code, doc = await cases.case(doc["id"], "verify", passed=True)
    assert code == 200, doc
    assert doc["status"] == "closed"
    assert doc["case"]["rectification"]["on_time"] is True
    assert doc["case"]["rectification"]["done_at"] is not None
    # 整改率 counts it; the case's own closure stays as it was (closed on time once).
    got = await rates(live)
    assert got["rectification"] == (1, 1, 1.0)
    assert got["on_time_closure"] == (1, 1, 1.0)
    assert got["closure"] == (1, 1, 1.0)
    # The citizen may rate the rectified case again.
    code, doc = await cases.case(doc["id"], "rate", grade="满意")
    assert code == 200, doc
    assert doc["status"] == "rated"


async def test_a_rectification_past_its_deadline_is_due_and_not_rectified(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    cases = Cases(live, county)
    doc, _ = await closed_case(cases)
    code, doc = await cases.case(doc["id"], "rate", grade="very_dissatisfied")
    assert code == 200, doc
    due = datetime.fromisoformat(doc["case"]["rectification"]["due"])
    clock.set(due + timedelta(minutes=1))
    await cases.tick()  # its round is urged and supervised like any other
    doc = await cases.get(doc["id"])
    assert doc["case"]["supervised"] is True
    assert (await rates(live))["rectification"] == (0, 1, 0.0)


async def test_a_satisfied_rating_opens_no_rectification(live: Live, county: Hierarchy) -> None:
    cases = Cases(live, county)
    doc, _ = await closed_case(cases)
    code, doc = await cases.case(doc["id"], "rate", grade="basically_satisfied")
    assert code == 200, doc
    assert doc["status"] == "rated"
    assert doc["case"]["rectification"] is None
    assert (await rates(live))["rectification"] == (0, 0, None)
