"""The OpenAPI 3.1 document of the JSON HTTP API, served at ``GET /api/v1/openapi.json``.

Request bodies come from the pydantic models the handlers validate with (``model_json_schema``,
their ``$defs`` moved to ``#/components/schemas``), so the document cannot drift from
validation. Responses, parameters and the error statuses each handler can give are written
here by hand from the handlers; tests/whistle/test_openapi.py checks that every /api/v1 route
of the app is described (and nothing else), and tests/reliability/test_fuzz.py runs
schemathesis against a live server to check that the answers keep to the document.
"""

from __future__ import annotations

import functools
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel

from whistle.bounds import RANGE
from whistle.schema import LIMITS, WhistleIn
from whistle.stats import TABLES
from whistle.web import actions, admin, silences
from whistle.web.access import public

__all__ = ["PATH", "document", "routes"]

PATH = "/api/v1/openapi.json"
_REF = "#/components/schemas/{model}"

routes = web.RouteTableDef()

# -- request bodies, from the models that validate them --------------------------------------

# component name -> the model a handler validates that body with
MODELS: dict[str, type[BaseModel]] = {
    "WhistleIn": WhistleIn,
    "ResolveIn": actions._Resolve,
    "ReasonIn": actions._Reason,
    "EmptyIn": actions._Body,
    "ClaimIn": actions._Claim,
    "VerifyIn": actions._Verify,
    "ExtendIn": actions._Extend,
    "RateIn": actions._Rate,
    "MergeIn": actions._Merge,
    "ReassignIn": actions._Reassign,
    "AcceptReturnIn": actions._AcceptReturn,
    "SilenceIn": silences._SilenceIn,
    "TokenIn": admin._TokenIn,
    "UserIn": admin._UserIn,
}


def _model_schemas() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, model in MODELS.items():
        schema = model.model_json_schema(ref_template=_REF, mode="validation")
        out.update(schema.pop("$defs", {}))
        schema["title"] = name
        out[name] = schema
    return out


# -- responses, by hand from the handlers ----------------------------------------------------

_OBJ: dict[str, Any] = {"type": "object"}
_STR: dict[str, Any] = {"type": "string"}
_NSTR: dict[str, Any] = {"type": ["string", "null"]}
_INT: dict[str, Any] = {"type": "integer"}
_BOOL: dict[str, Any] = {"type": "boolean"}
_TIME: dict[str, Any] = {"type": "string", "format": "date-time"}
_NTIME: dict[str, Any] = {"type": ["string", "null"], "format": "date-time"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    """An object with these properties; more may come (clients must ignore what they do
    not know), so additionalProperties stays open."""
    return {
        "type": "object",
        "required": list(required),
        "properties": {**required, **(optional or {})},
    }


def _list_of(item: dict[str, Any], **more: Any) -> dict[str, Any]:
    return _object({"items": {"type": "array", "items": item}, **more})


_CELL_REF = _object({"code": _STR, "name": _STR, "level": _STR})
_CELL = _object(
    {
        "code": _STR,
        "name": _STR,
        "level": _STR,
        "level_number": {"type": "integer", "minimum": 1, "maximum": 5},
        "level_name": _STR,
        "parent": _NSTR,
        "children": {"type": "integer", "minimum": 0},
    }
)
_RESPONDER = _object(
    {
        "id": _STR,
        "name": _STR,
        "kind": _STR,
        "kind_name": _STR,
        "categories": {"type": "array", "items": _STR},
        "backup": {"type": ["string", "null"], "description": "the responder who stands in"},
    }
)
_MATCHERS = {
    "type": "object",
    "description": "every matcher given must hold: camera, grid (with its subtree), category "
    "(with its subcategories), source",
    "additionalProperties": _STR,
}
_SILENCE = _object(
    {
        "id": _STR,
        "matchers": _MATCHERS,
        "starts_at": _TIME,
        "ends_at": _TIME,
        "author": _STR,
        "comment": _STR,
        "created_at": _TIME,
        "active": _BOOL,
        "inert": {
            "type": ["string", "null"],
            "description": "why a silence stored with a grid alone matches nothing",
        },
    }
)
# How a whistle names the silence that muted it, or that covered it but could not mute it.
_SILENCE_NAMED = _object(
    {"id": _STR, "matchers": _MATCHERS, "author": _STR, "comment": _STR, "until": _TIME}
)
_TOKEN = _object(
    {
        "id": _STR,
        "role": _STR,
        "scope": _NSTR,
        "responder": _NSTR,
        "source": _NSTR,
        "label": _STR,
        "created_at": _TIME,
        "expires_at": _NTIME,
        "revoked_at": _NTIME,
    }
)
_PUBLIC_VIEW = _object(
    {
        "case_number": _STR,
        "status": _STR,
        "category": _STR,
        "description": _STR,
        "place": _STR,
        "received_at": _TIME,
        "resolve_due": _NTIME,
        "handled_by": {"type": "array", "items": _STR},
        "resolution": _NSTR,
        "rating": {},
        "can_rate": _BOOL,
    },
    {
        "whistle_id": _STR,
        "status_text": _STR,
        "source": _STR,
        "timeline": {
            "description": "the case's steps as sentences naming units and roles, never people",
            "type": "array",
            "items": _object({"at": _TIME, "text": _STR}),
        },
    },
)

_MERGED = _object(
    {"id": _STR, "at": _TIME, "by": _STR},
    {
        "source": _NSTR,
        "category": _NSTR,
        "description": _NSTR,
        "reporter": _NSTR,
        "received_at": _NSTR,
    },
)
_CASE = _object(
    {},
    {
        "merged_into": {**_NSTR, "description": "the case this one was merged into"},
        "merged": {
            "description": "the duplicates merged into this case, oldest first",
            "type": "array",
            "items": _MERGED,
        },
    },
)

RESPONSES: dict[str, Any] = {
    "Problem": {
        "description": "RFC 9457 problem details; each bad field is named with its reason.",
        **_object(
            {"type": _STR, "title": _STR, "status": {"type": "integer", "minimum": 400}},
            {
                "detail": _STR,
                "errors": {
                    "type": "array",
                    "items": _object({"field": _STR, "reason": _STR}),
                },
                "whistle_id": {
                    "type": "string",
                    "description": "An Idempotency-Key reused with another body: the whistle "
                    "the key made in the caller's own scope. Never given by the public "
                    "citizens' door.",
                },
            },
        ),
    },
    "Whistle": {
        "description": "A whistle as stored now: its document, status, assignments and case.",
        **_object(
            {
                "id": _STR,
                "source": _STR,
                "category": _object({"code": _STR, "name": _STR}),
                "description": _STR,
                "grid": _object({"code": _STR, "name": _STR, "level": _STR}),
                "received_at": _TIME,
                "status": _STR,
                "assignments": {"type": "array", "items": _object({"id": _STR, "status": _STR})},
            },
            {
                "case_number": {
                    "type": ["string", "null"],
                    "maxLength": 12,
                    "description": "受理编号, e.g. DX2612-0042: town letters, YYMM, a sequence "
                    "drawn in the whistle's own write; null for cases stored before numbers",
                },
                "case": _CASE,
                "urgency": _STR,
                "location": _OBJ,
                "reporter": _NSTR,
                "filed_by": {
                    "description": "who filed it, as authenticated (beside the free-text "
                    "reporter): kind token, session, signature, open311, cli or public; the "
                    "token's or login's id; its role",
                    **_object(
                        {"kind": _STR, "id": _NSTR, "role": _NSTR},
                        {"responder_id": _NSTR},
                    ),
                },
                "muted_by": {
                    "description": "the silence that muted it (status muted), else null",
                    "oneOf": [{"type": "null"}, _SILENCE_NAMED],
                },
                "silence_warning": {
                    "description": "an emergency (police, town committee, urgent) that a "
                    "silence naming its source covered: dispatched anyway; else null",
                    "oneOf": [
                        {"type": "null"},
                        {"allOf": [_SILENCE_NAMED, _object({"warning": _STR})]},
                    ],
                },
                "possible_duplicates": {
                    "description": "likely duplicates (疑似重复): open whistles of the same "
                    "category within the category's duplicate_radius and duplicate_window "
                    "(by grid when either has no point); a case also gains the later ones",
                    "type": "array",
                    "items": _STR,
                },
                # 知会: told of the case without owning it (no deadline, nothing to acknowledge).
                "informed": {
                    "type": "array",
                    "items": _object(
                        {"responder": _OBJ, "kind": _STR, "cell": _STR, "level": _STR},
                        {"kind_name": _STR},
                    ),
                },
            },
        ),
    },
    "WhistleWithTimeline": {
        "allOf": [
            _ref("Whistle"),
            _object(
                {
                    "timeline": {
                        "type": "array",
                        "items": _object(
                            {"seq": _INT, "type": _STR, "at": _TIME, "actor": _NSTR, "data": {}}
                        ),
                    }
                }
            ),
        ]
    },
    "WhistlePage": _list_of(
        _ref("Whistle"),
        next_cursor=_NSTR,
        limit={"type": "integer", "minimum": 1, "maximum": 200},
    ),
    "Cell": {
        "allOf": [
            _CELL,
            _object(
                {
                    "path": {"type": "array", "items": _CELL_REF},
                    "centroid": {
                        "oneOf": [
                            {"type": "null"},
                            _object({"lat": {"type": "number"}, "lon": {"type": "number"}}),
                        ]
                    },
                    "responders": {
                        "description": "null outside the caller's subtree",
                        "oneOf": [{"type": "null"}, {"type": "array", "items": _RESPONDER}],
                    },
                }
            ),
        ]
    },
    "CellPage": _list_of(
        _CELL, total={"type": "integer", "minimum": 0}, next_offset={"type": ["integer", "null"]}
    ),
    "Shapes": _object(
        {
            "type": {"const": "FeatureCollection"},
            "code": _STR,
            "features": {"type": "array", "items": _object({"type": {"const": "Feature"}})},
        }
    ),
    "Roster": _object(
        {
            "code": _STR,
            "responders": {
                "description": "null outside the caller's subtree",
                "oneOf": [{"type": "null"}, {"type": "array", "items": _object({"id": _STR})}],
            },
        }
    ),
    "Categories": _list_of(
        _object(
            {"code": _STR, "name": _STR, "type": _STR, "urgency": _STR, "limit": _STR},
            {
                "duplicate_radius_m": {"type": "number", "exclusiveMinimum": 0},
                "duplicate_window": {
                    **_NSTR,
                    "description": "null: lifecycle.toml's duplicate_window",
                },
            },
        )
    ),
    "Inbox": _object(
        {
            "responder": _object({"id": _STR, "name": _STR, "kind": _STR, "grid": _STR}),
            "teams": {"type": "array", "items": _object({"id": _STR, "name": _STR})},
            "assignments": {"type": "array", "items": _OBJ},
            "open_needs": {"type": "array", "items": _OBJ},
            "informed": {
                "description": "open cases the responder is informed of (知会) without owning "
                "them: the 网格长 of every case in the grid, the 联户长 of citizens' whistles "
                "in the micro-grid; newest first, at most 100",
                "type": "array",
                "items": _OBJ,
            },
        }
    ),
    "History": _object({"responder": _STR, "items": {"type": "array", "items": _OBJ}}),
    "Silence": _SILENCE,
    "Silences": _list_of(_SILENCE),
    "IssuedToken": _object({"id": _STR, "token": _STR}),
    "Token": _TOKEN,
    "Tokens": _list_of(_TOKEN),
    "User": _object({"name": _STR, "role": _STR, "scope": _NSTR}),
    "Audit": _list_of(_OBJ),
    "Media": _object(
        {
            "url": {"type": "string", "pattern": "^/media/[0-9a-f]{64}\\.(jpg|png|webp)$"},
            "type": {"enum": ["image/jpeg", "image/png", "image/webp"]},
            "bytes": {"type": "integer", "minimum": 1},
        }
    ),
    "PublicIn": {
        "description": "A citizen's whistle: the fields of WhistleIn a citizen may send.",
        **_object(
            {
                "category": {"type": "string", "maxLength": LIMITS["category"]},
                "description": {"type": "string", "maxLength": LIMITS["description"]},
                "location": _ref("LocationIn"),
            },
            {
                "occurred_at": _TIME,
                "media_urls": {"type": "array", "items": _STR},
                "reporter": {"type": "string", "maxLength": LIMITS["reporter"]},
                "source": {"const": "citizen"},
                "phone": {"type": "string", "description": "a number to call back (optional)"},
                "website": {"type": "string", "description": "honeypot: filled, it is a 400"},
            },
        ),
        "additionalProperties": False,
    },
    "PublicRateIn": _object(
        {"grade": {"type": "string"}}, {"comment": {"type": ["string", "null"], "maxLength": 2000}}
    ),
    "PublicFiled": _object(
        {"case_number": _STR, "follow_url": _NSTR, "key": _NSTR},
        {"whistle_id": _STR},
    ),
    "PublicPlace": _object(
        {"code": _STR, "name": _STR, "level": _STR, "place": _STR},
        {"path": {"type": "array", "items": _OBJ}},
    ),
    "PublicView": _PUBLIC_VIEW,
    "Stats": _object(
        {},
        {"window": _OBJ},
    ),
    "StatsCases": _object(
        {
            "metric": _STR,
            "bucket": _NSTR,
            "grid": _STR,
            "since": {"type": "string", "format": "date"},
            "until": {"type": "string", "format": "date"},
            "kind": {"enum": ["case", "assignment"]},
            "count": {"type": "integer", "minimum": 0},
            "truncated": _BOOL,
            "ids": {"type": "array", "items": _STR},
            "cases": {"type": "array", "items": _STR},
        }
    ),
    "FeedResults": _object(
        {
            "results": {
                "type": "array",
                "items": _object(
                    {"line": _INT, "status": _STR, "errors": {"type": "array", "items": _OBJ}}
                ),
            },
            "counts": _object(
                dict.fromkeys(("created", "grouped", "low_confidence", "duplicate", "error"), _INT)
            ),
        }
    ),
    "Health": _object(
        {"status": _STR},
        {
            "warnings": {
                "description": "ready, but someone must act (the working calendar runs out "
                "within 60 days)",
                "type": "array",
                "items": _STR,
            }
        },
    ),
}

# -- the operations --------------------------------------------------------------------------

_WHY = {
    400: "Unreadable body or bad query parameters (each named with its reason)",
    401: "No credentials, or they are wrong, expired or revoked",
    403: "The caller's role or scope does not allow this",
    404: "No such resource",
    409: "The action does not fit the case's state (current status and what is allowed)",
    413: "Body too large",
    415: "Body of the wrong media type",
    422: "Well-formed JSON with bad fields (each named with its reason)",
    429: "Rate limited",
    503: "The database cannot take writes right now; nothing was stored",
}
_RETRY = {
    "Retry-After": {
        "description": "Seconds to wait before retrying",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}


def _problem(status: int) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": _WHY[status],
        "content": {"application/problem+json": {"schema": _ref("Problem")}},
    }
    if status in (429, 503):
        answer["headers"] = _RETRY
    return answer


def _json(schema: str, description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


_AUTHED = (401, 403, 429)
_READ = (*_AUTHED, 400)
_WRITE = (*_AUTHED, 400, 413, 422, 503)
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_CODE = {"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema, "description": description}


def _op(
    summary: str,
    ok: dict[str, Any],
    errors: tuple[int, ...],
    *,
    ok_status: int = 200,
    body: str | None = None,
    params: list[dict[str, Any]] | None = None,
    security: list[dict[str, list[str]]] | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {str(ok_status): ok, **{str(s): _problem(s) for s in sorted(set(errors))}},
    }
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": _ref(body)}},
        }
    if security is not None:
        op["security"] = security
    return op


_PUBLIC: list[dict[str, list[str]]] = []
_SIGNED: list[dict[str, list[str]]] = [{"signature": [], "signatureKey": [], "signatureTime": []}]
_DATE = {"type": "string", "format": "date"}
_WINDOW = [
    _query("grid", _STR, "the subtree (default: the caller's scope)"),
    _query("since", _DATE, "first day, from 1970-01-01 (default: 30 days before until)"),
    _query("until", _DATE, "last day, included, at most 8999-12-31 (default: today)"),
    _query("lang", {"enum": ["zh", "en"]}, "language of the labels"),
]


def _case_action(summary: str, body: str) -> dict[str, Any]:
    return {"post": _op(summary, _json("Whistle"), (*_WRITE, 404, 409), body=body, params=[_ID])}


_FILE_WHISTLE = (
    "A camera whistle may name its camera (`camera_id`): one of `cameras.csv` (else 422 "
    "naming `camera_id`; other sources name none), whose own cell lies in the caller's scope "
    "(else 403), and the location must lie in that cell (else 422 naming `location`; left "
    "out, the whistle is placed at the camera). A repeat of the camera and category within "
    "the repeat window joins the camera's open case there and is answered 200 with "
    "`Whistle-Grouped: true`."
)


def _paths() -> dict[str, Any]:
    created = _json("Whistle", "Created: the whistle as stored")
    created["headers"] = {"Location": {"required": True, "schema": _STR}}
    grouped = _json(
        "Whistle",
        "A camera repeat: added to the open case of the same camera and category in the "
        "camera's own cell, answered with that case",
    )
    grouped["headers"] = {
        "Location": {"required": True, "schema": _STR},
        "Whistle-Grouped": {"required": True, "schema": {"const": "true"}},
    }
    whistles_list = [
        _query("status", _STR, "a status"),
        _query(
            "source",
            {"enum": ["citizen", "community", "town_committee", "police", "camera"]},
            "a source",
        ),
        _query("category", _STR, "a category code or a 大类 prefix"),
        _query("grid", _STR, "a subtree"),
        _query("level", _STR, "the level of the cell the whistle was placed in"),
        _query(
            "queue",
            {"enum": ["returned"]},
            "returned: cases with a return (退单) awaiting the dispatcher's decision",
        ),
        _query("since", _TIME, f"received at or after (RFC 3339 with offset, {RANGE})"),
        _query("until", _TIME, f"received before (RFC 3339 with offset, {RANGE})"),
        _query("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "page size"),
        _query("cursor", _STR, "next_cursor of the previous page"),
        _query("case_number", _STR, "the one case with this 受理编号 (case-insensitive)"),
    ]
    paths: dict[str, Any] = {
        "/api/v1/whistles": {
            "post": {
                **_op("File a whistle", created, (*_WRITE, 415), ok_status=201, body="WhistleIn"),
                "description": _FILE_WHISTLE,
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                        "description": "makes retries safe; keys belong to the caller's scope, "
                        "so another scope's key is a new key",
                    }
                ],
            },
            "get": _op(
                "List whistles, newest first", _json("WhistlePage"), _READ, params=whistles_list
            ),
        },
        "/api/v1/whistles/{id}": {
            "get": _op(
                "A whistle and its timeline",
                _json("WhistleWithTimeline"),
                (*_READ, 404),
                params=[_ID],
            )
        },
        "/api/v1/grids": {
            "get": _op(
                "Cells of a level and/or of a parent",
                _json("CellPage"),
                _READ,
                params=[
                    _query("level", _STR, "a level (1-5 or its name)"),
                    _query("parent", _STR, "a grid code"),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, ""),
                    _query("offset", {"type": "integer", "minimum": 0}, ""),
                ],
            )
        },
        "/api/v1/grids/{code}": {
            "get": _op("A cell", _json("Cell"), (*_READ, 404), params=[_CODE])
        },
        "/api/v1/grids/{code}/shapes": {
            "get": _op("Children as GeoJSON", _json("Shapes"), (*_READ, 404), params=[_CODE])
        },
        "/api/v1/grids/{code}/roster": {
            "get": _op("Responders and shifts", _json("Roster"), (*_READ, 404), params=[_CODE])
        },
        "/api/v1/categories": {"get": _op("The category catalog", _json("Categories"), _READ)},
        "/api/v1/responders/{id}/inbox": {
            "get": _op("A responder's inbox", _json("Inbox"), (*_READ, 404), params=[_ID])
        },
        "/api/v1/responders/{id}/history": {
            "get": _op("A responder's finished work", _json("History"), (*_READ, 404), params=[_ID])
        },
        "/api/v1/silences": {
            "post": _op(
                "Mute a camera, cell or category",
                _json("Silence", "Created"),
                _WRITE,
                ok_status=201,
                body="SilenceIn",
            ),
            "get": _op("Every silence", _json("Silences"), _READ),
        },
        "/api/v1/silences/{id}": {
            "delete": _op("Expire a silence now", _json("Silence"), (*_WRITE, 404), params=[_ID])
        },
        "/api/v1/tokens": {
            "post": _op(
                "Issue a token (shown once)",
                _json("IssuedToken", "Created"),
                _WRITE,
                ok_status=201,
                body="TokenIn",
            ),
            "get": _op("Every token", _json("Tokens"), _READ),
        },
        "/api/v1/tokens/{id}": {
            "delete": _op("Revoke a token", _json("Token"), (*_WRITE, 404), params=[_ID])
        },
        "/api/v1/users": {
            "post": _op(
                "Add a login", _json("User", "Created"), _WRITE, ok_status=201, body="UserIn"
            )
        },
        "/api/v1/audit": {"get": _op("The audit trail", _json("Audit"), _READ)},
        "/api/v1/media": {
            "post": {
                **_op("Upload a photo", _json("Media", "Created"), (*_WRITE, 415), ok_status=201),
                "requestBody": {
                    "required": True,
                    "content": {
                        "image/png": {"schema": {"type": "string", "format": "binary"}},
                        "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                        "image/webp": {"schema": {"type": "string", "format": "binary"}},
                    },
                },
            }
        },
        "/media/{name}": {
            "get": _op(
                "A photo, to its uploader and admins; otherwise with its case (`?case=`) to "
                "whoever may read the case, when the case names it and it was uploaded on the "
                "case's branch of the grid tree (403 otherwise: the URL alone shows nothing)",
                {
                    "description": "The image, of the type its content proved",
                    "content": {
                        kind: {"schema": {"type": "string", "format": "binary"}}
                        for kind in ("image/png", "image/jpeg", "image/webp")
                    },
                },
                (*_AUTHED, 404),
                params=[
                    {"name": "name", "in": "path", "required": True, "schema": _STR},
                    _query("case", _STR, "the whistle id of the case the photo belongs to"),
                ],
            )
        },
        "/api/v1/public/whistles": {
            "post": {
                **_op(
                    "A citizen files a whistle",
                    _json("PublicFiled", "Created"),
                    (429, 400, 413, 415, 422, 503),
                    ok_status=201,
                    body="PublicIn",
                    security=_PUBLIC,
                    params=[
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                            "description": "makes retries safe: a retry from the same address "
                            "gets its case number back (without a new link); reused with "
                            "another body it is refused (422) naming no case",
                        }
                    ],
                ),
            }
        },
        "/api/v1/public/whistles/{id}": {
            "get": _op(
                "A citizen follows a case",
                _json("PublicView"),
                (404,),
                params=[_ID, _query("key", _STR, "the private key of the link")],
                security=_PUBLIC,
            ),
        },
        "/api/v1/public/locate": {
            "get": _op(
                "The deepest cell holding a point, by name (404 outside the county)",
                _json("PublicPlace"),
                (400, 404),
                params=[
                    _query("lat", {"type": "number"}, "latitude"),
                    _query("lon", {"type": "number"}, "longitude"),
                ],
                security=_PUBLIC,
            ),
        },
        "/api/v1/public/grids/{code}/shapes": {
            "get": _op(
                "A cell's children as GeoJSON polygons, for the citizen's map",
                _json("Shapes"),
                (404,),
                params=[_CODE],
                security=_PUBLIC,
            ),
        },
        "/api/v1/public/media": {
            "post": {
                **_op(
                    "A citizen uploads a photo (the citizens' per-address limit)",
                    _json("Media", "Created"),
                    (429, 413, 415),
                    ok_status=201,
                    security=_PUBLIC,
                ),
                "requestBody": {
                    "required": True,
                    "content": {
                        kind: {"schema": {"type": "string", "format": "binary"}}
                        for kind in ("image/png", "image/jpeg", "image/webp")
                    },
                },
            }
        },
        "/api/v1/public/whistles/{id}/rate": {
            "post": _op(
                "A citizen rates a closed case",
                _json("PublicView"),
                (400, 404, 409, 413, 422, 503),
                body="PublicRateIn",
                params=[_ID, _query("key", _STR, "the private key of the link")],
                security=_PUBLIC,
            ),
        },
        "/api/v1/stats": {
            "get": _op("Every figure of a window", _json("Stats"), _READ, params=_WINDOW)
        },
        "/api/v1/stats/cases": {
            "get": _op(
                "The ids behind one figure",
                _json("StatsCases"),
                _READ,
                params=[
                    *_WINDOW,
                    _query("metric", _STR, "the figure's metric"),
                    _query("bucket", _STR, "the figure's bucket"),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 500}, ""),
                ],
            )
        },
        "/api/v1/stats/{table}.csv": {
            "get": _op(
                "One table as CSV",
                {"description": "CSV", "content": {"text/csv": {"schema": _STR}}},
                (*_READ, 404),
                params=[
                    {
                        "name": "table",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "enum": list(TABLES)},
                    },
                    *_WINDOW,
                ],
            )
        },
        "/api/v1/stream": {
            "get": _op(
                "The live event stream of the caller's subtree. It does not end by itself, but "
                "when its token is revoked or expires or its session ends, it sends "
                '`event: revoked` (data: `{"why": ...}`) and ends within seconds',
                {
                    "description": "Server-sent events",
                    "content": {"text/event-stream": {"schema": _STR}},
                },
                (*_AUTHED, 400),
                params=[
                    {
                        "name": "Last-Event-ID",
                        "in": "header",
                        "schema": _SEQ,
                        "description": "resume after this event seq (EventSource sends it)",
                    },
                    _query("last_event_id", _SEQ, "the same, for clients that cannot set it"),
                ],
            )
        },
        "/api/v1/feeds/camera": _feed("Camera detections (天眼), JSON Lines, signed"),
        "/api/v1/feeds/police": _feed("Police alerts (警情), JSON Lines, signed"),
        PATH: {
            "get": _op(
                "This document",
                {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": _OBJ}}},
                (),
                security=_PUBLIC,
            )
        },
        "/healthz": {"get": _op("Alive", _json("Health"), (), security=_PUBLIC)},
        "/readyz": {
            "get": _op(
                "Ready: hierarchy loaded, database answers",
                _json("Health"),
                (503,),
                security=_PUBLIC,
            )
        },
    }
    paths["/api/v1/whistles"]["post"]["responses"]["200"] = grouped
    for action in ("acknowledge", "start"):
        paths[f"/api/v1/assignments/{{id}}/{action}"] = _case_action(
            f"{action} (报到/开始)", "EmptyIn"
        )
    for action, summary, body in (
        ("resolve", "report the work done (反馈)", "ResolveIn"),
        ("return", "return a wrong assignment (退单)", "ReasonIn"),
        ("reassign", "reassign (改派)", "ReassignIn"),
        (
            "accept-return",
            "accept a return (退单) and reassign it to a named responder",
            "AcceptReturnIn",
        ),
        ("refuse-return", "refuse a return (退单); the returner takes it back", "ReasonIn"),
    ):
        paths[f"/api/v1/assignments/{{id}}/{action}"] = _case_action(summary, body)
    for action, summary, body in (
        ("claim", "claim a need (认领)", "ClaimIn"),
        ("verify", "verify (核查)", "VerifyIn"),
        ("reopen", "reopen", "ReasonIn"),
        ("hold", "hold (挂账)", "ReasonIn"),
        ("release", "release a hold", "EmptyIn"),
        ("extend", "extend once (延期)", "ExtendIn"),
        ("rate", "rate (好差评)", "RateIn"),
        ("merge", "merge as a duplicate (the case it joins records it)", "MergeIn"),
    ):
        paths[f"/api/v1/whistles/{{id}}/{action}"] = _case_action(summary, body)
    return paths


# An event seq: ASCII digits, at most 2^63 - 1 (anything else is a 400).
_SEQ: dict[str, Any] = {"type": "string", "pattern": "^[0-9]{1,19}$"}


def _feed(summary: str) -> dict[str, Any]:
    op = _op(
        summary,
        _json("FeedResults", "Every line was stored, or already was"),
        (*_WRITE, 415),
        security=_SIGNED,
    )
    # Same body: each line's result, the bad ones with their errors; the others are stored.
    op["responses"]["207"] = _json("FeedResults", "Multi-Status: some lines are errors")
    op["requestBody"] = {
        "required": True,
        "content": {"application/x-ndjson": {"schema": _STR}},
    }
    return {"post": op}


@functools.cache
def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (built once)."""
    schemas = {**_model_schemas(), **RESPONSES}
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
            "schemas": schemas,
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
