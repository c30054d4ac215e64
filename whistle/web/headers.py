"""Security headers on every answer: a Content-Security-Policy, nosniff and framing.

Set in one place, on ``on_response_prepare``, so that no page, error page, file or stream can
leave them out. The policy allows scripts, styles, images and connections from this origin
only: no inline ``<script>``, no ``on*=`` handler, no ``style=`` attribute and no ``<style>``
element runs or applies (the pages keep their CSS in /static and /public files and their data
in ``<script type="application/json">`` blocks, which are not run). ``frame-ancestors 'none'``
and ``X-Frame-Options: DENY`` keep every page out of other sites' frames (clickjacking), except
``/wall``, the big screen, which a command centre may embed in its own dashboard when
``serve --wall-frame-ancestors ORIGINS`` names the origins that may. (The session cookie is
SameSite=Strict, so only a page of the same site gets a logged-in wall in its frame.)
"""

from __future__ import annotations

import re

from aiohttp import web

from whistle.web.keys import SETTINGS

__all__ = ["WALL", "content_security_policy", "install", "parse_frame_ancestors"]

WALL = "/wall"
_POLICY = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
)
# An origin as a CSP source: scheme://host[:port], the host possibly "*." a domain.
_ORIGIN = re.compile(r"^https?://(\*\.)?[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


def content_security_policy(frame_ancestors: tuple[str, ...] = ()) -> str:
    """The policy, with ``frame-ancestors`` naming ``frame_ancestors`` (none: 'none')."""
    ancestors = " ".join(frame_ancestors) if frame_ancestors else "'none'"
    return "; ".join((*_POLICY, f"frame-ancestors {ancestors}"))


def parse_frame_ancestors(text: str) -> tuple[str, ...]:
    """Origins separated by spaces or commas (``https://dash.example.org``); ValueError for
    anything else, so that a typo cannot widen the policy (a bare ``*`` or ``;`` is refused)."""
    origins = tuple(part for part in re.split(r"[\s,]+", text.strip()) if part)
    bad = [origin for origin in origins if not _ORIGIN.match(origin)]
    if bad:
        raise ValueError(f"not an origin (https://host[:port]): {', '.join(bad)}")
    return origins


_DEFAULT = content_security_policy()


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    # Every answer, JSON, CSV, photos, static files and health checks too: a browser must
    # take the declared type, never guess one (a JSON body read as HTML would run it).
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    embed = request.app[SETTINGS].wall_frame_ancestors
    if embed and request.path == WALL:
        response.headers["Content-Security-Policy"] = content_security_policy(embed)
        response.headers.popall("X-Frame-Options", None)
        return
    response.headers["Content-Security-Policy"] = _DEFAULT
    response.headers["X-Frame-Options"] = "DENY"


def install(app: web.Application) -> None:
    """Add the headers to every answer of ``app``."""
    app.on_response_prepare.append(_headers)
