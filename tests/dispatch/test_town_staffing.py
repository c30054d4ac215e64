"""How a town staffs the rules, in the router: the duty rota (值班) behind the A/B posts, who
is informed (知会), and the household leader who may report in, with the shipped rules.toml
over the small test county."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

import pytest

from dispatch import Decision, Origin, Router, RouteRequest, Source, load_dispatch_config
from grids import Hierarchy, Responder, ResponderKind
from tests.support.dispatch_county import COMMUNITY, COUNTY, GRID, MICRO, ROSTER, TOWN, person

SHIPPED = Path(__file__).resolve().parents[2] / "config"
SATURDAY = datetime.fromisoformat("2026-11-28T10:00:00+08:00")
K = ResponderKind


def staffed(roster: Iterable[Responder]) -> list[Responder]:
    """The test roster with a B post for the officer, and the town's duty rota."""
    out = [dataclasses.replace(r, backup="CP02") if r.id == "CP01" else r for r in roster]
    out += [
        person("CP02", "王警官", K.COMMUNITY_POLICE, COUNTY),
        person("DP01", "值班民警甲", K.DUTY_POLICE, TOWN),
        person("DP02", "值班民警乙", K.DUTY_POLICE, TOWN),
        person("DO01", "值班员甲", K.DUTY_OFFICER, TOWN),
    ]
    return out


@pytest.fixture
def town_router(build: Callable[[Iterable[Responder]], Hierarchy]) -> Router:
    """The shipped rules, catalog and calendar over the small test county."""
    return Router.compile(build(staffed(ROSTER)), load_dispatch_config(SHIPPED))


def route(
    router: Router,
    source: Source,
    category: str,
    cell: str = MICRO,
    on_duty: Callable[[str, datetime], bool] | None = None,
) -> Decision:
    request = RouteRequest(source=source, category=category, cell=cell, received_at=SATURDAY)
    return router.route(request, on_duty=on_duty)


def test_off_duty_posts_fall_back_to_the_duty_person_before_any_escalation(
    town_router: Router,
) -> None:
    # CP01 and its B post CP02 keep office hours; on a Saturday only DP02 is on the rota.
    on_duty = {"DP02", "DO01"}
    decision = route(
        town_router,
        Source.CITIZEN,
        "E0101",
        on_duty=lambda rid, at: rid in on_duty or not rid.startswith(("CP", "DP", "DO")),
    )
    police = next(a for a in decision.assignments if a.kind is K.COMMUNITY_POLICE)
    assert police.responder is not None
    assert (police.responder.id, police.origin, police.cell) == ("DP02", Origin.DUTY, TOWN)
    steps = [(s.result.value, s.responder_id) for s in police.trace]
    assert ("off_duty", "CP01") in steps
    assert ("off_duty", "CP02") in steps
    assert steps[-1] == ("chosen", "DP02")
    assert all(a.origin is not Origin.BACKSTOP for a in decision.assignments)


def test_an_on_duty_b_post_comes_before_the_duty_person(town_router: Router) -> None:
    decision = route(town_router, Source.CITIZEN, "E0101", on_duty=lambda rid, at: rid != "CP01")
    police = next(a for a in decision.assignments if a.kind is K.COMMUNITY_POLICE)
    assert police.responder is not None
    assert (police.responder.id, police.origin) == ("CP02", Origin.BACKUP)


def test_the_grid_leader_is_informed_of_every_case_in_their_grid(town_router: Router) -> None:
    for source, category in (
        (Source.CITIZEN, "E0101"),
        (Source.POLICE, "E0701"),
        (Source.COMMUNITY, "E0101"),
        (Source.CAMERA, "E0403"),
    ):
        decision = route(town_router, source, category)
        assert next((i.responder.id, i.kind, i.cell) for i in decision.informed) == (
            "GL01",
            K.GRID_LEADER,
            GRID,
        ), source
        # Informed is not owning: the leader has no assignment of the case.
        assert "GL01" not in {a.responder_id for a in decision.assignments}


def test_a_whistle_above_the_grid_informs_no_grid_leader(town_router: Router) -> None:
    decision = route(town_router, Source.COMMUNITY, "E0101", cell=COMMUNITY)
    assert decision.informed == ()


def test_the_household_leader_is_informed_of_citizen_whistles_in_their_micro_grid(
    town_router: Router,
) -> None:
    citizen = route(town_router, Source.CITIZEN, "E0101")
    police = route(town_router, Source.POLICE, "E0701")
    assert [i.responder.id for i in citizen.informed] == ["GL01", "H001"]
    assert [i.responder.id for i in police.informed] == ["GL01"]


def test_the_household_leader_may_report_in_for_small_matters(town_router: Router) -> None:
    decision = route(town_router, Source.CITIZEN, "E0601")  # 邻里纠纷, a small matter
    assert decision.rule_id == "citizen-small"
    may = [a for a in decision.assignments if a.kind is K.HOUSEHOLD_LEADER]
    assert [(a.responder_id, a.acknowledge_due, a.origin) for a in may] == [
        ("H001", None, Origin.RULE)
    ]
    # Pushed, so not informed as well.
    assert [i.responder.id for i in decision.informed] == ["GL01"]


def test_a_small_matter_placed_at_the_grid_sends_nothing_to_the_backstop(
    town_router: Router,
) -> None:
    decision = route(town_router, Source.CITIZEN, "E0601", cell=GRID)
    kinds = [a.kind for a in decision.assignments]
    assert K.HOUSEHOLD_LEADER not in kinds
    assert all(a.origin is not Origin.BACKSTOP for a in decision.assignments)
