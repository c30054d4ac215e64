"""The five-level grid hierarchy's vocabulary: levels, responder kinds, cells, responders."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any

__all__ = ["Cell", "Level", "Responder", "ResponderKind"]


class Level(IntEnum):
    """A level of the five-level grid responsibility system (五级网格).

    Escalation climbs from a higher number to a lower one; the county (1) is the backstop.
    """

    COUNTY = 1
    TOWN = 2
    COMMUNITY = 3
    GRID = 4
    MICRO_GRID = 5

    @property
    def key(self) -> str:
        """The lower-case name used in config files and the API (``micro_grid``)."""
        return self.name.lower()

    @property
    def label_zh(self) -> str:
        return _LEVEL_ZH[self]

    @classmethod
    def parse(cls, value: str | int) -> Level:
        """Read a level from a config value: ``4``, ``"4"`` or ``"grid"``.

        Raises ValueError naming the accepted values.
        """
        # Every row of a grids file goes through here: the common spellings are one lookup.
        known = _LEVEL_TEXT.get(value) if isinstance(value, str) else None
        if known is not None:
            return known
        # A few ASCII digits only: str.isdigit() also says yes to '²', which int() refuses,
        # and int() refuses (with its own words) more than 4,300 digits.
        text = value.strip() if isinstance(value, str) else ""
        if isinstance(value, int) or (len(text) <= 3 and text.isascii() and text.isdigit()):
            number = int(value)
            try:
                return cls(number)
            except ValueError:
                raise ValueError(f"level {number} is not between 1 and 5") from None
        key = str(value).strip().lower().replace("-", "_")
        for level in cls:
            if level.key == key:
                return level
        names = ", ".join(level.key for level in cls)
        raise ValueError(f"unknown level {value!r}; expected 1-5 or one of {names}")


_LEVEL_TEXT = {text: level for level in Level for text in (str(int(level)), level.key)}

_LEVEL_ZH = {
    Level.COUNTY: "县",
    Level.TOWN: "乡镇/街道",
    Level.COMMUNITY: "村/社区",
    Level.GRID: "网格",
    Level.MICRO_GRID: "微网格",
}


class ResponderKind(StrEnum):
    """Who can be told to report in (报到). A closed set: the rules refer to these by value."""

    GRID_LEADER = "grid_leader"  # 网格长
    REGISTERED_MEMBER = "registered_member"  # 报到党员: in-service member registered in a community
    UNPOSTED_MEMBER = "unposted_member"  # 无职党员: party member without a post
    HOUSEHOLD_LEADER = "household_leader"  # 联户长: micro-grid household leader
    COMMUNITY_POLICE = "community_police"  # 社区民警
    POLICE_STATION = "police_station"  # 派出所
    GRID_DEPARTMENT = "grid_department"  # 网格部门: 城管, 环卫, 住建, 市场监管, 应急, 民政 ...
    JURISDICTION_UNIT = "jurisdiction_unit"  # 辖区单位: enterprises, schools, hospitals
    SAFETY_PATROL = "safety_patrol"  # 平安巡防 / 平安志愿者
    # 值班: the person on duty at a level around the clock, on a rota (duty.csv), who covers
    # for responders who are off duty, with their B posts, before anything escalates.
    DUTY_OFFICER = "duty_officer"  # 值班员 of a town (or any level that keeps a duty room)
    DUTY_POLICE = "duty_police"  # 值班民警 of a police station
    BACKSTOP = "backstop"  # 兜底: the county command centre

    @property
    def label_zh(self) -> str:
        return _KIND_ZH[self]


_KIND_ZH = {
    ResponderKind.GRID_LEADER: "网格长",
    ResponderKind.REGISTERED_MEMBER: "报到党员",
    ResponderKind.UNPOSTED_MEMBER: "无职党员",
    ResponderKind.HOUSEHOLD_LEADER: "联户长",
    ResponderKind.COMMUNITY_POLICE: "社区民警",
    ResponderKind.POLICE_STATION: "派出所",
    ResponderKind.GRID_DEPARTMENT: "网格部门",
    ResponderKind.JURISDICTION_UNIT: "辖区单位",
    ResponderKind.SAFETY_PATROL: "平安巡防",
    ResponderKind.DUTY_OFFICER: "值班员",
    ResponderKind.DUTY_POLICE: "值班民警",
    ResponderKind.BACKSTOP: "兜底指挥中心",
}

ALL_CATEGORIES = "*"


class Cell:
    """One node of the hierarchy (immutable).

    ``path`` holds the codes from the root down to this cell (inclusive), so ancestry and
    subtree tests need no graph walk. ``geometry`` is a shapely geometry or None; a cell made
    by a Hierarchy gets ``shape_of`` instead, and builds its shape from the packed
    coordinates the first time it is asked (routing never asks).
    """

    __slots__ = ("_geometry", "_shape_of", "code", "level", "name", "parent", "path")

    code: str
    name: str
    level: Level
    parent: str | None
    path: tuple[str, ...]
    _geometry: Any
    _shape_of: Callable[[], Any] | None

    def __init__(
        self,
        code: str,
        name: str,
        level: Level,
        parent: str | None,
        path: tuple[str, ...],
        geometry: Any = None,
        *,
        shape_of: Callable[[], Any] | None = None,
    ) -> None:
        setter = object.__setattr__
        setter(self, "code", code)
        setter(self, "name", name)
        setter(self, "level", level)
        setter(self, "parent", parent)
        setter(self, "path", path)
        setter(self, "_geometry", geometry)
        setter(self, "_shape_of", shape_of)

    @property
    def geometry(self) -> Any:
        """The cell's shapely (Multi)Polygon, or None when it has no shape."""
        shape_of = self._shape_of
        if shape_of is not None:
            object.__setattr__(self, "_geometry", shape_of())
            object.__setattr__(self, "_shape_of", None)
        return self._geometry

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Cell is immutable: cannot set {name}")

    def _key(self) -> tuple[Any, ...]:
        return (self.code, self.name, self.level, self.parent, self.path)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Cell):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Cell({self.code!r}, {self.name!r}, {self.level.key})"

    def is_within(self, ancestor_code: str) -> bool:
        """True when this cell is ``ancestor_code`` or lies below it."""
        return ancestor_code in self.path


@dataclass(frozen=True, slots=True)
class Responder:
    """A person or unit that can be told to report in.

    ``categories`` holds category codes or code prefixes (a 大类 code covers its 小类);
    ``"*"`` means every category. ``line`` is the roster line it came from, for messages.
    """

    id: str
    name: str
    kind: ResponderKind
    grid: str
    categories: frozenset[str]
    backup: str | None = None
    contact: str = ""
    line: int = field(default=0, compare=False)

    def __repr__(self) -> str:
        return f"Responder({self.id!r}, {self.name!r}, {self.kind.value}, grid={self.grid!r})"

    def handles(self, category: str) -> bool:
        """True when this responder may be given a case of ``category``."""
        if ALL_CATEGORIES in self.categories:
            return True
        return any(category.startswith(prefix) for prefix in self.categories)
