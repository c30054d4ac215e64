"""Every case action tried in every state: allowed ones succeed, the rest are 409."""

from __future__ import annotations

from typing import Any

import pytest

from grids import Hierarchy
from tests.support.harness import Live
from tests.support.lifecycle import Cases

ACTIONS = [
    "acknowledge",
    "start",
    "resolve",
    "return",
    "claim",
    "verify",
    "reopen",
    "hold",
    "release",
    "extend",
    "rate",
    "merge",
]

# status -> the actions that succeed from it (everything else must be refused with 409).
ALLOWED = {
    "dispatched": {"acknowledge", "return", "hold", "extend", "merge"},
    "acknowledged": {"start", "resolve", "return", "hold", "extend", "merge"},
    "in_progress": {"resolve", "hold", "extend", "merge"},
    "resolved": {"verify", "reopen", "merge"},
    "closed": {"reopen", "rate"},
    "rated": set(),
    "on_hold": {"release", "merge"},
    "cancelled": set(),
}

ARGS: dict[str, dict[str, Any]] = {
    "resolve": {"note": "已清理"},
    "return": {"reason": "不属于本网格"},
    "verify": {"passed": True, "actor": "verifier-1"},
    "reopen": {"reason": "群众反映仍有杂物"},
    "hold": {"reason": "等待产权单位答复"},
    "extend": {"reason": "需协调物业", "duration": "3wd"},
    "rate": {"grade": "satisfied"},
    "claim": {},  # by the case's first responder: a responder, but no board to claim from
}


async def reach(cases: Cases, status: str) -> dict[str, Any]:
    """A fresh citizen case brought to ``status`` through the API."""
    doc = await cases.new()
    first = doc["assignments"][0]
    steps: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
        "dispatched": [],
        "acknowledged": [("a", "acknowledge", {})],
        "in_progress": [("a", "acknowledge", {}), ("a", "start", {})],
        "resolved": [("a", "acknowledge", {}), ("a", "resolve", {"note": "已清理"})],
        "closed": [
            ("a", "acknowledge", {}),
            ("a", "resolve", {"note": "已清理"}),
            ("c", "verify", {"passed": True, "actor": "verifier-1"}),
        ],
        "rated": [
            ("a", "acknowledge", {}),
            ("a", "resolve", {"note": "已清理"}),
            ("c", "verify", {"passed": True, "actor": "verifier-1"}),
            ("c", "rate", {"grade": "very_satisfied"}),
        ],
        "on_hold": [("c", "hold", {"reason": "等待答复"})],
        "cancelled": [],
    }
    for target, action, data in steps[status]:
        if target == "a":
            code, answer = await cases.assignment(first, action, **data)
        else:
            code, answer = await cases.case(doc["id"], action, **data)
        assert code == 200, answer
    if status == "cancelled":
        other = await cases.new()
        code, answer = await cases.case(doc["id"], "merge", into=other["id"])
        assert code == 200, answer
    now = await cases.get(doc["id"])
    assert now["status"] == status
    return now


@pytest.mark.parametrize("status", list(ALLOWED))
@pytest.mark.parametrize("action", ACTIONS)
async def test_action_from_state(live: Live, county: Hierarchy, status: str, action: str) -> None:
    cases = Cases(live, county)
    doc = await reach(cases, status)
    args = dict(ARGS.get(action, {}))
    if action == "merge":
        args["into"] = (await cases.new())["id"]
    if action == "claim":
        args["actor"] = doc["assignments"][0]["responder"]["id"]
    if action in ("acknowledge", "start", "resolve", "return"):
        code, answer = await cases.assignment(doc["assignments"][0], action, **args)
    else:
        code, answer = await cases.case(doc["id"], action, **args)
    if action in ALLOWED[status]:
        assert code == 200, answer
        assert answer["id"] == doc["id"]
    else:
        assert code == 409, answer
        assert answer["current"] in (status, doc["assignments"][0]["status"])
        assert isinstance(answer["allowed"], list)
        assert action not in answer["allowed"]


def test_folding_changes_into_a_copy_leaves_the_loaded_state_as_it_was() -> None:
    from datetime import UTC, datetime

    from dispatch.case import AssignmentState, AssignmentStatus, CaseState
    from dispatch.lifecycle import Change
    from whistle.cases import fold_more

    at = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    doc = {"id": "W-1", "trace": [{"steps": ["a"]}]}
    old = CaseState(id="W", received_at=at, version=2)
    old.assignments["W-1"] = AssignmentState(
        id="W-1", kind="registered_member", mode="push", responder_id="R1", cell="c",
        level="grid", origin="route", status=AssignmentStatus.DISPATCHED, assigned_at=at,
        acknowledge_due=at, claim_due=None, doc=doc,
    )  # fmt: skip
    new = fold_more(old, [Change("assignment.acknowledged", {"assignment": "W-1"})], at, "R1")
    assert new.assignments["W-1"].status is AssignmentStatus.ACKNOWLEDGED
    assert new.owner == "W-1"
    assert new.version == 3
    assert old.assignments["W-1"].status is AssignmentStatus.DISPATCHED
    assert old.owner is None
    assert old.version == 2
    assert old.assignments["W-1"].doc == {"id": "W-1", "trace": [{"steps": ["a"]}]}
