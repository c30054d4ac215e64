"""The gazetteer: longest known place name first, names of several cells never used, names on
two branches never guessed; and places.csv checked at load, one test per rule."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from grids.gazetteer import (
    Alias,
    AliasKind,
    Gazetteer,
    PlacesConfigError,
    load_aliases,
    normalise,
)
from grids.hierarchy import Hierarchy
from grids.loader import load_hierarchy
from grids.model import Level

GRIDS = """\
    code,parent,level,name
    530524,,1,昌宁县
    530524101,530524,2,田园镇
    530524101001,530524101,3,新华社区
    530524101001001,530524101001,4,第1网格
    530524101001001001,530524101001001,5,1号楼栋
    530524101001001002,530524101001001,5,2号楼栋
    530524101001002,530524101001,4,第2网格
    530524101001002001,530524101001002,5,1号楼栋
    530524101002,530524101,3,文化社区
    530524101002001,530524101002,4,第1网格
    530524101002001001,530524101002001,5,1号楼栋
    530524102,530524,2,柯街镇
    530524102001,530524102,3,新华社区
    530524102001001,530524102001,4,第1网格
    530524102001001001,530524102001001,5,1号楼栋
"""
RESPONDERS = """\
    id,name,kind,grid,categories,backup,contact
    BS530524,昌宁县网格化服务管理中心,backstop,530524,*,,13800000000
"""
XINHUA = "530524101001"  # 田园镇新华社区 (柯街镇 has a 新华社区 too)
WENHUA_1 = "530524101002001"


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Hierarchy:
    config = tmp_path_factory.mktemp("county")
    (config / "grids.csv").write_text(textwrap.dedent(GRIDS), encoding="utf-8")
    (config / "responders.csv").write_text(textwrap.dedent(RESPONDERS), encoding="utf-8")
    return load_hierarchy(config)


ALIASES = [
    Alias("建设路", "530524101001001", AliasKind.STREET),
    Alias("建设路12号", "530524101001001002", AliasKind.BUILDING),
    Alias("中心小学", WENHUA_1, AliasKind.LANDMARK),
    Alias("老街子", "530524102001", AliasKind.VILLAGE),
]


@pytest.fixture(scope="module")
def gazetteer(county: Hierarchy) -> Gazetteer:
    return Gazetteer.build(county, ALIASES)


@pytest.mark.parametrize(
    ("text", "code", "entry"),
    [
        # The longest name wins: the building over its street, the chain over its parts.
        ("建设路12号3单元", "530524101001001002", "建设路12号"),
        ("建设路1号", "530524101001001", "建设路"),  # 1号 is no entry: the street places it
        ("田园镇新华社区第2网格1号楼栋东侧", "530524101001002001", "田园镇新华社区第2网格1号楼栋"),
        ("田园镇新华社区3号楼2单元", XINHUA, "田园镇新华社区"),
        ("文化社区第1网格", WENHUA_1, "文化社区第1网格"),
        # Full-width digits and spaces are read as what they are.
        ("建设路１２号 ３单元", "530524101001001002", "建设路12号"),
        # A chain and an alias on the same branch agree: the deeper one places it.
        ("田园镇文化社区中心小学门口", WENHUA_1, "中心小学"),
        ("柯街镇老街子", "530524102001", "老街子"),
    ],
)
def test_the_longest_known_name_places_the_text(
    gazetteer: Gazetteer, text: str, code: str, entry: str
) -> None:
    found = gazetteer.place(text)
    assert found.code == code, found
    assert found.best is not None
    assert found.best.entry.name == entry


def test_a_name_of_several_cells_is_no_entry(gazetteer: Gazetteer) -> None:
    # 新华社区 is in both towns, 第1网格 in every community: neither alone places anything.
    for text in ("新华社区", "第1网格", "1号楼栋", "新华社区第1网格"):
        found = gazetteer.place(text)
        assert found.code is None
        assert found.matches == ()
        assert found.reason == "no known place name"


def test_a_town_alone_is_too_coarse_and_hints_at_the_town(gazetteer: Gazetteer) -> None:
    found = gazetteer.place("田园镇某小区")
    assert found.code is None
    assert found.hint == "530524101"
    assert found.reason == "only 田园镇 (乡镇/街道) is known"
    assert gazetteer.place("昌宁县").reason == "only 昌宁县 (县) is known"


def test_names_on_two_branches_are_a_conflict(gazetteer: Gazetteer) -> None:
    found = gazetteer.place("建设路12号 旁边的 老街子")
    assert found.code is None
    assert found.hint is None
    assert found.reason == "names on different branches: 建设路12号、老街子"
    assert [m.entry.name for m in found.matches] == ["建设路12号", "老街子"]


def test_matches_do_not_overlap_and_come_in_text_order(gazetteer: Gazetteer) -> None:
    matches = gazetteer.matches("中心小学和建设路12号")
    assert [(m.start, m.end, m.entry.name) for m in matches] == [
        (0, 4, "中心小学"),
        (5, 11, "建设路12号"),
    ]


def test_an_alias_wins_over_a_hierarchy_name_of_the_same_text(county: Hierarchy) -> None:
    renamed = Gazetteer.build(county, [Alias("文化社区第1网格", XINHUA, AliasKind.OTHER)])
    assert renamed.place("文化社区第1网格").code == XINHUA


def test_the_minimum_level_is_a_setting(county: Hierarchy) -> None:
    strict = Gazetteer.build(county, ALIASES, min_level=Level.GRID)
    assert strict.place("田园镇新华社区").code is None
    assert strict.place("建设路").code == "530524101001001"


def test_normalise_reads_full_width_and_drops_spaces() -> None:
    assert normalise(" ３号楼　２单元 ") == "3号楼2单元"


def test_an_empty_gazetteer_places_nothing(county: Hierarchy) -> None:
    empty = Gazetteer.empty(county)
    assert len(empty) == 0
    assert empty.place("田园镇").reason == "no known place name"


# -- places.csv ------------------------------------------------------------------------------


def write_places(tmp_path: Path, *rows: str) -> Path:
    (tmp_path / "places.csv").write_text(
        "alias,grid,kind\n" + "".join(row + "\n" for row in rows), encoding="utf-8"
    )
    return tmp_path


def test_places_csv_loads(tmp_path: Path, county: Hierarchy) -> None:
    write_places(tmp_path, f"建设路,{XINHUA}001,street", f"中心小学,{WENHUA_1},landmark")
    aliases = load_aliases(tmp_path, county)
    assert aliases == [
        Alias("建设路", f"{XINHUA}001", AliasKind.STREET, 2),
        Alias("中心小学", WENHUA_1, AliasKind.LANDMARK, 3),
    ]


def test_no_places_csv_is_no_aliases(tmp_path: Path, county: Hierarchy) -> None:
    assert load_aliases(tmp_path, county) == []


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ((f"建设路,{XINHUA},street", f"建设路,{WENHUA_1},street"),
         "places.csv:3: 建设路: duplicate alias; first defined on line 2"),
        (("建设路,530524999,street",), "places.csv:2: 建设路: unknown grid '530524999'"),
        (("全县,530524,other",), "places.csv:2: 全县: an alias of the whole county places nothing"),
        ((f"建设路,{XINHUA},road",),
         "places.csv:2: 建设路: unknown kind 'road'; expected one of street, building, landmark, "
         "village, other"),
        ((f"路,{XINHUA},street",),
         "places.csv:2: 路: too short: an alias has at least 2 characters"),
        ((f"{'路' * 65},{XINHUA},street",), "too long: at most 64 characters"),
        ((f",{XINHUA},street",), "places.csv:2: empty alias"),
        (("建设路,street",), "places.csv:2: 建设路: expected 3 fields (alias,grid,kind), got 2"),
    ],
)  # fmt: skip
def test_a_bad_places_csv_names_file_line_and_alias(
    tmp_path: Path, county: Hierarchy, rows: tuple[str, ...], message: str
) -> None:
    write_places(tmp_path, *rows)
    with pytest.raises(PlacesConfigError) as caught:
        load_aliases(tmp_path, county)
    assert message in str(caught.value)
    assert caught.value.files == ["places.csv"]
