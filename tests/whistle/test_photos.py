"""whistle/photos.py: metadata out, pixels kept, orientation applied, junk refused."""

from __future__ import annotations

import io
import random
import struct

import pytest
from PIL import Image

from tests.support.images import JPEG, PNG, WEBP, gps_jpeg
from whistle.photos import UnreadablePhoto, strip_metadata


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def test_xmp_iptc_and_comments_leave_a_jpeg_and_its_scan_stays() -> None:
    original = gps_jpeg()
    xmp = _segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>home</x:xmpmeta>")
    iptc = _segment(0xED, b"Photoshop 3.0\0" + b"8BIM home")
    comment = _segment(0xFE, b"home address")
    sent = original[:2] + xmp + iptc + comment + original[2:]
    kept = strip_metadata(sent, "jpg")
    for secret in (b"xmpmeta", b"8BIM", b"home", b"Exif\0\0"):
        assert secret not in kept
    assert kept.endswith(original[original.index(b"\xff\xda") :])
    assert b"ICC_PROFILE" in kept


@pytest.mark.parametrize(("data", "kind"), [(JPEG, "jpg"), (PNG, "png"), (WEBP, "webp")])
def test_a_photo_without_metadata_is_kept_byte_for_byte(data: bytes, kind: str) -> None:
    assert strip_metadata(data, kind) == data


def test_a_webp_loses_its_exif_chunk_and_its_flag() -> None:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "green").save(out, "WEBP", exif=exif)
    kept = strip_metadata(out.getvalue(), "webp")
    assert b"EXIF" not in kept
    assert b"PhoneMaker" not in kept
    assert struct.unpack("<I", kept[4:8])[0] == len(kept) - 8
    with Image.open(io.BytesIO(kept)) as image:
        assert image.size == (8, 8)
        assert dict(image.getexif()) == {}


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"\xff\xd8\xff\xe0" + bytes(64), "jpg"),
        (b"\x89PNG\r\n\x1a\n" + bytes(32), "png"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 " + bytes(32), "webp"),
        (JPEG[: len(JPEG) // 2], "jpg"),
    ],
    ids=["jpeg-header-only", "png-header-only", "webp-header-only", "half-a-jpeg"],
)
def test_bytes_pillow_cannot_read_are_refused(data: bytes, kind: str) -> None:
    with pytest.raises(UnreadablePhoto):
        strip_metadata(data, kind)


def test_damaged_photos_are_refused_or_stored_clean_never_an_error() -> None:
    rng = random.Random(18)
    original = gps_jpeg()
    accepted = 0
    for _ in range(300):
        damaged = bytearray(original)
        for _ in range(rng.randint(1, 8)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        if rng.random() < 0.3:
            damaged = damaged[: rng.randrange(4, len(damaged))]
        try:
            kept = strip_metadata(bytes(damaged), "jpg")
        except UnreadablePhoto:
            continue
        accepted += 1
        assert b"PhoneMaker" not in kept
    assert accepted > 0


def test_a_trailer_after_the_end_and_a_comment_between_scans_are_dropped() -> None:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), "white").save(out, "JPEG", progressive=True)
    progressive = out.getvalue()
    second_scan = progressive.index(b"\xff\xda", progressive.index(b"\xff\xda") + 2)
    comment = _segment(0xFE, b"home address")
    sent = progressive[:second_scan] + comment + progressive[second_scan:] + b"GPS 25.1,99.3"
    kept = strip_metadata(sent, "jpg")
    assert kept == progressive
    with Image.open(io.BytesIO(kept)) as image:
        image.load()
        assert image.size == (16, 16)
