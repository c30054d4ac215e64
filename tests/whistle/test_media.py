"""Photo uploads: the bytes decide the type; size is limited; names are content hashes."""

from __future__ import annotations

import hashlib
import io

import pytest
from whistle_support import Live

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 32


async def upload(live: Live, data: bytes, content_type: str = "image/png") -> tuple[int, dict]:
    response = await live.client.post(
        "/api/v1/media",
        data=io.BytesIO(data) if len(data) > 1024 * 1024 else data,
        headers={"Content-Type": content_type, **await live.auth()},
    )
    return response.status, await response.json()


@pytest.mark.parametrize(
    ("data", "kind"), [(PNG, "image/png"), (JPEG, "image/jpeg"), (WEBP, "image/webp")]
)
async def test_image_is_stored_under_its_hash_and_served_back(
    live: Live, data: bytes, kind: str
) -> None:
    status, doc = await upload(live, data, "application/octet-stream")
    assert status == 201
    assert doc["type"] == kind
    assert doc["url"].startswith(f"/media/{hashlib.sha256(data).hexdigest()}.")
    response = await live.client.get(doc["url"], headers=await live.auth())
    assert response.status == 200
    assert response.headers["Content-Type"] == kind
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert await response.read() == data


async def test_a_script_named_like_a_photo_is_refused_by_its_content(live: Live) -> None:
    status, problem = await upload(live, b"<script>alert(1)</script>", "image/png")
    assert status == 415
    assert problem["errors"][0] == {
        "field": "body",
        "reason": "not a JPEG, PNG or WebP image (checked by its content)",
    }


async def test_photo_over_the_limit_is_413(live: Live) -> None:
    status, problem = await upload(live, PNG + b"\x00" * (5 * 1024 * 1024))
    assert status == 413
    assert problem["errors"][0]["field"] == "body"


async def test_photos_need_credentials_and_names_are_checked(live: Live) -> None:
    response = await live.client.post("/api/v1/media", data=PNG)
    assert response.status == 401
    for name in ("../../etc/passwd", "x.png", "a" * 64 + ".svg"):
        response = await live.client.get(f"/media/{name}", headers=await live.auth())
        assert response.status == 404
