"""Photo uploads: checked by content (not by name), limited in size, stored on disk.

``POST /api/v1/media`` (and ``POST /api/v1/public/media`` for citizens, counted against the
citizens' per-address limit) takes the image as the raw body (any Content-Type; the bytes decide)
and answers 201 with its URL, ``/media/<sha256>.<ext>``: the name is the content's hash, so
the same photo uploaded twice is stored once and a name can never be chosen by a client.
``GET /media/{name}`` serves it back with the type its content proved, to its uploader, and
with its case (``/media/{name}?case=<whistle id>``) to whoever may read that case, when the
case names the photo (in ``media_urls`` or a resolution's ``photos``) and it was uploaded by
someone on the case's branch of the grid tree. Admins see every photo. Anyone else gets 403:
a photo's URL alone is not a right to see it.

What is stored is the photo without its metadata (EXIF with GPS, XMP, IPTC: whistle/photos.py),
turned upright; its name is the hash of that. A body Pillow cannot read is refused with 415.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from pathlib import Path

import orjson
from aiohttp import web

from grids import Cell, Hierarchy
from whistle.auth import Principal, Role
from whistle.exceptions import FieldError, Forbidden, InvalidWhistle, RateLimited
from whistle.photos import UnreadablePhoto, strip_metadata
from whistle.web.access import ACCESS, SIGNED_BODY, allow, client_address, public
from whistle.web.api import may_read
from whistle.web.keys import HIERARCHY, SETTINGS, STORE

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
    principal = allow(request, Role.REPORTER, Role.OPERATOR, Role.RESPONDER, Role.INTEGRATION)
    return await _receive(request, principal.id, principal.scope)


@routes.post("/api/v1/public/media")
@public
async def public_upload(request: web.Request) -> web.Response:
    """A citizen's photo for their report: counted against the citizens' per-address limit,
    and shown only with a case that names it, to those who may read the case."""
    address = client_address(request)
    wait = request.app[ACCESS].public_limit.take(address)
    if wait:
        raise RateLimited(wait, f"citizen photo {address}")
    return await _receive(request, "public", None)


async def _receive(request: web.Request, uploader: str, scope: str | None) -> web.Response:
    """Read, check and store one photo; 201 with its URL."""
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
    try:
        # Off the event loop: decoding a phone's photo takes tens of milliseconds.
        clean = await asyncio.to_thread(strip_metadata, bytes(data), kind)
    except UnreadablePhoto as exc:
        raise InvalidWhistle([FieldError("body", str(exc))], status=415) from None
    name = f"{hashlib.sha256(clean).hexdigest()}.{kind}"
    folder = media_dir(request)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    if not target.exists():
        # Write then rename: a reader never sees half a file, a crash leaves no torn one.
        partial = folder / f".{name}.part"
        partial.write_bytes(clean)
        partial.replace(target)
    await request.app[STORE].save_upload(name, uploader, scope)
    return web.Response(
        status=201,
        body=orjson.dumps({"url": f"/media/{name}", "type": _TYPES[kind], "bytes": len(clean)}),
        content_type="application/json",
    )


@routes.get("/media/{name}")
async def download(request: web.Request) -> web.StreamResponse:
    principal = allow(request, *Role)
    name = request.match_info["name"]
    match = _NAME.match(name)
    path = media_dir(request) / name
    if match is None or not path.is_file():
        raise web.HTTPNotFound(text="no such photo")
    await _may_see(request, principal, name)
    return web.FileResponse(
        path,
        headers={
            "Content-Type": _TYPES[match.group(1)],
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=86400, immutable",
        },
    )


def _names(urls: object) -> set[str]:
    """The photo names among ``urls`` (absolute or not, with or without a query)."""
    if not isinstance(urls, list):
        return set()
    return {
        url.split("?", 1)[0].rsplit("/media/", 1)[1]
        for url in urls
        if isinstance(url, str) and "/media/" in url
    }


def _on_branch(hierarchy: Hierarchy, cell: Cell, scope: str | None) -> bool:
    """Whether a scope and a cell lie on one branch of the tree (either holds the other): a
    responder placed below the case's cell uploads for it too."""
    if scope is None or cell.is_within(scope):
        return True
    holder = hierarchy.get(scope)
    return holder is not None and holder.is_within(cell.code)


async def _may_see(request: web.Request, principal: Principal, name: str) -> None:
    """Forbidden unless ``principal`` may see photo ``name`` (see the module docstring)."""
    if principal.role is Role.ADMIN:
        return
    store = request.app[STORE]
    uploads = await store.uploads(name)
    if any(uploader == principal.id for uploader, _ in uploads):
        return
    whistle_id = request.query.get("case")
    if not whistle_id:
        raise Forbidden(
            f"a photo is shown with its case: /media/{name}?case=<id>, to those who may read it"
        )
    stored = await store.get_whistle(whistle_id)
    if stored is None:
        raise web.HTTPNotFound(text=f"no case {whistle_id!r}")
    may_read(request, stored)
    named = _names(stored.row_doc.get("media_urls"))
    if name not in named:
        for event in await store.timeline(whistle_id):
            named |= _names(event.data.get("photos"))
    hierarchy = request.app[HIERARCHY]
    cell = hierarchy.cell(stored.row_doc["grid"]["code"])
    if name not in named or not any(_on_branch(hierarchy, cell, scope) for _, scope in uploads):
        raise Forbidden(f"the photo is not one of case {whistle_id}'s")
