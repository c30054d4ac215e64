"""The working calendar ships 2026-27 only: warnings 60 days before it runs out, and a
deadline past its end fails loudly instead of treating every weekday as a working day."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from aiohttp import web
from structlog.testing import capture_logs

from dispatch import CalendarEndError, Duration, load_dispatch_config
from dispatch.config import DispatchConfigError
from grids import Hierarchy
from tests.support.harness import SHIPPED, Live
from tests.support.lifecycle import Cases
from whistle.app import create_app
from whistle.cli import main
from whistle.clock import FakeClock
from whistle.web.keys import Settings


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture
def clock(request: pytest.FixtureRequest) -> FakeClock:
    return FakeClock(at(getattr(request, "param", "2026-11-23T09:00:00+08:00")))


def test_a_deadline_past_the_calendars_end_fails_loudly() -> None:
    calendar = load_dispatch_config(SHIPPED).calendar
    assert calendar.end is not None
    assert calendar.end.isoformat() == "2027-12-31"
    with pytest.raises(CalendarEndError, match="ends on 2027-12-31"):
        calendar.add(at("2027-12-28T10:00:00+08:00"), Duration.parse("5wd"))
    # Wall time needs no holidays: it is still computed.
    assert calendar.add(at("2027-12-28T10:00:00+08:00"), Duration.parse("7d")).year == 2028


def test_check_config_warns_60_days_before_the_calendar_runs_out(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["check-config", str(SHIPPED)], clock=FakeClock(at("2027-10-01T09:00+08:00"))) == 0
    assert "warning" not in capsys.readouterr().err
    assert main(["check-config", str(SHIPPED)], clock=FakeClock(at("2027-11-15T09:00+08:00"))) == 0
    err = capsys.readouterr().err
    assert "calendar.toml ends on 2027-12-31 (in 46 days)" in err
    assert "of 2028" in err


def test_check_config_fails_when_todays_longest_limit_falls_past_the_calendar(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # 15 working days (a rectification) from 20 December 2027 lands in 2028.
    assert main(["check-config", str(SHIPPED)], clock=FakeClock(at("2027-12-20T09:00+08:00"))) == 1
    assert "set today would fall on 2028-" in capsys.readouterr().err


async def test_readyz_is_ready_with_no_warnings_while_the_calendar_reaches_far(
    live: Live,
) -> None:
    response = await live.client.get("/readyz")
    assert response.status == 200
    assert "warnings" not in await response.json()


@pytest.mark.parametrize("clock", ["2027-11-15T09:00:00+08:00"], indirect=True)
async def test_readyz_warns_60_days_before_the_calendar_runs_out(live: Live) -> None:
    response = await live.client.get("/readyz")
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "ready"
    assert body["warnings"] == [
        "calendar.toml ends on 2027-12-31 (in 46 days): add the public holidays and "
        "make-up workdays of 2028"
    ]


async def test_the_server_refuses_to_start_on_a_calendar_that_cannot_place_todays_deadlines(
    tmp_path: Path, county_dir: Path
) -> None:
    settings = Settings(db_path=tmp_path / "w.sqlite3", config_dir=county_dir, run_timer=False)
    app = create_app(settings, clock=FakeClock(at("2027-12-20T09:00:00+08:00")))
    runner = web.AppRunner(app)
    try:
        with pytest.raises(DispatchConfigError, match="add the holidays of 2028"):
            await runner.setup()
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("clock", ["2027-12-01T09:00:00+08:00"], indirect=True)
async def test_past_the_calendars_end_a_whistle_is_still_stored_and_the_error_is_logged(
    live: Live, county: Hierarchy, clock: FakeClock
) -> None:
    cases = Cases(live, county)
    clock.set(at("2027-12-31T16:00:00+08:00"))  # the server kept running past the warnings
    with capture_logs() as logs:
        late = await cases.new(category="E0102")  # 2 working days
    # Dispatched all the same, with weekends as the only days off past the end.
    assert late["case"]["resolve_due"].startswith("2028-01-04")
    assert any(e["event"] == "calendar.exhausted" and e["log_level"] == "error" for e in logs)
    # An action whose deadline would fall past the end is refused, and nothing is written.
    code, problem = await cases.assignment(late["assignments"][0], "return", reason="不归我管")
    assert code == 503
    assert "ends on 2027-12-31" in problem["detail"]
    assert (await cases.get(late["id"]))["case"]["returns"] == 0
