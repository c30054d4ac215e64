"""The config versions' part of the OpenAPI document (whistle/web/config_versions.py):
its request model, its answers and its operations, added to whistle/web/openapi.py's."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from whistle.web import config_versions, resources
from whistle.web.openapi_ops import ID, READ, WRITE, Op, json_answer

__all__ = ["MODELS", "RESPONSES", "operations"]

MODELS: dict[str, type[BaseModel]] = {"ConfigFilesIn": config_versions._FilesIn}

RESPONSES: tuple[Any, ...] = (
    resources.ConfigProblem,
    resources.ConfigVersion,
    resources.ConfigVersions,
    resources.ConfigValidation,
    resources.ConfigApplied,
)

_FILES_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/ConfigFilesIn"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "description": "one part per file (named as the file) and a `reason` field",
                "additionalProperties": {"type": "string"},
            }
        },
    },
}
_REFUSED = (
    "422 lists every problem of the files by file and line (`problems`: file, line, where, "
    "message; `errors` name `files.<file>`); nothing is stored and the active version is "
    "unchanged. The refusal is in the audit trail."
)


def operations() -> list[Op]:
    """The config versions' operations (admin only)."""
    return [
        Op("get", "/api/v1/config/versions", "Every config version", "ConfigVersions", READ),
        Op(
            "get",
            "/api/v1/config/versions/{id}",
            "A config version with its files",
            "ConfigVersion",
            (*READ, 404),
            params=(ID,),
        ),
        Op(
            "post",
            "/api/v1/config/validate",
            "Check files as a version, by file and line (nothing stored)",
            "ConfigValidation",
            WRITE,
            request=_FILES_BODY,
        ),
        Op(
            "post",
            "/api/v1/config/versions",
            "Propose a config version (200: the same files are already stored)",
            json_answer("ConfigVersion", "Created"),
            WRITE,
            status=201,
            request=_FILES_BODY,
            description=_REFUSED,
        ),
        Op(
            "post",
            "/api/v1/config/versions/{id}/apply",
            "Make a version active in every process (an earlier one: the rollback)",
            "ConfigApplied",
            (*WRITE, 404),
            params=(ID,),
            description=_REFUSED,
        ),
    ]
