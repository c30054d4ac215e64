"""Nothing of town A reaches town B through the channels a text search cannot see: the live
event stream (live and replayed), and the counts of statistics, CSV exports, the console's
queue counts and the wall. A count carries no marker, so town B's answers are compared before
and after town A files cases: they must not change (and town A's own do, so the check bites).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import pytest_asyncio

from tests.support.probe import (
    AWAY,
    CAST,
    COMMITTEE,
    HOME,
    OPERATOR,
    RESPONDER,
    Call,
    Probe,
    Who,
    open_probe,
)

shared_loop = pytest.mark.asyncio(loop_scope="module")

AGGREGATES = (
    "/api/v1/stats",
    "/api/v1/stats/cases?metric=total",
    "/api/v1/stats/sources.csv",
    "/api/v1/stats/responders.csv",
    "/api/v1/queue-counts",
    "/api/v1/wall",
    "/api/v1/whistles",
    "/stats",
)
STREAM_READERS = (OPERATOR, COMMITTEE, RESPONDER)


def _who(name: str) -> Who:
    return next(w for w in CAST if w.name == name)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def probe(tmp_path_factory: pytest.TempPathFactory, county_dir: Path) -> AsyncIterator[Probe]:
    async with open_probe(tmp_path_factory.mktemp("leaks"), county_dir) as p:
        yield p


async def _snapshot(p: Probe, who: Who) -> dict[str, tuple[int, bytes]]:
    answers = {}
    for path in AGGREGATES:
        answer = await p.send(who, Call("GET", path))
        answers[path] = (answer.status, answer.body)
    return answers


async def _town_b_case(p: Probe) -> dict[str, Any]:
    return await p.case(
        description="乙镇的一件事", reporter="乙镇网格员", location={"grid": p.micro(AWAY)}
    )


@shared_loop
async def test_town_b_counts_do_not_move_when_town_a_files(probe: Probe) -> None:
    await _town_b_case(probe)  # town B has something of its own to count
    readers = [_who(f"away {r}") for r in (OPERATOR, COMMITTEE)]
    home = _who(OPERATOR)
    before = {w.name: await _snapshot(probe, w) for w in [*readers, home]}
    for _ in range(3):
        await probe.resolved()
    after = {w.name: await _snapshot(probe, w) for w in [*readers, home]}
    for who in readers:
        moved = [p for p in AGGREGATES if before[who.name][p] != after[who.name][p]]
        assert not moved, f"{who.name} sees town A's cases in {moved}"
        assert all(status == 200 for status, _ in after[who.name].values()), after[who.name]
    assert before[home.name]["/api/v1/stats"] != after[home.name]["/api/v1/stats"]


async def _read_stream(
    p: Probe,
    who: Who,
    until: list[str],
    *,
    last_event_id: str | None = None,
    opened: asyncio.Event | None = None,
) -> str:
    """The stream's text up to the event that names ``until[0]`` (a whistle id; the list may
    be filled after the stream opened). ``opened`` is set once the stream has answered."""
    call = Call("GET", "/api/v1/stream", stream=True)
    headers = await p.headers(who, call, b"")
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    seen = ""
    async with p.http.get(p.base + "/api/v1/stream", headers=headers) as response:
        assert response.status == 200, await response.text()
        if opened is not None:
            opened.set()
        async with asyncio.timeout(20):
            async for line in response.content:
                seen += line.decode()
                if until and until[0] in seen:
                    return seen
    raise AssertionError(f"the stream ended before {until}: {seen[-300:]}")


@shared_loop
@pytest.mark.parametrize("replay", [False, True], ids=["live", "replayed"])
async def test_town_b_streams_never_carry_town_a_events(probe: Probe, replay: bool) -> None:
    readers = [_who(f"away {r}") for r in STREAM_READERS]
    until: list[str] = []
    if replay:
        home = await probe.resolved()
        away = await _town_b_case(probe)
        until.append(away["id"])
        texts = [await _read_stream(probe, w, until, last_event_id="0") for w in readers[:2]]
    else:
        opened = [asyncio.Event() for _ in readers[:2]]
        tasks = [
            asyncio.create_task(_read_stream(probe, w, until, opened=o))
            for w, o in zip(readers[:2], opened, strict=True)
        ]
        for o in opened:
            await o.wait()
        home = await probe.resolved()
        away = await _town_b_case(probe)
        until.append(away["id"])
        texts = list(await asyncio.gather(*tasks))
    own = await _read_stream(probe, _who(OPERATOR), [home["id"]], last_event_id="0")
    assert home["id"] in own  # town A's operator gets it: the check would see a leak
    for who, text in zip(readers, texts, strict=False):
        assert home["id"] not in text, f"{who.name} got town A's case on its stream"
        assert away["id"] in text
        for line in text.splitlines():
            if line.startswith("data: "):
                grid = orjson.loads(line[6:]).get("grid") or ""
                assert not grid.startswith(probe.towns[HOME]), (who.name, line)


@shared_loop
async def test_a_town_b_responder_gets_none_of_town_a_on_its_stream(probe: Probe) -> None:
    """A responder's stream carries its own notices only: town A's case, assigned to town A's
    member, never reaches town B's member, whose own citizen case (filed after) does."""
    home = await probe.resolved()
    response = await probe.live.client.post(
        "/api/v1/public/whistles", json={**probe.public(), "location": {"grid": probe.micro(AWAY)}}
    )
    own = await response.json()
    assert response.status == 201, own
    text = await _read_stream(
        probe, _who(f"away {RESPONDER}"), [own["whistle_id"]], last_event_id="0"
    )
    assert home["id"] not in text
