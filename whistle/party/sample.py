"""A deterministic party-building sample for a county, in believable numbers close to
Tianyuan Town's report (87 units, 2,600 members registered, 6,600 报到, 3,000 claims): units
of every type with their 大党委 seats and pacts, 双报到 of the roster's registered members,
a year of monthly needs, projects and claims (by members, teams and units) with their hours,
volunteer teams, and pairings with a history of visits. Dates run back from ``now``; the
same seed and day give the same records.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, tzinfo
from typing import Any

from grids import Cell, Hierarchy, Level, ResponderKind
from whistle.party.model import ClaimBy, ProjectType, TeamKind, UnitType
from whistle.party.service import cell_path
from whistle.party.visits import visit_record
from whistle.store import HoursRow, PartyKind, PartyRecord, PartyStore

__all__ = ["Sample", "generate", "load_sample"]

_UNITS = {
    UnitType.ORGAN: (
        "县纪委监委",
        "县委组织部",
        "县财政局",
        "县教育体育局",
        "县民政局",
        "县司法局",
        "县住建局",
        "县卫生健康局",
        "县农业农村局",
        "县市场监管局",
        "县自然资源局",
        "县人社局",
        "县水务局",
        "县交通运输局",
        "县应急管理局",
        "县退役军人事务局",
        "县文化和旅游局",
        "县统计局",
        "县林草局",
        "县医保局",
        "县税务局",
        "县法院",
        "县检察院",
        "县总工会",
        "团县委",
    ),
    UnitType.INSTITUTION: (
        "县人民医院",
        "县中医医院",
        "县第一中学",
        "县第二中学",
        "县职业高级中学",
        "县供电局",
        "县自来水公司",
        "县农村信用联社",
        "县邮政分公司",
        "县电信分公司",
        "县移动分公司",
        "县烟草公司",
        "县融媒体中心",
        "县疾控中心",
        "县妇幼保健院",
        "县实验小学",
        "县民族中学",
        "县幼儿园",
        "县气象局",
        "县广播电视台",
        "县城投公司",
        "县公交公司",
        "县图书馆",
        "县文化馆",
        "县农业银行",
        "县工商银行",
        "县建设银行",
        "县农发行",
        "县人保财险",
        "县石油分公司",
    ),
    UnitType.PRIVATE: (
        "昌宁红茶业集团",
        "田园核桃加工厂",
        "澜沧江物流公司",
        "宁康药业",
        "云岭建材公司",
        "茶乡酒店",
        "温泉度假村",
        "绿源蔬菜合作社",
        "顺达运输公司",
        "惠民超市",
        "丰收农资公司",
        "金叶烟叶合作社",
        "桑蚕养殖公司",
        "宏达电子商务公司",
        "山水园林公司",
    ),
    UnitType.SOCIAL: (
        "县红十字会",
        "县慈善总会",
        "县老年协会",
        "县律师协会",
        "县个体劳动者协会",
        "县志愿者协会",
        "县义工联合会",
    ),
    UnitType.CIVILISED: (
        "县公安局交警大队",
        "县消防救援大队",
        "县人武部",
        "县档案馆",
        "县博物馆",
        "县青少年活动中心",
        "县残联",
        "县科协",
        "县妇联",
        "县工商联",
    ),
}
_SERVICES = (
    "政策宣传",
    "矛盾调解",
    "助老助残",
    "文明劝导",
    "环境整治",
    "法律咨询",
    "义诊",
    "治安巡逻",
    "文艺演出",
    "课业辅导",
    "就业指导",
    "防诈宣传",
)
_RESOURCES = (
    "场地",
    "车辆",
    "资金",
    "医疗义诊",
    "法律服务",
    "技能培训",
    "图书",
    "文艺团队",
    "志愿者",
    "防汛物资",
)
_NEEDS = {
    ProjectType.ASSISTANCE: (
        "独居老人需要定期探访",
        "留守儿童课后无人辅导",
        "残疾人家庭需要帮扶",
        "困难家庭子女入学需要资助",
    ),
    ProjectType.MEDIATION: ("邻里因漏水发生纠纷", "土地边界纠纷需要调解", "物业与业主矛盾"),
    ProjectType.PATROL: ("夜间小区治安需要巡逻", "学校周边上下学时段秩序", "集市日交通秩序"),
    ProjectType.PUBLICITY: ("群众不了解医保新政", "老人易受电信诈骗", "垃圾分类知识不足"),
    ProjectType.CULTURE: ("广场缺少文体活动", "青少年暑期活动", "重阳节敬老活动"),
    ProjectType.ENVIRONMENT: ("背街小巷卫生差", "河道垃圾需要清理", "楼道乱堆乱放"),
}
_SURNAMES = "李王张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗段杞字茶"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国红梅文斌云"
_TEAMS = (TeamKind.LEIFENG, TeamKind.WOMEN, TeamKind.YOUTH, TeamKind.SAFETY, TeamKind.PARTY)
_HOUSEHOLDS = ("独居老人", "低保户", "残疾人家庭", "留守儿童")
_RATINGS = ("very_satisfied",) * 6 + ("satisfied",) * 3 + ("basically_satisfied",)


@dataclass
class Sample:
    """What was generated, and how many of each."""

    records: list[PartyRecord] = field(default_factory=list)
    hours: list[HoursRow] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.records:
            out[r.kind.value] = out.get(r.kind.value, 0) + 1
        out["报到"] = len(self.hours)
        return out

    def batches(self, size: int = 2000) -> Iterator[tuple[list[PartyRecord], list[HoursRow]]]:
        """The records and hours in write units of at most ``size`` rows."""
        for i in range(0, max(len(self.records), len(self.hours)), size):
            yield self.records[i : i + size], self.hours[i : i + size]


def _person(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2))))


class _Builder:
    def __init__(
        self, hierarchy: Hierarchy, now: datetime, tz: tzinfo, seed: int, exclude: frozenset[str]
    ) -> None:
        self.h = hierarchy
        self.now = now
        self.tz = tz
        self.rng = random.Random(seed)
        self.exclude = exclude
        self.out = Sample()
        self.n = 0
        self.communities = list(hierarchy.cells(level=Level.COMMUNITY))
        self.units: list[PartyRecord] = []
        self.members: dict[str, list[tuple[str, str, str]]] = {}  # community -> (id, name, unit)
        self.teams: dict[str, list[PartyRecord]] = {}

    def id(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}S{self.n:06d}"

    def add(self, record: PartyRecord) -> PartyRecord:
        self.out.records.append(record)
        return record

    def ago(self, days: float) -> datetime:
        return self.now - timedelta(days=days)

    def units_and_seats(self) -> None:
        # The county's units sit in its first town, the county seat (田园镇 in the shipped
        # county, whose report counts 87 units); they serve communities everywhere.
        seat_town = next(self.h.cells(level=Level.TOWN)).code
        seat_of_county = [c for c in self.communities if c.is_within(seat_town)]
        for unit_type, names in _UNITS.items():
            for name in names:
                home = self.rng.choice(seat_of_county)
                doc = {
                    "name": name,
                    "type": unit_type.value,
                    "community": home.code,
                    "community_name": home.name,
                    "party_org": f"{name}党支部",
                    "contact": f"139{self.rng.randrange(10**8):08d}",
                    "members": self.rng.randint(30, 70),
                }
                self.units.append(
                    self.add(
                        PartyRecord(
                            PartyKind.UNIT,
                            self.id("U"),
                            cell_path(home),
                            "active",
                            self.ago(400),
                            doc=doc,
                        )
                    )
                )
        for community in self.communities:
            for unit in self.rng.sample(self.units, self.rng.randint(2, 4)):
                self._seat_and_pact(community, unit)

    def _seat_and_pact(self, community: Cell, unit: PartyRecord) -> None:
        path, name = cell_path(community), unit.doc["name"]
        seat = {
            "unit_id": unit.id,
            "unit_name": name,
            "community": community.code,
            "member_name": _person(self.rng),
            "role": "兼职委员",
        }
        self.add(
            PartyRecord(
                PartyKind.SEAT, self.id("S"), path, "active", self.ago(380), ref=unit.id, doc=seat
            )
        )
        kind = "包保" if unit.doc["type"] == UnitType.CIVILISED.value else "共建"
        since = self.ago(self.rng.randint(100, 700))
        pact = {
            "unit_id": unit.id,
            "unit_name": name,
            "community": community.code,
            "kind": kind,
            "resources": self.rng.sample(_RESOURCES, 3),
            "since": since.date().isoformat(),
        }
        self.add(
            PartyRecord(PartyKind.PACT, self.id("P"), path, "active", since, ref=unit.id, doc=pact)
        )
        reg = {
            "of": "unit",
            "name": name,
            "community": community.code,
            "community_name": community.name,
            "unit_id": unit.id,
            "unit_name": name,
            "services": self.rng.sample(_SERVICES, 2),
            "registered_by": "community",
        }
        self.add(
            PartyRecord(
                PartyKind.REGISTRATION, self.id("R"), path, "active", since, ref=unit.id, doc=reg
            )
        )

    def registrations(self, target: int) -> None:
        pool = [
            r
            for grid, found in self.h.responders_of_kind(ResponderKind.REGISTERED_MEMBER).items()
            for r in found
            if r.id not in self.exclude
        ]
        pool.sort(key=lambda r: r.id)
        # A unit's registered members stay within its members (the share is at most 100%):
        # each goes to a unit with room left, in proportion to the room.
        room = [int(u.doc["members"]) for u in self.units]
        for responder in self.rng.sample(pool, min(target, len(pool))):
            community = self.h.at_level(responder.grid, Level.COMMUNITY)
            index = self.rng.choices(range(len(self.units)), room if any(room) else None)[0]
            room[index] = max(0, room[index] - 1)
            unit = self.units[index]
            since = self.ago(self.rng.uniform(20, 700))
            status = "withdrawn" if self.rng.random() < 0.03 else "active"
            doc = {
                "of": "member",
                "name": responder.name,
                "community": community.code,
                "community_name": community.name,
                "unit_id": unit.id,
                "unit_name": unit.doc["name"],
                "services": self.rng.sample(_SERVICES, 2),
                "registered_by": self.rng.choice(("page", "bulk")),
            }
            self.add(
                PartyRecord(
                    PartyKind.REGISTRATION,
                    self.id("R"),
                    cell_path(community),
                    status,
                    since,
                    ref=unit.id,
                    person=responder.id,
                    doc=doc,
                )
            )
            if status == "active":
                self.members.setdefault(community.code, []).append(
                    (responder.id, responder.name, unit.id)
                )

    def volunteer_teams(self, count: int) -> None:
        places = sorted(self.members, key=lambda c: -len(self.members[c]))[:count]
        for i, code in enumerate(places):
            community = self.h.cell(code)
            kind = _TEAMS[i % len(_TEAMS)]
            patrols = self.h.responders_at(code, ResponderKind.SAFETY_PATROL)
            patrol = patrols[-1] if kind is TeamKind.SAFETY and patrols else None
            party = self.members[code][: self.rng.randint(3, 8)]
            people = [{"id": m, "name": n, "party_member": True, "unit_id": u} for m, n, u in party]
            for _ in range(self.rng.randint(3, 10)):
                people.append(
                    {
                        "id": self.id("V"),
                        "name": _person(self.rng),
                        "party_member": False,
                        "unit_id": None,
                    }
                )
            doc = {
                "community": code,
                "community_name": community.name,
                "kind": kind.value,
                "name": f"{community.name}{kind.label_zh}",
                # 平安志愿者: the team the roster's camera whistle calls on (平安见到), when
                # the community has one.
                "responder_id": None if patrol is None else patrol.id,
                "captain": people[0]["id"],
                "members": people,
            }
            team = self.add(
                PartyRecord(
                    PartyKind.TEAM,
                    self.id("T"),
                    cell_path(community),
                    "active",
                    self.ago(300),
                    person=str(people[0]["id"]),
                    doc=doc,
                )
            )
            self.teams.setdefault(code, []).append(team)

    def board(self, projects: int, claims: int, completed: int) -> None:
        """A year of needs and projects, ``claims`` of them claimed, ``completed`` done."""
        codes = sorted(self.members)
        for i in range(projects):
            code = self.rng.choice(codes)
            community = self.h.cell(code)
            ptype = self.rng.choice(list(ProjectType))
            text = self.rng.choice(_NEEDS[ptype])
            made = self.ago(self.rng.uniform(5, 360))
            month = made.astimezone(self.tz).strftime("%Y-%m")
            need = {
                "community": code,
                "community_name": community.name,
                "month": month,
                "text": text,
                "households": self.rng.randint(1, 12),
            }
            month_start = made.astimezone(self.tz).replace(day=1, hour=0, minute=0, second=0)
            need_id = self.id("N")
            self.add(
                PartyRecord(
                    PartyKind.NEED,
                    need_id,
                    cell_path(community),
                    "in_project",
                    month_start,
                    doc=need,
                )
            )
            doc = {
                "community": code,
                "community_name": community.name,
                "title": text,
                "type": ptype.value,
                "skills": self.rng.sample(_SERVICES, 2),
                "people": self.rng.randint(1, 6),
                "owner": "社区党委",
                "starts_on": made.date().isoformat(),
                "ends_on": (made + timedelta(days=30)).date().isoformat(),
                "needs": [need_id],
            }
            status = "open"
            if i < claims:
                status = "completed" if i < completed else "claimed"
            project = PartyRecord(
                PartyKind.PROJECT, self.id("J"), cell_path(community), status, made, doc=doc
            )
            if i < claims:
                project = self._claim(project, made, done=i < completed)
            self.add(project)

    def _claimant(
        self, code: str
    ) -> tuple[dict[str, Any], list[tuple[str, str | None]], str | None]:
        """Who claims in ``code``: (the claim's fields, the crew with their units, the person
        who answers for it)."""
        draw = self.rng.random()
        teams = self.teams.get(code, [])
        if draw < 0.3 and teams:
            team = self.rng.choice(teams)
            who = {
                "by": ClaimBy.TEAM.value,
                "team_id": team.id,
                "name": team.doc["name"],
                "captain": team.person,
            }
            people = [(m["id"], m.get("unit_id")) for m in team.doc["members"]]
            return (
                who,
                self.rng.sample(people, min(len(people), self.rng.randint(3, 6))),
                team.person,
            )
        if draw < 0.4 and (teams or draw < 0.1):  # a tenth by units everywhere
            # A unit sends some of its own members registered in the community.
            units = sorted({u for _, _, u in self.members[code]})
            unit_id = self.rng.choice(units)
            unit_name = next(u.doc["name"] for u in self.units if u.id == unit_id)
            staff: list[tuple[str, str | None]] = [
                (m, u) for m, _, u in self.members[code] if u == unit_id
            ]
            crew = self.rng.sample(staff, min(len(staff), self.rng.randint(2, 5)))
            who = {"by": ClaimBy.UNIT.value, "unit_id": unit_id, "name": unit_name}
            return who, crew, None
        member, name, unit_id = self.rng.choice(self.members[code])
        who = {"by": ClaimBy.MEMBER.value, "member": member, "name": name, "unit_id": unit_id}
        # The claimant and, often, a neighbour or two registered in the same community.
        others = [(m, u) for m, _, u in self.members[code] if m != member]
        extra = self.rng.sample(others, min(len(others), self.rng.choice((0, 1, 2, 2, 3))))
        return who, [(member, unit_id), *extra], member

    def _claim(self, project: PartyRecord, made: datetime, *, done: bool) -> PartyRecord:
        who, crew, person = self._claimant(project.doc["community"])
        at = made + timedelta(hours=self.rng.uniform(2, 72))
        claim_id = self.id("C")
        doc = {
            "project_title": project.doc["title"],
            "project_type": project.doc["type"],
            "community_name": project.doc["community_name"],
            **who,
            "claimed_by": person or "社区",
        }
        if done:
            hours = [(p, unit, float(self.rng.choice((1, 1.5, 2, 2.5, 3, 4)))) for p, unit in crew]
            ended = at + timedelta(days=self.rng.uniform(1, 10))
            doc |= {
                "hours": [{"person": p, "hours": h} for p, _, h in hours],
                "total_hours": sum(h for _, _, h in hours),
                "photos": [],
                "rating": self.rng.choice(_RATINGS),
                "completed_at": ended.isoformat(),
            }
            self.out.hours += [
                HoursRow(claim_id, p, project.grid_path, ended, h, unit, who.get("team_id"))
                for p, unit, h in hours
            ]
        status = "completed" if done else "claimed"
        self.add(
            PartyRecord(
                PartyKind.CLAIM,
                claim_id,
                project.grid_path,
                status,
                at,
                ref=project.id,
                person=person,
                doc=doc,
            )
        )
        return replace(project, doc={**project.doc, "claim_id": claim_id})

    def pairings(self, count: int) -> None:
        codes = sorted(self.members)
        for _ in range(count):
            code = self.rng.choice(codes)
            community = self.h.cell(code)
            member, name, _unit = self.rng.choice(self.members[code])
            start = self.ago(self.rng.uniform(40, 200)).astimezone(self.tz)
            start = start.replace(hour=0, minute=0, second=0, microsecond=0)
            every = self.rng.choice((14, 30, 30, 30))
            doc = {
                "community": code,
                "community_name": community.name,
                "household": f"{_person(self.rng)}家（{self.rng.choice(_HOUSEHOLDS)}）",
                "member": member,
                "unit_id": None,
                "starts_on": start.date().isoformat(),
                "ends_on": (start + timedelta(days=365)).date().isoformat(),
                "every_days": every,
                "visitor": member,
                "visitor_name": name,
            }
            pairing = self.add(
                PartyRecord(
                    PartyKind.PAIRING,
                    self.id("H"),
                    cell_path(community),
                    "active",
                    start,
                    person=member,
                    doc=doc,
                )
            )
            self._visits(pairing, start, every)

    def _visits(self, pairing: PartyRecord, start: datetime, every: int) -> None:
        n, due = 1, start + timedelta(days=every)
        while True:
            if due > self.now:
                self.add(visit_record(pairing, n, due))
                return
            draw = self.rng.random()
            status = "made" if draw < 0.86 else "made_late" if draw < 0.95 else "escalated"
            made: dict[str, Any]
            if status != "escalated":
                late = (
                    timedelta(days=self.rng.uniform(0.5, 4))
                    if status == "made_late"
                    else -timedelta(days=self.rng.uniform(0, 5))
                )
                made = {
                    "made_at": (due + late).isoformat(),
                    "made_by": pairing.person,
                    "note": "走访慰问",
                }
            else:
                made = {"told": self.h.at_level(pairing.doc["community"], Level.TOWN).code}
            self.add(visit_record(pairing, n, due, status, **made))
            n, due = n + 1, due + timedelta(days=every)


def generate(
    hierarchy: Hierarchy,
    now: datetime,
    tz: tzinfo,
    *,
    seed: int = 19,
    exclude: Sequence[str] = (),
    members: int = 2600,
    projects: int = 3400,
    claims: int = 3000,
    completed: int = 2600,
    teams: int = 60,
    pairings: int = 300,
) -> Sample:
    """The sample's records for ``hierarchy``, dated back from ``now``; ``exclude`` keeps
    members out of it (the demo's member, left to register on the page)."""
    b = _Builder(hierarchy, now, tz, seed, frozenset(exclude))
    b.units_and_seats()
    b.registrations(members)
    b.volunteer_teams(teams)
    b.board(projects, claims, completed)
    b.pairings(pairings)
    return b.out


async def load_sample(store: PartyStore, sample: Sample) -> int:
    """Write the sample in units of a few thousand rows; return the records written."""
    for records, hours in sample.batches():
        await store.put(records, hours)
    return len(sample.records)
