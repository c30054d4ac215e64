"""The intake pipeline: validate -> locate in the grids -> route -> durable write -> publish.

Data flows one way. The HTTP layer hands raw JSON in and gets the stored whistle back; it
never talks to the router or the store on the intake path itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import weakref
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

import orjson
import structlog
from pydantic import ValidationError

from dispatch import (
    Catalog,
    Decision,
    DutyRoster,
    LifecyclePolicy,
    Mode,
    Router,
    RouteRequest,
    Source,
)
from dispatch.case import ACTIVE, fold
from dispatch.lifecycle import deadlines
from grids import Cell, Hierarchy, Level
from whistle.access import FILES, allow_cell
from whistle.auth import Principal, Role
from whistle.cases import case_document
from whistle.clock import Clock
from whistle.events import NewEvent
from whistle.exceptions import FieldError, Forbidden, IdempotencyConflict, InvalidWhistle
from whistle.grouping import CameraRepeats, Detection
from whistle.ids import IdFactory
from whistle.schema import WhistleIn, field_errors
from whistle.silences import Silences
from whistle.store import (
    AssignmentRow,
    Created,
    Duplicate,
    NewWhistle,
    Silence,
    Store,
    StoredWhistle,
    WhistleRow,
)
from whistle.timefmt import rfc3339

__all__ = ["Intake", "Submission", "grid_path"]

log = structlog.get_logger(__name__)

_ACTIVE = tuple(status.value for status in ACTIVE)


@dataclass(frozen=True, slots=True)
class Submission:
    """The outcome of a submit: the whistle's id and whether this call created it.

    ``document`` is the whistle as stored when this call created it (the API answers with it
    without reading it back); None for a replayed idempotency key.
    """

    whistle_id: str
    created: bool
    document: dict[str, Any] | None = None
    grouped: bool = False  # a camera repeat, added to the camera's open case
    replayed: bool = False  # a grouped repeat sent again with its key: nothing new stored


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
        silences: Silences | None = None,
        repeats: CameraRepeats | None = None,
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
        self._silences = silences
        self.repeats = repeats  # None: camera whistles never group (each opens a case)
        # One camera's detections of one category are placed one at a time, so that a burst
        # of repeats finds the case the first of them opened.
        self._camera_locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    async def submit(
        self,
        body: Any,
        *,
        idempotency_key: str | None = None,
        principal: Principal | None = None,
    ) -> Submission:
        """Validate, place, route and store ``body``; return once it is on disk.

        Raises InvalidWhistle (nothing stored), IdempotencyConflict, StoreUnavailable,
        StoreBusy.
        """
        whistle = self._validate(body)
        if principal is not None:
            _may_file(principal, whistle.source)
        request = whistle.model_dump(mode="json")
        request_hash = _fingerprint(request)
        cell = self._place(whistle)
        if principal is not None:
            allow_cell(principal, cell, "the whistle's place")
        if idempotency_key is not None:
            earlier = await self._store.find_idempotent(idempotency_key)
            if earlier is not None:
                return self._replay(earlier, idempotency_key, request_hash)
        if whistle.source is Source.CAMERA and whistle.camera_id and self.repeats is not None:
            if idempotency_key is not None:
                # A detection sent again after it joined a case: the same case, counted once.
                known = await self.repeats.known([idempotency_key])
                if idempotency_key in known:
                    return Submission(known[idempotency_key], False, grouped=True, replayed=True)
            async with self.camera_lock(whistle.camera_id, whistle.category):
                grouped = await self._group_camera(whistle, request, idempotency_key)
                if grouped is not None:
                    return grouped
                return await self._create(whistle, request, cell, idempotency_key, request_hash)
        return await self._create(whistle, request, cell, idempotency_key, request_hash)

    def camera_lock(self, camera_id: str, category: str) -> asyncio.Lock:
        """The lock under which one camera's detections of one category find or open their
        case, so that a burst of repeats finds the case the first of them opened."""
        key = (camera_id, category)
        lock = self._camera_locks.get(key)
        if lock is None:
            lock = self._camera_locks[key] = asyncio.Lock()
        return lock

    async def _create(
        self,
        whistle: WhistleIn,
        request: dict[str, Any],
        cell: Cell,
        idempotency_key: str | None,
        request_hash: str,
    ) -> Submission:
        received_at = self._clock.now()
        silence = None
        if self._silences is not None:
            silence = self._silences.match(
                camera_id=whistle.camera_id, cell=cell, category=whistle.category, at=received_at
            )
        decision = None
        if silence is None:
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
        duplicates: list[str] = []
        near = self._hierarchy.at_level(cell.code, Level.GRID).code
        if whistle.source is Source.CITIZEN:
            duplicates = await self._store.similar_cases(
                near,
                whistle.category,
                received_at - self._policy.duplicate_window.as_timedelta(),
                _ACTIVE,
            )
        whistle_id = self._ids.new()
        new = self._record(
            whistle_id,
            whistle,
            request,
            cell,
            decision,
            received_at,
            idempotency_key,
            request_hash,
            silence=silence,
            duplicates=duplicates,
            near=near,
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
                rule=None if decision is None else decision.rule_id,
                assignments=0 if decision is None else len(decision.assignments),
                muted_by=None if silence is None else silence.id,
            )
        return Submission(whistle_id, True, StoredWhistle.of(new).document())

    async def _group_camera(
        self, whistle: WhistleIn, request: dict[str, Any], key: str | None
    ) -> Submission | None:
        """Add a camera's repeat to its open case of the same category, if it has one."""
        assert whistle.camera_id is not None
        assert self.repeats is not None
        pair = (whistle.camera_id, whistle.category)
        existing = (await self.repeats.open_cases([pair])).get(pair)
        if existing is None:
            return None
        # Shaped like a feed's detection (external_id first), with the whole request.
        record = {"external_id": whistle.external_id, "request": request}
        added = await self.repeats.add(
            {existing: [Detection(key, record)]},
            {existing: whistle.reporter or whistle.camera_id},
        )
        if not added.get(existing):
            return None  # it closed meanwhile: the repeat opens a new case
        log.info("whistle.grouped", whistle_id=existing, camera_id=whistle.camera_id)
        return Submission(existing, False, None, grouped=True)

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
        decision: Decision | None,
        received_at: datetime,
        idempotency_key: str | None,
        request_hash: str,
        *,
        silence: Silence | None = None,
        duplicates: list[str] | None = None,
        near: str | None = None,
    ) -> NewWhistle:
        tz = self._tz
        category = self._catalog.get(whistle.category)
        assert category is not None  # validated
        urgency = (whistle.urgency or category.urgency).value
        hierarchy = self._hierarchy
        assignments: list[AssignmentRow] = []
        trace: list[dict[str, Any]] = []
        planned_assignments = () if decision is None else decision.assignments
        for number, planned in enumerate(planned_assignments, start=1):
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
            "urgency": urgency,
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
            "rule": None
            if decision is None
            else {"id": decision.rule_id, "name": decision.rule_name},
            "trace": trace,
            # 知会: the 网格长 of the grid, the 联户长 of the micro-grid: told, not owners.
            "informed": [] if decision is None else [i.to_dict() for i in decision.informed],
            "possible_duplicates": duplicates or [],
            "muted_by": None
            if silence is None
            else {
                "id": silence.id,
                "matcher": silence.matcher,
                "value": silence.value,
                "until": rfc3339(silence.ends_at, tz),
                "comment": silence.comment,
            },
        }
        row = WhistleRow(
            id=whistle_id,
            received_at=received_at,
            source=whistle.source.value,
            category=category.code,
            urgency=urgency,
            status="dispatched" if silence is None else "muted",
            grid_code=cell.code,
            grid_path=grid_path(cell),
            grid_level=int(cell.level),
            doc=doc,
            external_id=whistle.external_id,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            camera_id=whistle.camera_id,
            near=near,
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
        ]
        if silence is not None:
            events.append(
                NewEvent(
                    "whistle.muted",
                    whistle_id,
                    received_at,
                    silence.author,
                    {"silence": silence.id, "matcher": silence.matcher, "value": silence.value},
                )
            )
        else:
            assert decision is not None
            events.append(
                NewEvent(
                    "whistle.routed",
                    whistle_id,
                    received_at,
                    "router",
                    {
                        "rule": decision.rule_id,
                        "urgency": urgency,
                        "assignments": [
                            {**a.doc, "status": a.status, "trace": t["steps"]}
                            for a, t in zip(assignments, trace, strict=True)
                        ],
                        "possible_duplicates": duplicates or [],
                        "notify": [
                            {
                                "responder_id": a.responder_id,
                                "notice": "assignment",
                                "assignment_id": a.id,
                                "summary": f"{category.name}: {whistle.description[:80]}",
                            }
                            for a in assignments
                            if a.responder_id is not None
                        ]
                        + [
                            {
                                "responder_id": informed.responder.id,
                                "notice": "inform",
                                "assignment_id": None,
                                "summary": f"知会 {category.name}: {whistle.description[:80]}",
                            }
                            for informed in decision.informed
                        ],
                    },
                )
            )
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


def _may_file(principal: Principal, source: Source) -> None:
    """An integration files only its own source; the others, what their role may."""
    if principal.role is Role.INTEGRATION:
        if source.value != principal.source:
            raise Forbidden(f"this integration files {principal.source} whistles, not {source}")
    elif principal.role is None or source not in FILES.get(principal.role, ()):
        role = principal.role.value if principal.role else "public"
        raise Forbidden(f"{role} may not file {source} whistles")


def _fingerprint(request: dict[str, Any]) -> str:
    """A hash of what was asked, to tell a retry from a different request with the same key."""
    canonical = orjson.dumps(request, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()
