from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dispatch import (
    DispatchConfigError,
    Mode,
    Router,
    RouteRequest,
    Source,
    load_dispatch_config,
)
from grids import Hierarchy
from tests.support.dispatch_county import DATA, GRID, K

ROOT = Path(__file__).resolve().parents[2]
RECEIVED = datetime(2026, 3, 10, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A writable copy of the test config."""
    target = tmp_path / "config"
    shutil.copytree(DATA / "config", target)
    return target


def problems(config_dir: Path) -> list[str]:
    with pytest.raises(DispatchConfigError) as info:
        load_dispatch_config(config_dir)
    return [str(p) for p in info.value.problems]


def test_shipped_config_loads() -> None:
    config = load_dispatch_config(ROOT / "config")
    assert len(config.catalog) >= 40
    assert {rule.source for rule in config.rules.rules} == set(Source)
    assert str(config.calendar.timezone) == "Asia/Shanghai"


@pytest.mark.parametrize(
    ("source", "category", "kinds", "mode"),
    [
        (
            Source.CITIZEN,
            "E0101",
            [K.REGISTERED_MEMBER, K.UNPOSTED_MEMBER, K.COMMUNITY_POLICE],
            Mode.PUSH,
        ),
        (Source.CITIZEN, "E0802", [K.REGISTERED_MEMBER], Mode.CLAIM),
        (Source.COMMUNITY, "E0101", [K.GRID_DEPARTMENT], Mode.PUSH),
        (Source.TOWN_COMMITTEE, "E0601", [K.JURISDICTION_UNIT], Mode.PUSH),
        (Source.POLICE, "E0703", [K.POLICE_STATION], Mode.PUSH),
        (Source.CAMERA, "E0403", [K.SAFETY_PATROL], Mode.PUSH),
    ],
)
def test_shipped_rules_give_the_five_whistles(
    hierarchy: Hierarchy, source: Source, category: str, kinds: list[K], mode: Mode
) -> None:
    router = Router.compile(hierarchy, load_dispatch_config(ROOT / "config"))
    decision = router.route(
        RouteRequest(source=source, category=category, cell=GRID, received_at=RECEIVED)
    )
    assert [a.kind for a in decision.assignments] == kinds
    assert {a.mode for a in decision.assignments} == {mode}
    assert {a.origin.value for a in decision.assignments} == {"rule"}


def test_problems_in_every_file_are_reported_together(config_dir: Path) -> None:
    (config_dir / "categories.toml").write_text(
        (config_dir / "categories.toml")
        .read_text(encoding="utf-8")
        .replace('name_en = "Fire"', 'name_en = "Fire"\ncolour = "red"'),
        encoding="utf-8",
    )
    (config_dir / "rules.toml").write_text(
        (config_dir / "rules.toml")
        .read_text(encoding="utf-8")
        .replace('kind = "safety_patrol"', 'kind = "patrol"'),
        encoding="utf-8",
    )
    (config_dir / "calendar.toml").unlink()
    assert problems(config_dir) == [
        "categories.toml: major[2] (E05).category[0] (E0501): unknown key 'colour'; expected "
        "one of code, name, name_en, urgency, limit, needs, claimable, duplicate_radius, "
        "duplicate_window, keywords",
        "rules.toml: rule[5] (camera).report[0]: unknown responder kind 'patrol'; expected one "
        "of grid_leader, registered_member, unposted_member, household_leader, "
        "community_police, police_station, grid_department, jurisdiction_unit, safety_patrol, "
        "duty_officer, duty_police, backstop",
        "calendar.toml: cannot read: No such file or directory",
    ]


def test_rules_are_checked_against_the_catalog(config_dir: Path) -> None:
    (config_dir / "rules.toml").write_text(
        (config_dir / "rules.toml")
        .read_text(encoding="utf-8")
        .replace("claimable = true", 'claimable = true\ncategories = ["E0899"]'),
        encoding="utf-8",
    )
    assert problems(config_dir) == [
        "rules.toml: rule[0] (citizen-claim): categories[0]: unknown category or prefix 'E0899'"
    ]
