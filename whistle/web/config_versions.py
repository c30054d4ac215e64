"""The config versions API (admin only): list, read, validate, propose and apply versions.

- ``GET /api/v1/config/versions``: every version, newest first, with the active id;
- ``GET /api/v1/config/versions/{id}``: one version with its files;
- ``POST /api/v1/config/validate``: the problems of files as a version, by file and line,
  nothing stored (the page calls it as the admin types);
- ``POST /api/v1/config/versions``: propose files (JSON ``{"files": {...}, "reason": ...}`` or
  multipart, one part per file and a ``reason`` field), 201 with the stored version, or 422
  with every problem by file and line (audited as refused);
- ``POST /api/v1/config/versions/{id}/apply``: make it active in every process; applying an
  earlier version is the rollback.
"""

from __future__ import annotations

from typing import Annotated, Any, cast

import orjson
from aiohttp import BodyPartReader, web
from pydantic import BaseModel, Field, ValidationError

from grids.exceptions import Problem
from whistle.auth import Role
from whistle.exceptions import FieldError, InvalidWhistle
from whistle.schema import INPUT, field_errors
from whistle.store import ConfigVersionRecord
from whistle.timefmt import rfc3339
from whistle.versions import VERSIONED_FILES, UnknownVersion, VersionRefused
from whistle.web import resources
from whistle.web.access import allow
from whistle.web.keys import LIVE, STORE, TZ
from whistle.web.problems import problem

__all__ = ["problems_doc", "routes"]

routes = web.RouteTableDef()

# Five files of at most 2 MB each (whistle.versions.MAX_FILE_BYTES) and a reason.
MAX_PROPOSAL_BYTES = 5 * 2 * 1024 * 1024 + 64 * 1024


class _FilesIn(BaseModel):
    model_config = INPUT

    files: dict[Annotated[str, Field(max_length=64)], str]
    reason: Annotated[str, Field(max_length=500)] = ""


def problems_doc(problems: list[Problem]) -> list[resources.ConfigProblem]:
    """Problems as the API and the page show them: file, line, where, message."""
    return [
        {"file": p.file, "line": p.line, "where": p.code, "message": p.message} for p in problems
    ]


def _version_doc(
    record: ConfigVersionRecord, request: web.Request, *, files: bool
) -> resources.ConfigVersion:
    tz = request.app[TZ]
    doc: resources.ConfigVersion = {
        "id": record.id,
        "hash": record.hash,
        "author": record.author,
        "reason": record.reason,
        "created_at": rfc3339(record.created_at, tz),
        "state": cast("Any", record.state),  # the store writes no state but these three
        "applied_at": rfc3339(record.applied_at, tz),
    }
    if files:
        doc["files"] = dict(record.files)
    return doc


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def _refusal(problems: list[Problem]) -> web.Response:
    errors = [
        FieldError(
            f"files.{p.file}",
            (f"line {p.line}: " if p.line else "") + (f"{p.code}: " if p.code else "") + p.message,
        )
        for p in problems
    ]
    return problem(
        422,
        f"Invalid config version: {len(problems)} problem" + ("s" if len(problems) != 1 else ""),
        detail="; ".join(str(p) for p in problems[:5]),
        errors=errors,
        extra={"problems": problems_doc(problems)},
    )


async def _files_in(request: web.Request) -> _FilesIn:
    """The proposed files, from a JSON body or a multipart form."""
    if request.content_type.startswith("multipart/"):
        files: dict[str, str] = {}
        reason = ""
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            data = await part.read(decode=True)
            text = data.decode("utf-8", errors="replace")
            if part.name == "reason":
                reason = text
            else:
                files[part.filename or part.name] = text
        try:
            return _FilesIn(files=files, reason=reason)
        except ValidationError as exc:
            raise InvalidWhistle(field_errors(exc)) from None
    try:
        return _FilesIn.model_validate(orjson.loads(await request.read() or b"{}"))
    except orjson.JSONDecodeError as exc:
        raise InvalidWhistle([FieldError("body", f"not valid JSON: {exc}")], status=400) from None
    except ValidationError as exc:
        raise InvalidWhistle(field_errors(exc)) from None


def _version_id(request: web.Request) -> int:
    text = request.match_info["id"]
    if not text.isdigit() or len(text) > 12:
        raise web.HTTPNotFound(text=f"no config version {text!r}")
    return int(text)


@routes.get("/api/v1/config/versions")
async def list_versions(request: web.Request) -> web.Response:
    allow(request, Role.ADMIN)
    records = await request.app[STORE].config_versions()
    live = request.app[LIVE].current
    body: resources.ConfigVersions = {
        "active": live.version_id,
        "files": list(VERSIONED_FILES),
        "items": [_version_doc(r, request, files=False) for r in records],
    }
    return _json(body)


@routes.get("/api/v1/config/versions/{id}")
async def get_version(request: web.Request) -> web.Response:
    allow(request, Role.ADMIN)
    record = await request.app[STORE].config_version(_version_id(request))
    if record is None:
        return problem(404, "Not Found", detail=f"no config version {request.match_info['id']}")
    return _json(_version_doc(record, request, files=True))


@routes.post("/api/v1/config/validate")
async def validate(request: web.Request) -> web.Response:
    allow(request, Role.ADMIN)
    body = await _files_in(request)
    problems = await request.app[LIVE].validate(body.files)
    answer: resources.ConfigValidation = {"ok": not problems, "problems": problems_doc(problems)}
    return _json(answer)


@routes.post("/api/v1/config/versions")
async def propose(request: web.Request) -> web.Response:
    principal = allow(request, Role.ADMIN)
    body = await _files_in(request)
    try:
        record, new = await request.app[LIVE].propose(
            body.files, author=principal.actor, reason=body.reason
        )
    except VersionRefused as exc:
        return _refusal(exc.problems)
    return _json(_version_doc(record, request, files=False), 201 if new else 200)


@routes.post("/api/v1/config/versions/{id}/apply")
async def apply(request: web.Request) -> web.Response:
    principal = allow(request, Role.ADMIN)
    # Nothing is read from a body, but one is read whole, so that one over the server's limit
    # is a 413 as on every other POST, not silently taken.
    await request.read()
    live = request.app[LIVE]
    try:
        bundle, action = await live.apply(_version_id(request), author=principal.actor)
    except UnknownVersion as exc:
        return problem(404, "Not Found", detail=str(exc))
    except VersionRefused as exc:
        return _refusal(exc.problems)
    answer: resources.ConfigApplied = {
        "active": bundle.version_id,
        "hash": bundle.hash,
        "action": "rollback" if action.endswith("rollback") else "apply",
    }
    return _json(answer)
