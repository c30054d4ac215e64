"""What the router decides: who must report for a whistle, by when, and the trace of why.

All frozen and JSON-ready through ``to_dict()``: the HTTP API returns a decision as the
whistle's ``trace``, and the dispatcher turns each planned assignment into a real one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from dispatch.catalog import Category
from dispatch.model import Mode, Origin, Source, StepResult, Urgency
from grids.model import Level, Responder, ResponderKind

__all__ = ["Decision", "Informed", "PlannedAssignment", "TraceStep"]


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _local(moment: datetime | None, tz: tzinfo) -> str | None:
    return None if moment is None else moment.astimezone(tz).isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class TraceStep:
    """One thing the router saw while climbing from the start cell towards the county."""

    cell: str
    level: Level
    result: StepResult
    responder_id: str | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: enum values as strings."""
        return {
            "cell": self.cell,
            "level": self.level.key,
            "result": self.result.value,
            "responder_id": self.responder_id,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class PlannedAssignment:
    """One responder (push) or one board (claim) that must report for the whistle.

    ``kind`` is the kind the report asked for; the responder may be the county backstop
    instead (``origin`` is then ``backstop``). ``cell``/``level`` say where it was found.
    A push has ``acknowledge_due``; a claim has ``responder`` None, ``claim_due`` and the ids
    of the ``eligible`` members. ``needed_by`` names what asked for it, for explanations.
    """

    kind: ResponderKind
    mode: Mode
    responder: Responder | None
    cell: str
    level: Level
    origin: Origin
    rule_id: str
    report_index: int
    acknowledge_due: datetime | None
    claim_due: datetime | None
    resolve_due: datetime
    eligible: tuple[str, ...] = ()
    trace: tuple[TraceStep, ...] = ()
    needed_by: str = ""

    @property
    def responder_id(self) -> str | None:
        """The pushed responder's id; None for a claim board."""
        return None if self.responder is None else self.responder.id

    def explain(self) -> str:
        """One line for people, e.g. ``rule citizen (群众吹哨) needs registered_member from
        grid 530524101001001: chose R000123 张三 at 530524101001001``."""
        start = self.trace[0] if self.trace else None
        where = f" from {start.level.key} {start.cell}" if start is not None else ""
        head = f"{self.needed_by or 'rule ' + self.rule_id} needs {self.kind.value}{where}"
        skipped = sum(
            1
            for step in self.trace
            if step.result is StepResult.CANNOT_HANDLE and step.responder_id is not None
        )
        tail = f" (skipped {skipped} who cannot handle it)" if skipped else ""
        if self.mode is Mode.CLAIM:
            return (
                f"{head}: posted on the claim board at {self.cell} for "
                f"{len(self.eligible)} eligible{tail}"
            )
        assert self.responder is not None
        who = f"{self.responder.id} {self.responder.name}"
        if self.origin is Origin.BACKSTOP:
            return f"{head}: nobody up to the county{tail}; backstop {who} at {self.cell}"
        return f"{head}: chose {who} at {self.cell}{tail}"

    def document(self, assignment_id: str, *, cell_name: str, tz: tzinfo) -> dict[str, Any]:
        """The assignment as stored and shown by the API (times in ``tz``, to the ms)."""
        responder = self.responder
        claim = self.mode is Mode.CLAIM
        return {
            "id": assignment_id,
            "responder": None
            if responder is None
            else {"id": responder.id, "name": responder.name, "kind": responder.kind.value},
            "kind": self.kind.value,
            "kind_name": self.kind.label_zh,
            "mode": self.mode.value,
            "cell": self.cell,
            "cell_name": cell_name,
            "level": self.level.key,
            "origin": self.origin.value,
            "eligible": len(self.eligible) if claim else None,
            "eligible_ids": list(self.eligible) if claim else None,
            "acknowledge_due": _local(self.acknowledge_due, tz),
            "claim_due": _local(self.claim_due, tz),
            "resolve_due": _local(self.resolve_due, tz),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ISO 8601 times with their offset, enum values as strings."""
        responder = self.responder
        return {
            "kind": self.kind.value,
            "mode": self.mode.value,
            "responder": None
            if responder is None
            else {"id": responder.id, "name": responder.name, "kind": responder.kind.value},
            "cell": self.cell,
            "level": self.level.key,
            "origin": self.origin.value,
            "rule_id": self.rule_id,
            "report_index": self.report_index,
            "acknowledge_due": _iso(self.acknowledge_due),
            "claim_due": _iso(self.claim_due),
            "resolve_due": _iso(self.resolve_due),
            "eligible": list(self.eligible),
            "trace": [step.to_dict() for step in self.trace],
            "explanation": self.explain(),
        }


@dataclass(frozen=True, slots=True)
class Informed:
    """A responder told of the case (知会) without owning it: no deadline, nothing to
    acknowledge. The 网格长 of the grid is informed of every case in it, the 联户长 of the
    micro-grid of citizens' whistles there (rules.toml ``inform``)."""

    responder: Responder
    kind: ResponderKind
    cell: str
    level: Level
    rule_id: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as the whistle's ``informed`` list shows it."""
        return {
            "responder": {
                "id": self.responder.id,
                "name": self.responder.name,
                "kind": self.responder.kind.value,
            },
            "kind": self.kind.value,
            "kind_name": self.kind.label_zh,
            "cell": self.cell,
            "level": self.level.key,
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """The router's answer for one whistle: the rule that matched and every assignment.

    Never empty: when nobody of a needed kind exists up to the county, the backstop is in it.
    """

    rule_id: str
    rule_name: str
    source: Source
    category: Category
    urgency: Urgency
    cell: str
    received_at: datetime
    assignments: tuple[PlannedAssignment, ...]
    informed: tuple[Informed, ...] = ()

    def explain(self) -> list[str]:
        """One line per assignment."""
        return [assignment.explain() for assignment in self.assignments]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as the HTTP API returns it."""
        return {
            "rule_id": self.rule_id,
            "rule_name": self.rule_name,
            "source": self.source.value,
            "source_label": self.source.label_zh,
            "category": self.category.to_dict(),
            "urgency": self.urgency.value,
            "cell": self.cell,
            "received_at": self.received_at.isoformat(),
            "assignments": [assignment.to_dict() for assignment in self.assignments],
            "informed": [informed.to_dict() for informed in self.informed],
        }
