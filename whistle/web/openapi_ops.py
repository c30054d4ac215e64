"""The pieces of the OpenAPI document's operations: the :class:`Op` row and the answers,
parameters and error sets the rows are built from (whistle/web/openapi.py holds the rows of
the case API, whistle/web/party_openapi.py those of the party-building side)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AUTHED",
    "CASE_ERRORS",
    "CODE",
    "ID",
    "IMAGES",
    "OBJ",
    "PUBLIC",
    "READ",
    "RETRY",
    "SIGNED",
    "STR",
    "TIME",
    "WHY",
    "WRITE",
    "Op",
    "binary",
    "json_answer",
    "path_param",
    "problem_answer",
    "query",
    "ref",
]

# -- the pieces of an operation ----------------------------------------------------------------

STR: dict[str, Any] = {"type": "string"}
TIME: dict[str, Any] = {"type": "string", "format": "date-time"}
OBJ: dict[str, Any] = {"type": "object"}

WHY = {
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
RETRY = {
    "Retry-After": {
        "description": "Seconds to wait before retrying",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def problem_answer(status: int) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": WHY[status],
        "content": {"application/problem+json": {"schema": ref("Problem")}},
    }
    if status in (429, 503):
        answer["headers"] = RETRY
    return answer


def json_answer(schema: str, description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref(schema)}}}


def binary(description: str, *kinds: str) -> dict[str, Any]:
    content = {kind: {"schema": {"type": "string", "format": "binary"}} for kind in kinds}
    return {"description": description, "content": content}


def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema, "description": description}


def path_param(name: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema or {"type": "string"}}


AUTHED = (401, 403, 429)
READ = (*AUTHED, 400)
WRITE = (*AUTHED, 400, 413, 422, 503)
CASE_ERRORS = (*WRITE, 404, 409)  # an action on a case or an assignment
ID = path_param("id")
CODE = path_param("code")
PUBLIC: list[dict[str, list[str]]] = []
SIGNED: list[dict[str, list[str]]] = [{"signature": [], "signatureKey": [], "signatureTime": []}]
IMAGES = ("image/png", "image/jpeg", "image/webp")


@dataclass(frozen=True)
class Op:
    """One operation of the document: ``ok`` names the answer's component (a JSON answer,
    described "OK") or is a whole response object; ``errors`` are the problem statuses it can
    answer. ``body`` names the JSON request body's component; ``request`` replaces it with a
    whole requestBody; ``responses`` adds answers beside ``ok`` and the errors."""

    method: str
    path: str
    summary: str
    ok: str | dict[str, Any]
    errors: tuple[int, ...] = ()
    status: int = 200
    body: str | None = None
    params: tuple[dict[str, Any], ...] = ()
    security: list[dict[str, list[str]]] | None = None
    description: str | None = None
    request: dict[str, Any] | None = None
    responses: Mapping[str, dict[str, Any]] = field(default_factory=dict)

    def operation(self) -> dict[str, Any]:
        """The operation object."""
        ok = json_answer(self.ok) if isinstance(self.ok, str) else self.ok
        answers = {
            str(self.status): ok,
            **{str(s): problem_answer(s) for s in sorted(set(self.errors))},
        }
        op: dict[str, Any] = {"summary": self.summary, "responses": {**answers, **self.responses}}
        if self.description is not None:
            op["description"] = self.description
        if self.params:
            op["parameters"] = list(self.params)
        if self.body is not None:
            op["requestBody"] = {
                "required": False,
                "content": {"application/json": {"schema": ref(self.body)}},
            }
        if self.request is not None:
            op["requestBody"] = self.request
        if self.security is not None:
            op["security"] = self.security
        return op
