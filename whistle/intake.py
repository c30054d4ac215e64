"""The intake pipeline: validate -> locate in the grids -> route -> durable write -> publish.

Data flows one way. The HTTP layer hands raw JSON in and gets the stored whistle back; it
never talks to the router or the store on the intake path itself.

Two rules keep one subtree's callers out of another's cases on this path:

- A whistle naming a camera (``camera_id``) is a camera whistle of a camera in
  ``cameras.csv``, whose own cell lies in the caller's scope, placed inside that cell (at the
  camera's place when the location is left out). Its repeats join only an open case of that
  camera inside that cell.
- Idempotency keys belong to a namespace (:func:`key_namespace`: the caller's scope), so two
  towns may use one key independently, and a key never finds a whistle of another subtree.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, cast

import orjson
import structlog
from pydantic import ValidationError

from dispatch import (
    CalendarEndError,
    Catalog,
    Decision,
    DutyRoster,
    LifecyclePolicy,
    Router,
    RouteRequest,
    Source,
)
from dispatch.case import fold
from dispatch.lifecycle import deadlines
from grids import Cell, Hierarchy, Level, ResponderKind
from grids.gazetteer import Gazetteer
from whistle import filing
from whistle.auth import FILES, Principal, Role, allow_cell
from whistle.cameras import CAMERAS_FILE, CameraRegistry
from whistle.cases import case_document
from whistle.clock import Clock
from whistle.documents import FiledBy, TraceEntry, WhistleRecord
from whistle.events import NewEvent, StreamFacts
from whistle.exceptions import FieldError, Forbidden, IdempotencyConflict, InvalidWhistle
from whistle.grouping import CameraRepeats, Detection
from whistle.ids import IdFactory
from whistle.nearby import Claim, Nearby, duplicate_links
from whistle.places import Located, locate
from whistle.schema import WhistleIn, field_errors
from whistle.silences import SilenceMatch, Silences
from whistle.store import (
    AssignmentRow,
    Created,
    Duplicate,
    NewWhistle,
    Store,
    StoredWhistle,
    WhistleRow,
)
from whistle.store.case_numbers import prefix as case_prefix
from whistle.versions import ConfigBundle

__all__ = ["Intake", "Rules", "Submission", "grid_path", "key_namespace", "scoped_key"]

log = structlog.get_logger(__name__)

# Whom a town committee may name in ``units`` (辖区单位 and 网格部门).
_UNIT_KINDS = (ResponderKind.JURISDICTION_UNIT, ResponderKind.GRID_DEPARTMENT)


@dataclass(frozen=True, slots=True)
class Submission:
    """The outcome of a submit: the whistle's id and whether this call created it.

    ``record`` is what this call wrote (None for a replayed idempotency key or a camera
    repeat), ``case_number`` the 受理编号 the write gave it.
    """

    whistle_id: str
    created: bool
    record: NewWhistle | None = None
    grouped: bool = False  # a camera repeat, added to the camera's open case
    replayed: bool = False  # a grouped repeat sent again with its key: nothing new stored
    case_number: str | None = None

    @property
    def status(self) -> str | None:
        """The status it was stored with (None: not created by this call)."""
        return None if self.record is None else self.record.whistle.status

    @property
    def document(self) -> dict[str, Any] | None:
        """The whistle as stored when this call created it, as the API shows it, built on
        demand (most answers are the short one, issue 21); None when not created here."""
        if self.record is None:
            return None
        document = StoredWhistle.of(self.record).document()
        document["case_number"] = self.case_number
        return document


def grid_path(cell: Cell) -> str:
    """The stored form of a cell's ancestry: ``/root/.../code/`` (prefix = subtree)."""
    return "/" + "/".join(cell.path) + "/"


def key_namespace(principal: Principal | None) -> str:
    """The namespace of a caller's idempotency keys: its scope (``*`` when it has none: an
    admin, or the CLI with no principal). Everything filed under a namespace lies inside that
    scope, so a key replayed or reused there names only whistles the caller may see."""
    if principal is None or principal.scope is None:
        return "*"
    return principal.scope


def scoped_key(namespace: str, key: str) -> str:
    """The stored form of ``key`` in ``namespace``. Keys are printable ASCII, so the unit
    separator between the two cannot be forged by a key; nor can a namespaced key equal one
    stored before keys had namespaces (those are left to themselves, never matched)."""
    return f"{namespace}\x1f{key}"


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
        cameras: CameraRegistry | None = None,
        nearby: Nearby | None = None,
        gazetteer: Gazetteer | None = None,
    ) -> None:
        self._hierarchy = hierarchy
        # Addresses in words are placed by it; without one given, the hierarchy's own names.
        self._gazetteer = gazetteer
        # What routing reads, swapped whole by ``use`` when a config version is applied;
        # each whistle reads it once, so it is filed under one version from start to end.
        self._rules = Rules(
            router, catalog, policy or LifecyclePolicy(), duty or DutyRoster.always(), None
        )
        self._store = store
        self._clock = clock
        self._ids = ids
        self._tz = tz
        self._silences = silences
        self.repeats = repeats  # None: camera whistles never group (each opens a case)
        # None: no camera is known, and a whistle naming one is refused.
        self.cameras = cameras or CameraRegistry({}, hierarchy)
        # Likely duplicates by place and time. Without one given, an index that knows only
        # the whistles filed through this intake (``await intake.nearby.load(store)`` fills
        # it with the open ones stored; the app does that on start).
        self.nearby = nearby or Nearby(catalog, self._rules.policy, clock)
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
        namespace: str | None = None,
        filer: Principal | None = None,
        mute: SilenceMatch | None = None,
    ) -> Submission:
        """Validate, place, route and store ``body``; return once it is on disk.

        ``body`` is the decoded JSON object, or a WhistleIn :meth:`parse` made from the bytes
        (then only the county's checks are left: the category, the grid code, the camera).

        ``principal`` is the authenticated caller: what it may file is checked, and the
        whistle records it as ``filed_by`` (beside the free-text ``reporter``). ``filer``
        names who files when no principal is checked (the CLI's import); neither: the public.
        ``idempotency_key`` is looked up in ``namespace`` (by default the principal's, see
        :func:`key_namespace`).

        ``mute`` stores the whistle as ``muted`` by that match whatever the silences say (a
        camera's low-confidence detection): kept and shown, never routed, and never grouped
        into a camera's open case.

        Raises InvalidWhistle (nothing stored), Forbidden, IdempotencyConflict,
        StoreUnavailable, StoreBusy.
        """
        filed_by = filing.filed_by(principal or filer)
        rules = self._rules
        whistle = self._validate(self._camera_place(body), rules)
        if principal is not None:
            _may_file(principal, whistle.source)
            if whistle.camera_id is not None:
                camera = self.cameras.home(whistle.camera_id)
                allow_cell(principal, camera, f"camera {whistle.camera_id}")
        request = _request(whistle)
        request_hash = _fingerprint(request)
        located = locate(whistle.location, self._hierarchy, self.gazetteer, principal)
        cell = located.cell
        if whistle.camera_id is not None:
            self._within_camera(whistle.camera_id, cell)
        if whistle.units is not None:
            self._check_units(whistle, cell)
        if principal is not None:
            allow_cell(principal, cell, "the whistle's place")
        key = None
        if idempotency_key is not None:
            key = scoped_key(namespace or key_namespace(principal), idempotency_key)
            earlier = await self._store.find_idempotent(key)
            if earlier is not None:
                return self._replay(earlier, idempotency_key, request_hash)
        create = functools.partial(
            self._create,
            whistle,
            request,
            located,
            key,
            request_hash,
            filed_by,
            rules=rules,
            client_key=idempotency_key,
        )
        grouping = whistle.source is Source.CAMERA and bool(whistle.camera_id)
        if grouping and self.repeats is not None and mute is None:
            return await self._file_camera(whistle, request, key, create)
        return await create(mute=mute)

    async def _file_camera(
        self,
        whistle: WhistleIn,
        request: dict[str, Any],
        key: str | None,
        create: Callable[[], Awaitable[Submission]],
    ) -> Submission:
        """A camera's detection: the case it already joined, its camera's open case of the
        category, or a new one (``create``), under the camera's lock."""
        assert whistle.camera_id is not None
        assert self.repeats is not None
        if key is not None:
            # A detection sent again after it joined a case: the same case, counted once.
            known = await self.repeats.known([key])
            if key in known:
                return Submission(known[key], False, grouped=True, replayed=True)
        async with (
            self.camera_lock(whistle.camera_id, whistle.category),
            # Several processes on one PostgreSQL database: one of them at a time, held
            # until the opening case is committed.
            self._store.camera_group_lock(whistle.camera_id, whistle.category),
        ):
            grouped = await self._group_camera(whistle, request, key)
            if grouped is not None:
                return grouped
            return await create()

    def use(self, bundle: ConfigBundle) -> None:
        """File whistles under ``bundle`` from now on; those being filed finish under the
        version they started with (each read ``_rules`` once)."""
        self._rules = Rules(
            bundle.router, bundle.catalog, bundle.policy, bundle.duty, bundle.version_id
        )

    @property
    def rules(self) -> Rules:
        """What new whistles are routed by now (read once per whistle)."""
        return self._rules

    @property
    def config_version(self) -> int | None:
        """The version new whistles are filed under."""
        return self._rules.version

    def use_gazetteer(self, gazetteer: Gazetteer) -> None:
        """Place addresses with ``gazetteer`` from now on (a province's, built after start)."""
        self._gazetteer = gazetteer

    @property
    def gazetteer(self) -> Gazetteer:
        """The place names addresses are matched against (built on first use when the app
        gave none: the hierarchy's names, no aliases)."""
        if self._gazetteer is None:
            self._gazetteer = Gazetteer.build(self._hierarchy)
        return self._gazetteer

    def subtree(self, principal: Principal | None) -> str | None:
        """The grid path of ``principal``'s scope (None: everywhere), for store lookups."""
        if principal is None or principal.scope is None:
            return None
        return grid_path(self._hierarchy.cell(principal.scope))

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
        located: Located,
        idempotency_key: str | None,
        request_hash: str,
        filed_by: FiledBy,
        *,
        rules: Rules,
        client_key: str | None = None,
        mute: SilenceMatch | None = None,
    ) -> Submission:
        received_at = self._clock.now()
        cell = located.cell
        matched = None
        if not located.held:  # a held whistle is routed, and matched, once it is placed
            matched = mute
            if matched is None:
                matched = self._silence_for(whistle, cell, received_at, rules)
        muted = matched is not None and matched.muted
        held = muted or located.held
        decision = None if held else await self.route(whistle, cell, received_at, rules)
        near = self._hierarchy.at_level(cell.code, Level.GRID).code
        whistle_id = self._ids.new()
        claim = None
        if not located.held:
            claim = self._claim_nearby(whistle, whistle_id, received_at, near, muted=muted)
        written = False
        try:
            matches = [] if claim is None else await claim.settle(self._store)
            new = self._record(
                whistle_id,
                whistle,
                request,
                located,
                decision,
                received_at,
                idempotency_key,
                request_hash,
                filed_by=filed_by,
                rules=rules,
                silence=matched,
                duplicates=[m.whistle_id for m in matches],
                near=near,
                client_key=client_key,
            )
            if matches:
                new = dataclasses.replace(
                    new, linked=duplicate_links(matches, whistle_id, received_at)
                )
            # The one line a whistle logs names it and its grid itself: binding them to the
            # context for the span of the write cost more than the line (issue 21).
            if claim is not None:
                claim.queued()  # see Claim: nothing may run between this and the queueing
            outcome = await self._store.create_whistle(new)
            if isinstance(outcome, Duplicate):
                # Another request with the same key won the race inside the writer.
                assert client_key is not None
                return self._replay(outcome, client_key, request_hash)
            assert isinstance(outcome, Created)
            written = True
            log.info(
                "whistle.created",
                whistle_id=whistle_id,
                grid=cell.code,
                source=whistle.source.value,
                category=whistle.category,
                rule=None if decision is None else decision.rule_id,
                placed_by=located.placement["by"],
                assignments=0 if decision is None else len(decision.assignments),
                muted_by=None if not muted or matched is None else matched.silence.id,
                silence_warning=None if muted or matched is None else matched.silence.id,
                possible_duplicates=len(matches),
            )
        finally:
            if claim is not None:
                claim.done(written)
        return Submission(whistle_id, True, new, case_number=outcome.case_number)

    def _silence_for(
        self, whistle: WhistleIn, cell: Cell, at: datetime, rules: Rules
    ) -> SilenceMatch | None:
        """The silence that covers the whistle now, if any."""
        if self._silences is None:
            return None
        category = rules.catalog.get(whistle.category)
        assert category is not None  # validated
        return self._silences.match(
            camera_id=whistle.camera_id,
            cell=cell,
            category=whistle.category,
            source=whistle.source,
            urgency=whistle.urgency or category.urgency,
            at=at,
        )

    async def route(
        self, whistle: WhistleIn, cell: Cell, at: datetime, rules: Rules | None = None
    ) -> Decision:
        """The router's decision for the whistle at ``cell``, as of ``at``, under ``rules``
        (by default the version in force now; a committee's whistle that names no units goes
        to the least loaded units of its town)."""
        rules = rules or self._rules
        load = None
        if whistle.source is Source.TOWN_COMMITTEE and not whistle.units:
            load = await self._store.open_load(self._town_units(cell))
        route = RouteRequest(
            source=whistle.source,
            category=whistle.category,
            cell=cell.code,
            urgency=whistle.urgency,
            received_at=at,
            units=tuple(whistle.units or ()),
            load=load,
        )
        try:
            return rules.router.route(route, on_duty=rules.duty.on_duty)
        except CalendarEndError as exc:
            # Never lose a whistle: dispatch it with weekends as the only days off past the
            # calendar's end, and say so loudly (start-up refuses such a calendar; /readyz
            # and check-config warn 60 days ahead).
            log.error("calendar.exhausted", error=str(exc), category=whistle.category)
            return rules.router.route(
                route, on_duty=rules.duty.on_duty, calendar=rules.router.calendar.extrapolated()
            )

    def _claim_nearby(
        self, whistle: WhistleIn, whistle_id: str, at: datetime, near: str, *, muted: bool
    ) -> Claim | None:
        """Find the open whistles this one may duplicate and take its place in the index
        (see ``whistle.nearby``); None for sources that are not matched."""
        if not self.nearby.applies(whistle.source):
            return None
        location = whistle.location
        return self.nearby.claim(
            whistle_id,
            whistle.category,
            at,
            near,
            location.lat,
            location.lon,
            register=not muted,
        )

    async def _group_camera(
        self, whistle: WhistleIn, request: dict[str, Any], key: str | None
    ) -> Submission | None:
        """Add a camera's repeat to its open case of the same category, if it has one."""
        assert whistle.camera_id is not None
        assert self.repeats is not None
        pair = (whistle.camera_id, whistle.category)
        # Only the camera's own cases, in its own cell: never a case filed elsewhere that
        # merely names it.
        within = {whistle.camera_id: grid_path(self.cameras.home(whistle.camera_id))}
        existing = (await self.repeats.open_cases([pair], within)).get(pair)
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

    def parse(self, raw: bytes) -> WhistleIn | None:
        """``raw`` JSON validated straight from the bytes (one pass, no dict in between), or
        None when it does not validate: :meth:`submit` on the decoded body then says why,
        field by field (and places a camera whistle that left its location out)."""
        try:
            return WhistleIn.model_validate_json(raw)
        except ValidationError:
            return None

    def _validate(self, body: Any, rules: Rules) -> WhistleIn:
        if isinstance(body, WhistleIn):  # parsed from the bytes: only the county's checks
            errors = self._county_errors(
                body.category, body.location.grid, body.camera_id, body.source.value, [], rules
            )
            if errors:
                raise InvalidWhistle(errors)
            return body
        if not isinstance(body, dict):
            raise InvalidWhistle([FieldError("body", "expected a JSON object")])
        errors = []
        whistle: WhistleIn | None = None
        try:
            whistle = WhistleIn.model_validate(body)
        except ValidationError as exc:
            errors = field_errors(exc)
        location = body.get("location")
        grid = location.get("grid") if isinstance(location, dict) else None
        errors = self._county_errors(
            body.get("category"), grid, body.get("camera_id"), body.get("source"), errors, rules
        )
        if errors:
            raise InvalidWhistle(errors)
        assert whistle is not None
        return whistle

    def _county_errors(
        self,
        category: Any,
        grid: Any,
        camera_id: Any,
        source: Any,
        errors: list[FieldError],
        rules: Rules,
    ) -> list[FieldError]:
        """``errors`` (the shape's) and what the county refuses: an unknown category, grid
        code or camera, or a camera named by another source."""
        if (
            isinstance(category, str)
            and category.strip()
            and not any(e.field == "category" for e in errors)
        ) and rules.catalog.get(category.strip()) is None:
            errors.append(
                FieldError(
                    "category",
                    f"unknown category {category.strip()!r}; see GET /api/v1/categories",
                    "unknown_category",
                    (("value", category.strip()),),
                )
            )
        if isinstance(grid, str) and grid.strip() and grid.strip() not in self._hierarchy:
            errors.append(
                FieldError(
                    "location.grid",
                    f"unknown grid code {grid.strip()!r}",
                    "unknown_grid",
                    (("value", grid.strip()),),
                )
            )
        if (
            isinstance(camera_id, str)
            and camera_id.strip()
            and not any(e.field == "camera_id" for e in errors)
        ):
            if source != Source.CAMERA.value:
                errors.append(
                    FieldError("camera_id", "only a camera whistle (source camera) names a camera")
                )
            elif camera_id.strip() not in self.cameras:
                errors.append(
                    FieldError(
                        "camera_id", f"unknown camera {camera_id.strip()!r}; not in {CAMERAS_FILE}"
                    )
                )
        return errors

    def _camera_place(self, body: Any) -> Any:
        """``body`` placed at its camera's place when it names a known camera and leaves the
        location out (as the camera feed places its detections)."""
        if not isinstance(body, dict) or "location" in body:
            return body
        camera_id = body.get("camera_id")
        if body.get("source") != Source.CAMERA.value or not isinstance(camera_id, str):
            return body
        camera = self.cameras.get(camera_id.strip())
        return body if camera is None else {**body, "location": camera.location()}

    def _within_camera(self, camera_id: str, cell: Cell) -> None:
        """A camera whistle comes from the camera's own cell (or a micro-grid of it)."""
        home = self.cameras.home(camera_id)
        if not cell.is_within(home.code):
            raise InvalidWhistle(
                [
                    FieldError(
                        "location",
                        f"camera {camera_id} watches {home.code} ({home.name}); "
                        f"{cell.code} ({cell.name}) is outside it",
                    )
                ]
            )

    def _town_units(self, cell: Cell) -> list[str]:
        """The jurisdiction units (辖区单位) of the whistle's town, for spreading its
        committee's whistles over them."""
        town = self._hierarchy.at_level(cell.code, Level.TOWN)
        units = self._hierarchy.responders_at(town.code, ResponderKind.JURISDICTION_UNIT)
        return [r.id for r in units]

    def _check_units(self, whistle: WhistleIn, cell: Cell) -> None:
        """镇党委吹哨 names whom it summons: jurisdiction units and grid departments of the
        whistle's own town, each once."""
        assert whistle.units is not None
        if whistle.source is not Source.TOWN_COMMITTEE:
            raise InvalidWhistle(
                [FieldError("units", "only a town_committee whistle names the units it summons")]
            )
        town = self._hierarchy.at_level(cell.code, Level.TOWN)
        errors: list[FieldError] = []
        seen: set[str] = set()
        for index, unit_id in enumerate(whistle.units):
            where = f"units[{index}]"
            responder = self._hierarchy.responder(unit_id)
            if responder is None:
                errors.append(FieldError(where, f"unknown responder {unit_id!r}"))
            elif responder.kind not in _UNIT_KINDS:
                errors.append(
                    FieldError(
                        where,
                        f"{unit_id} is a {responder.kind}, not a jurisdiction_unit "
                        "or grid_department",
                    )
                )
            elif self._hierarchy.at_level(responder.grid, Level.TOWN).code != town.code:
                errors.append(FieldError(where, f"{unit_id} is not a unit of {town.name}"))
            elif unit_id in seen:
                errors.append(FieldError(where, f"{unit_id} is listed twice"))
            seen.add(unit_id)
        if errors:
            raise InvalidWhistle(errors)

    def _replay(self, earlier: Duplicate, key: str, request_hash: str) -> Submission:
        if earlier.request_hash is not None and earlier.request_hash != request_hash:
            raise IdempotencyConflict(key, earlier.whistle_id)
        return Submission(earlier.whistle_id, False)

    def _record(
        self,
        whistle_id: str,
        whistle: WhistleIn,
        request: dict[str, Any],
        located: Located,
        decision: Decision | None,
        received_at: datetime,
        idempotency_key: str | None,
        request_hash: str,
        *,
        filed_by: FiledBy,
        rules: Rules,
        silence: SilenceMatch | None,
        duplicates: list[str],
        near: str,
        client_key: str | None,
    ) -> NewWhistle:
        """The whistle as it will be written: its row and document, its assignments, its
        first events and deadlines, and the case they fold to."""
        tz = self._tz
        cell = located.cell
        category = rules.catalog.get(whistle.category)
        assert category is not None  # validated
        assignments, trace = filing.assignment_rows(whistle_id, decision, self._hierarchy, tz)
        doc = filing.whistle_document(
            whistle_id,
            whistle,
            cell,
            decision,
            received_at,
            hierarchy=self._hierarchy,
            category=category,
            trace=trace,
            silence=silence,
            duplicates=duplicates,
            filed_by=filed_by,
            tz=tz,
            placement=located.placement,
            config_version=rules.version,
        )
        status = "dispatched" if doc["muted_by"] is None else "muted"
        row = WhistleRow(
            id=whistle_id,
            received_at=received_at,
            source=whistle.source.value,
            category=category.code,
            urgency=doc["urgency"],
            status="unplaced" if located.held else status,
            grid_code=cell.code,
            grid_path=grid_path(cell),
            grid_level=int(cell.level),
            # The store keeps documents as JSON objects; this one's shape is WhistleRecord's.
            doc=cast("dict[str, Any]", doc),
            external_id=whistle.external_id,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            camera_id=whistle.camera_id,
            near=near,
        )
        # What the live stream filters on, carried with the events (the writer adds the 受理编号).
        facts = StreamFacts(cell.code, row.status)
        events = [
            filing.received_event(doc, request, client_key, received_at, facts),
            self._fate(doc, received_at, located, silence, decision, (assignments, trace), facts),
        ]
        # The new case's first deadlines, from the same fold every later step uses.
        state = fold(events, whistle_id)
        pending = deadlines(state, rules.router, rules.policy)
        events[-1].data["deadlines"] = {key: due.isoformat() for key, due in pending.items()}
        return NewWhistle(
            row,
            assignments,
            events,
            deadlines=list(pending.items()),
            case_doc=case_document(state, tz),
            case_prefix=case_prefix(self._number_cell(cell).code, received_at, tz),
        )

    def _fate(
        self,
        doc: WhistleRecord,
        received_at: datetime,
        located: Located,
        silence: SilenceMatch | None,
        decision: Decision | None,
        rows: tuple[list[AssignmentRow], list[TraceEntry]],
        facts: StreamFacts | None = None,
    ) -> NewEvent:
        """What became of a new whistle: held for its place, muted, or routed."""
        whistle_id = doc["id"]
        if located.held:
            return filing.unplaced_event(doc, received_at, facts)
        if silence is not None and silence.muted:
            return filing.muted_event(whistle_id, received_at, silence, self._tz, facts)
        assert decision is not None
        routed = filing.routed_data(doc, decision, *rows)
        return NewEvent("whistle.routed", whistle_id, received_at, "router", routed, facts)

    def _number_cell(self, cell: Cell) -> Cell:
        """Whose letters start the 受理编号: the whistle's town (the county above the towns)."""
        if cell.level < Level.TOWN:
            return cell
        return self._hierarchy.at_level(cell.code, Level.TOWN)


@dataclass(frozen=True, slots=True)
class Rules:
    """What filing a whistle reads of the configuration, from one version."""

    router: Router
    catalog: Catalog
    policy: LifecyclePolicy
    duty: DutyRoster
    version: int | None


def _may_file(principal: Principal, source: Source) -> None:
    """An integration files only its own source; the others, what their role may."""
    if principal.role is Role.INTEGRATION:
        if source.value != principal.source:
            raise Forbidden(f"this integration files {principal.source} whistles, not {source}")
    elif principal.role is None or source not in FILES.get(principal.role, ()):
        role = principal.role.value if principal.role else "public"
        raise Forbidden(f"{role} may not file {source} whistles")


def _request(whistle: WhistleIn) -> dict[str, Any]:
    """What was asked, as stored and fingerprinted."""
    request = whistle.model_dump(mode="json")
    if request.get("units") is None:
        # Only committee whistles name units: every other request (its stored form and its
        # idempotency fingerprint) stays exactly what it was before ``units`` existed.
        request.pop("units", None)
    if request["location"].get("address") is None:
        request["location"].pop("address", None)  # likewise, for addresses
    return request


def _fingerprint(request: dict[str, Any]) -> str:
    """A hash of what was asked, to tell a retry from a different request with the same key."""
    canonical = orjson.dumps(request, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()
