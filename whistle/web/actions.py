"""HTTP endpoints of the closed loop: responders act on assignments, operators on cases.

``POST /api/v1/assignments/{id}/acknowledge|start|resolve|return``, for operators
``POST /api/v1/assignments/{id}/reassign|accept-return|refuse-return``,
``POST /api/v1/whistles/{id}/claim|verify|reopen|hold|release|extend|rate|merge|urge|supervise``
and ``place`` (待定位: the cell of a whistle its address could not place)
and ``GET /api/v1/responders/{id}/inbox``; 申请延期
``POST /api/v1/assignments/{id}/request-extension`` and, for operators,
``POST /api/v1/whistles/{id}/approve-extension|refuse-extension``. Each POST answers 200
with the whistle as it now stands; an action that does not fit the case's state is 409 with
the current status and what is allowed from it.

An ``Idempotency-Key`` header makes an action safe to send again when its answer was lost:
the key is written with the action's first event (``data.idempotency``: the key, who sent
it and the action), and the same actor sending the same key again is answered 200 with the
case as it stands, without acting twice; the same key for another action is 422.

Who acts is the authenticated principal: a responder acts on its own assignments (and claims
as itself), reporters and operators act on cases inside their subtree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import orjson
import structlog
from aiohttp import web
from pydantic import BaseModel, Field, ValidationError

from dispatch import CalendarEndError, extensions, lifecycle, urging
from dispatch.case import ACTIVE, CaseState, CaseStatus
from dispatch.lifecycle import Change, Context, IllegalTransition, InvalidAction, NotYours
from grids import Level
from whistle.auth import Principal, Role, allow_cell
from whistle.cases import DecideOther
from whistle.exceptions import CaseNotFound, FieldError, Forbidden, InvalidWhistle
from whistle.privacy import masked
from whistle.schema import INPUT, field_errors
from whistle.web.access import PRINCIPAL, allow, allow_responder
from whistle.web.api import idempotency_key
from whistle.web.keys import CASES, HIERARCHY, PLACER, STORE
from whistle.web.problems import problem, refused

__all__ = ["routes"]

routes = web.RouteTableDef()
log = structlog.get_logger(__name__)

_Text = Annotated[str, Field(min_length=1, max_length=2000)]
_Id = Annotated[str, Field(min_length=1, max_length=64)]


class _Body(BaseModel):
    model_config = INPUT


class _Resolve(_Body):
    note: _Text | None = None
    photos: Annotated[list[Annotated[str, Field(max_length=2048)]], Field(max_length=10)] = []


class _Reason(_Body):
    reason: _Text | None = None


class _Note(_Body):
    note: _Text | None = None


class _Claim(_Body):
    team: _Id | None = None


class _Verify(_Body):
    passed: bool
    note: _Text | None = None


class _Extend(_Body):
    reason: _Text | None = None
    duration: Annotated[str, Field(max_length=16)] | None = None


class _Rate(_Body):
    grade: Annotated[str, Field(max_length=32)] | None = None
    comment: _Text | None = None


class _Merge(_Body):
    into: _Id | None = None


class _Place(_Body):
    grid: Annotated[str, Field(max_length=32)] | None = None


class _Reassign(_Body):
    responder: _Id | None = None
    reason: _Text | None = None


class _AcceptReturn(_Body):
    responder: _Id | None = None
    note: _Text | None = None


_B = TypeVar("_B", bound=BaseModel)


async def _body(request: web.Request, model: type[_B]) -> _B:
    raw = await request.read()
    try:
        data = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError as exc:
        raise InvalidWhistle([FieldError("body", f"not valid JSON: {exc}")], status=400) from None
    if not isinstance(data, dict):
        raise InvalidWhistle([FieldError("body", "expected a JSON object")])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidWhistle(field_errors(exc)) from None


async def _answer(request: web.Request, whistle_id: str) -> web.Response:
    stored = await request.app[STORE].get_whistle(whistle_id)
    assert stored is not None
    return web.Response(
        body=orjson.dumps(stored.document()), content_type="application/json", status=200
    )


async def _run(
    request: web.Request,
    whistle_id: str,
    actor: str,
    *,
    decide: Callable[[CaseState, Context], list[Change]],
    scoped: Principal | None = None,
    also: tuple[str, DecideOther] | None = None,
) -> web.Response:
    """Decide and write one action; ``scoped``: the case must lie in that principal's scope."""
    hierarchy = request.app[HIERARCHY]
    key = idempotency_key(request)
    action = request.path.rstrip("/").rsplit("/", 1)[-1]
    if key is not None and await _replayed(request, whistle_id, actor, key, action):
        return await _answer(request, whistle_id)

    def checked(state: CaseState, ctx: Context) -> list[Change]:
        if scoped is not None:
            allow_cell(scoped, hierarchy.cell(state.grid), f"case {state.id}")
        changes = decide(state, ctx)
        if key is not None and changes:
            changes[0].data["idempotency"] = {"key": key, "by": actor, "action": action}
        return changes

    try:
        await request.app[CASES].act(whistle_id, actor, checked, also=also)
    except CaseNotFound:
        return problem(404, "Not Found", detail=f"no whistle with id {whistle_id!r}")
    except NotYours as exc:
        raise Forbidden(str(exc)) from None
    except IllegalTransition as exc:
        # Two sends of one key at once: the first acted, the second found the state moved on.
        if key is not None and await _replayed(request, whistle_id, actor, key, action):
            return await _answer(request, whistle_id)
        refused(request, 409, str(exc))
        return problem(
            409,
            "Conflict",
            detail=str(exc),
            extra={"current": exc.status, "allowed": exc.allowed},
        )
    except InvalidAction as exc:
        raise InvalidWhistle([FieldError(exc.field, exc.reason)]) from None
    except CalendarEndError as exc:
        # A deadline past the working calendar cannot be set right: nothing is written.
        log.error("calendar.exhausted", whistle_id=whistle_id, error=str(exc))
        return problem(503, "Service Unavailable", detail=str(exc))
    return await _answer(request, whistle_id)


async def _replayed(
    request: web.Request, whistle_id: str, actor: str, key: str, action: str
) -> bool:
    """Whether ``actor`` already sent ``key`` on this case (for ``action``; another action
    under the same key is 422)."""
    for event in await request.app[STORE].timeline(whistle_id):
        sent = event.data.get("idempotency")
        if not isinstance(sent, dict) or sent.get("key") != key or sent.get("by") != actor:
            continue
        if sent.get("action") != action:
            raise InvalidWhistle(
                [FieldError("Idempotency-Key", f"already used for {sent.get('action')}")]
            )
        return True
    return False


# -- assignments ---------------------------------------------------------------------------


def _whistle_of(assignment_id: str) -> str:
    return assignment_id.rsplit("-", 1)[0]


_AssignmentStep = Callable[[CaseState, str, str, Context, Any], list[Change]]

# The responder's own steps on an assignment: its body's model and the lifecycle step.
_ASSIGNMENT_ACTIONS: dict[str, tuple[type[BaseModel], _AssignmentStep]] = {
    "acknowledge": (_Body, lambda s, aid, actor, ctx, b: lifecycle.acknowledge(s, aid, actor, ctx)),
    "start": (_Body, lambda s, aid, actor, ctx, b: lifecycle.start(s, aid, actor, ctx)),
    "resolve": (
        _Resolve,
        lambda s, aid, actor, ctx, b: lifecycle.resolve(
            s, aid, actor, ctx, note=b.note, photos=b.photos
        ),
    ),
    "return": (
        _Reason,
        lambda s, aid, actor, ctx, b: lifecycle.return_assignment(
            s, aid, actor, ctx, reason=b.reason
        ),
    ),
    # 申请延期: the case shows it under ``case.extension_request`` until an operator decides.
    "request-extension": (
        _Extend,
        lambda s, aid, actor, ctx, b: extensions.request_extension(
            s, aid, actor, ctx, reason=b.reason, duration=b.duration
        ),
    ),
}


async def _assignment_action(request: web.Request, action: str) -> web.Response:
    principal = allow(request, Role.RESPONDER)
    actor = principal.actor
    assignment_id = request.match_info["id"]
    model, step = _ASSIGNMENT_ACTIONS[action]
    body = await _body(request, model)

    def decide(state: CaseState, ctx: Context) -> list[Change]:
        if state.assignment(assignment_id) is None:
            raise _UnknownAssignment(assignment_id)
        return step(state, assignment_id, actor, ctx, body)

    try:
        return await _run(request, _whistle_of(assignment_id), actor, decide=decide)
    except _UnknownAssignment:
        return problem(404, "Not Found", detail=f"no assignment with id {assignment_id!r}")


class _UnknownAssignment(LookupError):
    pass


@routes.post("/api/v1/assignments/{id}/acknowledge")
async def acknowledge(request: web.Request) -> web.Response:
    return await _assignment_action(request, "acknowledge")


@routes.post("/api/v1/assignments/{id}/start")
async def start(request: web.Request) -> web.Response:
    return await _assignment_action(request, "start")


@routes.post("/api/v1/assignments/{id}/resolve")
async def resolve(request: web.Request) -> web.Response:
    return await _assignment_action(request, "resolve")


@routes.post("/api/v1/assignments/{id}/return")
async def return_(request: web.Request) -> web.Response:
    return await _assignment_action(request, "return")


# -- cases ---------------------------------------------------------------------------------


@routes.post("/api/v1/whistles/{id}/claim")
async def claim(request: web.Request) -> web.Response:
    principal = allow(request, Role.RESPONDER)
    actor = principal.actor
    body = await _body(request, _Claim)
    team = None
    if body.team is not None:
        team = request.app[CASES].teams.get(body.team)
        if team is None:
            raise InvalidWhistle([FieldError("team", f"unknown team {body.team!r}")])
    # The lifecycle checks the team against the board: its own community's only.
    return await _run(
        request,
        request.match_info["id"],
        actor,
        decide=lambda state, ctx: lifecycle.claim(state, actor, ctx, team=team),
    )


# Case actions that differ only in who may take them, their body and their lifecycle step.
_CaseStep = Callable[[CaseState, str, Context, Any], list[Change]]
_REPORTERS = (Role.REPORTER, Role.OPERATOR)
_OPERATORS = (Role.OPERATOR,)
_CASE_ACTIONS: dict[str, tuple[tuple[Role, ...], type[BaseModel], _CaseStep]] = {
    "verify": (
        _REPORTERS,
        _Verify,
        lambda s, actor, ctx, b: lifecycle.verify(s, actor, ctx, passed=b.passed, note=b.note),
    ),
    "reopen": (
        _REPORTERS,
        _Reason,
        lambda s, actor, ctx, b: lifecycle.reopen(s, actor, ctx, reason=b.reason),
    ),
    "rate": (
        _REPORTERS,
        _Rate,
        lambda s, actor, ctx, b: lifecycle.rate(s, actor, ctx, grade=b.grade, comment=b.comment),
    ),
    "hold": (
        _OPERATORS,
        _Reason,
        lambda s, actor, ctx, b: lifecycle.hold(s, actor, ctx, reason=b.reason),
    ),
    "release": (
        _OPERATORS,
        _Reason,
        lambda s, actor, ctx, b: _with_reason(lifecycle.release(s, actor, ctx), b.reason),
    ),
    # 催办 and 督办 by hand, with the operator's note (the timer's own stay as they are).
    "urge": (
        _OPERATORS,
        _Note,
        lambda s, actor, ctx, b: urging.urge(s, actor, ctx, note=b.note),
    ),
    "supervise": (
        _OPERATORS,
        _Note,
        lambda s, actor, ctx, b: urging.supervise(s, actor, ctx, note=b.note),
    ),
    # 申请延期 decided: granted (case.extended, once, within the limit) or refused.
    "approve-extension": (
        _OPERATORS,
        _Note,
        lambda s, actor, ctx, b: extensions.approve_extension(s, actor, ctx, note=b.note),
    ),
    "refuse-extension": (
        _OPERATORS,
        _Reason,
        lambda s, actor, ctx, b: extensions.refuse_extension(s, actor, ctx, reason=b.reason),
    ),
    "extend": (
        _OPERATORS,
        _Extend,
        lambda s, actor, ctx, b: lifecycle.extend(
            s, actor, ctx, reason=b.reason, duration=b.duration
        ),
    ),
}


def _with_reason(changes: list[Change], reason: str | None) -> list[Change]:
    """The operator's reason for ending a hold (恢复), kept on the event for the timeline."""
    if not reason:
        return changes
    return [Change(c.type, {**c.data, "reason": reason}) for c in changes]


def _case_action(
    name: str, roles: tuple[Role, ...], model: type[BaseModel], step: _CaseStep
) -> None:
    async def handler(request: web.Request) -> web.Response:
        principal = allow(request, *roles)
        body = await _body(request, model)
        return await _run(
            request,
            request.match_info["id"],
            principal.actor,
            scoped=principal,
            decide=lambda state, ctx: step(state, principal.actor, ctx, body),
        )

    handler.__name__ = handler.__qualname__ = name
    routes.post(f"/api/v1/whistles/{{id}}/{name}")(handler)


for _name, (_roles, _model, _step) in _CASE_ACTIONS.items():
    _case_action(_name, _roles, _model, _step)


@routes.post("/api/v1/whistles/{id}/merge")
async def merge(request: web.Request) -> web.Response:
    principal = allow(request, Role.OPERATOR)
    body = await _body(request, _Merge)
    whistle_id = request.match_info["id"]
    if body.into is not None and body.into != whistle_id:
        target = await request.app[STORE].get_whistle(body.into)
        if target is None:
            raise InvalidWhistle([FieldError("into", f"no whistle with id {body.into!r}")])
        if target.status == "cancelled":
            raise InvalidWhistle(
                [FieldError("into", f"whistle {body.into} was itself merged into another")]
            )
        hierarchy = request.app[HIERARCHY]
        allow_cell(principal, hierarchy.cell(target.row_doc["grid"]["code"]), "the target case")
    # The case merged into keeps the record of what was merged into it, in the same write.
    actor = principal.actor
    also = None
    if body.into is not None and body.into != whistle_id:
        also = (body.into, lambda target, merged: lifecycle.record_merge(target, merged, actor))
    return await _run(
        request,
        whistle_id,
        principal.actor,
        scoped=principal,
        decide=lambda state, ctx: lifecycle.merge(state, principal.actor, ctx, into=body.into),
        also=also,
    )


@routes.post("/api/v1/whistles/{id}/place")
async def place(request: web.Request) -> web.Response:
    """待定位: the operator picks the cell of a whistle its address could not place; it is
    then routed from there. Sent again by the same operator for the same cell: the case as it
    stands (200), nothing done twice."""
    principal = allow(request, Role.OPERATOR)
    body = await _body(request, _Place)
    whistle_id = request.match_info["id"]
    placer = request.app[PLACER]
    cell = placer.target(body.grid)
    try:
        await placer.place(whistle_id, cell, principal)
    except CaseNotFound:
        return problem(404, "Not Found", detail=f"no whistle with id {whistle_id!r}")
    except IllegalTransition as exc:
        stored = await request.app[STORE].get_whistle(whistle_id)
        placement = {} if stored is None else stored.row_doc.get("placement") or {}
        if placement.get("placed_by") == principal.actor and (
            stored is not None and stored.row_doc["grid"]["code"] == cell.code
        ):
            return await _answer(request, whistle_id)
        refused(request, 409, str(exc))
        return problem(409, "Conflict", detail=str(exc), extra={"current": exc.status})
    except CalendarEndError as exc:
        log.error("calendar.exhausted", whistle_id=whistle_id, error=str(exc))
        return problem(503, "Service Unavailable", detail=str(exc))
    return await _answer(request, whistle_id)


# -- operator decisions on assignments (调度台) ---------------------------------------------


async def _operator_assignment_action(
    request: web.Request,
    step: Callable[[CaseState, str, str, Context], list[Change]],
) -> web.Response:
    """An operator's decision on one assignment of a case inside the operator's subtree."""
    principal = allow(request, Role.OPERATOR)
    assignment_id = request.match_info["id"]

    def decide(state: CaseState, ctx: Context) -> list[Change]:
        if state.assignment(assignment_id) is None:
            raise _UnknownAssignment(assignment_id)
        return step(state, assignment_id, principal.actor, ctx)

    try:
        return await _run(
            request, _whistle_of(assignment_id), principal.actor, decide=decide, scoped=principal
        )
    except _UnknownAssignment:
        return problem(404, "Not Found", detail=f"no assignment with id {assignment_id!r}")


@routes.post("/api/v1/assignments/{id}/reassign")
async def reassign(request: web.Request) -> web.Response:
    """改派: ``{"responder": ID, "reason": ...}``; the responder must be in the subtree."""
    principal = allow(request, Role.OPERATOR)
    body = await _body(request, _Reassign)
    _in_subtree(request, principal, body.responder)
    return await _operator_assignment_action(
        request,
        lambda state, aid, actor, ctx: lifecycle.reassign(
            state, aid, actor, ctx, responder_id=body.responder, reason=body.reason
        ),
    )


@routes.post("/api/v1/assignments/{id}/accept-return")
async def accept_return(request: web.Request) -> web.Response:
    """退单 accepted: ``{"responder": ID, "note": ...}`` reassigns the returned slot to the
    named responder, who must be in the operator's subtree."""
    principal = allow(request, Role.OPERATOR)
    body = await _body(request, _AcceptReturn)
    _in_subtree(request, principal, body.responder)
    return await _operator_assignment_action(
        request,
        lambda state, aid, actor, ctx: lifecycle.accept_return(
            state, aid, actor, ctx, responder_id=body.responder, note=body.note
        ),
    )


def _in_subtree(request: web.Request, principal: Principal, responder_id: str | None) -> None:
    """A responder an operator names must work inside the operator's subtree (403)."""
    if responder_id is None:
        return
    responder = request.app[HIERARCHY].responder(responder_id)
    if responder is not None:
        cell = request.app[HIERARCHY].cell(responder.grid)
        allow_cell(principal, cell, f"responder {responder_id}")


@routes.post("/api/v1/assignments/{id}/refuse-return")
async def refuse_return(request: web.Request) -> web.Response:
    """退单 refused, ``{"reason": ...}``: the returning responder gets the case back."""
    allow(request, Role.OPERATOR)
    body = await _body(request, _Reason)
    return await _operator_assignment_action(
        request,
        lambda state, aid, actor, ctx: lifecycle.refuse_return(
            state, aid, actor, ctx, reason=body.reason
        ),
    )


# -- inbox ---------------------------------------------------------------------------------


# The cases an informed responder (知会: 网格长, 联户长) still sees: every one not yet closed.
_INFORMED_OPEN = tuple(sorted(s.value for s in (*ACTIVE, CaseStatus.RESOLVED, CaseStatus.ON_HOLD)))


@routes.get("/api/v1/responders/{id}/inbox")
async def inbox(request: web.Request) -> web.Response:
    """The responder's active assignments, and the open needs on its community's claim
    board (with the teams it belongs to, for team claims)."""
    responder_id = request.match_info["id"]
    responder, cell = allow_responder(request, responder_id, "inbox")
    boards = [cell.code] if cell.level == Level.COMMUNITY else []
    teams = request.app[CASES].teams.teams_of(responder_id)
    store = request.app[STORE]
    items = await store.inbox(responder_id, boards, [t.id for t in teams])
    informed = await store.informed_of(responder_id, _INFORMED_OPEN)
    body: dict[str, Any] = {
        "responder": {
            "id": responder.id,
            "name": responder.name,
            "kind": responder.kind.value,
            "grid": responder.grid,
        },
        "teams": [{"id": t.id, "name": t.name, "captain": t.captain} for t in teams],
        "assignments": [i for i in items if i["assignment"]["mode"] == "push"
                        or i["assignment"]["status"] != "open"],
        "open_needs": [i for i in items if i["assignment"]["mode"] == "claim"
                       and i["assignment"]["status"] == "open"],
        "informed": informed,
    }  # fmt: skip
    if request[PRINCIPAL].role is not Role.OPERATOR:
        # Needs not yet claimed and cases one is only told of: not one's own to call back on.
        body["open_needs"], body["informed"] = masked(body["open_needs"]), masked(informed)
    return web.Response(body=orjson.dumps(body), content_type="application/json")


# -- 申请延期: a responder asks, an operator decides ---------------------------------------


@routes.post("/api/v1/assignments/{id}/request-extension")
async def request_extension(request: web.Request) -> web.Response:
    """申请延期 by the assignment's holder: ``{"reason": ..., "duration": "3wd"}``."""
    return await _assignment_action(request, "request-extension")
