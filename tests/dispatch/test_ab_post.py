"""AB岗 at dispatch: an off-duty A post is passed over for its on-duty B post, or climbed past."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from datetime import datetime

from dispatch import DispatchConfig, Router, RouteRequest, Source, StepResult
from grids import Hierarchy, Responder, ResponderKind
from tests.support.dispatch_county import COMMUNITY, GRID, MICRO, ROSTER, TOWN, person

SATURDAY = datetime.fromisoformat("2026-11-28T10:00:00+08:00")


def with_backup(roster: Iterable[Responder]) -> list[Responder]:
    """The test roster, with a B post for the community police officer at the town."""
    out = [dataclasses.replace(r, backup="CP02") if r.id == "CP01" else r for r in roster]
    out.append(person("CP02", "王警官", ResponderKind.COMMUNITY_POLICE, TOWN))
    return out


def police(router: Router, on_duty: Callable[[str, datetime], bool]) -> list[tuple[str, str]]:
    decision = router.route(
        RouteRequest(source=Source.CITIZEN, category="E0101", cell=MICRO, received_at=SATURDAY),
        on_duty=on_duty,
    )
    chosen = next(a for a in decision.assignments if a.kind is ResponderKind.COMMUNITY_POLICE)
    assert chosen.responder is not None
    return [(step.result.value, step.responder_id or "-") for step in chosen.trace] + [
        ("=", chosen.responder.id)
    ]


def test_off_duty_a_post_goes_to_its_on_duty_b_post(
    build: Callable[[Iterable[Responder]], Hierarchy], config: DispatchConfig
) -> None:
    router = Router.compile(build(with_backup(ROSTER)), config)
    trail = police(router, lambda rid, at: rid != "CP01")
    assert trail == [
        ("none_of_kind", "-"),
        ("off_duty", "CP01"),
        ("chosen", "CP02"),
        ("=", "CP02"),
    ]


def test_both_posts_off_duty_climbs_on(
    build: Callable[[Iterable[Responder]], Hierarchy], config: DispatchConfig
) -> None:
    router = Router.compile(build(with_backup(ROSTER)), config)
    trail = police(router, lambda rid, at: rid not in ("CP01", "CP02"))
    # CP02 sits at the town: the climb reaches it there too, still off duty, then goes on to
    # the county, where nobody of the kind is and the backstop takes the case.
    assert trail[1] == ("off_duty", "CP01")
    assert ("off_duty", "CP02") in trail
    assert trail[-2][0] == StepResult.BACKSTOP.value
    assert trail[-1] == ("=", "B001")


def test_without_a_roster_everybody_is_on_duty(
    build: Callable[[Iterable[Responder]], Hierarchy], config: DispatchConfig
) -> None:
    router = Router.compile(build(with_backup(ROSTER)), config)
    trail = police(router, lambda rid, at: True)
    assert trail[-1] == ("=", "CP01")
    assert GRID in MICRO  # the whistle is placed below the community: the climb starts there
    assert COMMUNITY in GRID
