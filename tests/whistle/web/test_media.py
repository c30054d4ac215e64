"""Photo uploads: the bytes decide the type; size is limited; names are content hashes."""

from __future__ import annotations

import hashlib
import io

import pytest
from PIL import Image, PngImagePlugin

from grids import Hierarchy, Level
from tests.support.harness import Live
from tests.support.images import GPS_POINT, JPEG, PNG, WEBP, gps_jpeg
from tests.support.lifecycle import Cases
from tests.support.pages import add_user, log_in
from tests.support.requests import body
from whistle.auth import Role


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


# -- a photo is shown with its case, to those who may read the case -----------------------------


def town_micro(county: Hierarchy, index: int) -> tuple[str, str]:
    town = list(county.cells(level=Level.TOWN))[index].code
    micro = next(c.code for c in county.cells(level=Level.MICRO_GRID) if c.is_within(town))
    return town, micro


async def photo_of_a_case(live: Live, county: Hierarchy, town: str, micro: str) -> tuple[str, str]:
    """A town's grid worker uploads a photo and files a case with it: (photo URL, case id)."""
    worker = await live.token("reporter", scope=town)
    response = await live.client.post("/api/v1/media", data=PNG, headers=await live.auth(worker))
    assert response.status == 201
    url = (await response.json())["url"]
    status, _, doc = await live.post(
        body(county, location={"grid": micro}, media_urls=[str(live.client.make_url(url))]),
        token=worker,
    )
    assert status == 201, doc
    return url, doc["id"]


async def status_of(live: Live, path: str, token: str) -> int:
    return (await live.client.get(path, headers=await live.auth(token))).status


async def test_another_towns_photo_is_refused_by_url(live: Live, county: Hierarchy) -> None:
    (town_a, micro_a), (town_b, _) = town_micro(county, 0), town_micro(county, 1)
    url, case = await photo_of_a_case(live, county, town_a, micro_a)
    outsider = await live.token("operator", scope=town_b)
    assert await status_of(live, url, outsider) == 403
    assert await status_of(live, f"{url}?case={case}", outsider) == 403
    # Inside the town, the photo is shown with its case; its uploader and admins see it anyway.
    insider = await live.token("operator", scope=town_a)
    assert await status_of(live, url, insider) == 403
    assert await status_of(live, f"{url}?case={case}", insider) == 200
    assert await status_of(live, f"{url}?case={case}", await live.token("committee")) == 200
    assert await status_of(live, url, await live.token("reporter", scope=town_a)) == 200
    assert await status_of(live, url, await live.token("admin", scope=None)) == 200
    response = await live.client.get(f"{url}?case=nothing-here", headers=await live.auth(insider))
    assert response.status == 404


async def test_naming_another_towns_photo_in_ones_own_case_does_not_show_it(
    live: Live, county: Hierarchy
) -> None:
    (town_a, micro_a), (town_b, micro_b) = town_micro(county, 0), town_micro(county, 1)
    url, _ = await photo_of_a_case(live, county, town_a, micro_a)
    outsider = await live.token("reporter", scope=town_b)
    status, _, doc = await live.post(
        body(county, location={"grid": micro_b}, media_urls=[str(live.client.make_url(url))]),
        token=outsider,
    )
    assert status == 201
    response = await live.client.get(f"{url}?case={doc['id']}", headers=await live.auth(outsider))
    assert response.status == 403
    assert "not one of case" in (await response.json())["detail"]
    # A case of the photo's own town that does not name it does not show it either.
    _, other_case = await photo_of_a_case(live, county, town_a, micro_a)
    insider = await live.token("operator", scope=town_a)
    unrelated = await live.post(body(county, location={"grid": micro_a}), token=insider)
    assert await status_of(live, f"{url}?case={unrelated[2]['id']}", insider) == 403
    assert await status_of(live, f"{url}?case={other_case}", insider) == 200


async def test_a_resolution_photo_is_shown_on_the_case_page(live: Live, county: Hierarchy) -> None:
    cases = Cases(live, county)
    doc = await cases.new()
    assignment = doc["assignments"][0]
    responder = await live.token("responder", responder=assignment["responder"]["id"])
    headers = await live.auth(responder)
    response = await live.client.post("/api/v1/media", data=JPEG, headers=headers)
    url = (await response.json())["url"]
    assert (await cases.assignment(assignment, "acknowledge"))[0] == 200
    status, _ = await cases.assignment(assignment, "resolve", note="已清理", photos=[url])
    assert status == 200
    await add_user(live, "op", Role.OPERATOR, county.root)
    await log_in(live.client, "op")
    page = await (await live.client.get(f"/cases/{doc['id']}")).text()
    shown = f"{url}?case={doc['id']}"
    assert f'src="{shown}"' in page
    photo = await live.client.get(shown)  # with the session's cookie, as the browser would
    assert photo.status == 200
    assert await photo.read() == JPEG
    assert (await live.client.get(url)).status == 403


# -- metadata (issue 18): EXIF with GPS never reaches the disk ----------------------------------


async def stored_photo(live: Live, data: bytes) -> bytes:
    status, doc = await upload(live, data, "image/jpeg")
    assert status == 201, doc
    response = await live.client.get(doc["url"], headers=await live.auth())
    assert response.status == 200
    stored = await response.read()
    assert doc["url"].startswith(f"/media/{hashlib.sha256(stored).hexdigest()}.")
    on_disk = live.db.parent / "media" / doc["url"].rsplit("/", 1)[1]
    assert on_disk.read_bytes() == stored
    return stored


async def test_a_phones_jpeg_is_stored_without_exif_gps_or_comment(live: Live) -> None:
    original = gps_jpeg()
    with Image.open(io.BytesIO(original)) as sent:  # the fixture does carry what we strip
        assert sent.getexif().get_ifd(0x8825)[2] == GPS_POINT[0]
    stored = await stored_photo(live, original)
    assert b"Exif\x00\x00" not in stored
    assert b"PhoneMaker" not in stored
    assert b"taken at home" not in stored
    with Image.open(io.BytesIO(stored)) as kept:
        assert dict(kept.getexif()) == {}
        assert "comment" not in kept.info
        assert kept.info.get("icc_profile") == b"\0" * 128  # colour is not personal
        assert kept.size == (40, 20)
    # The pixels are the same bytes: only the metadata segments went.
    scan = original.index(b"\xff\xda")
    assert stored.endswith(original[scan:])


async def test_a_turned_photo_is_stored_upright_without_its_orientation_tag(live: Live) -> None:
    stored = await stored_photo(live, gps_jpeg(orientation=6))  # held turned: rotate 90°
    with Image.open(io.BytesIO(stored)) as kept:
        assert kept.size == (20, 40)
        assert dict(kept.getexif()) == {}
        # The black half, left as taken, is on top once turned upright.
        assert kept.convert("L").getpixel((10, 5)) < 60
        assert kept.convert("L").getpixel((10, 35)) > 200


async def test_png_and_webp_lose_their_exif_and_text(live: Live) -> None:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif.get_ifd(0x8825)[2] = GPS_POINT[0]
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "PhoneMaker home")
    png, webp = io.BytesIO(), io.BytesIO()
    Image.new("RGB", (3, 3), "blue").save(png, "PNG", exif=exif, pnginfo=info)
    Image.new("RGB", (3, 3), "blue").save(webp, "WEBP", exif=exif)
    for data in (png.getvalue(), webp.getvalue()):
        assert b"PhoneMaker" in data
        stored = await stored_photo(live, data)
        assert b"PhoneMaker" not in stored
        with Image.open(io.BytesIO(stored)) as kept:
            assert dict(kept.getexif()) == {}
            assert kept.size == (3, 3)


async def test_bytes_that_only_start_like_a_photo_are_refused(live: Live) -> None:
    status, problem = await upload(live, b"\xff\xd8\xff\xe0" + b"\x00" * 64, "image/jpeg")
    assert status == 415
    assert problem["errors"][0]["field"] == "body"
    assert problem["errors"][0]["reason"].startswith("not a readable image")
