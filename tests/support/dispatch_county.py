"""The small five-level test county, built inline (no dependency on the sample grid files).

The county (codes as in Changning, 530524):

    530524 昌宁县 (county)                 backstop B001 *, county police bureau P001 *
      530524101 田园镇 (town)              grid departments D001-D007, units J001-J003,
                                          police station PS01
        530524101001 新华社区 (community)   community police CP01, patrol SP01,
                                          registered members M001 (E08), M002 (*), M003 (E06)
          530524101001001 一网格 (grid)     1+1: GM01 registered, GU01 unposted; leader GL01
            530524101001001001 一微网格     household leader H001
          530524101001002 二网格 (grid)     nobody
        530524101002 山村 (community)      nobody
          530524101002001 山村一网格        nobody
"""

from __future__ import annotations

from pathlib import Path

from grids import CellRecord, Level, Responder, ResponderKind

DATA = Path(__file__).resolve().parents[1] / "data" / "dispatch"

COUNTY = "530524"
TOWN = "530524101"
COMMUNITY = "530524101001"
GRID = "530524101001001"
MICRO = "530524101001001001"
GRID_EMPTY = "530524101001002"
COMMUNITY_FAR = "530524101002"
GRID_FAR = "530524101002001"

CELLS = (
    CellRecord(COUNTY, None, Level.COUNTY, "昌宁县"),
    CellRecord(TOWN, COUNTY, Level.TOWN, "田园镇"),
    CellRecord(COMMUNITY, TOWN, Level.COMMUNITY, "新华社区"),
    CellRecord(GRID, COMMUNITY, Level.GRID, "新华社区一网格"),
    CellRecord(MICRO, GRID, Level.MICRO_GRID, "一网格一微网格"),
    CellRecord(GRID_EMPTY, COMMUNITY, Level.GRID, "新华社区二网格"),
    CellRecord(COMMUNITY_FAR, TOWN, Level.COMMUNITY, "山村"),
    CellRecord(GRID_FAR, COMMUNITY_FAR, Level.GRID, "山村一网格"),
)

K = ResponderKind


def person(
    rid: str, name: str, kind: ResponderKind, grid: str, categories: str = "*", line: int = 0
) -> Responder:
    """A responder as a roster line would give it; ``categories`` is ``;``-separated."""
    return Responder(
        id=rid,
        name=name,
        kind=kind,
        grid=grid,
        categories=frozenset(c for c in categories.split(";") if c),
        line=line,
    )


ROSTER = (
    person("B001", "县综治中心", K.BACKSTOP, COUNTY),
    person("P001", "县公安局", K.POLICE_STATION, COUNTY),
    person("D001", "镇城管所", K.GRID_DEPARTMENT, TOWN, "E01;E02;E04;F04"),
    person("D002", "镇环卫站", K.GRID_DEPARTMENT, TOWN, "E01;F03"),
    person("D003", "镇住建办", K.GRID_DEPARTMENT, TOWN, "E03;F01;F02;F05"),
    person("D004", "镇市场监管所", K.GRID_DEPARTMENT, TOWN, "E04;E09"),
    person("D005", "镇应急办", K.GRID_DEPARTMENT, TOWN, "E05"),
    person("D006", "镇民政办", K.GRID_DEPARTMENT, TOWN, "E08"),
    person("D007", "镇司法所", K.GRID_DEPARTMENT, TOWN, "E06;E07"),
    person("J001", "县自来水公司", K.JURISDICTION_UNIT, TOWN, "E01;E03;E05;F01"),
    person("J002", "田园中学", K.JURISDICTION_UNIT, TOWN, "E06;E08"),
    person("J003", "县人民医院", K.JURISDICTION_UNIT, TOWN, "*"),
    person("PS01", "田园派出所", K.POLICE_STATION, TOWN),
    person("CP01", "李警官", K.COMMUNITY_POLICE, COMMUNITY),
    person("SP01", "新华平安巡防队", K.SAFETY_PATROL, COMMUNITY),
    person("M001", "王芳", K.REGISTERED_MEMBER, COMMUNITY, "E08"),
    person("M002", "赵强", K.REGISTERED_MEMBER, COMMUNITY),
    person("M003", "孙丽", K.REGISTERED_MEMBER, COMMUNITY, "E06"),
    person("GM01", "张三", K.REGISTERED_MEMBER, GRID),
    person("GU01", "李四", K.UNPOSTED_MEMBER, GRID),
    person("GL01", "周网格长", K.GRID_LEADER, GRID),
    person("H001", "吴联户长", K.HOUSEHOLD_LEADER, MICRO),
)
