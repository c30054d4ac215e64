"""The dispatch vocabulary: whistle sources, urgency, delivery modes, and trace words.

All are closed sets, so they are StrEnums: config files and the HTTP API use their values.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Mode", "Origin", "Source", "StepResult", "Urgency"]


class Source(StrEnum):
    """Who blew the whistle (五哨): each source has its own rules for who must report."""

    CITIZEN = "citizen"  # 群众吹哨
    COMMUNITY = "community"  # 社区党组织吹哨
    TOWN_COMMITTEE = "town_committee"  # 镇党委吹哨
    POLICE = "police"  # 警情吹哨
    CAMERA = "camera"  # 天眼吹哨

    @property
    def label_zh(self) -> str:
        """The Chinese name of the whistle, e.g. ``群众吹哨``."""
        return _SOURCE_ZH[self]


_SOURCE_ZH = {
    Source.CITIZEN: "群众吹哨",
    Source.COMMUNITY: "社区党组织吹哨",
    Source.TOWN_COMMITTEE: "镇党委吹哨",
    Source.POLICE: "警情吹哨",
    Source.CAMERA: "天眼吹哨",
}


class Urgency(StrEnum):
    """How fast a case must be acknowledged; each category has a default."""

    URGENT = "urgent"
    NORMAL = "normal"

    @property
    def label_zh(self) -> str:
        """紧急 or 一般."""
        return "紧急" if self is Urgency.URGENT else "一般"


class Mode(StrEnum):
    """How a case reaches responders."""

    PUSH = "push"  # a named responder must acknowledge by a deadline
    CLAIM = "claim"  # posted on a board for eligible members to claim (认领)

    @property
    def label_zh(self) -> str:
        """派单 or 认领."""
        return "派单" if self is Mode.PUSH else "认领"


class Origin(StrEnum):
    """Why an assignment is in a decision."""

    RULE = "rule"  # one of the matching rule's reports
    CATEGORY = "category"  # the category always needs this kind (``needs``)
    BACKSTOP = "backstop"  # nobody of the needed kind up to the county: the county backstop
    BACKUP = "backup"  # the A post was silent (or off duty): its B post (AB岗)
    DUTY = "duty"  # the post and its B post are off duty: the duty person of the level (值班)
    ESCALATION = "escalation"  # a missed deadline: the same kind of responder one level up
    REROUTE = "reroute"  # the previous responder returned the case (退单)
    UNCLAIMED = "unclaimed"  # nobody claimed the need in time: pushed to the grid worker
    NAMED = "named"  # the town committee named this unit in its whistle (镇党委点名)


class StepResult(StrEnum):
    """What the router found at one cell while climbing for a responder kind."""

    CHOSEN = "chosen"  # this responder was picked
    NONE_OF_KIND = "none_of_kind"  # no responder of the kind is attached here
    CANNOT_HANDLE = "cannot_handle"  # a responder of the kind is here but not for this category
    BACKSTOP = "backstop"  # the county backstop was picked after the climb found nobody
    BOARD = "board"  # claim mode: posted on this cell's board for the eligible members
    EXCLUDED = "excluded"  # already had this case (returned it, or missed its deadline)
    OFF_DUTY = "off_duty"  # off duty now (duty roster): its B post, then the duty person, is tried
    SPREAD = "spread"  # several units fit: tried by category fit, then fewest open cases
