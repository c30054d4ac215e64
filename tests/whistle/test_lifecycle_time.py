"""Time limits in working time through the API: nights, weekends, make-up workdays and
holidays; and the AB post by the duty roster on a weekend."""

from __future__ import annotations

from datetime import datetime

import pytest
from lifecycle_helpers import Cases
from whistle_support import Live

from grids import Hierarchy, Level, ResponderKind
from whistle.clock import FakeClock


@pytest.fixture
def clock(request: pytest.FixtureRequest) -> FakeClock:
    """Each test here starts the clock where its case says (default: a Monday morning)."""
    start = getattr(request, "param", "2026-11-23T09:00:00+08:00")
    return FakeClock(datetime.fromisoformat(start))


# E0101 has 4 working hours; the working day is 08:30-12:00 and 14:30-17:30.
@pytest.mark.parametrize(
    ("clock", "resolve_due"),
    [
        pytest.param("2026-11-23T10:00:00+08:00", "2026-11-23T16:30:00.000+08:00", id="lunch"),
        pytest.param("2026-11-27T17:00:00+08:00", "2026-11-30T12:00:00.000+08:00", id="a weekend"),
        pytest.param(
            "2026-02-13T17:00:00+08:00",
            "2026-02-14T12:00:00.000+08:00",
            id="Saturday 14 Feb 2026 is a make-up workday",
        ),
        pytest.param(
            "2026-02-14T17:00:00+08:00",
            "2026-02-24T12:00:00.000+08:00",
            id="the Spring Festival holiday",
        ),
    ],
    indirect=["clock"],
)
async def test_working_hour_limits_skip_nights_weekends_and_holidays(
    live: Live, county: Hierarchy, resolve_due: str
) -> None:
    doc = await Cases(live, county).new(category="E0101")
    assert doc["case"]["resolve_due"] == resolve_due
    assert doc["assignments"][0]["resolve_due"] == resolve_due


@pytest.mark.parametrize("clock", ["2026-11-28T10:00:00+08:00"], indirect=True)
async def test_off_duty_community_police_on_a_saturday_go_to_the_stations_duty_police(
    live: Live, county: Hierarchy
) -> None:
    # The sample's community police work workdays 08:30-17:30 and back each other up across
    # communities, so on a Saturday both posts are off: the 值班民警 on the station's rota
    # covers (值班), not the county backstop.
    doc = await Cases(live, county).new()
    police = next(a for a in doc["assignments"] if a["kind"] == "community_police")
    community = county.at_level(doc["grid"]["code"], Level.COMMUNITY)
    town = county.at_level(doc["grid"]["code"], Level.TOWN)
    a_post = county.responders_at(community.code, ResponderKind.COMMUNITY_POLICE)[0]
    trace = next(t for t in doc["trace"] if t["assignment"] == police["id"])
    off = [s["responder_id"] for s in trace["steps"] if s["result"] == "off_duty"]
    assert off == [a_post.id, a_post.backup]
    assert police["origin"] == "duty"
    # 10:00 is the 08:00-16:00 shift of the rota: its first 值班民警.
    assert police["responder"]["id"] == f"DP{town.code}-1"
    assert police["cell"] == town.code
    # The grid's 1+1 keep no shifts in the sample: always on duty, so they are chosen.
    grid = county.at_level(doc["grid"]["code"], Level.GRID)
    member = county.responders_at(grid.code, ResponderKind.REGISTERED_MEMBER)[0]
    assert doc["assignments"][0]["responder"]["id"] == member.id


async def test_on_a_weekday_the_a_post_is_chosen(live: Live, county: Hierarchy) -> None:
    doc = await Cases(live, county).new()
    police = next(a for a in doc["assignments"] if a["kind"] == "community_police")
    community = county.at_level(doc["grid"]["code"], Level.COMMUNITY)
    a_post = county.responders_at(community.code, ResponderKind.COMMUNITY_POLICE)[0]
    assert police["responder"]["id"] == a_post.id
