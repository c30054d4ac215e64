"""What the intake writes for a new whistle, built as the documents say (``whistle.documents``):
its document, its assignments with the trace of why each went where, and the data of its first
events. Pure functions of the router's decision and the county; the intake does the rest
(placing, routing, the write)."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from dispatch import Decision, Mode
from dispatch.catalog import Category
from dispatch.decision import Informed, TraceStep
from grids import Cell, Hierarchy
from whistle import documents
from whistle.auth import Principal
from whistle.documents import (
    FiledBy,
    Location,
    Placement,
    SilenceWarning,
    TraceEntry,
    WhistleRecord,
)
from whistle.events import NewEvent
from whistle.schema import WhistleIn
from whistle.silences import SilenceMatch, describe
from whistle.store import AssignmentRow
from whistle.timefmt import rfc3339

__all__ = [
    "assignment_rows",
    "filed_by",
    "grid_place",
    "muted_event",
    "received_event",
    "routed_data",
    "unplaced_event",
    "whistle_document",
]


def assignment_rows(
    whistle_id: str, decision: Decision | None, hierarchy: Hierarchy, tz: tzinfo
) -> tuple[list[AssignmentRow], list[TraceEntry]]:
    """The decision's assignments as rows, numbered from 1, and why each went where."""
    assignments: list[AssignmentRow] = []
    trace: list[TraceEntry] = []
    for number, planned in enumerate(() if decision is None else decision.assignments, 1):
        assignment_id = f"{whistle_id}-{number}"
        responder = planned.responder
        doc = planned.document(assignment_id, cell_name=hierarchy.cell(planned.cell).name, tz=tz)
        assignments.append(
            AssignmentRow(
                id=assignment_id,
                whistle_id=whistle_id,
                responder_id=None if responder is None else responder.id,
                kind=planned.kind.value,
                mode=planned.mode.value,
                status="dispatched" if planned.mode is Mode.PUSH else "open",
                cell=planned.cell,
                acknowledge_due=planned.acknowledge_due,
                claim_due=planned.claim_due,
                resolve_due=planned.resolve_due,
                doc=doc,
            )
        )
        trace.append(
            {
                "assignment": assignment_id,
                "rule": planned.rule_id,
                "origin": planned.origin.value,
                "chosen_at": planned.cell,
                "explain": planned.explain(),
                "steps": [_step(step) for step in planned.trace],
            }
        )
    return assignments, trace


def whistle_document(
    whistle_id: str,
    whistle: WhistleIn,
    cell: Cell,
    decision: Decision | None,
    received_at: datetime,
    *,
    hierarchy: Hierarchy,
    category: Category,
    trace: list[TraceEntry],
    silence: SilenceMatch | None,
    duplicates: list[str],
    filed_by: FiledBy,
    tz: tzinfo,
    placement: Placement | None = None,
    config_version: int | None = None,
) -> WhistleRecord:
    """The whistle's own document, as stored (see ``whistle.documents.WhistleRecord``)."""
    muted = warning = None
    if silence is not None and silence.muted:
        muted = describe(silence.silence, tz)
    elif silence is not None:
        warning = _warning(silence, tz)
    location: Location = {
        "grid": whistle.location.grid,
        "lat": whistle.location.lat,
        "lon": whistle.location.lon,
    }
    if whistle.location.address is not None:
        location["address"] = whistle.location.address
    doc: WhistleRecord = {
        "id": whistle_id,
        "case_number": None,  # 受理编号: drawn by the store in the write's transaction
        "source": whistle.source.value,
        "source_name": whistle.source.label_zh,
        "category": {
            "code": category.code,
            "name": category.name,
            "name_en": category.name_en,
            "type": category.type.value,
        },
        "urgency": (whistle.urgency or category.urgency).value,
        "description": whistle.description,
        "location": location,
        "grid": grid_place(cell, hierarchy),
        "reporter": whistle.reporter,
        "filed_by": filed_by,
        "occurred_at": rfc3339(whistle.occurred_at, tz),
        "received_at": rfc3339(received_at, tz),
        "media_urls": whistle.media_urls,
        "camera_id": whistle.camera_id,
        "external_id": whistle.external_id,
        "rule": None if decision is None else {"id": decision.rule_id, "name": decision.rule_name},
        "config_version": config_version,
        "trace": trace,
        # 知会: the 网格长 of the grid, the 联户长 of the micro-grid: told, not owners.
        "informed": [] if decision is None else [_informed(i) for i in decision.informed],
        "possible_duplicates": duplicates,
        "muted_by": muted,
        "silence_warning": warning,
    }
    if placement is not None:
        doc["placement"] = placement
    return doc


def grid_place(cell: Cell, hierarchy: Hierarchy) -> documents.GridPlace:
    """A cell as a whistle's ``grid``: code, name, level and its chain from the county."""
    return {
        "code": cell.code,
        "name": cell.name,
        "level": cell.level.key,
        "path": [
            {"code": c.code, "name": c.name, "level": c.level.key}
            for c in (hierarchy.cell(code) for code in cell.path)
        ],
    }


def unplaced_event(doc: WhistleRecord, at: datetime) -> NewEvent:
    """The event of a whistle whose address placed nothing: held for an operator (待定位)."""
    placement = doc.get("placement")
    data = {
        "address": None if placement is None else placement["address"],
        "reason": None if placement is None else placement["reason"],
        "held_at": doc["grid"]["code"],
    }
    return NewEvent("whistle.unplaced", doc["id"], at, doc["reporter"], data)


def filed_by(principal: Principal | None) -> FiledBy:
    """Who filed a whistle, as authenticated: how (``kind``: token, session, signature,
    open311, cli, public), under which name (a token's id or a login's name) and role."""
    if principal is None:
        return {"kind": "public", "id": None, "role": None, "responder_id": None}
    return {
        "kind": principal.via,
        "id": principal.id,
        "role": None if principal.role is None else principal.role.value,
        "responder_id": principal.responder_id,
    }


def received_event(
    doc: WhistleRecord, request: dict[str, Any], client_key: str | None, at: datetime
) -> NewEvent:
    """The first event of every whistle: what was asked (``request``, with the idempotency
    key as the caller sent it), where it was placed and who filed it."""
    data = {
        "request": request,
        "grid": doc["grid"]["code"],
        "idempotency_key": client_key,
        "filed_by": doc["filed_by"],
    }
    return NewEvent("whistle.received", doc["id"], at, doc["reporter"], data)


def muted_event(whistle_id: str, at: datetime, silence: SilenceMatch, tz: tzinfo) -> NewEvent:
    """The event of a whistle a silence muted: kept and shown, never routed."""
    data = {"silence": silence.silence.id, **describe(silence.silence, tz)}
    return NewEvent("whistle.muted", whistle_id, at, silence.silence.author, data)


def routed_data(
    doc: WhistleRecord,
    decision: Decision,
    assignments: list[AssignmentRow],
    trace: list[TraceEntry],
) -> dict[str, Any]:
    """The data of a whistle's ``whistle.routed`` event: its assignments (with their
    traces), its likely duplicates, and who is told (by webhook notices)."""
    summary = f"{doc['category']['name']}: {doc['description'][:80]}"
    notify: list[dict[str, Any]] = [
        {
            "responder_id": a.responder_id,
            "notice": "assignment",
            "assignment_id": a.id,
            "summary": summary,
        }
        for a in assignments
        if a.responder_id is not None
    ]
    notify.extend(
        {
            "responder_id": informed.responder.id,
            "notice": "inform",
            "assignment_id": None,
            "summary": f"知会 {summary}",
        }
        for informed in decision.informed
    )
    data: dict[str, Any] = {
        "rule": decision.rule_id,
        # The version that routed it: an id, not the files (GET /api/v1/config/versions/{id}).
        "config_version": doc.get("config_version"),
        "urgency": doc["urgency"],
        "assignments": [
            {**a.doc, "status": a.status, "trace": t["steps"]}
            for a, t in zip(assignments, trace, strict=True)
        ],
        "possible_duplicates": doc["possible_duplicates"],
        "notify": notify,
    }
    if doc["silence_warning"] is not None:
        # An emergency a silence covered: dispatched, and the timeline says which.
        data["silence_warning"] = doc["silence_warning"]
    return data


def _step(step: TraceStep) -> documents.TraceStep:
    return {
        "cell": step.cell,
        "level": step.level.key,
        "result": step.result.value,
        "responder_id": step.responder_id,
        "note": step.note,
    }


def _informed(informed: Informed) -> documents.Informed:
    responder = informed.responder
    return {
        "responder": {"id": responder.id, "name": responder.name, "kind": responder.kind.value},
        "kind": informed.kind.value,
        "kind_name": informed.kind.label_zh,
        "cell": informed.cell,
        "level": informed.level.key,
    }


def _warning(silence: SilenceMatch, tz: tzinfo) -> SilenceWarning:
    named = describe(silence.silence, tz)
    return {
        "id": named["id"],
        "matchers": named["matchers"],
        "author": named["author"],
        "comment": named["comment"],
        "until": named["until"],
        "warning": silence.warning,
    }
