"""Error responses as RFC 9457 problem details, and the middleware that makes them.

Every 4xx names the field and the reason; a 5xx says nothing about the inside (no stack trace,
no SQL) and is logged with its cause instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from whistle.exceptions import (
    Conflict,
    FieldError,
    Forbidden,
    IdempotencyConflict,
    InvalidWhistle,
    Overloaded,
    RateLimited,
    StoreBusy,
    StoreUnavailable,
    Unauthenticated,
)
from whistle.web.access import PRINCIPAL

__all__ = ["error_middleware", "problem"]

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"


def problem(
    status: int,
    title: str,
    *,
    detail: str | None = None,
    errors: Sequence[FieldError] = (),
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> web.Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = [e.to_dict() for e in errors]
    if extra:
        body.update(extra)
    return web.Response(
        status=status, body=orjson.dumps(body), content_type=PROBLEM_JSON, headers=headers
    )


def invalid(errors: Sequence[FieldError], *, status: int = 422) -> web.Response:
    count = len(errors)
    detail = "; ".join(f"{e.field}: {e.reason}" for e in errors)
    title = "Invalid request" if count == 1 else f"Invalid request: {count} problems"
    return problem(status, title, detail=detail, errors=errors)


def refused(request: web.Request, status: int, reason: str) -> None:
    """Log a refused request with who asked and why (401, 403, 409, 429)."""
    principal = request.get(PRINCIPAL)
    log.warning(
        "access.refused",
        status=status,
        reason=reason,
        who=getattr(principal, "id", None),
        role=getattr(getattr(principal, "role", None), "value", None),
        method=request.method,
        path=request.path,
        address=request.remote,
    )


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Unauthenticated as exc:
        refused(request, 401, str(exc))
        return problem(401, "Unauthorized", detail=str(exc), headers={"WWW-Authenticate": "Bearer"})
    except Forbidden as exc:
        refused(request, 403, str(exc))
        return problem(403, "Forbidden", detail=str(exc))
    except RateLimited as exc:
        refused(request, 429, str(exc))
        retry = max(1, int(exc.retry_after + 0.999))
        return problem(
            429, "Too Many Requests", detail=str(exc), headers={"Retry-After": str(retry)}
        )
    except InvalidWhistle as exc:
        return invalid(exc.errors, status=exc.status)
    except IdempotencyConflict as exc:
        return problem(
            422,
            "Idempotency-Key reused",
            detail=str(exc),
            errors=[FieldError("Idempotency-Key", "already used with a different request body")],
            extra=None if exc.whistle_id is None else {"whistle_id": exc.whistle_id},
        )
    except (StoreBusy, Overloaded) as exc:
        return problem(503, "Busy", detail=str(exc), headers={"Retry-After": "1"})
    except Conflict as exc:
        # The case kept changing under every retry (a burst of steps on one case): nothing
        # was written, and the same request a moment later will be decided afresh.
        log.warning("case.conflict_gave_up", path=request.path, error=str(exc))
        return problem(503, "Busy", detail=str(exc), headers={"Retry-After": "1"})
    except StoreUnavailable as exc:
        log.error("store.unavailable", error=str(exc), path=request.path)
        return problem(
            503,
            "Storage unavailable",
            detail="the database cannot take writes right now; nothing was stored",
            headers={"Retry-After": "5"},
        )
    except web.HTTPRequestEntityTooLarge:
        # Raised by request.read() wherever a handler reads a body: one place names the field.
        reason = f"request body too large: the limit is {request.client_max_size} bytes"
        return invalid([FieldError("body", reason)], status=413)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return problem(exc.status, exc.reason, detail=exc.text or None, headers=_allow(exc))
    except Exception:
        log.exception("http.unhandled", path=request.path, method=request.method)
        return problem(500, "Internal Server Error", detail="the error was logged")


def _allow(exc: web.HTTPException) -> dict[str, str] | None:
    allow = exc.headers.get("Allow")
    return {"Allow": allow} if allow else None
