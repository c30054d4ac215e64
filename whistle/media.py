"""Photo uploads: checked by content (not by name), limited in size, stored on disk.

``POST /api/v1/media`` takes the image as the raw body (any Content-Type; the bytes decide)
and answers 201 with its URL, ``/media/<sha256>.<ext>``: the name is the content's hash, so
the same photo uploaded twice is stored once and a name can never be chosen by a client.
``GET /media/{name}`` serves it back with the type its content proved.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import orjson
from aiohttp import web

from whistle.access import SIGNED_BODY, allow
from whistle.auth import Role
from whistle.exceptions import FieldError, InvalidWhistle
from whistle.keys import SETTINGS

__all__ = ["MAX_PHOTO", "routes", "sniff"]

routes = web.RouteTableDef()

MAX_PHOTO = 5 * 1024 * 1024
_NAME = re.compile(r"^[0-9a-f]{64}\.(jpg|png|webp)$")
_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


def sniff(data: bytes) -> str | None:
    """The extension the bytes prove (``jpg``, ``png``, ``webp``), or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def media_dir(request: web.Request) -> Path:
    return request.app[SETTINGS].db_path.parent / "media"


@routes.post("/api/v1/media")
async def upload(request: web.Request) -> web.Response:
    allow(request, Role.REPORTER, Role.OPERATOR, Role.RESPONDER, Role.INTEGRATION)
    if request.content_length is not None and request.content_length > MAX_PHOTO:
        raise InvalidWhistle(
            [FieldError("body", f"photo too large: at most {MAX_PHOTO} bytes")], status=413
        )
    data = bytearray(request.get(SIGNED_BODY, b""))  # a signed request's body is read already
    if SIGNED_BODY not in request:
        async for chunk in request.content.iter_chunked(64 * 1024):
            data += chunk
            if len(data) > MAX_PHOTO:
                raise InvalidWhistle(
                    [FieldError("body", f"photo too large: at most {MAX_PHOTO} bytes")],
                    status=413,
                )
    kind = sniff(bytes(data[:16]))
    if kind is None:
        raise InvalidWhistle(
            [FieldError("body", "not a JPEG, PNG or WebP image (checked by its content)")],
            status=415,
        )
    name = f"{hashlib.sha256(data).hexdigest()}.{kind}"
    folder = media_dir(request)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    if not target.exists():
        # Write then rename: a reader never sees half a file, a crash leaves no torn one.
        partial = folder / f".{name}.part"
        partial.write_bytes(data)
        partial.replace(target)
    return web.Response(
        status=201,
        body=orjson.dumps({"url": f"/media/{name}", "type": _TYPES[kind], "bytes": len(data)}),
        content_type="application/json",
    )


@routes.get("/media/{name}")
async def download(request: web.Request) -> web.StreamResponse:
    allow(request, *Role)
    name = request.match_info["name"]
    match = _NAME.match(name)
    path = media_dir(request) / name
    if match is None or not path.is_file():
        raise web.HTTPNotFound(text="no such photo")
    return web.FileResponse(
        path,
        headers={
            "Content-Type": _TYPES[match.group(1)],
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=86400, immutable",
        },
    )
