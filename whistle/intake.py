"""The intake pipeline: validate -> locate in the grids -> route -> durable write -> publish.

Data flows one way. The HTTP layer hands raw JSON in and gets the stored whistle back; it
never talks to the router or the store on the intake path itself.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

import orjson
import structlog
from pydantic import ValidationError

from dispatch import Catalog, Decision, DutyRoster, LifecyclePolicy, Mode, Router, RouteRequest
from dispatch.case import fold
from dispatch.lifecycle import deadlines
from grids import Cell, Hierarchy
from whistle.cases import case_document
from whistle.clock import Clock
from whistle.events import NewEvent
from whistle.exceptions import FieldError, IdempotencyConflict, InvalidWhistle
from whistle.ids import IdFactory
from whistle.schema import WhistleIn, field_errors
from whistle.store import (
    AssignmentRow,
    Created,
    Duplicate,
    NewWhistle,
    Store,
    StoredWhistle,
    WhistleRow,
)
from whistle.timefmt import rfc3339

__all__ = ["Intake", "Submission", "grid_path"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Submission:
    """The outcome of a submit: the whistle's id and whether this call created it.

    ``document`` is the whistle as stored when this call created it (the API answers with it
    without reading it back); None for a replayed idempotency key.
    """

    whistle_id: str
    created: bool
    document: dict[str, Any] | None = None


def grid_path(cell: Cell) -> str:
    """The stored form of a cell's ancestry: ``/root/.../code/`` (prefix = subtree)."""
    return "/" + "/".join(cell.path) + "/"


class Intake:
    """Turns posted JSON into a stored, routed whistle."""

    def __init__(
        self,
        *,
        hierarchy: Hierarchy,
        router: Router,
        catalog: Catalog,
        store: Store,
        clock: Clock,
        ids: IdFactory,
        tz: tzinfo,
        policy: LifecyclePolicy | None = None,
        duty: DutyRoster | None = None,
    ) -> None:
        self._hierarchy = hierarchy
        self._router = router
        self._catalog = catalog
        self._store = store
        self._clock = clock
        self._ids = ids
        self._tz = tz
        self._policy = policy or LifecyclePolicy()
        self._duty = duty or DutyRoster.always()

    async def submit(self, body: Any, *, idempotency_key: str | None = None) -> Submission:
        """Validate, place, route and store ``body``; return once it is on disk.

        Raises InvalidWhistle (nothing stored), IdempotencyConflict, StoreUnavailable,
        StoreBusy.
        """
        whistle = self._validate(body)
        request = whistle.model_dump(mode="json")
        request_hash = _fingerprint(request)
        if idempotency_key is not None:
            earlier = await self._store.find_idempotent(idempotency_key)
            if earlier is not None:
                return self._replay(earlier, idempotency_key, request_hash)
        cell = self._place(whistle)
        received_at = self._clock.now()
        decision = self._router.route(
            RouteRequest(
                source=whistle.source,
                category=whistle.category,
                cell=cell.code,
                urgency=whistle.urgency,
                received_at=received_at,
            ),
            on_duty=self._duty.on_duty,
        )
        whistle_id = self._ids.new()
        new = self._record(
            whistle_id, whistle, request, cell, decision, received_at, idempotency_key, request_hash
        )
        with structlog.contextvars.bound_contextvars(whistle_id=whistle_id, grid=cell.code):
            outcome = await self._store.create_whistle(new)
            if isinstance(outcome, Duplicate):
                # Another request with the same key won the race inside the writer.
                assert idempotency_key is not None
                return self._replay(outcome, idempotency_key, request_hash)
            assert isinstance(outcome, Created)
            log.info(
                "whistle.created",
                source=whistle.source.value,
                category=whistle.category,
                rule=decision.rule_id,
                assignments=len(decision.assignments),
            )
        return Submission(whistle_id, True, StoredWhistle.of(new).document())

    # -- steps ---------------------------------------------------------------------------

    def _validate(self, body: Any) -> WhistleIn:
        if not isinstance(body, dict):
            raise InvalidWhistle([FieldError("body", "expected a JSON object")])
        errors: list[FieldError] = []
        whistle: WhistleIn | None = None
        try:
            whistle = WhistleIn.model_validate(body)
        except ValidationError as exc:
            errors = field_errors(exc)
        category = body.get("category")
        if (
            isinstance(category, str)
            and category.strip()
            and not any(e.field == "category" for e in errors)
        ) and self._catalog.get(category.strip()) is None:
            errors.append(
                FieldError(
                    "category",
                    f"unknown category {category.strip()!r}; see GET /api/v1/categories",
                )
            )
        location = body.get("location")
        if isinstance(location, dict):
            grid = location.get("grid")
            if isinstance(grid, str) and grid.strip() and grid.strip() not in self._hierarchy:
                errors.append(FieldError("location.grid", f"unknown grid code {grid.strip()!r}"))
        if errors:
            raise InvalidWhistle(errors)
        assert whistle is not None
        return whistle

    def _place(self, whistle: WhistleIn) -> Cell:
        location = whistle.location
        if location.grid is not None:
            return self._hierarchy.cell(location.grid)
        assert location.lat is not None
        assert location.lon is not None
        cell = self._hierarchy.locate(location.lat, location.lon)
        if cell is None:
            root = self._hierarchy.cell(self._hierarchy.root)
            raise InvalidWhistle(
                [
                    FieldError(
                        "location",
                        f"point ({location.lat}, {location.lon}) is outside every grid cell "
                        f"of {root.name} ({root.code})",
                    )
                ]
            )
        return cell

    def _replay(self, earlier: Duplicate, key: str, request_hash: str) -> Submission:
        if earlier.request_hash is not None and earlier.request_hash != request_hash:
            raise IdempotencyConflict(key, earlier.whistle_id)
        return Submission(earlier.whistle_id, False)

    def _record(
        self,
        whistle_id: str,
        whistle: WhistleIn,
        request: dict[str, Any],
        cell: Cell,
        decision: Decision,
        received_at: datetime,
        idempotency_key: str | None,
        request_hash: str,
    ) -> NewWhistle:
        tz = self._tz
        category = decision.category
        hierarchy = self._hierarchy
        assignments: list[AssignmentRow] = []
        trace: list[dict[str, Any]] = []
        for number, planned in enumerate(decision.assignments, start=1):
            assignment_id = f"{whistle_id}-{number}"
            responder = planned.responder
            doc = planned.document(
                assignment_id, cell_name=hierarchy.cell(planned.cell).name, tz=tz
            )
            status = "dispatched" if planned.mode is Mode.PUSH else "open"
            assignments.append(
                AssignmentRow(
                    id=assignment_id,
                    whistle_id=whistle_id,
                    responder_id=None if responder is None else responder.id,
                    kind=planned.kind.value,
                    mode=planned.mode.value,
                    status=status,
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
                    "steps": [step.to_dict() for step in planned.trace],
                }
            )
        location = whistle.location
        doc = {
            "id": whistle_id,
            "source": whistle.source.value,
            "source_name": whistle.source.label_zh,
            "category": {
                "code": category.code,
                "name": category.name,
                "name_en": category.name_en,
                "type": category.type.value,
            },
            "urgency": decision.urgency.value,
            "description": whistle.description,
            "location": {
                "grid": location.grid,
                "lat": location.lat,
                "lon": location.lon,
            },
            "grid": {
                "code": cell.code,
                "name": cell.name,
                "level": cell.level.key,
                "path": [
                    {"code": c.code, "name": c.name, "level": c.level.key}
                    for c in (hierarchy.cell(code) for code in cell.path)
                ],
            },
            "reporter": whistle.reporter,
            "occurred_at": rfc3339(whistle.occurred_at, tz),
            "received_at": rfc3339(received_at, tz),
            "media_urls": whistle.media_urls,
            "camera_id": whistle.camera_id,
            "external_id": whistle.external_id,
            "rule": {"id": decision.rule_id, "name": decision.rule_name},
            "trace": trace,
        }
        row = WhistleRow(
            id=whistle_id,
            received_at=received_at,
            source=whistle.source.value,
            category=category.code,
            urgency=decision.urgency.value,
            status="dispatched",
            grid_code=cell.code,
            grid_path=grid_path(cell),
            grid_level=int(cell.level),
            doc=doc,
            external_id=whistle.external_id,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
        )
        events = [
            NewEvent(
                "whistle.received",
                whistle_id,
                received_at,
                whistle.reporter,
                {
                    "request": request,
                    "grid": cell.code,
                    "idempotency_key": idempotency_key,
                },
            ),
            NewEvent(
                "whistle.routed",
                whistle_id,
                received_at,
                "router",
                {
                    "rule": decision.rule_id,
                    "urgency": decision.urgency.value,
                    "assignments": [
                        {**a.doc, "status": a.status, "trace": t["steps"]}
                        for a, t in zip(assignments, trace, strict=True)
                    ],
                    "notify": [
                        {
                            "responder_id": a.responder_id,
                            "notice": "assignment",
                            "assignment_id": a.id,
                            "summary": f"{category.name}: {whistle.description[:80]}",
                        }
                        for a in assignments
                        if a.responder_id is not None
                    ],
                },
            ),
        ]
        # The new case's first deadlines, from the same fold every later step uses.
        state = fold(events, whistle_id)
        pending = deadlines(state, self._router, self._policy)
        events[-1].data["deadlines"] = {key: due.isoformat() for key, due in pending.items()}
        return NewWhistle(
            row,
            assignments,
            events,
            deadlines=list(pending.items()),
            case_doc=case_document(state, tz),
        )


def _fingerprint(request: dict[str, Any]) -> str:
    """A hash of what was asked, to tell a retry from a different request with the same key."""
    canonical = orjson.dumps(request, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()
