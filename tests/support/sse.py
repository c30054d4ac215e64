"""Reading the live event stream (Server-Sent Events) in a test, as EventSource does."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import ClientResponse

from tests.support.harness import Live

__all__ = ["PATIENCE", "next_block", "next_event", "open_stream"]

# A safety net so that a broken stream fails the test instead of hanging it; no test waits
# for it to pass.
PATIENCE = 10.0


async def open_stream(live: Live, token: str | None = None, **headers: str) -> ClientResponse:
    response = await live.client.get(
        "/api/v1/stream", headers={**await live.auth(token), **headers}
    )
    assert response.status == 200, await response.text()
    return response


async def next_block(response: ClientResponse) -> list[str]:
    """The lines of the next SSE block (up to a blank line)."""
    lines: list[str] = []
    async with asyncio.timeout(PATIENCE):
        while True:
            raw = await response.content.readline()
            assert raw, "the stream ended"
            line = raw.decode().rstrip("\n")
            if not line:
                if lines:
                    return lines
                continue
            lines.append(line)


async def next_event(response: ClientResponse) -> dict[str, Any]:
    """The next message that is an event (comments and ``retry`` skipped)."""
    while True:
        lines = await next_block(response)
        fields: dict[str, str] = {}
        for line in lines:
            if line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            fields[name] = value
        if "event" in fields:
            return {
                "id": fields.get("id"),
                "event": fields["event"],
                "data": orjson.loads(fields["data"]),
            }
