"""A deterministic generator of a realistic sample county: cells, shapes, roster, duty, teams.

``generate_county`` writes the three files ``grids.loader`` reads (``grids.csv``,
``grids.geojson``, ``responders.csv``) and the two optional files the dispatch package reads
(``duty.csv``, the duty roster of the A/B posts, and ``teams.csv``, the party members' service
teams). The same seed and arguments give byte-identical files: every random draw comes from
``random.Random(seed)`` in a fixed order, nothing iterates a set and nothing reads the clock.
The teams and the duty rota's staff draw from generators of their own, so that adding them
left every row written before exactly as it was for every seed.

Shapes are rectangles that tile their parent exactly. Coordinates are integers in
micro-degrees (1e-6 degree) until they are written, so the 6-decimal output needs no rounding
and neighbours share their cut lines bit for bit. Rows are written while the tree is walked
depth first, so memory stays flat even for a province-sized run (millions of micro-grids).
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import TextIO

from grids.model import Level, ResponderKind

__all__ = ["PROVINCE", "SampleSummary", "generate_county", "generate_province"]

# Changning County (昌宁县), Yunnan, as a box in micro-degrees: west, south, east, north.
_COUNTY_BOX = (99_350_000, 24_450_000, 100_050_000, 25_150_000)
# A province-sized box (about Yunnan's extent) for generate_province.
_PROVINCE_BOX = (97_500_000, 21_500_000, 106_000_000, 29_000_000)

# The province the benchmarks hold routing against: 250,000 grids, about 2.8 million cells.
PROVINCE = {"towns": 500, "communities": 25_000, "grids": 250_000, "micro_grids": 2_525_000}
_MICRO = 1_000_000

# A cut may move this fraction of an even spacing either way: cells differ in size but no
# cell shrinks below 40% of an even share.
_JITTER = 0.3

_GRIDS_HEADER = ("code", "parent", "level", "name")
_RESPONDERS_HEADER = ("id", "name", "kind", "grid", "categories", "backup", "contact")
# The dispatch package's files (dispatch.duty, dispatch.teams); grids cannot import dispatch.
_DUTY_HEADER = ("responder", "days", "start", "end")
_TEAMS_HEADER = ("id", "name", "community", "captain", "members")
_FILES = ("grids.csv", "grids.geojson", "responders.csv", "duty.csv", "teams.csv")

# Changning's real towns, in the order they are coded (101, 102, ...).
_REAL_TOWNS = (
    "田园镇",
    "柯街镇",
    "卡斯镇",
    "勐统镇",
    "湾甸傣族乡",
    "大田坝镇",
    "温泉镇",
    "鸡飞镇",
    "更戛乡",
    "耈街彝族苗族乡",
    "漭水镇",
    "珠街彝族乡",
)
_ETHNIC = ("傣族", "彝族", "苗族")
_PLACE_FIRST = "东西南北新老上下大小中河山石龙凤柳杨松桃梨竹田坝沙水营寨茶岩金银青白黄红"
_PLACE_SECOND = "坝河山营寨庄街塘坡箐岭湾田桥沟林园平头口边心岗村场铺溪"
_URBAN_NAMES = (
    "文化",
    "振兴",
    "新华",
    "和平",
    "人民",
    "建设",
    "光明",
    "团结",
    "幸福",
    "东城",
    "西城",
    "南城",
    "北城",
    "滨河",
    "翠湖",
    "新城",
    "阳光",
    "锦绣",
    "文昌",
    "永安",
    "明珠",
    "玉泉",
    "右甸",
    "达丙",
    "龙泉",
    "金华",
    "凤山",
    "南门",
    "北门",
    "东门",
)
_SURNAMES = (
    "李王张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董程曹袁邓许傅沈曾彭吕苏卢蒋"
    "蔡贾丁魏薛叶余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙段雷"
    "汤尹黎易常武乔贺赖龚文字普鲁施"
)
_GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国云红玉梅兴发正春光德文荣海林波斌"
    "宇浩凯鑫佳琳晶燕琴雪慧丹萍志成永福贵祥瑞金顺家俊蓉琼仙发忠树昌"
)
_MOBILE_PREFIXES = ("13", "15", "18")

# Grid departments (网格部门) of every town: id suffix, name suffix, categories.
_DEPARTMENTS = (
    ("城管中队", "E01;E02;E04;F04"),
    ("环卫站", "E01;F03"),
    ("住建服务中心", "E03;F01;F02;F05"),
    ("市场监管所", "E04;E09"),
    ("应急管理办公室", "E05"),
    ("民政办", "E08"),
    ("综治中心（司法所）", "E06;E07"),
)

# Jurisdiction units (辖区单位): categories and name templates per type. ``{town}`` is the
# town's name, ``{stem}`` its name without 镇/乡 and ethnic suffix, ``{county}`` the county's
# name and ``{county_stem}`` the county's without 县 (昌宁供电局, but 昌宁县林业和草原局).
_UNIT_TYPES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "E01;E03;E05;F01",
        (
            "{stem}茶业有限公司",
            "{stem}建材有限公司",
            "{stem}核桃加工厂",
            "{stem}蚕桑专业合作社",
            "{stem}水泥制品厂",
            "{stem}农贸市场管理有限公司",
        ),
    ),
    ("E06;E08", ("{town}中心学校", "{town}中学", "{town}中心幼儿园", "{town}第二小学")),
    ("E05;E08", ("{town}卫生院", "{stem}社区卫生服务站")),
    (
        "*",
        (
            "{county_stem}供电局{stem}供电所",
            "{county}农村信用合作联社{stem}信用社",
            "中国邮政{county_stem}{stem}支局",
            "中国移动{county_stem}{stem}营业厅",
            "{county}自然资源局{stem}自然资源所",
            "{county}林业和草原局{stem}林业站",
        ),
    ),
)
_UNITS_PER_TOWN = (4, 8)
_MEMBERS_PER_COMMUNITY = (5, 15)

# Duty shifts (days, start, end) per kind. Office hours for the community police and the grid
# departments, so nights, weekends and holidays go to their B post; long days for the patrols.
# Kinds not listed (police stations, the backstop, the grid workers ...) are always on duty.
_DUTY: dict[ResponderKind, tuple[str, str, str]] = {
    ResponderKind.COMMUNITY_POLICE: ("workdays", "08:30", "17:30"),
    ResponderKind.SAFETY_PATROL: ("daily", "07:00", "23:00"),
    ResponderKind.GRID_DEPARTMENT: ("workdays", "08:30", "17:30"),
}
# The duty rota (值班) of every town: three 值班员 in its duty room and three 值班民警 at its
# police station, each on one eight-hour shift every day, so each level has someone on duty
# around the clock to cover for off-duty responders and their B posts.
_ROTA = (("daily", "08:00", "16:00"), ("daily", "16:00", "24:00"), ("daily", "00:00", "08:00"))
# Service teams (服务队) per community, and members per team, from its registered members.
_TEAMS_PER_COMMUNITY = (1, 2)
_TEAM_SIZE = (3, 6)
_TEAM_NAMES = ("党员先锋服务队", "党员志愿服务队", "红色先锋服务队", "党员便民服务队")
_ALL = "*"

_Rect = tuple[int, int, int, int]  # west, south, east, north in micro-degrees


@dataclass(frozen=True, slots=True)
class SampleSummary:
    """What :func:`generate_county` wrote: cells per level, responders per kind, file sizes."""

    name: str
    code: str
    seed: int
    cells: dict[Level, int]
    responders: dict[ResponderKind, int]
    sizes: dict[str, int]
    shifts: int = 0
    teams: int = 0

    @property
    def total_cells(self) -> int:
        return sum(self.cells.values())

    @property
    def total_responders(self) -> int:
        return sum(self.responders.values())

    def __str__(self) -> str:
        cells = ", ".join(f"{level.key} {count}" for level, count in self.cells.items())
        responders = ", ".join(f"{kind.value} {count}" for kind, count in self.responders.items())
        sizes = ", ".join(f"{file} {size / 1_000_000:.1f} MB" for file, size in self.sizes.items())
        return (
            f"{self.name} ({self.code}), seed {self.seed}\n"
            f"cells: {cells} ({self.total_cells} in all)\n"
            f"responders: {responders} ({self.total_responders} in all)\n"
            f"duty shifts: {self.shifts}, service teams: {self.teams}\n"
            f"files: {sizes}"
        )


def generate_county(
    outdir: Path,
    *,
    seed: int,
    towns: int = 12,
    communities: int = 250,
    grids: int = 2502,
    micro_grids: int = 25000,
    name: str = "昌宁县",
    code: str = "530524",
    box: tuple[int, int, int, int] = _COUNTY_BOX,
) -> SampleSummary:
    """Write a sample county's ``grids.csv``, ``grids.geojson``, ``responders.csv``,
    ``duty.csv`` and ``teams.csv``.

    Counts are exact: ``communities`` are spread over the towns, ``grids`` over the
    communities and ``micro_grids`` over the grids, every parent getting at least one child.
    ``box`` is the root's extent in micro-degrees (west, south, east, north).
    Raises ValueError when a level has fewer cells than the level above it.
    """
    levels = (
        ("county", 1),
        ("towns", towns),
        ("communities", communities),
        ("grids", grids),
        ("micro_grids", micro_grids),
    )
    for (upper, above), (label, count) in pairwise(levels):
        if count < above:
            raise ValueError(f"{label} ({count}) must be at least {upper} ({above})")

    rng = random.Random(seed)
    town_weights = [rng.uniform(0.6, 1.4) for _ in range(towns)]
    town_weights[0] *= 1.8  # the first town is the county seat (田园镇), the biggest
    plan = _Plan(
        communities_per_town=_spread(communities, town_weights),
        grids_per_community=_spread(grids, [rng.uniform(0.5, 1.5) for _ in range(communities)]),
        micro_per_grid=_spread(micro_grids, [rng.uniform(0.5, 1.5) for _ in range(grids)]),
    )

    outdir.mkdir(parents=True, exist_ok=True)
    targets = {file: outdir / file for file in _FILES}
    # Write beside the targets and rename at the end, so a failed run never leaves a
    # half-written config behind.
    partial = {file: path.with_name(f".{file}.partial") for file, path in targets.items()}
    try:
        with ExitStack() as stack:
            streams = {
                file: stack.enter_context(path.open("w", encoding="utf-8", newline=""))
                for file, path in partial.items()
            }
            writer = _Writer(streams, rng)
            # Generators of their own for the teams and the duty staff, seeded from the seed:
            # drawing them from ``rng`` would shift every later draw and change the other rows.
            team_rng = random.Random(f"{seed}/teams")
            duty_rng = random.Random(f"{seed}/duty")
            county = _County(writer, rng, team_rng, plan, name=name, code=code, box=box)
            county.duty_rng = duty_rng
            county.write()
            writer.close()
        for file, path in partial.items():
            path.replace(targets[file])
    finally:
        for path in partial.values():
            path.unlink(missing_ok=True)
    return SampleSummary(
        name=name,
        code=code,
        seed=seed,
        cells=dict(writer.cells),
        responders=dict(writer.responders),
        sizes={file: path.stat().st_size for file, path in targets.items()},
        shifts=writer.shifts,
        teams=writer.teams,
    )


def generate_province(
    outdir: Path,
    *,
    seed: int,
    towns: int = PROVINCE["towns"],
    communities: int = PROVINCE["communities"],
    grids: int = PROVINCE["grids"],
    micro_grids: int = PROVINCE["micro_grids"],
) -> SampleSummary:
    """A province-sized hierarchy in the same five files as :func:`generate_county`.

    The model keeps its five levels, so a province is one big level-1 root (the province
    standing in for the county as the backstop's cell) over many more towns, communities,
    grids and micro-grids, spread over a province-sized box: by default 500 towns, 25,000
    communities, 250,000 grids and 2,525,000 micro-grids (2,800,501 cells; about ten
    micro-grids per grid and ten grids per community, as in the sample county).
    """
    return generate_county(
        outdir,
        seed=seed,
        towns=towns,
        communities=communities,
        grids=grids,
        micro_grids=micro_grids,
        name="样例省",
        code="530000",
        box=_PROVINCE_BOX,
    )


# -- planning ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plan:
    """How many children each parent gets, per level, in walk order."""

    communities_per_town: list[int]
    grids_per_community: list[int]
    micro_per_grid: list[int]


def _spread(total: int, weights: Sequence[float]) -> list[int]:
    """Split ``total`` into ``len(weights)`` parts of at least 1, proportional to the weights.

    Largest remainder rounding, ties broken by position, so the parts sum to ``total`` exactly.
    """
    parts = len(weights)
    spare = total - parts
    scale = spare / sum(weights)
    shares = [weight * scale for weight in weights]
    counts = [1 + int(share) for share in shares]
    left = total - sum(counts)
    by_remainder = sorted(range(parts), key=lambda i: (int(shares[i]) - shares[i], i))
    for index in by_remainder[:left]:
        counts[index] += 1
    return counts


def _code_width(largest: int) -> int:
    """Digits for a level's local numbers: 3 as in the national scheme, more if needed."""
    return max(3, len(str(largest)))


def _cuts(low: int, high: int, pieces: int, rng: random.Random) -> list[int]:
    """``pieces + 1`` strictly increasing cut positions from ``low`` to ``high``, jittered."""
    step = (high - low) / pieces
    cuts = [low]
    for i in range(1, pieces):
        cuts.append(round(low + step * (i + rng.uniform(-_JITTER, _JITTER))))
    cuts.append(high)
    if any(a >= b for a, b in pairwise(cuts)):
        raise ValueError(
            f"cannot cut {(high - low) / _MICRO:.6f} degrees into {pieces} pieces "
            "at 6-decimal precision; ask for fewer cells"
        )
    return cuts


def _partition(rect: _Rect, pieces: int, rng: random.Random) -> list[_Rect]:
    """Tile ``rect`` with ``pieces`` rectangles, rows from north to south, west to east.

    Rows get nearly equal numbers of pieces and each row cuts its own columns, so any count
    tiles exactly; the row count keeps the pieces roughly square.
    """
    west, south, east, north = rect
    rows = min(pieces, max(1, round(math.sqrt(pieces * (north - south) / (east - west)))))
    lat_cuts = _cuts(south, north, rows, rng)
    result: list[_Rect] = []
    for row in range(rows):
        columns = pieces // rows + (1 if row < pieces % rows else 0)
        top, bottom = lat_cuts[rows - row], lat_cuts[rows - row - 1]
        lon_cuts = _cuts(west, east, columns, rng)
        result.extend((lon_cuts[col], bottom, lon_cuts[col + 1], top) for col in range(columns))
    return result


# -- names -------------------------------------------------------------------------------


def _stem(place: str) -> str:
    """田园镇 -> 田园, 湾甸傣族乡 -> 湾甸, 昌宁县 -> 昌宁: the name used inside unit names."""
    stem = place[:-1] if place[-1:] in ("镇", "乡", "县", "区", "市") else place
    for ethnic in _ETHNIC:
        if ethnic in stem:
            stem = stem[: stem.index(ethnic)]
    return stem or place


def _town_names(count: int, rng: random.Random) -> list[str]:
    names = list(_REAL_TOWNS[:count])
    if count > len(names):
        taken = {_stem(n) for n in names}
        pool = [a + b for a in _PLACE_FIRST for b in _PLACE_SECOND if a + b not in taken]
        rng.shuffle(pool)
        for index in range(count - len(names)):
            repeat, slot = divmod(index, len(pool))
            stem = pool[slot]
            if repeat:  # more towns than two-character stems: widen them (东上坡), then number
                widen = repeat <= len(_PLACE_FIRST)
                stem = _PLACE_FIRST[repeat - 1] + stem if widen else f"{stem}{repeat}"
            names.append(stem + ("镇" if rng.random() < 0.7 else "乡"))
    return names


def _community_names(urban: int, villages: int, rng: random.Random) -> list[str]:
    """Names unique within one town: ``xx社区`` for urban communities, then ``xx村``."""
    names = [f"{stem}社区" for stem in _sample(list(_URBAN_NAMES), urban, rng)]
    pool = [a + b for a in _PLACE_FIRST for b in _PLACE_SECOND if b != "村"]
    names.extend(f"{stem}村" for stem in _sample(pool, villages, rng))
    return names


def _sample(pool: list[str], count: int, rng: random.Random) -> list[str]:
    """``count`` distinct names from ``pool``, numbered once the pool runs out."""
    if count <= len(pool):
        return rng.sample(pool, count)
    return [f"{pool[i % len(pool)]}{i // len(pool) + 1}" for i in range(count)]


def _person(rng: random.Random) -> str:
    given = rng.choice(_GIVEN)
    if rng.random() < 0.7:
        given += rng.choice(_GIVEN)
    return rng.choice(_SURNAMES) + given


def _mobile(rng: random.Random) -> str:
    return f"{rng.choice(_MOBILE_PREFIXES)}{rng.randrange(1_000_000_000):09d}"


# -- writing -----------------------------------------------------------------------------


def _coordinate(value: int) -> str:
    """Micro-degrees as the shortest exact decimal: 99350000 -> ``99.35``."""
    text = f"{value / _MICRO:.6f}"
    return text.rstrip("0").rstrip(".")


class _Writer:
    """Streams rows to the five files and counts what it wrote."""

    def __init__(self, streams: Mapping[str, TextIO], rng: random.Random) -> None:
        self._grids = csv.writer(streams["grids.csv"], lineterminator="\n")
        self._grids.writerow(_GRIDS_HEADER)
        self._geojson = geojson = streams["grids.geojson"]
        # One feature per line: still compact, and ``head``/``grep`` stay useful.
        geojson.write('{"type":"FeatureCollection","features":[\n')
        self._first_feature = True
        self._responders = csv.writer(streams["responders.csv"], lineterminator="\n")
        self._responders.writerow(_RESPONDERS_HEADER)
        self._duty = csv.writer(streams["duty.csv"], lineterminator="\n")
        self._duty.writerow(_DUTY_HEADER)
        self._teams = csv.writer(streams["teams.csv"], lineterminator="\n")
        self._teams.writerow(_TEAMS_HEADER)
        self._rng = rng
        self.cells: dict[Level, int] = dict.fromkeys(Level, 0)
        self.responders: dict[ResponderKind, int] = dict.fromkeys(ResponderKind, 0)
        self.shifts = 0
        self.teams = 0

    def cell(self, code: str, parent: str, level: Level, name: str, rect: _Rect) -> None:
        self._grids.writerow((code, parent, int(level), name))
        west, south, east, north = (_coordinate(v) for v in rect)
        ring = (
            f"[{west},{south}],[{east},{south}],[{east},{north}],[{west},{north}],[{west},{south}]"
        )
        separator = "" if self._first_feature else ",\n"
        self._first_feature = False
        self._geojson.write(
            f'{separator}{{"type":"Feature","properties":{{"code":"{code}"}},'
            f'"geometry":{{"type":"Polygon","coordinates":[[{ring}]]}}}}'
        )
        self.cells[level] += 1

    def responder(
        self,
        responder_id: str,
        name: str,
        kind: ResponderKind,
        grid: str,
        *,
        categories: str = _ALL,
        backup: str = "",
        rng: random.Random | None = None,
        shifts: Sequence[tuple[str, str, str]] = (),
    ) -> None:
        contact = _mobile(rng or self._rng)
        self._responders.writerow(
            (responder_id, name, kind.value, grid, categories, backup, contact)
        )
        self.responders[kind] += 1
        shift = _DUTY.get(kind)
        for row in (shift,) if shift is not None else shifts:
            self._duty.writerow((responder_id, *row))
            self.shifts += 1

    def team(
        self, team_id: str, name: str, community: str, captain: str, members: Sequence[str]
    ) -> None:
        self._teams.writerow((team_id, name, community, captain, ";".join(members)))
        self.teams += 1

    def close(self) -> None:
        self._geojson.write("\n]}\n")


class _County:
    """Walks the county depth first, deciding codes, names and shapes as it goes."""

    def __init__(
        self,
        writer: _Writer,
        rng: random.Random,
        team_rng: random.Random,
        plan: _Plan,
        *,
        name: str,
        code: str,
        box: _Rect,
    ) -> None:
        self._out = writer
        self._box = box
        self._rng = rng
        self._team_rng = team_rng
        self.duty_rng = random.Random(0)  # replaced by generate_county's, seeded from the seed
        self._plan = plan
        self._name = name
        self._code = code
        self._county_stem = _stem(name)
        self._grid_counts: Iterator[int] = iter(plan.grids_per_community)
        self._micro_counts: Iterator[int] = iter(plan.micro_per_grid)
        towns = len(plan.communities_per_town)
        # Town numbers start at 101 (1xx: towns); a wider code only for more than 899 towns.
        width = 3
        while 10 ** (width - 1) + towns >= 10**width:
            width += 1
        self._town_width = width
        # Communities: 001-199 urban (居委会), 201-999 villages (村委会), as in the national
        # scheme; widened only when a town has more than either range holds.
        self._urban = [self._urban_count(i, n) for i, n in enumerate(plan.communities_per_town)]
        width = 3
        while any(
            urban >= 2 * 10 ** (width - 1) or total - urban >= 8 * 10 ** (width - 1)
            for urban, total in zip(self._urban, plan.communities_per_town, strict=True)
        ):
            width += 1
        self._community_width = width
        self._grid_width = _code_width(max(plan.grids_per_community))
        self._micro_width = _code_width(max(plan.micro_per_grid))

    @staticmethod
    def _urban_count(town_index: int, communities: int) -> int:
        # The county seat is half urban; other towns have one 社区 at the town seat.
        if town_index == 0:
            return max(1, round(communities * 0.5))
        return 1 if communities >= 3 else 0

    def write(self) -> None:
        out, rng, county = self._out, self._rng, self._code
        out.cell(county, "", Level.COUNTY, self._name, self._box)
        out.responder(
            f"BS{county}",
            f"{self._name}网格化服务管理中心",
            ResponderKind.BACKSTOP,
            county,
        )
        out.responder(f"PS{county}", f"{self._name}公安局", ResponderKind.POLICE_STATION, county)
        counts = self._plan.communities_per_town
        names = _town_names(len(counts), rng)
        first = 10 ** (self._town_width - 1) + 1
        rects = _partition(self._box, len(counts), rng)
        for index, (count, town_name, rect) in enumerate(zip(counts, names, rects, strict=True)):
            town = f"{county}{first + index:0{self._town_width}d}"
            self._town(town, town_name, rect, count, self._urban[index])

    def _town(self, town: str, name: str, rect: _Rect, communities: int, urban: int) -> None:
        out, rng = self._out, self._rng
        out.cell(town, self._code, Level.TOWN, name, rect)
        stem = _stem(name)
        out.responder(
            f"PS{town}",
            f"{name}派出所",
            ResponderKind.POLICE_STATION,
            town,
            backup=f"PS{self._code}",
        )
        for number, (suffix, categories) in enumerate(_DEPARTMENTS, start=1):
            out.responder(
                f"GD{town}-{number}",
                f"{name}{suffix}",
                ResponderKind.GRID_DEPARTMENT,
                town,
                categories=categories,
            )
        self._duty_room(town, name)
        for number, (categories, unit_name) in enumerate(self._units(name, stem), start=1):
            out.responder(
                f"JU{town}-{number:02d}",
                unit_name,
                ResponderKind.JURISDICTION_UNIT,
                town,
                categories=categories,
            )

        width = self._community_width
        village_start = 2 * 10 ** (width - 1) + 1
        numbers = [*range(1, urban + 1), *range(village_start, village_start + communities - urban)]
        codes = [f"{town}{number:0{width}d}" for number in numbers]
        names = _community_names(urban, communities - urban, rng)
        rects = _partition(rect, communities, rng)
        for index, code in enumerate(codes):
            # AB post: a neighbouring community's officer covers for this one.
            backup = f"CP{codes[(index + 1) % len(codes)]}" if len(codes) > 1 else ""
            self._community(code, town, names[index], rects[index], index < urban, backup)

    def _duty_room(self, town: str, name: str) -> None:
        """The town's rota: 值班员 DO<town>-n in its duty room and 值班民警 DP<town>-n at its
        station, one per eight-hour shift."""
        out, rng = self._out, self.duty_rng
        for number, shift in enumerate(_ROTA, start=1):
            out.responder(
                f"DO{town}-{number}",
                _person(rng),
                ResponderKind.DUTY_OFFICER,
                town,
                rng=rng,
                shifts=(shift,),
            )
        for number, shift in enumerate(_ROTA, start=1):
            out.responder(
                f"DP{town}-{number}",
                _person(rng),
                ResponderKind.DUTY_POLICE,
                town,
                rng=rng,
                shifts=(shift,),
            )

    def _units(self, town: str, stem: str) -> list[tuple[str, str]]:
        """4-8 jurisdiction units: one of each type, the rest drawn from what is left."""
        rng = self._rng
        chosen: list[list[str]] = []
        spare: list[tuple[int, str]] = []
        for type_index, (_, templates) in enumerate(_UNIT_TYPES):
            shuffled = rng.sample(templates, len(templates))
            chosen.append([shuffled[0]])
            spare.extend((type_index, template) for template in shuffled[1:])
        extra = rng.randint(*_UNITS_PER_TOWN) - len(_UNIT_TYPES)
        for type_index, template in rng.sample(spare, extra):
            chosen[type_index].append(template)
        fields = {
            "town": town,
            "stem": stem,
            "county": self._name,
            "county_stem": self._county_stem,
        }
        return [
            (categories, template.format(**fields))
            for (categories, _), templates in zip(_UNIT_TYPES, chosen, strict=True)
            for template in templates
        ]

    def _community(
        self, code: str, town: str, name: str, rect: _Rect, urban: bool, police_backup: str
    ) -> None:
        out, rng = self._out, self._rng
        out.cell(code, town, Level.COMMUNITY, name, rect)
        out.responder(
            f"CP{code}",
            _person(rng),
            ResponderKind.COMMUNITY_POLICE,
            code,
            backup=police_backup,
        )
        teams = ["平安巡防队"] if rng.random() < 0.5 else ["平安巡防队", "平安志愿者服务队"]
        for number, team in enumerate(teams, start=1):
            partner = f"SP{code}-{3 - number}" if len(teams) == 2 else ""
            out.responder(
                f"SP{code}-{number}",
                f"{name}{team}",
                ResponderKind.SAFETY_PATROL,
                code,
                backup=partner,
            )
        members = [
            f"RM{code}-{number:02d}"
            for number in range(1, rng.randint(*_MEMBERS_PER_COMMUNITY) + 1)
        ]
        for member in members:
            out.responder(member, _person(rng), ResponderKind.REGISTERED_MEMBER, code)
        self._teams(code, name, members)

        grids = next(self._grid_counts)
        rects = _partition(rect, grids, rng)
        for number in range(1, grids + 1):
            grid = f"{code}{number:0{self._grid_width}d}"
            self._grid(grid, code, f"第{number}网格", rects[number - 1], urban)

    def _teams(self, community: str, name: str, members: Sequence[str]) -> None:
        """1-2 service teams of 3-6 of the community's registered members; the first leads.

        The teams of one community share no member: a second team is formed only when there
        are members enough for both.
        """
        rng = self._team_rng
        low, high = _TEAM_SIZE
        if len(members) < low:
            return
        count = rng.randint(*_TEAMS_PER_COMMUNITY)
        if len(members) < 2 * low:
            count = 1
        pool = rng.sample(members, len(members))
        titles = rng.sample(_TEAM_NAMES, count)
        for number, title in enumerate(titles, start=1):
            # Leave enough members in the pool for the teams still to come.
            later = low * (count - number)
            size = rng.randint(low, min(high, len(pool) - later))
            chosen, pool = pool[:size], pool[size:]
            team = f"ST{community}-{number}"
            self._out.team(team, f"{name}{title}", community, chosen[0], chosen)

    def _grid(self, grid: str, community: str, name: str, rect: _Rect, urban: bool) -> None:
        out, rng = self._out, self._rng
        out.cell(grid, community, Level.GRID, name, rect)
        # The 1+1 pair: each covers for the other (AB岗).
        out.responder(
            f"RM{grid}",
            _person(rng),
            ResponderKind.REGISTERED_MEMBER,
            grid,
            backup=f"UM{grid}",
        )
        out.responder(
            f"UM{grid}",
            _person(rng),
            ResponderKind.UNPOSTED_MEMBER,
            grid,
            backup=f"RM{grid}",
        )
        out.responder(f"GL{grid}", _person(rng), ResponderKind.GRID_LEADER, grid)

        micro = next(self._micro_counts)
        rects = _partition(rect, micro, rng)
        codes = [f"{grid}{number:0{self._micro_width}d}" for number in range(1, micro + 1)]
        for index, code in enumerate(codes):
            label = f"{index + 1}号楼栋" if urban else f"第{index + 1}联户"
            out.cell(code, grid, Level.MICRO_GRID, label, rects[index])
            backup = f"HL{codes[(index + 1) % micro]}" if micro > 1 else ""
            out.responder(
                f"HL{code}", _person(rng), ResponderKind.HOUSEHOLD_LEADER, code, backup=backup
            )
