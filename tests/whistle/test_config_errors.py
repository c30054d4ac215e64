"""Each config file's errors are its own ConfigError class, and name the file and the line.

A bad ``cameras.csv`` used to be a GridConfigError, as if the grid files were wrong. Each test
writes one bad line into a copy of a small county and checks the class, the file and the line,
through the loader and through ``whistle check-config`` (and, for the cameras, a server that
refuses to start).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from dispatch import DutyRoster, Teams, load_dispatch_config
from dispatch.exceptions import DispatchConfigError, DutyConfigError, TeamsConfigError
from grids import Hierarchy, Level
from grids.exceptions import ConfigError, GridConfigError
from grids.gazetteer import PlacesConfigError, load_aliases
from grids.loader import load_hierarchy
from tests.support.harness import small_county
from whistle.cameras import CameraRegistry
from whistle.cli import main
from whistle.exceptions import CameraConfigError, HotlineConfigError, WebhookConfigError
from whistle.integrations.hotline import load_hotline_categories
from whistle.webhooks import known_responders, load_webhooks


@pytest.fixture
def county_copy(tmp_path: Path) -> Path:
    """A fresh small county per test: each one spoils a file of it."""
    return small_county(tmp_path / "county")


def append(path: Path, line: str) -> int:
    """Append ``line`` to the CSV at ``path``; the line number it got."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if text and not text.endswith("\n"):
        text += "\n"
    path.write_text(text + line + "\n", encoding="utf-8")
    return text.count("\n") + 1


def a_grid(county: Hierarchy) -> str:
    return next(county.cells(level=Level.GRID)).code


def a_responder(county: Hierarchy) -> str:
    return next(r.id for cell in county.cells() for r in county.responders_at(cell.code))


def expect(
    load: Callable[[], object], error: type[ConfigError], file: str, line: int, text: str
) -> ConfigError:
    with pytest.raises(error) as caught:
        load()
    assert caught.value.files == [file]
    assert f"{file}:{line}: {text}" in str(caught.value)
    return caught.value


def check_config_names(
    config: Path, file: str, line: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config", str(config)]) == 1
    assert f"{file}:{line}: " in capsys.readouterr().err


def test_a_bad_cameras_csv_is_a_camera_config_error_naming_its_file_and_line(
    county_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    county = load_hierarchy(county_copy)
    line = append(county_copy / "cameras.csv", "CAM-X,530524999,,,无处")

    error = expect(
        lambda: CameraRegistry.load(county_copy, county),
        CameraConfigError,
        "cameras.csv",
        line,
        "CAM-X: unknown grid '530524999'",
    )
    assert not isinstance(error, GridConfigError)  # the grid files are fine
    check_config_names(county_copy, "cameras.csv", line, capsys)


def test_a_server_refuses_to_start_on_a_bad_cameras_csv_and_names_the_line(
    county_copy: Path, tmp_path: Path
) -> None:
    county = load_hierarchy(county_copy)
    line = append(county_copy / "cameras.csv", f"CAM-X,{a_grid(county)},91,0,北极")
    done = subprocess.run(
        [
            *(sys.executable, "-m", "whistle.cli", "serve", "--port", "0"),
            *("--config", str(county_copy), "--db", str(tmp_path / "w.sqlite3")),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert f"cameras.csv:{line}: CAM-X: point out of range (91.0, 0.0)" in done.stderr


def test_a_bad_responders_csv_is_a_grid_config_error_naming_its_file_and_line(
    county_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    county = load_hierarchy(county_copy)
    line = append(county_copy / "responders.csv", f"RX,某人,wizard,{a_grid(county)},*,,1")

    expect(
        lambda: load_hierarchy(county_copy),
        GridConfigError,
        "responders.csv",
        line,
        "RX: unknown kind 'wizard'",
    )
    check_config_names(county_copy, "responders.csv", line, capsys)


def test_a_bad_duty_csv_is_a_duty_config_error_naming_its_file_and_line(
    county_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    county = load_hierarchy(county_copy)
    calendar = load_dispatch_config(county_copy).calendar
    path = county_copy / "duty.csv"
    path.write_text("responder,days,start,end\n", encoding="utf-8")
    line = append(path, f"{a_responder(county)},mon,25:00,06:00")

    error = expect(
        lambda: DutyRoster.load(county_copy, county, calendar),
        DutyConfigError,
        "duty.csv",
        line,
        f"{a_responder(county)}: bad start time '25:00'",
    )
    assert isinstance(error, DispatchConfigError)
    check_config_names(county_copy, "duty.csv", line, capsys)


def test_a_bad_teams_csv_is_a_teams_config_error_naming_its_file_and_line(
    county_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    county = load_hierarchy(county_copy)
    path = county_copy / "teams.csv"
    path.write_text("id,name,community,captain,members\n", encoding="utf-8")
    line = append(path, "T1,一队,530524999,M1,M1")

    expect(
        lambda: Teams.load(county_copy, county),
        TeamsConfigError,
        "teams.csv",
        line,
        "T1: unknown community 530524999",
    )
    check_config_names(county_copy, "teams.csv", line, capsys)


def test_a_bad_webhooks_csv_is_a_webhook_config_error_naming_its_file_and_line(
    county_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    county = load_hierarchy(county_copy)
    path = county_copy / "webhooks.csv"
    path.write_text("responder,url,secret\n", encoding="utf-8")
    line = append(path, "NOBODY,https://example.org/hook,0123456789abcdef0123456789abcdef")

    expect(
        lambda: load_webhooks(county_copy, known_responders(county)),
        WebhookConfigError,
        "webhooks.csv",
        line,
        "NOBODY: unknown responder",
    )
    check_config_names(county_copy, "webhooks.csv", line, capsys)


def test_a_bad_hotline_categories_csv_is_a_hotline_config_error_naming_its_file_and_line(
    county_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = load_dispatch_config(county_copy).catalog
    path = county_copy / "hotline_categories.csv"
    path.write_text("hotline_category,category\n", encoding="utf-8")
    line = append(path, "城管,X9999")

    expect(
        lambda: load_hotline_categories(county_copy, catalog),
        HotlineConfigError,
        "hotline_categories.csv",
        line,
        "城管: unknown category 'X9999'",
    )
    check_config_names(county_copy, "hotline_categories.csv", line, capsys)


def test_a_bad_places_csv_is_a_places_config_error_naming_its_file_and_line(
    county_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    county = load_hierarchy(county_copy)
    line = append(county_copy / "places.csv", f"新华社区老菜场,{a_grid(county)},market")

    expect(
        lambda: load_aliases(county_copy, county),
        PlacesConfigError,
        "places.csv",
        line,
        "新华社区老菜场: unknown kind 'market'; expected one of street, building, landmark, "
        "village, other",
    )
    check_config_names(county_copy, "places.csv", line, capsys)
