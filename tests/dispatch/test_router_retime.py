"""Router.deadlines and Router.retime: a decision made at one time, timed for another, is what
routing at that other time gives (what-if replay's cache relies on it)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from dispatch import Router, RouteRequest, Source
from tests.support.dispatch_county import COMMUNITY, GRID, MICRO

SHANGHAI = ZoneInfo("Asia/Shanghai")
FRIDAY_4PM = datetime(2026, 1, 9, 16, 0, tzinfo=SHANGHAI)
# A Monday morning and a holiday (元旦) evening: working-time limits land elsewhere.
OTHERS = [datetime(2026, 1, 12, 9, 0, tzinfo=SHANGHAI), datetime(2026, 1, 1, 20, tzinfo=SHANGHAI)]


@pytest.mark.parametrize("other", OTHERS)
@pytest.mark.parametrize(
    ("source", "category", "cell"),
    [
        (Source.CITIZEN, "E0101", GRID),
        (Source.CITIZEN, "E0801", MICRO),  # the claim board
        (Source.COMMUNITY, "E0101", COMMUNITY),
        (Source.POLICE, "E0102", GRID),
    ],
)
def test_a_retimed_decision_is_the_decision_routed_at_that_time(
    router: Router, source: Source, category: str, cell: str, other: datetime
) -> None:
    def at(when: datetime) -> RouteRequest:
        return RouteRequest(source=source, category=category, cell=cell, received_at=when)

    first = router.route(at(FRIDAY_4PM))
    again = router.route(at(other))
    assert router.retime(first, other) == again
    assert router.deadlines(first, other) == tuple(
        (a.acknowledge_due, a.claim_due, a.resolve_due) for a in again.assignments
    )
    assert router.deadlines(first, FRIDAY_4PM) != router.deadlines(first, other)
