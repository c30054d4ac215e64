"""The OpenAPI 3.1 document of the JSON HTTP API, served at ``GET /api/v1/openapi.json``.

Every schema comes from a model: request bodies from the pydantic models the handlers validate
with, answers from the typed dicts the server builds them as (``whistle.documents`` for the
whistle, its case and assignments, ``whistle.web.resources`` for the rest), both through
pydantic's JSON schema generation with their definitions in ``#/components/schemas``. So the
document cannot drift from validation, nor from what the intake writes.

The operations are a table (:data:`Op` rows, grouped by resource below). To describe a new
endpoint, add one row to its group, e.g.::

    Op("post", "/api/v1/whistles/{id}/urge", "urge (催办)", "Whistle", CASE_ERRORS,
       body="NoteIn", params=(ID,))

with its request model in :data:`MODELS` and its answer's typed dict in :data:`RESPONSES`
when they are new. tests/whistle/web/test_openapi.py checks that every /api/v1 route of the app is
described (and nothing else) and that the document is valid OpenAPI;
tests/whistle/web/test_openapi_answers.py checks live answers against their schemas, and
tests/reliability/test_fuzz.py runs schemathesis against a live server.
"""

from __future__ import annotations

import functools
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import JsonSchemaMode

from whistle import documents
from whistle.bounds import RANGE
from whistle.schema import WhistleIn
from whistle.stats import TABLES
from whistle.web import actions, admin, openapi_config, replay, resources, silences
from whistle.web.access import public
from whistle.web.openapi_ops import (
    AUTHED,
    CASE_ERRORS,
    CODE,
    ID,
    IMAGES,
    OBJ,
    PUBLIC,
    READ,
    SIGNED,
    STR,
    TIME,
    WRITE,
    Op,
    binary,
    json_answer,
    path_param,
    query,
)
from whistle.web.party_openapi import PARTY_MODELS, PARTY_RESPONSES, party_ops

__all__ = ["CASE_ERRORS", "ID", "MODELS", "PATH", "RESPONSES", "Op", "document", "routes"]

PATH = "/api/v1/openapi.json"
_REF = "#/components/schemas/{model}"

routes = web.RouteTableDef()

# -- the schemas -------------------------------------------------------------------------------

# component name -> the model a handler validates that body with
MODELS: dict[str, type[BaseModel]] = {
    "WhistleIn": WhistleIn,
    "ResolveIn": actions._Resolve,
    "ReasonIn": actions._Reason,
    "NoteIn": actions._Note,
    "EmptyIn": actions._Body,
    "ClaimIn": actions._Claim,
    "VerifyIn": actions._Verify,
    "ExtendIn": actions._Extend,
    "RateIn": actions._Rate,
    "MergeIn": actions._Merge,
    "PlaceIn": actions._Place,
    "ReassignIn": actions._Reassign,
    "AcceptReturnIn": actions._AcceptReturn,
    "SilenceIn": silences._SilenceIn,
    "TokenIn": admin._TokenIn,
    "UserIn": admin._UserIn,
    **openapi_config.MODELS,
    "ReplayIn": replay._ReplayIn,
    **PARTY_MODELS,
}

# Bodies whose handler checks them by hand before WhistleIn: their models only describe them.
DESCRIBED: dict[str, type[BaseModel]] = {
    "PublicIn": resources.PublicIn,
    "PublicRateIn": resources.PublicRateIn,
}

# component name -> the typed dict of the answer (each named as its class)
RESPONSES: dict[str, Any] = {
    cls.__name__: cls
    for cls in (
        resources.Problem,
        documents.Whistle,
        documents.WhistleWithTimeline,
        documents.WhistlePage,
        resources.Cell,
        resources.CellPage,
        resources.Shapes,
        resources.Roster,
        resources.Categories,
        resources.Inbox,
        resources.History,
        resources.Candidates,
        resources.Wall,
        resources.Silence,
        resources.Silences,
        resources.QueueCounts,
        resources.IssuedToken,
        resources.GridReload,
        resources.Token,
        resources.Tokens,
        resources.User,
        resources.Audit,
        resources.Media,
        resources.PublicFiled,
        resources.PublicView,
        resources.PublicPlace,
        resources.Stats,
        resources.StatsCases,
        resources.ReplayJob,
        resources.FeedResults,
        resources.Health,
        *openapi_config.RESPONSES,
        *PARTY_RESPONSES,
    )
}


def _request_schemas() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, model in {**MODELS, **DESCRIBED}.items():
        schema = model.model_json_schema(ref_template=_REF, mode="validation")
        out.update(schema.pop("$defs", {}))
        schema["title"] = name
        out[name] = schema
    return out


def _response_schemas() -> dict[str, Any]:
    """Every answer's schema, and those of the documents nested in them, from one generator
    (so that a document shared by two answers is one component)."""
    mode: JsonSchemaMode = "serialization"
    adapters = [(name, mode, TypeAdapter(cls)) for name, cls in RESPONSES.items()]
    _, defs = TypeAdapter.json_schemas(adapters, ref_template=_REF)
    schemas: dict[str, Any] = defs.get("$defs", {})
    missing = set(RESPONSES) - set(schemas)
    assert not missing, f"answers not named as their class: {missing}"
    return schemas


def _schemas() -> dict[str, Any]:
    requests, answers = _request_schemas(), _response_schemas()
    clash = {name for name in requests.keys() & answers.keys() if requests[name] != answers[name]}
    assert not clash, f"a request and an answer share a component name: {clash}"
    return {**requests, **answers}


# -- the operations, by resource ---------------------------------------------------------------

_FILE_WHISTLE = (
    "A camera whistle may name its camera (`camera_id`): one of `cameras.csv` (else 422 "
    "naming `camera_id`; other sources name none), whose own cell lies in the caller's scope "
    "(else 403), and the location must lie in that cell (else 422 naming `location`; left "
    "out, the whistle is placed at the camera). A repeat of the camera and category within "
    "the repeat window joins the camera's open case there and is answered 200 with "
    "`Whistle-Grouped: true`."
)
_LOCATION = {"Location": {"required": True, "schema": STR}}
_WHISTLE_FILTERS = (
    query("status", STR, "a status"),
    query(
        "source",
        {"enum": ["citizen", "community", "town_committee", "police", "camera"]},
        "a source",
    ),
    query("category", STR, "a category code or a 大类 prefix"),
    query("grid", STR, "a subtree"),
    query("level", STR, "the level of the cell the whistle was placed in"),
    query(
        "queue",
        {"enum": ["returned", "open"]},
        "returned: cases with a return (退单) awaiting the dispatcher's decision; "
        "open: not merged, verified, closed or rated",
    ),
    query(
        "q",
        {"type": "string", "maxLength": 100},
        "search: 受理编号, description, reporter, place or category name containing every "
        "word (FTS5 trigram; words of 1-2 characters by substring scan)",
    ),
    query(
        "sort",
        {"enum": ["received", "due"]},
        "received: newest first (default); due: the next deadline (case.next_due) first",
    ),
    query("since", TIME, f"received at or after (RFC 3339 with offset, {RANGE})"),
    query("until", TIME, f"received before (RFC 3339 with offset, {RANGE})"),
    query("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "page size"),
    query("cursor", STR, "next_cursor of the previous page"),
    query("case_number", STR, "the one case with this 受理编号 (case-insensitive)"),
)


def _idempotency(description: str) -> dict[str, Any]:
    return {
        "name": "Idempotency-Key",
        "in": "header",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255},
        "description": description,
    }


def _whistle_ops() -> list[Op]:
    created = {**json_answer("Whistle", "Created: the whistle as stored"), "headers": _LOCATION}
    grouped = {
        **json_answer(
            "Whistle",
            "A camera repeat: added to the open case of the same camera and category in the "
            "camera's own cell, answered with that case",
        ),
        "headers": {
            **_LOCATION,
            "Whistle-Grouped": {"required": True, "schema": {"const": "true"}},
        },
    }
    keyed = _idempotency(
        "makes retries safe; keys belong to the caller's scope, so another scope's key is a new key"
    )
    return [
        Op(
            "post",
            "/api/v1/whistles",
            "File a whistle",
            created,
            (*WRITE, 415),
            status=201,
            body="WhistleIn",
            params=(keyed,),
            description=_FILE_WHISTLE,
            responses={"200": grouped},
        ),
        Op(
            "get",
            "/api/v1/whistles",
            "List whistles, newest first",
            "WhistlePage",
            READ,
            params=_WHISTLE_FILTERS,
        ),
        Op(
            "get",
            "/api/v1/whistles/{id}",
            "A whistle and its timeline",
            "WhistleWithTimeline",
            (*READ, 404),
            params=(ID,),
        ),
    ]


def _action_ops() -> list[Op]:
    """The actions on a case and on its assignments: each answers with the case."""
    on_assignments = [
        ("acknowledge", "acknowledge (报到/开始)", "EmptyIn"),
        ("start", "start (报到/开始)", "EmptyIn"),
        ("resolve", "report the work done (反馈)", "ResolveIn"),
        ("return", "return a wrong assignment (退单)", "ReasonIn"),
        ("reassign", "reassign (改派)", "ReassignIn"),
        (
            "accept-return",
            "accept a return (退单) and reassign it to a named responder",
            "AcceptReturnIn",
        ),
        ("refuse-return", "refuse a return (退单); the returner takes it back", "ReasonIn"),
        ("request-extension", "ask for an extension (申请延期)", "ExtendIn"),
    ]
    on_cases = [
        ("claim", "claim a need (认领)", "ClaimIn"),
        ("verify", "verify (核查)", "VerifyIn"),
        ("reopen", "reopen", "ReasonIn"),
        ("hold", "hold (挂账)", "ReasonIn"),
        ("release", "release a hold (恢复), with an optional reason", "ReasonIn"),
        ("urge", "urge by hand (催办), with a required note", "NoteIn"),
        ("supervise", "supervise by hand (督办), with a required note", "NoteIn"),
        ("extend", "extend once (延期)", "ExtendIn"),
        ("approve-extension", "grant the waiting extension request (延期)", "NoteIn"),
        ("refuse-extension", "refuse the waiting extension request", "ReasonIn"),
        ("rate", "rate (好差评)", "RateIn"),
        ("merge", "merge as a duplicate (the case it joins records it)", "MergeIn"),
        ("place", "place a whistle its address could not place (待定位), then route it", "PlaceIn"),
    ]
    return [
        Op(
            "post",
            f"/api/v1/{kind}/{{id}}/{action}",
            summary,
            "Whistle",
            CASE_ERRORS,
            body=body,
            params=(ID,),
        )
        for kind, table in (("assignments", on_assignments), ("whistles", on_cases))
        for action, summary, body in table
    ]


def _grid_ops() -> list[Op]:
    page = (
        query("level", STR, "a level (1-5 or its name)"),
        query("parent", STR, "a grid code"),
        query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, ""),
        query("offset", {"type": "integer", "minimum": 0}, ""),
    )
    found = (*READ, 404)
    return [
        Op(
            "get",
            "/api/v1/grids",
            "Cells of a level and/or of a parent",
            "CellPage",
            READ,
            params=page,
        ),
        Op("get", "/api/v1/grids/{code}", "A cell", "Cell", found, params=(CODE,)),
        Op(
            "get",
            "/api/v1/grids/{code}/shapes",
            "Children as GeoJSON",
            "Shapes",
            found,
            params=(CODE,),
        ),
        Op(
            "get",
            "/api/v1/grids/{code}/roster",
            "Responders and shifts",
            "Roster",
            found,
            params=(CODE,),
        ),
        Op("get", "/api/v1/categories", "The category catalog", "Categories", READ),
        Op(
            "get",
            "/api/v1/whistles/{id}/candidates",
            "Who a case may be reassigned to: its cell's responders and those above, by kind, "
            "with duty and open tasks",
            "Candidates",
            found,
            params=(ID, query("q", STR, "words the name, id or cell name contains")),
        ),
        Op(
            "get",
            "/api/v1/responders/{id}/inbox",
            "A responder's inbox",
            "Inbox",
            found,
            params=(ID,),
        ),
        Op(
            "get",
            "/api/v1/responders/{id}/history",
            "A responder's finished work",
            "History",
            found,
            params=(ID,),
        ),
    ]


def _admin_ops() -> list[Op]:
    return [
        Op(
            "post",
            "/api/v1/silences",
            "Mute a camera, cell or category",
            json_answer("Silence", "Created"),
            WRITE,
            status=201,
            body="SilenceIn",
        ),
        Op("get", "/api/v1/silences", "Every silence", "Silences", READ),
        Op(
            "get",
            "/api/v1/queue-counts",
            "Cases per queue in a subtree (exact)",
            "QueueCounts",
            READ,
            params=(query("grid", STR, "the subtree (default: the caller's scope)"),),
        ),
        Op(
            "delete",
            "/api/v1/silences/{id}",
            "Expire a silence now",
            "Silence",
            (*WRITE, 404),
            params=(ID,),
        ),
        Op(
            "post",
            "/api/v1/tokens",
            "Issue a token (shown once)",
            json_answer("IssuedToken", "Created"),
            WRITE,
            status=201,
            body="TokenIn",
        ),
        Op("get", "/api/v1/tokens", "Every token", "Tokens", READ),
        Op("delete", "/api/v1/tokens/{id}", "Revoke a token", "Token", (*WRITE, 404), params=(ID,)),
        Op(
            "post",
            "/api/v1/users",
            "Add a login",
            json_answer("User", "Created"),
            WRITE,
            status=201,
            body="UserIn",
        ),
        Op("get", "/api/v1/audit", "The audit trail", "Audit", READ),
        Op(
            "post",
            "/api/v1/admin/reload-grids",
            "Reload the grid files; on any problem (422) the running grids are kept",
            "GridReload",
            (*WRITE, 422),
        ),
    ]


def _media_ops() -> list[Op]:
    photo = binary("", *IMAGES)
    del photo["description"]
    return [
        Op(
            "post",
            "/api/v1/media",
            "Upload a photo",
            json_answer("Media", "Created"),
            (*WRITE, 415),
            status=201,
            request={"required": True, **photo},
        ),
        Op(
            "get",
            "/media/{name}",
            "A photo, to its uploader and admins; otherwise with its case (`?case=`) to "
            "whoever may read the case, when the case names it and it was uploaded on the "
            "case's branch of the grid tree (403 otherwise: the URL alone shows nothing)",
            binary("The image, of the type its content proved", *IMAGES),
            (*AUTHED, 404),
            params=(
                path_param("name", STR),
                query("case", STR, "the whistle id of the case the photo belongs to"),
            ),
        ),
    ]


def _public_photo() -> dict[str, Any]:
    photo = binary("", *IMAGES)
    del photo["description"]
    return photo


def _public_ops() -> list[Op]:
    link = (ID, query("key", STR, "the private key of the link"))
    keyed = _idempotency(
        "makes retries safe: a retry from the same address gets its case number back "
        "(without a new link); reused with another body it is refused (422) naming no case"
    )
    return [
        Op(
            "post",
            "/api/v1/public/whistles",
            "A citizen files a whistle",
            json_answer("PublicFiled", "Created"),
            (429, 400, 413, 415, 422, 503),
            status=201,
            body="PublicIn",
            security=PUBLIC,
            params=(keyed,),
        ),
        Op(
            "get",
            "/api/v1/public/whistles/{id}",
            "A citizen follows a case",
            "PublicView",
            (404,),
            params=link,
            security=PUBLIC,
        ),
        Op(
            "get",
            "/api/v1/public/locate",
            "The deepest cell holding a point, by name (404 outside the county)",
            "PublicPlace",
            (400, 404),
            params=(
                query("lat", {"type": "number"}, "latitude"),
                query("lon", {"type": "number"}, "longitude"),
            ),
            security=PUBLIC,
        ),
        Op(
            "get",
            "/api/v1/public/grids/{code}/shapes",
            "A cell's children as GeoJSON polygons, for the citizen's map",
            "Shapes",
            (404,),
            params=(CODE,),
            security=PUBLIC,
        ),
        Op(
            "post",
            "/api/v1/public/media",
            "A citizen uploads a photo (the citizens' per-address limit)",
            json_answer("Media", "Created"),
            (429, 413, 415),
            status=201,
            request={"required": True, **_public_photo()},
            security=PUBLIC,
        ),
        Op(
            "post",
            "/api/v1/public/whistles/{id}/rate",
            "A citizen rates a closed case",
            "PublicView",
            (400, 404, 409, 413, 422, 503),
            body="PublicRateIn",
            params=link,
            security=PUBLIC,
        ),
    ]


_DATE = {"type": "string", "format": "date"}
_WINDOW = (
    query("grid", STR, "the subtree (default: the caller's scope)"),
    query("since", _DATE, "first day, from 1970-01-01 (default: 30 days before until)"),
    query("until", _DATE, "last day, included, at most 8999-12-31 (default: today)"),
    query("lang", {"enum": ["zh", "en"]}, "language of the labels"),
)


def _stats_ops() -> list[Op]:
    drill = (
        *_WINDOW,
        query("metric", STR, "the figure's metric"),
        query("bucket", STR, "the figure's bucket"),
        query("limit", {"type": "integer", "minimum": 1, "maximum": 500}, ""),
    )
    table = path_param("table", {"type": "string", "enum": list(TABLES)})
    csv = {"description": "CSV", "content": {"text/csv": {"schema": STR}}}
    return [
        Op("get", "/api/v1/stats", "Every figure of a window", "Stats", READ, params=_WINDOW),
        Op(
            "get",
            "/api/v1/wall",
            "The command-centre wall: open cases per map cell, today's whistles by source, "
            "the overdue cases by name, the three rates of the last 7 days",
            "Wall",
            READ,
            params=(query("grid", STR, "the subtree (default: the caller's scope)"),),
        ),
        Op(
            "get",
            "/api/v1/stats/cases",
            "The ids behind one figure",
            "StatsCases",
            READ,
            params=drill,
        ),
        Op(
            "get",
            "/api/v1/stats/{table}.csv",
            "One table as CSV",
            csv,
            (*READ, 404),
            params=(table, *_WINDOW),
        ),
    ]


# An event seq: ASCII digits, at most 2^63 - 1 (anything else is a 400).
_SEQ: dict[str, Any] = {"type": "string", "pattern": "^[0-9]{1,19}$"}


def _feed(path: str, summary: str) -> Op:
    # Same body for 207: each line's result, the bad ones with their errors; the others stored.
    return Op(
        "post",
        path,
        summary,
        json_answer("FeedResults", "Every line was stored, or already was"),
        (*WRITE, 415),
        security=SIGNED,
        request={"required": True, "content": {"application/x-ndjson": {"schema": STR}}},
        responses={"207": json_answer("FeedResults", "Multi-Status: some lines are errors")},
    )


def _system_ops() -> list[Op]:
    resume = {
        "name": "Last-Event-ID",
        "in": "header",
        "schema": _SEQ,
        "description": "resume after this event seq (EventSource sends it)",
    }
    events = {
        "description": "Server-sent events",
        "content": {"text/event-stream": {"schema": STR}},
    }
    this = {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": OBJ}}}
    return [
        Op(
            "get",
            "/api/v1/stream",
            "The live event stream of the caller's subtree. It does not end by itself, but "
            "when its token is revoked or expires or its session ends, it sends "
            '`event: revoked` (data: `{"why": ...}`) and ends within seconds',
            events,
            (*AUTHED, 400),
            params=(
                resume,
                query("last_event_id", _SEQ, "the same, for clients that cannot set it"),
            ),
        ),
        _feed("/api/v1/feeds/camera", "Camera detections (天眼), JSON Lines, signed"),
        _feed("/api/v1/feeds/police", "Police alerts (警情), JSON Lines, signed"),
        Op("get", PATH, "This document", this, security=PUBLIC),
        Op("get", "/healthz", "Alive", "Health", security=PUBLIC),
        Op(
            "get",
            "/readyz",
            "Ready: hierarchy loaded, database answers",
            "Health",
            (503,),
            security=PUBLIC,
        ),
    ]


def operations() -> list[Op]:
    """Every operation of the API, in the document's order."""
    return [
        *_whistle_ops(),
        *_grid_ops(),
        *_admin_ops(),
        *_media_ops(),
        *_public_ops(),
        *_stats_ops(),
        *replay.api_ops(),
        *_system_ops(),
        *_action_ops(),
        *openapi_config.operations(),
        *party_ops(),
    ]


def _paths() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for op in operations():
        item = paths.setdefault(op.path, {})
        assert op.method not in item, f"{op.method.upper()} {op.path} is described twice"
        item[op.method] = op.operation()
    return paths


@functools.cache
def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (built once)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "whistle",
            "version": "1",
            "description": "Grid-governance event dispatch: five whistles, five reports. "
            "Errors are RFC 9457 problem details (application/problem+json).",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "wst_…"},
                # Feeds sign each request: HMAC-SHA256(sha256(token), "<timestamp>." + body).
                "signature": {"type": "apiKey", "in": "header", "name": "X-Whistle-Signature"},
                "signatureKey": {"type": "apiKey", "in": "header", "name": "X-Whistle-Key"},
                "signatureTime": {"type": "apiKey", "in": "header", "name": "X-Whistle-Timestamp"},
            },
        },
    }


@functools.cache
def _body() -> bytes:
    return orjson.dumps(document())


@routes.get(PATH)
@public
async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(
        body=_body(),
        content_type="application/json",
        headers={"Cache-Control": "public, max-age=3600"},
    )
