"""What-if replay over HTTP: start a replay, read its report, download its tables, and the
admin page that does both (/admin/replay).

| route | what |
|---|---|
| ``POST /api/v1/replays`` | replay ``since``..``until`` under ``config`` (202: the job) |
| ``GET /api/v1/replays/{id}`` | the job; its ``report`` once ``status`` is ``done`` |
| ``GET /api/v1/replays/{id}/{table}.csv`` | one table of the report |
| ``GET /admin/replay`` | the page |

An admin only (admins are never scoped, and the report covers the whole county). ``config``
names ``active`` (the server's own config directory) or a folder under the proposals directory
(``Settings.extra["replay_configs"]``, default ``proposals`` beside the database): never a
path the caller makes up. ``version`` (a stored configuration version) is refused until
versioned configuration is in the build. Replays run one at a time in a worker process, so the
event loop and the GIL stay with the server; the store is opened read-only there.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import re
import time
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import orjson
import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from whistle.auth import Principal, Role
from whistle.exceptions import FieldError, InvalidWhistle
from whistle.replay import TABLES, csv_table
from whistle.replay.command import VersionsUnavailable, job, source_rules
from whistle.schema import field_errors
from whistle.stats import MAX_DAYS
from whistle.web.access import allow, public
from whistle.web.i18n import lang as _lang
from whistle.web.i18n.replay import REPLAY
from whistle.web.keys import CLOCK, IDS, SETTINGS, TZ
from whistle.web.pages import page_session, render
from whistle.web.problems import problem

__all__ = ["JOBS", "Jobs", "api_ops", "jobs_ctx", "routes"]

log = structlog.get_logger(__name__)
routes = web.RouteTableDef()

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
KEPT = 20  # finished jobs remembered
LIMIT = 200  # changed cases listed in a report


class _ReplayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: date  # the first day, as /api/v1/stats names it
    until: date  # the last day, included
    config: Annotated[str, Field(max_length=64)] | None = None
    version: Annotated[str, Field(max_length=64)] | None = None


@dataclass
class Job:
    """One replay: what was asked, and what came of it."""

    id: str
    first: str
    last: str
    config: str | None
    version: str | None
    by: str
    started: float
    status: str = "running"
    finished: float | None = None
    report: dict[str, Any] | None = None
    error: str | None = None

    def document(self) -> dict[str, Any]:
        """The job as the API answers it (``ReplayJob``)."""
        return {
            "id": self.id,
            "status": self.status,
            "since": self.first,
            "until": self.last,
            "config": self.config,
            "version": self.version,
            "by": self.by,
            "seconds": None if self.finished is None else round(self.finished - self.started, 2),
            "report": self.report,
            "error": self.error,
        }


@dataclass
class Jobs:
    """The replays of this process, newest last, and the one worker that runs them."""

    pool: ProcessPoolExecutor
    jobs: dict[str, Job] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


JOBS = web.AppKey("replay_jobs", Jobs)


async def jobs_ctx(app: web.Application) -> AsyncIterator[None]:
    """The replay worker (a spawned process: the server's threads are not forked) for the
    app's life; running replays are cancelled at shutdown."""
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    app[JOBS] = Jobs(pool)
    yield
    for task in list(app[JOBS].tasks):
        task.cancel()
    # Off the loop: a replay under way finishes first (it only reads), then the worker ends.
    await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)


def proposals(settings: Any) -> Path:
    """The folder whose subfolders are the proposed configurations a replay may name."""
    given = settings.extra.get("replay_configs")
    return Path(given) if given else Path(settings.db_path).parent / "proposals"


def config_choices(settings: Any) -> list[str]:
    """``active`` and the proposals' folder names, as the page offers them."""
    root = proposals(settings)
    if not root.is_dir():
        return ["active"]
    return ["active", *sorted(p.name for p in root.iterdir() if p.is_dir() and _NAME.match(p.name))]


def _county_admin(request: web.Request) -> Principal:
    # An admin is never scoped (whistle.web.access): the report may cover the whole county.
    return allow(request, Role.ADMIN)


def _config_dir(request: web.Request, name: str) -> Path:
    settings = request.app[SETTINGS]
    if name == "active":
        return Path(settings.config_dir)
    where = proposals(settings) / name
    if not _NAME.match(name) or not where.is_dir():
        raise InvalidWhistle([FieldError("config", f"no proposed configuration {name!r}")])
    return where


def _parse(raw: bytes) -> _ReplayIn:
    try:
        body = _ReplayIn.model_validate(orjson.loads(raw or b"{}"))
    except orjson.JSONDecodeError as exc:
        raise InvalidWhistle([FieldError("body", f"not valid JSON: {exc}")], status=400) from None
    except ValidationError as exc:
        raise InvalidWhistle(field_errors(exc)) from None
    errors = []
    if body.until < body.since:
        errors.append(FieldError("until", "is before since"))
    elif (body.until - body.since).days + 1 > MAX_DAYS:
        errors.append(FieldError("until", f"a replay covers at most {MAX_DAYS} days"))
    if (body.config is None) == (body.version is None):
        errors.append(FieldError("config", "give config or version (one of them)"))
    if errors:
        raise InvalidWhistle(errors)
    return body


@routes.post("/api/v1/replays")
async def start(request: web.Request) -> web.Response:
    principal = _county_admin(request)
    body = _parse(await request.read())
    app = request.app
    db = str(app[SETTINGS].db_path)
    config = None
    if body.version is not None:
        try:
            source_rules(
                Path(db), config=None, version=body.version, grids=app[SETTINGS].config_dir
            )
        except VersionsUnavailable as exc:
            raise InvalidWhistle([FieldError("version", str(exc))]) from None
    else:
        assert body.config is not None
        config = str(_config_dir(request, body.config))
    jobs = app[JOBS]
    found = Job(app[IDS].new(), body.since.isoformat(), body.until.isoformat(), body.config,
                body.version, principal.actor, time.time())  # fmt: skip
    jobs.jobs[found.id] = found
    now = app[CLOCK].now().isoformat()
    grids = str(app[SETTINGS].config_dir)  # a version holds the rules, not the grids
    task = asyncio.create_task(_run(jobs, found, db, config, now, grids))
    jobs.tasks.add(task)
    task.add_done_callback(jobs.tasks.discard)
    for old in list(jobs.jobs)[:-KEPT]:
        if jobs.jobs[old].status != "running":
            del jobs.jobs[old]
    log.info("replay.started", replay=found.id, first=found.first, last=found.last,
             config=body.config, by=principal.actor)  # fmt: skip
    return web.json_response(found.document(), status=202, dumps=_dumps)


async def _run(jobs: Jobs, found: Job, db: str, config: str | None, now: str, grids: str) -> None:
    loop = asyncio.get_running_loop()
    try:
        found.report = await loop.run_in_executor(
            jobs.pool,
            job,
            db,
            found.first,
            found.last,
            config,
            found.version,
            now,
            LIMIT,
            grids,
        )
        found.status = "done"
    except Exception as exc:  # a bad proposed config, a broken worker: the job says why
        found.status, found.error = "failed", str(exc) or type(exc).__name__
        log.warning("replay.failed", replay=found.id, error=found.error)
    found.finished = time.time()
    if found.report is not None:
        log.info("replay.done", replay=found.id, cases=found.report["cases"],
                 changed=found.report["changed"], seconds=found.report["seconds"])  # fmt: skip


def _dumps(data: Any) -> str:
    return orjson.dumps(data).decode()


def _job(request: web.Request) -> Job | None:
    _county_admin(request)
    return request.app[JOBS].jobs.get(request.match_info["id"])


def _missing(request: web.Request) -> web.Response:
    return problem(404, "Not Found", detail=f"no replay {request.match_info['id']!r}")


@routes.get("/api/v1/replays/{id}")
async def get_job(request: web.Request) -> web.Response:
    found = _job(request)
    if found is None:
        return _missing(request)
    return web.json_response(found.document(), dumps=_dumps)


@routes.get("/api/v1/replays/{id}/{table}.csv")
async def get_csv(request: web.Request) -> web.Response:
    found = _job(request)
    if found is None:
        return _missing(request)
    table = request.match_info["table"]
    if table not in TABLES or found.report is None:
        detail = f"no table {table!r}" if table not in TABLES else "the replay is not done"
        return problem(404, "Not Found", detail=detail)
    return web.Response(
        body=csv_table(found.report, table),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="replay-{found.id}-{table}.csv"'},
    )


@routes.get("/admin/replay")
@public
async def replay_page(request: web.Request) -> web.Response:
    principal, csrf = await page_session(request, Role.ADMIN)
    today = request.app[CLOCK].now().astimezone(request.app[TZ]).date()
    words = REPLAY[_lang(request)]
    return render(
        request,
        "replay.html",
        csrf=csrf,
        principal=principal,
        title=words["title"],
        s=words,
        words=orjson.dumps(words).decode(),
        configs=config_choices(request.app[SETTINGS]),
        first=today.replace(day=1).isoformat(),
        last=today.isoformat(),
    )


def api_ops() -> list[Any]:
    """The replay operations of the OpenAPI document (imported there)."""
    from whistle.web import openapi_ops as o  # the pieces of an operation

    job_id = o.path_param("id", o.STR)
    table = o.path_param("table", {"type": "string", "enum": list(TABLES)})
    csv = {"description": "CSV", "content": {"text/csv": {"schema": o.STR}}}
    return [
        o.Op("post", "/api/v1/replays", "Replay a period's recorded whistles under proposed "
             "rules (a county-wide admin; runs in the background)", "ReplayJob",
             o.WRITE, status=202, body="ReplayIn"),
        o.Op("get", "/api/v1/replays/{id}", "A replay, and its report once done", "ReplayJob",
             (*o.READ, 404), params=(job_id,)),
        o.Op("get", "/api/v1/replays/{id}/{table}.csv", "One table of a replay's report",
             csv, (*o.READ, 404), params=(job_id, table)),
    ]  # fmt: skip
