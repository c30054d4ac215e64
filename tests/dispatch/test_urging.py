"""催办 and 督办 by hand (dispatch/urging.py), as pure decisions over a case state."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from dispatch import LifecyclePolicy, Router
from dispatch.case import AssignmentState, AssignmentStatus, CaseState, CaseStatus
from dispatch.lifecycle import Context, IllegalTransition, InvalidAction
from dispatch.urging import supervise, urge
from tests.support.dispatch_county import COMMUNITY, GRID

NOW = datetime.fromisoformat("2026-12-01T10:00:00+08:00")


def ctx(router: Router) -> Context:
    return Context(now=NOW, router=router, policy=LifecyclePolicy(), document=lambda p, a: {})


def slot(aid: str, responder: str, kind: str, status: AssignmentStatus) -> AssignmentState:
    return AssignmentState(
        id=aid, kind=kind, mode="push", responder_id=responder, cell=GRID, level="grid",
        origin="rule", status=status, assigned_at=NOW - timedelta(hours=1),
        acknowledge_due=None, claim_due=None,
    )  # fmt: skip


def case(*slots: AssignmentState, owner: str | None = None, **kw: object) -> CaseState:
    state = CaseState(
        id="W1", category="E0101", grid=GRID, resolve_due=NOW + timedelta(days=1), owner=owner,
        assignments={s.id: s for s in slots},
    )  # fmt: skip
    for key, value in kw.items():
        setattr(state, key, value)
    return state


def test_an_urge_without_an_owner_reaches_everyone_holding_the_case(router: Router) -> None:
    state = case(
        slot("W1-1", "GM01", "registered_member", AssignmentStatus.DISPATCHED),
        slot("W1-2", "GU01", "unposted_member", AssignmentStatus.DISPATCHED),
        slot("W1-3", "CP01", "community_police", AssignmentStatus.RETURNED),
    )
    (change,) = urge(state, "值班员小李", ctx(router), note=" 请今天处理 ")
    assert change.type == "case.urged"
    assert change.data["by"] == "值班员小李"
    assert change.data["note"] == "请今天处理"
    assert change.data["manual"] is True
    assert [(n["responder_id"], n["notice"]) for n in change.data["notify"]] == [
        ("GM01", "urge"),
        ("GU01", "urge"),
    ]


def test_an_urge_with_an_owner_reaches_the_owner_alone(router: Router) -> None:
    state = case(
        slot("W1-1", "GM01", "registered_member", AssignmentStatus.IN_PROGRESS),
        slot("W1-2", "GU01", "unposted_member", AssignmentStatus.DISPATCHED),
        owner="W1-1",
        status=CaseStatus.IN_PROGRESS,
    )
    (change,) = urge(state, "op", ctx(router), note="快")
    assert [n["responder_id"] for n in change.data["notify"]] == ["GM01"]


def test_supervision_tells_the_owners_kind_one_level_up(router: Router) -> None:
    state = case(
        slot("W1-1", "GM01", "registered_member", AssignmentStatus.ACKNOWLEDGED),
        owner="W1-1",
        status=CaseStatus.ACKNOWLEDGED,
    )
    (change,) = supervise(state, "op", ctx(router), note="三天未办")
    assert change.type == "case.supervised"
    assert change.data["by_cell"] == COMMUNITY
    told = [(n["responder_id"], n["notice"]) for n in change.data["notify"]]
    # The owner, then a registered member of the community (the level above the grid).
    assert told[0] == ("GM01", "supervise")
    assert told[1][1] == "supervise"
    assert told[1][0] == "M002"  # the community's member who handles E0101


@pytest.mark.parametrize("status", [CaseStatus.RESOLVED, CaseStatus.ON_HOLD, CaseStatus.CLOSED])
def test_a_case_nobody_is_working_on_is_not_urged(router: Router, status: CaseStatus) -> None:
    state = case(
        slot("W1-1", "GM01", "registered_member", AssignmentStatus.RESOLVED), status=status
    )
    with pytest.raises(IllegalTransition) as refused:
        urge(state, "op", ctx(router), note="快")
    assert refused.value.status == status.value


@pytest.mark.parametrize("note", [None, "", "   "])
def test_the_note_is_required(router: Router, note: str | None) -> None:
    state = case(slot("W1-1", "GM01", "registered_member", AssignmentStatus.DISPATCHED))
    for step in (urge, supervise):
        with pytest.raises(InvalidAction) as bad:
            step(state, "op", ctx(router), note=note)
        assert (bad.value.field, bad.value.reason) == ("note", "required")
