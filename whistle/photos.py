"""Photos without their metadata: EXIF (GPS, camera, time), XMP, IPTC and comments are taken
out before a photo is stored (个人信息保护法: a phone's photo carries where it was taken, often
the reporter's home).

The pixels are kept as sent where possible: the metadata segments (JPEG) or chunks (PNG,
WebP) are dropped and the rest is copied byte for byte, so a photo loses nothing else. A
photo whose EXIF orientation turns it is turned for real and re-encoded (Pillow), since the
tag that said how to show it is gone. Pillow also proves the bytes are an image it can read:
anything else is refused (:class:`UnreadablePhoto`).
"""

from __future__ import annotations

import io
import struct
import warnings

from PIL import Image, ImageOps

__all__ = ["UnreadablePhoto", "strip_metadata"]

# EXIF tag 0x0112: how the camera was held. 1 is upright; 2-8 mirror and/or rotate.
_ORIENTATION = 0x0112


class UnreadablePhoto(ValueError):
    """The bytes are not an image Pillow can read (or too many pixels to check)."""


def strip_metadata(data: bytes, kind: str) -> bytes:
    """``data`` (a ``jpg``, ``png`` or ``webp``) without its metadata, turned upright."""
    try:
        with warnings.catch_warnings():
            # Corrupt EXIF only warns (it is dropped anyway), the same in tests and in service;
            # a decompression bomb is refused, not only warned about.
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                orientation = image.getexif().get(_ORIENTATION, 1)
                if orientation not in (1, None) and 1 <= int(orientation) <= 8:
                    image.load()
                    return _reencode(image, kind)
                if kind == "jpg":
                    # Decoding at 1/8 scale still reads every block of the scan (a truncated
                    # or corrupt one fails), at a fraction of the time of the full picture.
                    image.draft(image.mode, (max(1, image.width // 8), max(1, image.height // 8)))
                image.load()
    except Image.DecompressionBombError as exc:
        raise UnreadablePhoto(str(exc)) from None
    except Exception as exc:
        # Hostile bytes: Pillow's decoders raise anything (OSError, ValueError, SyntaxError,
        # EOFError, struct.error ...), and none of it may become a 500.
        raise UnreadablePhoto(f"not a readable image: {exc}") from None
    strip = {"jpg": _jpeg, "png": _png, "webp": _webp}[kind]
    try:
        return strip(data)
    except (IndexError, struct.error, ValueError) as exc:
        raise UnreadablePhoto(f"not a well-formed {kind}: {exc}") from None


def _reencode(image: Image.Image, kind: str) -> bytes:
    upright = ImageOps.exif_transpose(image)
    out = io.BytesIO()
    icc = image.info.get("icc_profile")  # colour, not a person: kept
    extra = {"icc_profile": icc} if icc else {}
    if kind == "jpg":
        upright.convert("RGB").save(out, "JPEG", quality=90, **extra)
    elif kind == "png":
        upright.save(out, "PNG", **extra)
    else:
        upright.save(out, "WEBP", quality=90, **extra)
    return out.getvalue()


# -- JPEG: segments ------------------------------------------------------------------------

# Kept, by marker and the signature its payload must start with: APP0 (JFIF), APP2 (the ICC
# colour profile), APP14 (Adobe: how to read the colours). Dropped: APP1 (Exif, XMP), APP13
# (IPTC), COM, every other APPn (makers' notes), and a kept marker with another payload.
_KEEP_APP = {0xE0: (b"JFIF\0", b"JFXX\0"), 0xE2: (b"ICC_PROFILE\0",), 0xEE: (b"Adobe",)}
_SOS, _EOI = 0xDA, 0xD9


def _scan_end(data: bytes, i: int) -> int:
    """Where the entropy-coded data from ``i`` ends: the next marker that is not a stuffed
    byte (FF 00) or a restart (FF D0-D7). A scan that never ends is not a JPEG."""
    while True:
        i = data.index(b"\xff", i)
        following = data[i + 1]
        if following == 0 or 0xD0 <= following <= 0xD7 or following == 0xFF:
            i += 1
            continue
        return i


def _jpeg(data: bytes) -> bytes:
    if data[:2] != b"\xff\xd8":
        raise ValueError("no start of image")
    out = bytearray(b"\xff\xd8")
    i = 2
    while True:
        if data[i] != 0xFF:
            raise ValueError(f"no marker at byte {i}")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # no length
            out += data[i : i + 2]
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if length < 2 or i + 2 + length > len(data):
            raise ValueError(f"bad segment length at byte {i}")
        segment = data[i : i + 2 + length]
        i += 2 + length
        if marker == _SOS:  # a scan: its header, then entropy-coded data up to a marker
            end = _scan_end(data, i)
            out += segment + data[i:end]
            i = end
            if data[i + 1] == _EOI:  # anything after the end (makers' trailers) is dropped
                return bytes(out + b"\xff\xd9")
            continue
        if marker == 0xFE:
            continue
        if 0xE0 <= marker <= 0xEF:
            signatures = _KEEP_APP.get(marker)
            if signatures is None or not segment[4:].startswith(signatures):
                continue  # APP2 also carries FlashPix metadata, and so on
        out += segment


# -- PNG: chunks ---------------------------------------------------------------------------

_PNG_DROP = frozenset({b"eXIf", b"tEXt", b"zTXt", b"iTXt", b"tIME"})


def _png(data: bytes) -> bytes:
    out = bytearray(data[:8])
    i = 8
    while i < len(data):
        (length,) = struct.unpack(">I", data[i : i + 4])
        kind = data[i + 4 : i + 8]
        end = i + 12 + length
        if end > len(data):
            raise ValueError(f"chunk {kind!r} runs past the end")
        if kind not in _PNG_DROP:
            out += data[i:end]
        i = end
        if kind == b"IEND":
            break
    return bytes(out)


# -- WebP: RIFF chunks ---------------------------------------------------------------------

_WEBP_DROP = frozenset({b"EXIF", b"XMP "})
_VP8X_EXIF, _VP8X_XMP = 0x08, 0x04


def _webp(data: bytes) -> bytes:
    body = bytearray()
    i = 12
    while i + 8 <= len(data):
        kind = data[i : i + 4]
        (size,) = struct.unpack("<I", data[i + 4 : i + 8])
        end = i + 8 + size + (size & 1)
        if i + 8 + size > len(data):
            raise ValueError(f"chunk {kind!r} runs past the end")
        chunk = bytearray(data[i:end])
        if kind == b"VP8X":
            chunk[8] &= ~(_VP8X_EXIF | _VP8X_XMP) & 0xFF
        if kind not in _WEBP_DROP:
            body += chunk
        i = end
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + bytes(body)
