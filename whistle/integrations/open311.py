"""Open311 GeoReport v2 under ``/open311/v2/``: services, service requests, tokens, discovery.

Every endpoint answers in JSON (``.json``) or XML (``.xml``), as the format suffix asks.

- ``discovery``, ``services``, ``services/{code}``, ``requests``, ``requests/{id}`` and
  ``tokens/{id}`` are public (GeoReport reads need no api_key); they show no personal data:
  no reporter, no phone, no responder's name or contact (``agency_responsible`` is a unit or
  a role in its cell: whistle/privacy.py), and the point rounded to about 100 m. Only
  ``citizen`` whistles are GeoReport service requests: police alerts, camera detections and
  committee whistles are not listed.
- ``POST requests`` files a ``citizen`` whistle. Its form-encoded ``api_key`` is a token of
  this system (``wst_...``) whose role may file citizen whistles (reporter, operator) and
  whose scope covers the place; the whistle goes through the intake with that principal.
  Of the person we keep the name only (``first_name``/``last_name``); ``email``, ``phone``
  and ``device_id`` are neither stored nor logged.

Services are the category catalog: ``service_code`` is the category code, ``group`` its 大类.
A request's ``status`` is ``open`` or ``closed`` (closed, rated, cancelled);
``status_notes`` carries the case's own state. Requests are created synchronously, so the
token of ``tokens/{id}`` is the request id itself. Errors are arrays of ``{code,
description}`` with the HTTP status (400 bad parameters, 403 bad api_key or place outside its
scope, 404 unknown, 429 too many, 503 storage unavailable).
"""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import orjson
import structlog
from aiohttp import web

from dispatch import Category
from dispatch.case import CaseStatus
from whistle.auth import Principal, Role, is_expired, parse_token, token_hash
from whistle.bounds import bounded_instant
from whistle.exceptions import (
    Forbidden,
    IdempotencyConflict,
    InvalidWhistle,
    StoreBusy,
    StoreUnavailable,
)
from whistle.privacy import mask_phones, public_name, public_point
from whistle.store import StoredWhistle, WhistleQuery
from whistle.timefmt import rfc3339
from whistle.web.access import ACCESS, client_address, public
from whistle.web.i18n import OPEN311_NOTES
from whistle.web.keys import CLOCK, HIERARCHY, INTAKE, LIVE, STORE, TZ
from whistle.web.problems import refused

__all__ = ["CLOSED", "routes", "service", "service_definition", "service_request"]

log = structlog.get_logger(__name__)

routes = web.RouteTableDef()

_BASE = "/open311/v2"
_FMT = "{fmt:(json|xml)}"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-11-21T00:00:00+08:00"
MAX_ROWS = 1000
WINDOW = timedelta(days=90)
CLOSED = frozenset({CaseStatus.CLOSED.value, CaseStatus.RATED.value, CaseStatus.CANCELLED.value})
_SOURCE = "citizen"  # the only whistles that are GeoReport service requests

# POST fields the spec defines; attribute[...] are checked against the service definition.
_POST_FIELDS = frozenset(
    {
        "api_key",
        "jurisdiction_id",
        "service_code",
        "lat",
        "long",
        "address_string",
        "address_id",
        "email",
        "device_id",
        "account_id",
        "first_name",
        "last_name",
        "phone",
        "description",
        "media_url",
    }
)


class Open311Error(Exception):
    """An error answered the GeoReport way: ``[{"code": status, "description": ...}]``."""

    def __init__(self, status: int, description: str, headers: dict[str, str] | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.headers = headers


# -- rendering --------------------------------------------------------------------------------


def _xml_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _xml_fill(element: ET.Element, data: Mapping[str, Any], lists: Mapping[str, str]) -> None:
    """Child elements for ``data``; a list under key k holds elements named ``lists[k]``."""
    for key, value in data.items():
        child = ET.SubElement(element, key)
        if isinstance(value, list):
            item_name = lists[key]
            for item in value:
                sub = ET.SubElement(child, item_name)
                if isinstance(item, Mapping):
                    _xml_fill(sub, item, lists)
                else:
                    sub.text = _xml_value(item)
        elif isinstance(value, Mapping):
            _xml_fill(child, value, lists)
        else:
            child.text = _xml_value(value)


_LISTS = {
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}


def _xml_document(root_name: str, item_name: str | None, data: Any) -> bytes:
    root = ET.Element(root_name)
    if item_name is None:
        _xml_fill(root, data, _LISTS)
    else:
        for item in data:
            _xml_fill(ET.SubElement(root, item_name), item, _LISTS)
    out: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return out


def _answer(
    fmt: str,
    data: Any,
    *,
    root: str,
    item: str | None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.Response:
    if fmt == "xml":
        return web.Response(
            body=_xml_document(root, item, data),
            status=status,
            content_type="application/xml",
            charset="utf-8",
            headers=headers,
        )
    return web.Response(
        body=orjson.dumps(data), status=status, content_type="application/json", headers=headers
    )


def _error(fmt: str, error: Open311Error) -> web.Response:
    body = [{"code": error.status, "description": error.description}]
    return _answer(
        fmt, body, root="errors", item="error", status=error.status, headers=error.headers
    )


def _georeport(handler: Any) -> Any:
    """Run ``handler`` answering its failures as GeoReport errors, rate-limited per address."""

    async def wrapped(request: web.Request) -> web.Response:
        fmt = request.match_info.get("fmt", "json")
        try:
            wait = request.app[ACCESS].by_address.take(client_address(request))
            if wait:
                retry = str(max(1, int(wait + 0.999)))
                raise Open311Error(429, "too many requests", {"Retry-After": retry})
            response: web.Response = await handler(request, fmt)
            return response
        except Open311Error as exc:
            if exc.status in (403, 429):
                refused(request, exc.status, exc.description)
            return _error(fmt, exc)
        except Forbidden as exc:
            refused(request, 403, str(exc))
            return _error(fmt, Open311Error(403, str(exc)))
        except InvalidWhistle as exc:
            detail = "; ".join(f"{_wire_name(e.field)}: {e.reason}" for e in exc.errors)
            return _error(fmt, Open311Error(400, detail))
        except IdempotencyConflict as exc:
            return _error(fmt, Open311Error(400, str(exc)))
        except web.HTTPRequestEntityTooLarge:
            limit = request.client_max_size
            return _error(fmt, Open311Error(413, f"request too large: the limit is {limit} bytes"))
        except StoreBusy:
            return _error(fmt, Open311Error(503, "busy; try again", {"Retry-After": "1"}))
        except StoreUnavailable as exc:
            log.error("store.unavailable", error=str(exc), path=request.path)
            return _error(
                fmt,
                Open311Error(503, "storage unavailable; nothing was stored", {"Retry-After": "5"}),
            )

    wrapped.__name__ = getattr(handler, "__name__", "open311")
    wrapped.__doc__ = handler.__doc__
    return public(wrapped)


def _wire_name(field: str) -> str:
    """Our intake's field names as GeoReport calls them."""
    return {
        "category": "service_code",
        "location.lat": "lat",
        "location.lon": "long",
        "location.grid": "address_id",
        "location.address": "address_string",
        "location": "lat/long, address_id or address_string",
        "reporter": "first_name/last_name",
        "media_urls.0": "media_url",
        "urgency": "attribute[urgency]",
    }.get(field, field)


# -- services ---------------------------------------------------------------------------------


def _has_metadata(category: Category) -> bool:
    return bool(category.needs) or category.claimable


def service(category: Category) -> dict[str, Any]:
    """A category as a GeoReport service."""
    keywords = [category.name, category.name_en, category.major_name, category.major]
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": f"{category.major_name} · {category.name} ({category.name_en}); "
        f"办结时限 {category.limit}",
        "metadata": _has_metadata(category),
        "type": "realtime",
        "keywords": ",".join(k for k in keywords if k),
        "group": category.major_name,
    }


def service_definition(category: Category) -> dict[str, Any]:
    """The attributes of a service: what it will also involve, and what a filer may set."""
    attributes: list[dict[str, Any]] = []
    if category.needs:
        names = "、".join(kind.label_zh for kind in category.needs)
        attributes.append(
            {
                "variable": False,
                "code": "needs",
                "datatype": "text",
                "required": False,
                "datatype_description": None,
                "order": len(attributes) + 1,
                "description": f"此类案件还将通知：{names}",
            }
        )
    if category.claimable:
        attributes.append(
            {
                "variable": False,
                "code": "claimable",
                "datatype": "text",
                "required": False,
                "datatype_description": None,
                "order": len(attributes) + 1,
                "description": "党员可在社区认领板认领此需求（认领）",
            }
        )
    if attributes:
        attributes.append(
            {
                "variable": True,
                "code": "urgency",
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": "紧急程度 (urgency)",
                "order": len(attributes) + 1,
                "description": f"默认：{category.urgency.value}",
                "values": [{"key": "urgent", "name": "紧急"}, {"key": "normal", "name": "一般"}],
            }
        )
    return {"service_code": category.code, "attributes": attributes}


def _variables(category: Category) -> dict[str, set[str]]:
    """The attributes a filer may set for ``category``, with their allowed keys."""
    return {
        a["code"]: {v["key"] for v in a.get("values", ())}
        for a in service_definition(category)["attributes"]
        if a["variable"]
    }


def _discovery(request: web.Request) -> dict[str, Any]:
    url = str(request.url.origin()) + _BASE
    return {
        "changeset": CHANGESET,
        "contact": "whistle 调度台 (grid-governance dispatch)",
        "key_service": "api_key: a whistle token (wst_...) of a reporter or operator",
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": url,
                "changeset": CHANGESET,
                "type": "production",
                "formats": ["application/json", "text/xml"],
            }
        ],
    }


@routes.get(f"{_BASE}/discovery.{_FMT}")
@_georeport
async def discovery(request: web.Request, fmt: str) -> web.Response:
    return _answer(fmt, _discovery(request), root="discovery", item=None)


@routes.get(f"{_BASE}/services.{_FMT}")
@_georeport
async def services(request: web.Request, fmt: str) -> web.Response:
    _jurisdiction(request, request.query)
    items = [service(category) for category in request.app[LIVE].catalog]
    return _answer(fmt, items, root="services", item="service")


@routes.get(_BASE + "/services/{code:[^/.]+}." + _FMT)
@_georeport
async def definition(request: web.Request, fmt: str) -> web.Response:
    _jurisdiction(request, request.query)
    category = request.app[LIVE].catalog.get(request.match_info["code"])
    if category is None:
        raise Open311Error(404, f"unknown service_code {request.match_info['code']!r}")
    return _answer(fmt, service_definition(category), root="service_definition", item=None)


def _jurisdiction(request: web.Request, params: Mapping[str, str]) -> None:
    """This endpoint serves one jurisdiction, the county: its code, if one is named."""
    named = params.get("jurisdiction_id")
    root = request.app[HIERARCHY].root
    if named and named != root:
        raise Open311Error(404, f"unknown jurisdiction_id {named!r}; this endpoint serves {root}")


# -- service requests -------------------------------------------------------------------------


def _public_description(text: str) -> str:
    """What the reporter wrote, without phone numbers, and without the address line the POST
    added to it (``地址：...``, :func:`_whistle_body`): the words given may be a home."""
    kept = [line for line in text.split("\n") if not line.startswith(_ADDRESS_LINE)]
    return mask_phones("\n".join(kept))


def service_request(
    stored: StoredWhistle,
    *,
    centroid: tuple[float, float] | None,
    updated: str | None,
) -> dict[str, Any]:
    """A whistle as a GeoReport service request, without anybody's personal data."""
    doc = stored.row_doc
    case = stored.case or {}
    status = stored.status
    path = doc["grid"]["path"]
    location = doc.get("location") or {}
    lat, lon = location.get("lat"), location.get("lon")
    if lat is None or lon is None:
        lat, lon = centroid if centroid is not None else (None, None)
    else:
        lat, lon = public_point(lat, lon)  # the block, not the reporter's door
    address = ", ".join(step["name"] for step in reversed(path))
    address_id: str | None = doc["grid"]["code"]
    if status == "unplaced":  # 待定位: only the cell it waits in (the words given may be a home)
        lat = lon = address_id = None
    media = doc.get("media_urls") or []
    return {
        "service_request_id": doc["id"],
        "status": "closed" if status in CLOSED else "open",
        "status_notes": f"{OPEN311_NOTES.get(status, status)}/{status}",
        "service_name": doc["category"]["name"],
        "service_code": doc["category"]["code"],
        "description": _public_description(doc["description"]),
        "agency_responsible": _responsible(stored),
        "service_notice": None,
        "requested_datetime": doc["received_at"],
        "updated_datetime": updated or doc["received_at"],
        "expected_datetime": case.get("resolve_due"),
        "address": address,
        "address_id": address_id,
        "lat": lat,
        "long": lon,
        "media_url": media[0] if media else None,
    }


def _responsible(stored: StoredWhistle) -> str | None:
    """The owner (首问负责), else the first live assignment, as the public may see it: a unit
    by its name (田园镇派出所), a person by role and cell (第1网格报到党员), never by name."""
    owner = ((stored.case or {}).get("owner") or {}).get("assignment")
    ordered = sorted(
        (a for a in stored.assignments if a.get("status") != "cancelled"),
        key=lambda a: a.get("id") != owner,
    )
    for assignment in ordered:
        if assignment.get("kind_name") or assignment.get("responder"):
            return public_name(assignment)
    return None


async def _as_request(request: web.Request, stored: StoredWhistle) -> dict[str, Any]:
    whistle_id = stored.row_doc["id"]
    events = await request.app[STORE].timeline(whistle_id)
    updated = rfc3339(events[-1].at, request.app[TZ]) if events else None
    centroid = request.app[HIERARCHY].centroid(stored.row_doc["grid"]["code"])
    return service_request(stored, centroid=centroid, updated=updated)


async def _visible(request: web.Request, whistle_id: str) -> StoredWhistle:
    stored = None
    if 0 < len(whistle_id) <= 64:
        stored = await request.app[STORE].get_whistle(whistle_id)
    if stored is None or stored.row_doc.get("source") != _SOURCE:
        raise Open311Error(404, f"no service request {whistle_id!r}")
    return stored


@routes.get(_BASE + "/requests/{id:[^/.]+}." + _FMT)
@_georeport
async def get_request(request: web.Request, fmt: str) -> web.Response:
    _jurisdiction(request, request.query)
    stored = await _visible(request, request.match_info["id"])
    item = await _as_request(request, stored)
    return _answer(fmt, [item], root="service_requests", item="request")


@routes.get(_BASE + "/tokens/{id:[^/.]+}." + _FMT)
@_georeport
async def get_token(request: web.Request, fmt: str) -> web.Response:
    """Requests are made synchronously: a request's token is its id."""
    _jurisdiction(request, request.query)
    stored = await _visible(request, request.match_info["id"])
    whistle_id = stored.row_doc["id"]
    item = {"service_request_id": whistle_id, "token": whistle_id}
    return _answer(fmt, [item], root="service_requests", item="request")


def _date(params: Mapping[str, str], name: str) -> datetime | None:
    text = params.get(name)
    if text is None or text == "":
        return None
    if "T" not in text.upper():
        raise Open311Error(
            400, f"{name}: expected an RFC 3339 date-time with an offset, got {text!r}"
        )
    try:
        return bounded_instant(text.strip())
    except ValueError as exc:
        raise Open311Error(400, f"{name}: {exc}, got {text!r}") from None


def _csv(params: Mapping[str, str], name: str) -> list[str]:
    return [part.strip() for part in params.get(name, "").split(",") if part.strip()]


@routes.get(f"{_BASE}/requests.{_FMT}")
@_georeport
async def list_requests(request: web.Request, fmt: str) -> web.Response:
    q = request.query
    _jurisdiction(request, q)
    store = request.app[STORE]
    ids = _csv(q, "service_request_id")
    if ids:  # overrides every other parameter, per the spec
        if len(ids) > MAX_ROWS:
            raise Open311Error(400, f"service_request_id: at most {MAX_ROWS} ids")
        found = []
        for whistle_id in dict.fromkeys(ids):
            stored = await store.get_whistle(whistle_id) if len(whistle_id) <= 64 else None
            if stored is not None and stored.row_doc.get("source") == _SOURCE:
                found.append(stored)
        items = [await _as_request(request, s) for s in found]
        return _answer(fmt, items, root="service_requests", item="request")
    catalog = request.app[LIVE].catalog
    codes = _csv(q, "service_code")
    unknown = [code for code in codes if code not in catalog]
    if unknown:
        raise Open311Error(400, f"service_code: unknown {', '.join(unknown)}")
    wanted = _csv(q, "status")
    bad = [s for s in wanted if s not in ("open", "closed")]
    if bad:
        raise Open311Error(400, f"status: expected open or closed, got {', '.join(bad)}")
    start, end = _date(q, "start_date"), _date(q, "end_date")
    now = request.app[CLOCK].now()
    if start is None and end is None:
        end = now
    if start is None:
        assert end is not None
        start = end - WINDOW
    if end is None:
        end = min(start + WINDOW, max(now, start))
    if start > end:
        raise Open311Error(400, "start_date is after end_date")
    if end - start > WINDOW:
        raise Open311Error(400, "start_date and end_date may span at most 90 days")
    rows: dict[str, StoredWhistle] = {}
    selection: list[str | None] = [*codes] or [None]
    for code in selection:
        page = await store.list_whistles(
            WhistleQuery(
                source=_SOURCE,
                category=code,
                since=start,
                until=end + timedelta(milliseconds=1),  # end_date is inclusive
                limit=MAX_ROWS if not wanted else 200,
            )
        )
        batch = list(page.items)
        # Status is a fold of many case states: page until enough rows match.
        while wanted and page.next_before is not None and len(batch) < 50 * MAX_ROWS:
            matching = sum(1 for s in batch if _open_closed(s.status) in wanted)
            if matching >= MAX_ROWS:
                break
            page = await store.list_whistles(
                WhistleQuery(
                    source=_SOURCE,
                    category=code,
                    since=start,
                    until=end + timedelta(milliseconds=1),
                    before=page.next_before,
                    limit=200,
                )
            )
            batch.extend(page.items)
        for stored in batch:
            if not wanted or _open_closed(stored.status) in wanted:
                rows[stored.row_doc["id"]] = stored
    newest = sorted(rows.values(), key=lambda s: s.row_doc["id"], reverse=True)[:MAX_ROWS]
    items = [await _as_request(request, s) for s in newest]
    return _answer(fmt, items, root="service_requests", item="request")


def _open_closed(status: str) -> str:
    return "closed" if status in CLOSED else "open"


# -- filing -----------------------------------------------------------------------------------


async def _principal(request: web.Request, api_key: str) -> Principal:
    """The principal an api_key (one of our tokens) stands for; Open311Error 403 otherwise."""
    token_id = parse_token(api_key) if api_key else None
    if token_id is None:
        raise Open311Error(403, "api_key missing or malformed: send a whistle token (wst_...)")
    record = await request.app[STORE].get_token(token_id)
    if record is None or not secrets.compare_digest(record.hash, token_hash(api_key)):
        raise Open311Error(403, "api_key: unknown token")
    if record.revoked_at is not None or is_expired(record.expires_at, request.app[CLOCK].now()):
        raise Open311Error(403, f"api_key: token {token_id} was revoked or has expired")
    role = Role(record.role)
    if role not in (Role.REPORTER, Role.OPERATOR):
        raise Open311Error(403, f"api_key: a {role.value} token may not file service requests")
    principal = Principal(
        id=f"token:{record.id}",
        role=role,
        scope=record.scope,
        responder_id=record.responder_id,
        source=record.source,
        via="open311",
    )
    wait = request.app[ACCESS].by_principal.take(principal.id)
    if wait:
        raise Open311Error(429, "too many requests", {"Retry-After": str(max(1, int(wait + 1)))})
    return principal


def _number(form: Mapping[str, str], name: str) -> float:
    try:
        return float(form[name])
    except ValueError:
        raise Open311Error(400, f"{name}: expected a number, got {form[name]!r}") from None


def _reporter(first: str, last: str) -> str | None:
    if not first and not last:
        return None
    if any("\u3400" <= ch <= "\u9fff" for ch in first + last):
        return f"{last}{first}"  # 姓名: family name first, no space
    return f"{first} {last}".strip()


_ADDRESS_LINE = "地址："


def _whistle_body(form: Mapping[str, str], category: Category) -> dict[str, Any]:
    """The intake's JSON for a GeoReport POST (personal data: the name only)."""
    location: dict[str, Any]
    address_id = form.get("address_id", "").strip()
    address = form.get("address_string", "").strip()
    if address_id:
        location = {"grid": address_id}
    elif form.get("lat", "").strip() or form.get("long", "").strip():
        if not (form.get("lat", "").strip() and form.get("long", "").strip()):
            raise Open311Error(400, "lat and long: a point needs both")
        location = {"lat": _number(form, "lat"), "lon": _number(form, "long")}
    elif address:
        # Placed by the gazetteer, or held for an operator (待定位): never refused.
        location = {}
    else:
        raise Open311Error(
            400, "location: send lat/long, address_id (a grid code) or address_string"
        )
    if address:
        location["address"] = address
    description = form.get("description", "").strip() or category.name
    if address:  # for the staff who read the case; the public answer leaves it out
        description = f"{description}\n{_ADDRESS_LINE}{address}"
    body: dict[str, Any] = {
        "source": _SOURCE,
        "category": category.code,
        "description": description,
        "location": location,
    }
    reporter = _reporter(form.get("first_name", "").strip(), form.get("last_name", "").strip())
    if reporter:
        body["reporter"] = reporter
    media = form.get("media_url", "").strip()
    if media:
        body["media_urls"] = [media]
    variables = _variables(category)
    for key, value in form.items():
        if key in _POST_FIELDS:
            continue
        if key.startswith("attribute[") and key.endswith("]"):
            code = key[len("attribute[") : -1]
            if code not in variables:
                raise Open311Error(400, f"{key}: service {category.code} has no such attribute")
            if variables[code] and value not in variables[code]:
                choices = ", ".join(sorted(variables[code]))
                raise Open311Error(400, f"{key}: expected one of {choices}, got {value!r}")
            body[code] = value
            continue
        raise Open311Error(400, f"{key}: unknown parameter")
    return body


@routes.post(f"{_BASE}/requests.{_FMT}")
@_georeport
async def post_request(request: web.Request, fmt: str) -> web.Response:
    if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise Open311Error(400, "send the request form-encoded (application/x-www-form-urlencoded)")
    posted = await request.post()
    form = {key: value for key, value in posted.items() if isinstance(value, str)}
    if len(form) != len(posted):
        raise Open311Error(400, "files are not accepted here: upload media and send media_url")
    principal = await _principal(request, form.get("api_key", "").strip())
    _jurisdiction(request, form)
    code = form.get("service_code", "").strip()
    if not code:
        raise Open311Error(400, "service_code: required")
    category = request.app[LIVE].catalog.get(code)
    if category is None:
        raise Open311Error(404, f"unknown service_code {code!r}")
    body = _whistle_body(form, category)
    submission = await request.app[INTAKE].submit(body, principal=principal)
    stored = await request.app[STORE].get_whistle(submission.whistle_id)
    case = {} if stored is None else (stored.case or {})
    notice = f"已受理并派遣（{category.name}）"
    if stored is not None and stored.status == "unplaced":
        notice = f"已受理（{category.name}），地址待人工定位后派遣"
    if case.get("resolve_due"):
        notice += f"；办结时限 {case['resolve_due']}"
    # ``account_id`` is the id of the submitter's account on the jurisdiction's side, a
    # string when there is one; a request filed through an api_key has none, so it is left
    # out (the schema types it as a string, and null is not one).
    answer = [{"service_request_id": submission.whistle_id, "service_notice": notice}]
    log.info(
        "open311.request", whistle_id=submission.whistle_id, service_code=code, by=principal.id
    )
    return _answer(fmt, answer, root="service_requests", item="request", status=201)
