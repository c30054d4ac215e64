"""The words of the party-building side and the shapes its records are made from.

Closed sets are enums with their Chinese names; request bodies are pydantic models (unknown
fields refused, strings stripped), checked again against the grid tree by the service.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from whistle.schema import INPUT

__all__ = [
    "RATINGS",
    "ClaimBy",
    "ClaimIn",
    "CompleteIn",
    "HoursIn",
    "MatterIn",
    "MeetingIn",
    "NeedIn",
    "PactIn",
    "PairingIn",
    "ProjectIn",
    "ProjectType",
    "RegistrationIn",
    "SeatIn",
    "TeamIn",
    "TeamKind",
    "TeamMemberIn",
    "UnitIn",
    "UnitType",
    "VisitIn",
]

Text = Annotated[str, Field(min_length=1, max_length=200)]
Code = Annotated[str, Field(min_length=1, max_length=32)]
Ref = Annotated[str, Field(min_length=1, max_length=64)]
Items = Annotated[list[Text], Field(max_length=50)]


class UnitType(StrEnum):
    """What kind of unit (单位) it is."""

    ORGAN = "organ"  # 机关
    INSTITUTION = "institution"  # 企事业单位
    PRIVATE = "private"  # 非公企业
    SOCIAL = "social"  # 社会组织
    CIVILISED = "civilised"  # 文明单位

    @property
    def label_zh(self) -> str:
        return {
            "organ": "机关",
            "institution": "企事业单位",
            "private": "非公企业",
            "social": "社会组织",
            "civilised": "文明单位",
        }[self.value]


class ProjectType(StrEnum):
    """What a project of the 项目库 does."""

    MEDIATION = "mediation"  # 纠纷调解
    PATROL = "patrol"  # 治安巡逻
    PUBLICITY = "publicity"  # 政策宣传
    CULTURE = "culture"  # 文体活动
    ASSISTANCE = "assistance"  # 帮扶
    ENVIRONMENT = "environment"  # 环境整治

    @property
    def label_zh(self) -> str:
        return {
            "mediation": "纠纷调解",
            "patrol": "治安巡逻",
            "publicity": "政策宣传",
            "culture": "文体活动",
            "assistance": "帮扶",
            "environment": "环境整治",
        }[self.value]


class TeamKind(StrEnum):
    """新时代文明实践 volunteer teams, and the party members' own service teams."""

    LEIFENG = "leifeng"  # 雷锋志愿者
    WOMEN = "women"  # 巾帼志愿者
    YOUTH = "youth"  # 青年志愿者
    SAFETY = "safety"  # 平安志愿者
    PARTY = "party"  # 党员服务队

    @property
    def label_zh(self) -> str:
        return {
            "leifeng": "雷锋志愿服务队",
            "women": "巾帼志愿服务队",
            "youth": "青年志愿服务队",
            "safety": "平安志愿服务队",
            "party": "党员服务队",
        }[self.value]


class ClaimBy(StrEnum):
    """Who claims a project: one member, a team with its captain (组团认领), or a unit."""

    MEMBER = "member"
    TEAM = "team"
    UNIT = "unit"


# Residents' rating of a completed claim: the five grades of 好差评.
RATINGS = {
    "very_satisfied": "非常满意",
    "satisfied": "满意",
    "basically_satisfied": "基本满意",
    "dissatisfied": "不满意",
    "very_dissatisfied": "非常不满意",
}
Rating = Literal[
    "very_satisfied", "satisfied", "basically_satisfied", "dissatisfied", "very_dissatisfied"
]


class UnitIn(BaseModel):
    """A unit: where it sits, its party organisation, contact and party members."""

    model_config = INPUT
    name: Text
    type: UnitType
    community: Code
    party_org: Text
    contact: Annotated[str, Field(max_length=100)] = ""
    members: Annotated[int, Field(ge=0, le=100_000)] = 0


class SeatIn(BaseModel):
    """A unit's seat on a community's 大党委, held by a 兼职委员."""

    model_config = INPUT
    unit_id: Ref
    community: Code
    member_name: Text
    role: Text = "兼职委员"


class PactIn(BaseModel):
    """结对共建 (or 文明单位包保社区): a unit paired with a community, and its 资源清单."""

    model_config = INPUT
    unit_id: Ref
    community: Code
    kind: Literal["共建", "包保"] = "共建"
    resources: Items = []
    since: date


class MatterIn(BaseModel):
    """One matter a 联席会议 decided, who took it, and whether it goes on the board as a need
    or in as a case (``category``: the case's category code)."""

    model_config = INPUT
    text: Annotated[str, Field(min_length=1, max_length=500)]
    taken_by: Text
    becomes: Literal["need", "case"] | None = None
    category: Code | None = None


class MeetingIn(BaseModel):
    """A 联席会议 (大事共议)."""

    model_config = INPUT
    community: Code
    held_on: date
    attendees: Annotated[list[Text], Field(min_length=1, max_length=100)]
    matters: Annotated[list[MatterIn], Field(max_length=30)] = []


class RegistrationIn(BaseModel):
    """双报到: a member registers where they live, with their unit; a unit registers with the
    community it pairs with (no ``member``)."""

    model_config = INPUT
    community: Code
    unit_id: Ref
    member: Ref | None = None
    name: Text | None = None
    since: date | None = None
    services: Items = []


class NeedIn(BaseModel):
    """One line of a community's monthly 群众需求清单."""

    model_config = INPUT
    community: Code
    month: Annotated[str, Field(pattern=r"^20[0-9]{2}-(0[1-9]|1[0-2])$")]
    text: Annotated[str, Field(min_length=1, max_length=500)]
    households: Annotated[int, Field(ge=0, le=100_000)] = 1


class ProjectIn(BaseModel):
    """A project of the 项目库, made from needs."""

    model_config = INPUT
    community: Code
    title: Text
    type: ProjectType
    skills: Items = []
    people: Annotated[int, Field(ge=1, le=500)] = 1
    starts_on: date
    ends_on: date
    owner: Text
    needs: Annotated[list[Ref], Field(max_length=50)] = []


class TeamMemberIn(BaseModel):
    """A volunteer: party members and others alike."""

    model_config = INPUT
    id: Ref
    name: Text
    party_member: bool = False
    unit_id: Ref | None = None


class TeamIn(BaseModel):
    """A volunteer team (志愿服务队) and its captain (one of its members)."""

    model_config = INPUT
    community: Code
    name: Text
    kind: TeamKind
    captain: Ref
    members: Annotated[list[TeamMemberIn], Field(min_length=1, max_length=500)]
    # The roster's responder this team is, when whistles call on it (the 平安志愿者 a camera
    # whistle sends, a 巡防队): its cases are then this team's.
    responder_id: Ref | None = None


class ClaimIn(BaseModel):
    """A claim of a project: by the calling member, by a team (``team_id``; the captain
    answers for it) or by a unit (``unit_id``)."""

    model_config = INPUT
    by: ClaimBy
    team_id: Ref | None = None
    unit_id: Ref | None = None
    member: Ref | None = None


class HoursIn(BaseModel):
    model_config = INPUT
    person: Ref
    hours: Annotated[float, Field(gt=0, le=24)]


class CompleteIn(BaseModel):
    """A claim done: hours per person, photos, and the residents' rating."""

    model_config = INPUT
    hours: Annotated[list[HoursIn], Field(min_length=1, max_length=500)]
    photos: Annotated[list[Ref], Field(max_length=9)] = []
    rating: Rating | None = None
    note: Annotated[str, Field(max_length=500)] = ""


class PairingIn(BaseModel):
    """结对帮扶: a member or unit paired with a household for a period, visiting every
    ``every_days`` days."""

    model_config = INPUT
    community: Code
    household: Text
    member: Ref | None = None
    unit_id: Ref | None = None
    starts_on: date
    ends_on: date
    every_days: Annotated[int, Field(ge=1, le=180)] = 30


class VisitIn(BaseModel):
    """A visit made."""

    model_config = INPUT
    note: Annotated[str, Field(max_length=500)] = ""
    photos: Annotated[list[Ref], Field(max_length=9)] = []
