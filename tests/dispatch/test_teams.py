"""Service teams (teams.csv): lookups, and one test per validation rule with its message."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from dispatch.exceptions import DispatchConfigError
from dispatch.teams import Team, Teams
from grids import Hierarchy, Responder
from tests.support.dispatch_county import COMMUNITY, COMMUNITY_FAR, GRID, ROSTER, TOWN, K, person

HEADER = "id,name,community,captain,members\n"


@pytest.fixture
def county(build: Callable[[Iterable[Responder]], Hierarchy]) -> Hierarchy:
    """The test county plus two registered members of the far community 山村."""
    far = (
        person("M101", "钱多", K.REGISTERED_MEMBER, COMMUNITY_FAR),
        person("M102", "冯英", K.REGISTERED_MEMBER, COMMUNITY_FAR),
    )
    return build((*ROSTER, *far))


def load(tmp_path: Path, county: Hierarchy, rows: str) -> Teams:
    (tmp_path / "teams.csv").write_text(HEADER + rows, encoding="utf-8")
    return Teams.load(tmp_path, county)


def problems(tmp_path: Path, county: Hierarchy, text: str) -> list[str]:
    (tmp_path / "teams.csv").write_text(text, encoding="utf-8")
    with pytest.raises(DispatchConfigError) as info:
        Teams.load(tmp_path, county)
    return [str(problem) for problem in info.value.problems]


ROWS = (
    f"T1,新华社区党员先锋服务队,{COMMUNITY},M002,M002;M001;M003\n"
    f"T2,新华社区党员志愿服务队,{COMMUNITY},M003,M003;M002\n"
    f"T3,山村党员先锋服务队,{COMMUNITY_FAR},M101,M101;M102\n"
)


# -- lookups -------------------------------------------------------------------------------


def test_absent_file_means_no_teams(tmp_path: Path, county: Hierarchy) -> None:
    teams = Teams.load(tmp_path, county)

    assert len(teams) == 0
    assert list(teams) == []
    assert teams.for_community(COMMUNITY) == ()


def test_empty_has_no_teams() -> None:
    teams = Teams.empty()

    assert len(teams) == 0
    assert teams.get("T1") is None
    assert teams.teams_of("M001") == ()


def test_teams_are_read_in_file_order(tmp_path: Path, county: Hierarchy) -> None:
    teams = load(tmp_path, county, ROWS)

    assert len(teams) == 3
    assert [team.id for team in teams] == ["T1", "T2", "T3"]
    first = teams.get("T1")
    members = ("M002", "M001", "M003")
    assert first == Team("T1", "新华社区党员先锋服务队", COMMUNITY, "M002", members)
    assert first is not None
    assert first.line == 2
    assert "M001" in first
    assert "M101" not in first
    assert "T1" in teams
    assert teams.get("T9") is None
    assert repr(teams) == "Teams(teams=3, communities=2)"


def test_for_community(tmp_path: Path, county: Hierarchy) -> None:
    teams = load(tmp_path, county, ROWS)

    assert [team.id for team in teams.for_community(COMMUNITY)] == ["T1", "T2"]
    assert [team.id for team in teams.for_community(COMMUNITY_FAR)] == ["T3"]
    assert teams.for_community(TOWN) == ()


def test_a_member_may_be_in_two_teams_of_one_community(tmp_path: Path, county: Hierarchy) -> None:
    teams = load(tmp_path, county, ROWS)

    assert [team.id for team in teams.teams_of("M002")] == ["T1", "T2"]
    assert [team.id for team in teams.teams_of("M001")] == ["T1"]
    assert [team.id for team in teams.teams_of("M101")] == ["T3"]
    assert teams.teams_of("GM01") == ()


def test_spaces_and_blank_lines_are_ignored(tmp_path: Path, county: Hierarchy) -> None:
    teams = load(tmp_path, county, f"\n T1 , 服务队 ,{COMMUNITY}, M001 , M001 ; M002 ;\n\n")

    assert teams.get("T1") == Team("T1", "服务队", COMMUNITY, "M001", ("M001", "M002"))


# -- validation ----------------------------------------------------------------------------


def test_wrong_header(tmp_path: Path, county: Hierarchy) -> None:
    text = f"id,name,community,leader,members\nT1,队,{COMMUNITY},M001,M001\n"

    assert problems(tmp_path, county, text) == [
        "teams.csv:1: wrong header: expected id,name,community,captain,members, "
        "got id,name,community,leader,members"
    ]


def test_wrong_number_of_fields(tmp_path: Path, county: Hierarchy) -> None:
    text = HEADER + f"T1,队,{COMMUNITY},M001\n"

    assert problems(tmp_path, county, text) == [
        "teams.csv:2: T1: expected 5 fields (id,name,community,captain,members), got 4"
    ]


def test_duplicate_team_id(tmp_path: Path, county: Hierarchy) -> None:
    text = HEADER + f"T1,一队,{COMMUNITY},M001,M001\nT1,二队,{COMMUNITY},M002,M002\n"

    assert problems(tmp_path, county, text) == [
        "teams.csv:3: T1: duplicate id; first defined on line 2"
    ]


def test_empty_id_and_name(tmp_path: Path, county: Hierarchy) -> None:
    text = HEADER + f",,{COMMUNITY},M001,M001\n"

    assert problems(tmp_path, county, text) == [
        "teams.csv:2: empty id",
        "teams.csv:2: empty name",
    ]


def test_unknown_community(tmp_path: Path, county: Hierarchy) -> None:
    text = HEADER + "T1,队,530524101099,M001,M001\n"

    assert problems(tmp_path, county, text) == [
        "teams.csv:2: T1: unknown community 530524101099: no cell in grids.csv has this code"
    ]


def test_empty_community(tmp_path: Path, county: Hierarchy) -> None:
    assert problems(tmp_path, county, HEADER + "T1,队,,M001,M001\n") == [
        "teams.csv:2: T1: empty community"
    ]


@pytest.mark.parametrize(
    ("code", "level"), [(TOWN, "2 (town)"), (GRID, "4 (grid)"), ("530524", "1 (county)")]
)
def test_community_must_be_a_level_3_cell(
    tmp_path: Path, county: Hierarchy, code: str, level: str
) -> None:
    text = HEADER + f"T1,队,{code},M001,M001\n"

    assert problems(tmp_path, county, text) == [
        f"teams.csv:2: T1: community {code} is level {level}; "
        "a team registers with a level 3 (community) cell"
    ]


def test_captain_not_among_members(tmp_path: Path, county: Hierarchy) -> None:
    text = HEADER + f"T1,队,{COMMUNITY},M003,M001;M002\n"

    assert problems(tmp_path, county, text) == [
        "teams.csv:2: T1: captain M003 is not among the members"
    ]


def test_empty_captain(tmp_path: Path, county: Hierarchy) -> None:
    text = HEADER + f"T1,队,{COMMUNITY},,M001;M002\n"

    assert problems(tmp_path, county, text) == ["teams.csv:2: T1: empty captain"]


def test_empty_members(tmp_path: Path, county: Hierarchy) -> None:
    text = HEADER + f"T1,队,{COMMUNITY},M001, ; \n"

    assert problems(tmp_path, county, text) == ["teams.csv:2: T1: empty members"]


def test_member_listed_twice(tmp_path: Path, county: Hierarchy) -> None:
    text = HEADER + f"T1,队,{COMMUNITY},M001,M001;M002;M001\n"

    assert problems(tmp_path, county, text) == ["teams.csv:2: T1: member M001 is listed twice"]


def test_unknown_member(tmp_path: Path, county: Hierarchy) -> None:
    text = HEADER + f"T1,队,{COMMUNITY},M001,M001;M999\n"

    assert problems(tmp_path, county, text) == [
        "teams.csv:2: T1: member M999 is not a known responder id"
    ]


@pytest.mark.parametrize(
    ("member", "kind"), [("GU01", "unposted_member"), ("CP01", "community_police")]
)
def test_member_must_be_a_registered_member(
    tmp_path: Path, county: Hierarchy, member: str, kind: str
) -> None:
    text = HEADER + f"T1,队,{COMMUNITY},M001,M001;{member}\n"

    assert problems(tmp_path, county, text) == [
        f"teams.csv:2: T1: member {member} is a {kind}; "
        "team members are registered_member (报到党员)"
    ]


@pytest.mark.parametrize(("member", "cell"), [("M101", COMMUNITY_FAR), ("GM01", GRID)])
def test_member_must_be_registered_with_the_teams_community(
    tmp_path: Path, county: Hierarchy, member: str, cell: str
) -> None:
    # GM01 is the grid's registered grid worker: attached to a grid below the community.
    text = HEADER + f"T1,队,{COMMUNITY},M001,M001;{member}\n"

    assert problems(tmp_path, county, text) == [
        f"teams.csv:2: T1: member {member} is registered with {cell}, not community {COMMUNITY}"
    ]


def test_every_problem_is_reported_in_file_order(tmp_path: Path, county: Hierarchy) -> None:
    text = HEADER + f"T1,队,{COMMUNITY},M001,M001\nT2,队,{TOWN},M009,M101;M009\nT1,队,x,y,z\n"

    assert problems(tmp_path, county, text) == [
        f"teams.csv:3: T2: community {TOWN} is level 2 (town); "
        "a team registers with a level 3 (community) cell",
        "teams.csv:3: T2: member M009 is not a known responder id",
        "teams.csv:4: T1: duplicate id; first defined on line 2",
    ]
