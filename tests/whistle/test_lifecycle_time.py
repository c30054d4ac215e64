"""Time limits in working time through the API: nights, weekends, make-up workdays and
holidays; and the AB post by the duty roster on a weekend."""

from __future__ import annotations

from datetime import datetime

import pytest

from grids import Hierarchy, Level, ResponderKind
from tests.support.harness import Live
from tests.support.lifecycle import Cases
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


# -- the urge, holds and extensions count working time (a town's 工作时) -----------------------


async def urged(cases: Cases, whistle_id: str) -> bool:
    return bool((await cases.get(whistle_id))["case"]["urged"])


@pytest.mark.parametrize("clock", ["2026-11-27T17:00:00+08:00"], indirect=True)
async def test_the_urge_of_a_working_hour_limit_falls_in_working_time_not_on_a_sunday_evening(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    # Friday 17:00, 4 working hours: half an hour on Friday, 3.5 h on Monday, due 12:00.
    # 80% of the working time is 3.2 h: Monday 11:12, not Sunday 22:36 (80% of wall time).
    cases = Cases(live, county)
    doc = await cases.new(category="E0101")
    assert doc["case"]["resolve_due"] == "2026-11-30T12:00:00.000+08:00"
    clock.set(datetime.fromisoformat("2026-11-29T23:00:00+08:00"))  # Sunday evening
    await cases.tick()
    assert not await urged(cases, doc["id"])
    clock.set(datetime.fromisoformat("2026-11-30T11:11:00+08:00"))
    await cases.tick()
    assert not await urged(cases, doc["id"])
    clock.set(datetime.fromisoformat("2026-11-30T11:12:00+08:00"))
    await cases.tick()
    assert await urged(cases, doc["id"])


@pytest.mark.parametrize("clock", ["2026-11-27T10:00:00+08:00"], indirect=True)
async def test_a_hold_from_friday_evening_to_sunday_moves_a_working_day_limit_by_nothing(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    cases = Cases(live, county)
    doc = await cases.new(category="E0102")  # 2 working days: Tuesday 10:00
    assert doc["case"]["resolve_due"] == "2026-12-01T10:00:00.000+08:00"
    clock.set(datetime.fromisoformat("2026-11-27T18:00:00+08:00"))  # Friday, after work
    code, _ = await cases.case(doc["id"], "hold", reason="等待产权单位答复")
    assert code == 200
    clock.set(datetime.fromisoformat("2026-11-29T12:00:00+08:00"))  # Sunday
    code, after = await cases.case(doc["id"], "release")
    assert code == 200, after
    assert after["case"]["resolve_due"] == "2026-12-01T10:00:00.000+08:00"


@pytest.mark.parametrize("clock", ["2026-11-27T10:00:00+08:00"], indirect=True)
async def test_a_hold_moves_a_working_time_limit_by_the_working_time_it_took(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    cases = Cases(live, county)
    doc = await cases.new(category="E0102")  # due Tuesday 10:00
    clock.set(datetime.fromisoformat("2026-11-27T16:00:00+08:00"))  # 1.5 h before close
    await cases.case(doc["id"], "hold", reason="等待产权单位答复")
    clock.set(datetime.fromisoformat("2026-11-29T12:00:00+08:00"))
    code, after = await cases.case(doc["id"], "release")
    assert code == 200, after
    assert after["case"]["resolve_due"] == "2026-12-01T11:30:00.000+08:00"


@pytest.mark.parametrize("clock", ["2026-11-27T16:00:00+08:00"], indirect=True)
async def test_an_extension_in_working_hours_is_urged_in_working_time(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    cases = Cases(live, county)
    doc = await cases.new(category="E0101")  # 1.5 h on Friday, 2.5 h on Monday: 11:00
    assert doc["case"]["resolve_due"] == "2026-11-30T11:00:00.000+08:00"
    clock.set(datetime.fromisoformat("2026-11-27T17:00:00+08:00"))
    code, after = await cases.case(doc["id"], "extend", reason="需协调", duration="4wh")
    assert code == 200, after
    # Four more working hours from Monday 11:00: 1 h before lunch, 3 h after.
    assert after["case"]["resolve_due"] == "2026-11-30T17:30:00.000+08:00"
    # The round from Friday 17:00 holds 7 working hours; 80% (5.6 h) is Monday 16:06, not
    # Monday 03:00 (80% of the wall time).
    clock.set(datetime.fromisoformat("2026-11-30T08:00:00+08:00"))
    await cases.tick()
    assert not await urged(cases, doc["id"])
    clock.set(datetime.fromisoformat("2026-11-30T16:06:00+08:00"))
    await cases.tick()
    assert await urged(cases, doc["id"])
