"""Batch feeds from the camera platform (天眼) and the police alert system (警情).

Both endpoints take a body of JSON Lines (one object per line, at most :data:`MAX_LINES`
non-blank lines, and within the server's body limit: 413 beyond either) and answer with one
result per non-blank line, in order: ``200`` when every line was stored (or was already),
``207 Multi-Status`` when at least one line is an ``error``; the same body either way::

    {"results": [{"line": 1, "status": "created", "whistle_id": "01J…", "errors": []}, …],
     "counts": {"created": 1, "grouped": 0, "low_confidence": 0, "duplicate": 0, "error": 0}}

``status`` is ``created`` (a new case), ``grouped`` (a camera repeat joined the camera's open
case of the same category, raising its ``repeats``), ``low_confidence`` (camera only: stored
as a ``muted`` whistle, shown, not dispatched), ``duplicate`` (this detection or alert id was
already stored: nothing new) or ``error`` (nothing stored for the line; ``errors`` lists
``{"field", "reason"}`` and the line number says which line). A bad line never fails the
others, nor the batch: an unreadable or out-of-range time, an unknown camera, event type,
category or place, even a failure of our own on one line, is that line's error, so a
platform that resends the batch gets the good lines back as ``duplicate`` and the bad ones
named again, not a 5xx for ever. Every stored line is on disk before the answer, as
``POST /api/v1/whistles`` is.

Both must be signed (``X-Whistle-Key``/``X-Whistle-Timestamp``/``X-Whistle-Signature``, see
README Security) with an integration token of the matching source: unsigned or wrongly signed
requests are 401 from the access middleware, another role or source is 403.

``POST /api/v1/feeds/camera``, one detection per line::

    {"camera_id": "CAM-530524101001-01", "event_type": "garbage_exposed", "confidence": 0.91,
     "time": "2026-11-21T09:30:00+08:00", "snapshot_url": "https://cam.example/s/1.jpg",
     "detection_id": "d-123"}

``camera_id`` must be in ``config/cameras.csv`` (``camera_id,grid,lat,lon,name``), which
places the camera: at its point when it has one, else at its grid. ``event_type`` is one of
:data:`CAMERA_EVENTS` (or a catalog category code). ``detection_id`` is optional; without it
the detection's id is a hash of camera, event type and time. Detections whose confidence is
below the threshold (``Settings.extra["camera_min_confidence"]``, default 0.6) are stored but
not dispatched.

``POST /api/v1/feeds/police``, one alert per line::

    {"alert_id": "JQ20261121001", "alert_type": "fight", "location": {"grid": "530524101001001"},
     "description": "两人在菜市场门口打架", "time": "2026-11-21T09:30:00+08:00"}

``category`` (a catalog code) may replace ``alert_type`` (one of :data:`POLICE_ALERTS`);
``location`` is ``{"grid": CODE}`` or ``{"lat", "lon"}`` as in the whistle API; ``urgency``
(``urgent``/``normal``) is optional.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

import orjson
import structlog
from aiohttp import web
from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    ValidationError,
)

from dispatch import Source, Urgency
from grids import Cell
from whistle.auth import Principal, Role, allow_cell
from whistle.cameras import (
    CAMERAS_FILE,
    CAMERAS_HEADER,
    Camera,
    CameraRegistry,
    camera_rows,
    load_cameras,
    write_cameras,
)
from whistle.exceptions import (
    FieldError,
    Forbidden,
    IdempotencyConflict,
    InvalidWhistle,
    StoreBusy,
    StoreUnavailable,
)
from whistle.grouping import CameraRepeats, Detection
from whistle.intake import grid_path, key_namespace, scoped_key
from whistle.schema import INPUT, LIMITS, Instant, LocationIn, field_errors
from whistle.silences import SilenceMatch
from whistle.store import Silence
from whistle.web.access import SIGNED_BODY, allow, body_limit
from whistle.web.keys import CAMERAS, CLOCK, INTAKE, LIVE, MIN_CONFIDENCE, Settings

__all__ = [
    "CAMERAS_FILE",
    "CAMERAS_HEADER",
    "CAMERA_EVENTS",
    "DEFAULT_MIN_CONFIDENCE",
    "MAX_LINES",
    "POLICE_ALERTS",
    "Camera",
    "CameraRegistry",
    "camera_rows",
    "load_cameras",
    "min_confidence",
    "routes",
    "write_cameras",
]

log = structlog.get_logger(__name__)

routes = web.RouteTableDef()

# 1,000 detections of a few hundred bytes each; the app-wide limit (64 KiB) is for one whistle.
FEED_BODY_LIMIT = 2 * 1024 * 1024

MAX_LINES = 1000
DEFAULT_MIN_CONFIDENCE = 0.6


def min_confidence(settings: Settings) -> float:
    """The camera threshold the app runs with (read once, at start, so that a bad value
    stops the server rather than the first camera batch).

    Raises ValueError when ``Settings.extra["camera_min_confidence"]`` is not a number.
    """
    return float(settings.extra.get("camera_min_confidence", DEFAULT_MIN_CONFIDENCE))


# The camera platform's event types -> catalog categories (a catalog code is accepted too).
CAMERA_EVENTS: dict[str, str] = {
    "garbage_exposed": "E0101",  # 暴露垃圾
    "garbage_pile": "E0102",  # 积存垃圾渣土
    "open_burning": "E0105",  # 露天焚烧
    "illegal_vending": "E0401",  # 无照经营游商
    "out_of_store_business": "E0402",  # 店外经营
    "illegal_parking": "E0403",  # 机动车乱停放
    "bike_parking": "E0404",  # 非机动车乱停放
    "road_spill": "E0302",  # 道路遗撒
    "fire": "E0501",  # 火灾
    "smoke": "E0501",  # 火灾
    "waterlogging": "E0505",  # 积水内涝
    "fight": "E0703",  # 打架斗殴
    "manhole_missing": "F0101",  # 井盖缺失破损
    "road_damage": "F0201",  # 道路破损
    "bin_overflow": "F0301",  # 垃圾桶箱破损满溢
    "fallen_tree": "F0401",  # 树木倒伏
}

# The police system's alert types -> catalog categories (or send ``category`` directly).
POLICE_ALERTS: dict[str, str] = {
    "public_security": "E0701",  # 治安隐患
    "suspicious_person": "E0702",  # 可疑人员
    "fight": "E0703",  # 打架斗殴
    "drugs_gambling": "E0704",  # 黄赌毒线索
    "neighbour_dispute": "E0601",  # 邻里纠纷
    "family_dispute": "E0605",  # 婚姻家庭纠纷
    "fire": "E0501",  # 火灾
    "gas_leak": "E0502",  # 燃气泄漏
    "traffic_obstruction": "E0403",  # 机动车乱停放
}

_SOURCE_NAMES = {Source.CAMERA: "天眼", Source.POLICE: "警情"}


# -- one line --------------------------------------------------------------------------------


def _url(value: str) -> str:
    if not value.startswith(("http://", "https://")) or any(c.isspace() for c in value):
        raise ValueError("not an http(s) URL")
    return value


_Text = Annotated[str, Field(min_length=1, max_length=64)]


class CameraLine(BaseModel):
    model_config = INPUT

    camera_id: _Text
    event_type: _Text
    confidence: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
    time: Instant
    snapshot_url: (
        Annotated[str, Field(max_length=LIMITS["media_url"]), AfterValidator(_url)] | None
    ) = None
    detection_id: Annotated[str, Field(min_length=1, max_length=100)] | None = None


class PoliceLine(BaseModel):
    model_config = INPUT

    alert_id: Annotated[str, Field(min_length=1, max_length=100)]
    alert_type: _Text | None = None
    category: Annotated[str, Field(min_length=1, max_length=LIMITS["category"])] | None = None
    location: LocationIn
    description: Annotated[str, Field(min_length=1, max_length=LIMITS["description"])]
    time: Instant
    urgency: Urgency | None = None


@dataclass
class _Prepared:
    """A line turned into a whistle body, or the reasons it could not be."""

    line: int
    key: str = ""  # lines with the same key are filed one after another, in order
    body: dict[str, Any] | None = None
    idempotency_key: str | None = None
    low_confidence: str | None = None  # why, when below the threshold
    errors: list[FieldError] = field(default_factory=list)
    # Camera lines: what grouping needs, and the whistle body built only if a case is opened
    # (most detections of a burst join a case and never need one).
    camera_id: str = ""
    category: str = ""
    record: dict[str, Any] = field(default_factory=dict)  # what a case keeps of a repeat
    build: Callable[[], dict[str, Any]] | None = None

    def payload(self) -> dict[str, Any] | None:
        """The whistle body to file, or None when the line has none."""
        if self.body is None and self.build is not None:
            self.body = self.build()
        return self.body

    @property
    def fileable(self) -> bool:
        return (self.body is not None or self.build is not None) and not self.errors


def _lines(raw: bytes) -> list[tuple[int, bytes]]:
    """Non-blank lines with their 1-based numbers."""
    return [(number, text) for number, text in enumerate(raw.split(b"\n"), start=1) if text.strip()]


def _object(text: bytes) -> tuple[dict[str, Any] | None, list[FieldError]]:
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return None, [FieldError("line", f"not valid JSON: {exc}")]
    if not isinstance(data, dict):
        return None, [FieldError("line", "expected a JSON object")]
    return data, []


def _category(
    value: str, table: dict[str, str], request: web.Request, what: str
) -> tuple[str | None, list[FieldError]]:
    catalog = request.app[LIVE].catalog
    code = table.get(value, value)
    if catalog.get(code) is None:
        known = ", ".join(sorted(table))
        return None, [
            FieldError(
                what, f"unknown {what} {value!r}; expected one of {known} or a category code"
            )
        ]
    return code, []


def _camera_line(
    request: web.Request,
    number: int,
    text: bytes,
    cameras: Mapping[str, Camera],
    threshold: float,
) -> _Prepared:
    prepared = _Prepared(number)
    try:
        # pydantic parses and validates a good line in one pass; a bad one is parsed again
        # below, so that its errors read the same as everywhere else.
        item = CameraLine.model_validate_json(text)
    except ValidationError:
        data, errors = _object(text)
        if data is None:
            prepared.errors = errors
            return prepared
        try:
            item = CameraLine.model_validate(data)
        except ValidationError as exc:
            prepared.errors = field_errors(exc)
            return prepared
    camera = cameras.get(item.camera_id)
    if camera is None:
        prepared.errors.append(
            FieldError("camera_id", f"unknown camera {item.camera_id!r}; not in {CAMERAS_FILE}")
        )
    category, errors = _category(item.event_type, CAMERA_EVENTS, request, "event_type")
    prepared.errors += errors
    if camera is None or category is None:
        return prepared
    occurred_at = item.time.isoformat()
    fingerprint = f"{item.camera_id}|{item.event_type}|{occurred_at}".encode()
    external = item.detection_id or "det-" + hashlib.sha256(fingerprint).hexdigest()[:32]
    prepared.key = f"camera:{item.camera_id}"
    prepared.idempotency_key = f"feed:camera:{external}"
    prepared.camera_id = camera.camera_id
    prepared.category = category
    prepared.record = {
        "external_id": external,
        "occurred_at": occurred_at,
        "confidence": item.confidence,
        "snapshot_url": item.snapshot_url,
    }

    def build() -> dict[str, Any]:
        name = request.app[LIVE].catalog[category].name
        return {
            "source": Source.CAMERA.value,
            "category": category,
            "description": f"天眼识别：{name}（{camera.name}，置信度 {item.confidence:.2f}）",
            "location": camera.location(),
            "reporter": f"天眼 {camera.camera_id}"[: LIMITS["reporter"]],
            "occurred_at": occurred_at,
            "media_urls": [item.snapshot_url] if item.snapshot_url else [],
            "camera_id": camera.camera_id,
            "external_id": external,
        }

    prepared.build = build
    if item.confidence < threshold:
        prepared.low_confidence = f"{item.confidence:.2f} < {threshold:.2f}"
    return prepared


def _police_line(request: web.Request, number: int, text: bytes) -> _Prepared:
    prepared = _Prepared(number)
    data, errors = _object(text)
    if data is None:
        prepared.errors = errors
        return prepared
    try:
        item = PoliceLine.model_validate(data)
    except ValidationError as exc:
        prepared.errors = field_errors(exc)
        return prepared
    if (item.alert_type is None) == (item.category is None):
        prepared.errors.append(FieldError("alert_type", "give exactly one of alert_type, category"))
        return prepared
    if item.alert_type is not None:
        category, errors = _category(item.alert_type, POLICE_ALERTS, request, "alert_type")
    else:
        assert item.category is not None
        category, errors = _category(item.category, {}, request, "category")
    if category is None:
        prepared.errors = errors
        return prepared
    prepared.key = f"police:{item.alert_id}"
    prepared.idempotency_key = f"feed:police:{item.alert_id}"
    prepared.body = {
        "source": Source.POLICE.value,
        "category": category,
        "description": item.description,
        "location": item.location.model_dump(exclude_none=True),
        "reporter": f"警情 {item.alert_id}"[: LIMITS["reporter"]],
        "occurred_at": item.time.isoformat(),
        "external_id": item.alert_id,
    }
    if item.urgency is not None:
        prepared.body["urgency"] = item.urgency.value
    return prepared


# -- low confidence: stored as muted, never routed -------------------------------------------


def _low_confidence(app: web.Application, why: str) -> SilenceMatch:
    """The match a detection below the threshold is muted by: the intake then stores it as
    ``muted`` (shown, not dispatched) with ``muted_by`` saying why. Never saved as a silence:
    it mutes only the one detection it is given to."""
    now = app[CLOCK].now()
    silence = Silence(
        id="low-confidence",
        matchers={"confidence": why},
        starts_at=now,
        ends_at=now + timedelta(seconds=1),
        author="feeds",
        comment="置信度低于阈值：已存档，未派单 (below the confidence threshold: not dispatched)",
        created_at=now,
    )
    return SilenceMatch(silence, muted=True)


# -- the batch ---------------------------------------------------------------------------------


async def _body(request: web.Request) -> bytes:
    raw = request.get(SIGNED_BODY)
    if raw is None:
        raw = await request.read()
    if not raw.strip():
        raise InvalidWhistle([FieldError("body", "empty: expected JSON Lines")], status=400)
    return raw


async def _file(request: web.Request, principal: Principal, prepared: _Prepared) -> dict[str, Any]:
    result: dict[str, Any] = {"line": prepared.line, "status": "error", "whistle_id": None}
    errors = prepared.errors
    body = prepared.payload()
    if body is not None and not errors:
        mute = None
        if prepared.low_confidence is not None:
            mute = _low_confidence(request.app, prepared.low_confidence)
        try:
            submission = await request.app[INTAKE].submit(
                body, idempotency_key=prepared.idempotency_key, principal=principal, mute=mute
            )
        except InvalidWhistle as exc:
            errors = list(exc.errors)
        except Forbidden as exc:
            errors = [FieldError("line", str(exc))]
        except IdempotencyConflict as exc:
            errors = [FieldError("id", f"already stored as {exc.whistle_id} with other content")]
        except (StoreBusy, StoreUnavailable):
            errors = [FieldError("line", "the database cannot take writes now; send it again")]
        except Exception:
            # A fault of ours on one line must not fail the lines already stored (the batch
            # would answer 500 and a retrying platform send it for ever): the line says so.
            log.exception("feed.line_failed", path=request.path, line=prepared.line)
            errors = [FieldError("line", "could not be filed (logged on our side); send it again")]
        else:
            result["whistle_id"] = submission.whistle_id
            if submission.replayed:
                result["status"] = "duplicate"
            elif submission.grouped:
                result["status"] = "grouped"
            elif not submission.created:
                result["status"] = "duplicate"
            elif prepared.low_confidence is not None:
                result["status"] = "low_confidence"
            else:
                result["status"] = "created"
    result["errors"] = [e.to_dict() for e in errors]
    return result


async def _batch(
    request: web.Request,
    principal: Principal,
    lines: list[tuple[int, bytes]],
    prepare: Callable[[int, bytes], _Prepared],
    cameras: CameraRegistry | None,
) -> web.Response:
    prepared = [_prepare_one(prepare, number, text, request) for number, text in lines]
    results: list[dict[str, Any]] = [{} for _ in prepared]
    settled: set[int] = set()
    repeats = request.app[INTAKE].repeats
    if cameras is not None and repeats is not None:  # a camera feed: repeats are filed in bulk
        settled = await _group_repeats(
            repeats,
            principal,
            prepared,
            results,
            cameras,
            lambda item: _file(request, principal, item),
        )
    # Lines of one camera (one alert) go in order, so a burst's first detection opens the case
    # and the rest group into it; different cameras run side by side.
    queues: dict[str, list[int]] = {}
    for index, item in enumerate(prepared):
        if index not in settled:
            queues.setdefault(item.key or f"line:{item.line}", []).append(index)

    async def run(indexes: list[int]) -> None:
        for index in indexes:
            results[index] = await _file(request, principal, prepared[index])

    limit = asyncio.Semaphore(32)

    async def bounded(indexes: list[int]) -> None:
        async with limit:
            await run(indexes)

    tasks: list[Awaitable[None]] = [bounded(indexes) for indexes in queues.values()]
    await asyncio.gather(*tasks)
    counts = dict.fromkeys(("created", "grouped", "low_confidence", "duplicate", "error"), 0)
    for result in results:
        counts[result["status"]] += 1
    log.info("feed.batch", path=request.path, lines=len(results), **counts)
    return web.Response(
        body=orjson.dumps({"results": results, "counts": counts}),
        content_type="application/json",
        status=207 if counts["error"] else 200,
    )


def _prepare_one(
    prepare: Callable[[int, bytes], _Prepared], number: int, text: bytes, request: web.Request
) -> _Prepared:
    """One line's preparation; a fault of ours on it is that line's error, not the batch's."""
    try:
        return prepare(number, text)
    except Exception:
        log.exception("feed.line_failed", path=request.path, line=number)
        return _Prepared(
            number, errors=[FieldError("line", "could not be read (logged on our side)")]
        )


def _result(prepared: _Prepared, status: str, whistle_id: str | None) -> dict[str, Any]:
    return {"line": prepared.line, "status": status, "whistle_id": whistle_id, "errors": []}


# Files one prepared line through the intake and gives its result (``_file`` for a request).
_FileLine = Callable[[_Prepared], Awaitable[dict[str, Any]]]
# A group of repeats: the (camera id, category) they share.
_Pair = tuple[str, str]
_BUSY = "the database cannot take writes now; send it again"


async def _group_repeats(
    repeats: CameraRepeats,
    principal: Principal,
    prepared: list[_Prepared],
    results: list[dict[str, Any]],
    cameras: CameraRegistry,
    file_line: _FileLine,
) -> set[int]:
    """File a camera batch's repeats in bulk; return the indexes of the lines it settled.

    Detections sent before are answered ``duplicate``; a (camera, category) with an open case
    joins it; one without has its first line filed through ``file_line`` (the intake, which
    opens the case, or finds the one another request opened meanwhile) and the rest join
    that. All the joins of the batch are one guarded write per case, sharing one commit.
    Whatever this cannot settle (bad or low-confidence lines, places outside the sender's
    scope, a case that closed meanwhile, a detection sent twice in one batch) is left to the
    one-by-one path, which gives each its own answer.
    """
    # Detection keys live in the sender's namespace, as the intake keeps them: another
    # scope's detection of the same id is not this one, and its case is not named.
    namespace = key_namespace(principal)
    keys = {
        i: scoped_key(namespace, str(p.idempotency_key))
        for i, p in enumerate(prepared)
        if p.fileable and p.low_confidence is None and p.idempotency_key
    }
    known = await repeats.known(list(keys.values()))
    settled: set[int] = set()
    groups = _repeat_groups(principal, prepared, keys, known, cameras, results, settled)
    if not groups:
        return settled
    within = {camera: grid_path(cameras.home(camera)) for camera, _ in groups}
    open_cases = await repeats.open_cases(list(groups), within)
    await _open_cases(groups, open_cases, prepared, file_line, results, settled)
    joins: dict[str, list[int]] = {}
    actors: dict[str, str] = {}
    for pair, indexes in groups.items():
        if pair in open_cases and indexes:
            joins.setdefault(open_cases[pair], []).extend(indexes)
            actors[open_cases[pair]] = f"天眼 {pair[0]}"
    if joins:
        await _join(repeats, joins, actors, keys, prepared, results, settled)
    return settled


def _repeat_groups(
    principal: Principal,
    prepared: list[_Prepared],
    keys: Mapping[int, str],
    known: Mapping[str, str],
    cameras: CameraRegistry,
    results: list[dict[str, Any]],
    settled: set[int],
) -> dict[_Pair, list[int]]:
    """The batch's detections by (camera, category), each detection once and only from the
    cameras the sender may file for; those sent before are answered ``duplicate`` here."""
    allowed: dict[str, bool] = {}
    seen: set[str] = set()
    groups: dict[_Pair, list[int]] = {}
    for i, key in keys.items():
        item = prepared[i]
        if key in known:
            results[i] = _result(item, "duplicate", known[key])
            settled.add(i)
            continue
        if key in seen:
            continue  # sent twice in this batch: the one-by-one path answers duplicate
        seen.add(key)
        camera_id = item.camera_id
        if camera_id not in allowed:
            # Outside the sender's scope, or placed nowhere: the intake gives the answer.
            allowed[camera_id] = cameras.place(camera_id) is not None and _may(
                principal, cameras.home(camera_id)
            )
        if allowed[camera_id]:
            groups.setdefault((camera_id, item.category), []).append(i)
    return groups


async def _open_cases(
    groups: dict[_Pair, list[int]],
    open_cases: dict[_Pair, str],
    prepared: list[_Prepared],
    file_line: _FileLine,
    results: list[dict[str, Any]],
    settled: set[int],
) -> None:
    """For each group without an open case, file its first line one by one (it opens the
    case, or groups into one opened meanwhile) and note the case in ``open_cases``."""
    limit = asyncio.Semaphore(32)

    async def open_case(pair: _Pair) -> None:
        first = groups[pair].pop(0)
        async with limit:
            results[first] = await file_line(prepared[first])
        settled.add(first)
        if results[first]["status"] in ("created", "grouped"):
            open_cases[pair] = results[first]["whistle_id"]

    await asyncio.gather(*(open_case(pair) for pair in groups if pair not in open_cases))


async def _join(
    repeats: CameraRepeats,
    joins: dict[str, list[int]],
    actors: dict[str, str],
    keys: Mapping[int, str],
    prepared: list[_Prepared],
    results: list[dict[str, Any]],
    settled: set[int],
) -> None:
    """Add each case's repeats to it in one write; a case that closed meanwhile is left to
    the one-by-one path (which opens a new case), a busy store is each line's error."""
    try:
        added = await repeats.add(
            {
                case_id: [Detection(keys[i], prepared[i].record) for i in indexes]
                for case_id, indexes in joins.items()
            },
            actors,
        )
    except (StoreBusy, StoreUnavailable):
        for indexes in joins.values():
            for i in indexes:
                results[i] = _result(prepared[i], "error", None)
                results[i]["errors"] = [FieldError("line", _BUSY).to_dict()]
                settled.add(i)
        return
    for case_id, indexes in joins.items():
        if added[case_id]:
            for i in indexes:
                results[i] = _result(prepared[i], "grouped", case_id)
                settled.add(i)


def _may(principal: Principal, cell: Cell) -> bool:
    try:
        allow_cell(principal, cell, "the whistle's place")
    except Forbidden:
        return False
    return True


def _split(raw: bytes) -> list[tuple[int, bytes]]:
    lines = _lines(raw)
    if len(lines) > MAX_LINES:
        raise InvalidWhistle(
            [FieldError("body", f"{len(lines)} lines: a batch holds at most {MAX_LINES}")],
            status=413,
        )
    return lines


def _feed_principal(request: web.Request, source: Source) -> Principal:
    principal = allow(request, Role.INTEGRATION)
    if principal.source != source.value:
        raise Forbidden(
            f"integration may not POST {request.path}: it is the {source.value} integration's "
            f"feed, and this one files {principal.source} whistles"
        )
    return principal


@routes.post("/api/v1/feeds/camera")
@body_limit(FEED_BODY_LIMIT)
async def camera_feed(request: web.Request) -> web.Response:
    """Camera detections (天眼), JSON Lines; signed by a camera integration."""
    principal = _feed_principal(request, Source.CAMERA)
    cameras = request.app[CAMERAS]
    threshold = request.app[MIN_CONFIDENCE]
    lines = _split(await _body(request))
    return await _batch(
        request,
        principal,
        lines,
        lambda n, text: _camera_line(request, n, text, cameras, threshold),
        cameras,
    )


@routes.post("/api/v1/feeds/police")
@body_limit(FEED_BODY_LIMIT)
async def police_feed(request: web.Request) -> web.Response:
    """Police alerts (警情), JSON Lines; signed by a police integration."""
    principal = _feed_principal(request, Source.POLICE)
    lines = _split(await _body(request))
    return await _batch(
        request, principal, lines, lambda n, text: _police_line(request, n, text), None
    )
