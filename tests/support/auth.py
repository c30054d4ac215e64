"""Signed requests and the CLI, for the access tests."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime

from whistle.auth import parse_token, sign_request, signing_key


def signed_headers(
    token: str, body: bytes, at: datetime, *, signature: str | None = None
) -> dict[str, str]:
    """The headers of a feed's signed request: HMAC-SHA256 over ``f"{ts}." + body``."""
    token_id = parse_token(token)
    assert token_id is not None
    stamp = int(at.timestamp())
    return {
        "X-Whistle-Key": token_id,
        "X-Whistle-Timestamp": str(stamp),
        "X-Whistle-Signature": signature or sign_request(signing_key(token), stamp, body),
    }


async def cli(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "whistle.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()
