"""Real little images for the photo tests, made with Pillow: plain ones without metadata (what
the server stores unchanged), and a phone's JPEG carrying EXIF with GPS (where it was taken)."""

from __future__ import annotations

import io

from PIL import Image

__all__ = ["GPS_POINT", "JPEG", "PNG", "WEBP", "gps_jpeg", "image"]

# 田园镇, as a phone's GPS writes it: degrees, minutes, seconds.
GPS_POINT = ((25.0, 8.0, 52.26), (99.0, 21.0, 4.56))


def image(fmt: str, size: tuple[int, int] = (4, 3), colour: str = "red") -> bytes:
    """A small picture in ``fmt`` (JPEG, PNG, WEBP), with no metadata at all."""
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, fmt)
    return out.getvalue()


PNG = image("PNG")
JPEG = image("JPEG")
WEBP = image("WEBP")


def gps_jpeg(*, orientation: int = 1, size: tuple[int, int] = (40, 20)) -> bytes:
    """A JPEG as a phone writes it: EXIF with the camera, the time, the orientation and GPS
    (latitude, longitude), a comment, and an ICC profile."""
    picture = Image.new("RGB", size, "white")
    picture.paste(Image.new("RGB", (size[0] // 2, size[1]), "black"))  # left half black
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "Phone X"  # Model
    exif[0x0132] = "2026:11:23 09:00:00"  # DateTime
    exif[0x0112] = orientation
    gps = exif.get_ifd(0x8825)
    (lat, lon) = GPS_POINT
    gps[1], gps[2], gps[3], gps[4] = "N", lat, "E", lon
    out = io.BytesIO()
    picture.save(out, "JPEG", exif=exif, comment=b"taken at home", icc_profile=b"\0" * 128)
    return out.getvalue()
