"""Logs are structured and carry the whistle id and grid code."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog
from structlog.testing import LogCapture

from grids import Hierarchy
from tests.support.harness import Live
from tests.support.requests import body


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    # capture_logs() drops every processor; keep merge_contextvars, which binds the ids.
    capture = LogCapture()
    structlog.configure(processors=[structlog.contextvars.merge_contextvars, capture])
    yield capture
    structlog.reset_defaults()


async def test_created_whistle_is_logged_with_its_id_and_grid(
    live: Live, county: Hierarchy, logs: LogCapture
) -> None:
    status, _, doc = await live.post(body(county))
    assert status == 201
    created = [entry for entry in logs.entries if entry["event"] == "whistle.created"]
    assert len(created) == 1
    assert created[0]["whistle_id"] == doc["id"]
    assert created[0]["grid"] == doc["grid"]["code"]
    assert created[0]["rule"] == "citizen"
    assert created[0]["log_level"] == "info"


async def test_context_does_not_leak_into_later_log_lines(
    live: Live, county: Hierarchy, logs: LogCapture
) -> None:
    await live.post(body(county))
    structlog.get_logger("after").info("later")
    later = [entry for entry in logs.entries if entry["event"] == "later"]
    assert "whistle_id" not in later[0]


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("call 13812345678 now", "call 138****5678 now"),
        ("座机 0871-63121234", "座机 0871-****1234"),
        ("id 530524101001001001 stays", "id 530524101001001001 stays"),
        ("two 15900001111,18800002222", "two 159****1111,188****2222"),
    ],
)
def test_phone_numbers_are_masked_in_logs(text: str, masked: str) -> None:
    from whistle.logs import mask_phones

    capture = LogCapture()
    structlog.configure(processors=[mask_phones, capture])
    try:
        structlog.get_logger("t").info("contact", note=text, nested={"list": [text]})
    finally:
        structlog.reset_defaults()
    entry = capture.entries[0]
    assert entry["note"] == masked
    assert entry["nested"] == {"list": [masked]}
