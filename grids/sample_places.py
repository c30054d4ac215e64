"""The sample county's address aliases (``places.csv``), derived from its hierarchy.

What a resident or the hotline says is rarely a grid's name: it is a street and a house
number, a village group, a landmark. For the generated county every grid of an urban
community gets a street (``田园建设路``: the town's stem, a word, a kind of road) and every
micro-grid (楼栋) in it a house number on that street (``田园建设路3号``); every grid of a
village a group (``温泉镇龙坝村3组``); every community its service centre; every town its
central school and market, in its first grids. Derived in the hierarchy's order with no
randomness, so the same county always gives the same bytes; a text that would come out
twice is left out altogether (it would name two places).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from grids.gazetteer import PLACES_FILE, PLACES_HEADER, AliasKind
from grids.hierarchy import Hierarchy
from grids.model import Cell, Level

__all__ = ["place_rows", "write_places"]

_WORDS = (
    "建设", "人民", "文化", "解放", "和平", "新华", "团结", "胜利", "光明", "友谊",
    "振兴", "繁荣", "幸福", "长青", "太平", "永安", "兴华", "中山", "育才", "健康",
    "红旗", "向阳", "朝阳", "东风", "春城", "景秀", "锦华", "龙泉", "凤鸣", "玉带",
    "滨江", "环城", "学府", "翠湖", "金鼎", "银杏", "桂花", "茶乡", "碧水", "青山",
)  # fmt: skip
_ROADS = ("路", "街", "巷", "东路", "西路", "南路", "北路", "大道", "横街", "小巷")


def _stem(name: str) -> str:
    return name[:-1] if name[-1:] in ("镇", "乡") else name


def _streets(town: Cell) -> list[str]:
    stem = _stem(town.name)
    return [f"{stem}{word}{road}" for road in _ROADS for word in _WORDS]


def place_rows(hierarchy: Hierarchy) -> list[tuple[str, str, str]]:
    """``(alias, grid, kind)`` for every alias of the county, in hierarchy order."""
    rows: list[tuple[str, str, str]] = []
    for town in hierarchy.cells(level=Level.TOWN):
        streets = iter(_streets(town))
        communities = hierarchy.children(town.code)
        for index, label in enumerate(("中心小学", "农贸市场")):
            home = communities[index % len(communities)]
            first = hierarchy.children(home.code)[0]
            rows.append((f"{_stem(town.name)}{label}", first.code, AliasKind.LANDMARK.value))
        for community in communities:
            rows.append((f"{community.name}便民服务中心", community.code, AliasKind.LANDMARK))
            village = community.name.endswith("村")
            if village:
                rows.append((f"{community.name[:-1]}寨", community.code, AliasKind.VILLAGE))
            for number, grid in enumerate(hierarchy.children(community.code), 1):
                if village:
                    group = f"{town.name}{community.name}{number}组"
                    rows.append((group, grid.code, AliasKind.VILLAGE))
                    continue
                street = next(streets, None)
                if street is None:
                    continue  # more grids than street names: the rest are placed by name
                rows.append((street, grid.code, AliasKind.STREET))
                for house, micro in enumerate(hierarchy.children(grid.code), 1):
                    rows.append((f"{street}{house}号", micro.code, AliasKind.BUILDING))
    counts = Counter(alias for alias, _, _ in rows)
    return [(alias, code, str(kind)) for alias, code, kind in rows if counts[alias] == 1]


def write_places(config_dir: Path, hierarchy: Hierarchy) -> int:
    """Write ``places.csv`` for the county in ``config_dir``; the number of aliases."""
    rows = place_rows(hierarchy)
    lines = [",".join(PLACES_HEADER)] + [",".join(row) for row in rows]
    (config_dir / PLACES_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(rows)
