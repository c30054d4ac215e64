"""The hub behind the live stream: one bus subscription, each event rendered once and written
to every stream that shows it, a slow stream reset alone, and no store read per live event."""

from __future__ import annotations

import asyncio
from typing import Any

from grids import Hierarchy
from tests.support.harness import Live
from tests.support.lifecycle import Cases
from tests.support.requests import file_in, towns
from tests.support.sse import PATIENCE, next_event, open_stream
from whistle.web.keys import BUS, STORE
from whistle.web.stream import STREAMS


async def events_of(response: Any, count: int) -> list[dict[str, Any]]:
    return [await next_event(response) for _ in range(count)]


async def test_each_event_is_rendered_once_for_many_streams_of_several_scopes(
    live: Live, county: Hierarchy
) -> None:
    hub = live.app[STREAMS]
    town_a, _ = towns(county)
    county_wide = [await open_stream(live) for _ in range(4)]
    town_token = await live.token("operator", scope=town_a)
    in_town = [await open_stream(live, town_token) for _ in range(3)]
    before = hub.renders
    doc = await file_in(live, county, town_a)
    stored = await live.app[STORE].timeline(doc["id"])
    seen = [await events_of(r, len(stored)) for r in (*county_wide, *in_town)]
    for received in seen:
        assert [e["data"]["seq"] for e in received] == [e.seq for e in stored]
        assert received == seen[0]  # the same bytes for every stream
    assert hub.renders - before == len(stored)  # not 7 times as many
    for response in (*county_wide, *in_town):
        response.close()


async def test_a_stream_that_cannot_keep_up_is_reset_while_the_others_keep_receiving(
    live: Live, county: Hierarchy
) -> None:
    hub = live.app[STREAMS]
    town = towns(county)[0]
    others = [await open_stream(live) for _ in range(2)]
    opened = set(hub.connections())
    slow = await open_stream(live)
    (slow_connection,) = set(hub.connections()) - opened
    # This one holds at most one message: a whistle's first write (received + routed,
    # published together and handed over in one pass) is more than it can take.
    slow_connection.limit = 1
    first = await file_in(live, county, town)
    second = await file_in(live, county, town, category="E0103")
    async with asyncio.timeout(PATIENCE):
        rest = (await slow.content.read()).decode()  # the server ended that stream
    assert "event: reset" in rest
    assert "fell behind" in rest
    wanted = [e.seq for w in (first, second) for e in await live.app[STORE].timeline(w["id"])]
    for response in others:
        received = await events_of(response, len(wanted))
        assert [e["data"]["seq"] for e in received] == wanted
    assert slow_connection not in hub.connections()
    assert len(hub.connections()) == 2
    for response in others:
        response.close()


async def test_events_without_carried_facts_are_scoped_by_one_batched_read(
    live: Live, county: Hierarchy
) -> None:
    hub = live.app[STREAMS]
    store = live.app[STORE]
    town_a, town_b = towns(county)
    ours = await file_in(live, county, town_a)
    theirs = await file_in(live, county, town_b)
    # As the log holds them (an older database, the outbox published again after a restart):
    # no facts on the events.
    stored = [*await store.timeline(ours["id"]), *await store.timeline(theirs["id"])]
    assert all(e.case is None for e in stored)
    in_a = await open_stream(live, await live.token("operator", scope=town_a))
    in_b = await open_stream(live, await live.token("operator", scope=town_b))
    reads = hub.fact_reads
    for event in sorted(stored, key=lambda e: e.seq):
        live.app[BUS].publish(event)
    got = await events_of(in_a, 2)
    assert {e["data"]["whistle_id"] for e in got} == {ours["id"]}
    assert got[0]["data"]["grid"] == ours["grid"]["code"]
    assert got[0]["data"]["status"] == "dispatched"
    assert got[0]["data"]["case_number"] == ours["case_number"]
    assert {e["data"]["whistle_id"] for e in await events_of(in_b, 2)} == {theirs["id"]}
    assert hub.fact_reads - reads == 1  # one read for the pass, not one per event
    in_a.close()
    in_b.close()


async def test_a_replay_reads_the_facts_of_a_batch_at_once_and_keeps_the_scope(
    live: Live, county: Hierarchy
) -> None:
    hub = live.app[STREAMS]
    town_a, town_b = towns(county)
    ours = await file_in(live, county, town_a)
    await file_in(live, county, town_b, category="E0103")
    reads = hub.fact_reads
    token = await live.token("operator", scope=town_a)
    response = await open_stream(live, token, **{"Last-Event-ID": "0"})
    first = await next_event(response)
    assert first["data"]["whistle_id"] == ours["id"]
    assert first["data"]["case_number"] == ours["case_number"]
    assert (await next_event(response))["data"]["whistle_id"] == ours["id"]
    assert hub.fact_reads - reads == 1
    response.close()


async def test_live_events_cost_no_store_read_for_any_number_of_streams(
    live: Live, county: Hierarchy
) -> None:
    hub = live.app[STREAMS]
    store = live.app[STORE]
    calls: list[str] = []
    real_facts = store.stream_facts

    async def stream_facts(ids: Any) -> Any:
        calls.append("stream_facts")
        return await real_facts(ids)

    streams = [await open_stream(live) for _ in range(5)]
    cases = Cases(live, county)
    doc = await cases.new()
    pushed = next(a for a in doc["assignments"] if a["mode"] == "push")
    # The only read the stream makes (the old one, get_whistle per event, is gone).
    store.stream_facts = stream_facts  # type: ignore[method-assign]
    try:
        done = asyncio.create_task(cases.assignment(pushed, "acknowledge"))
        for response in streams:
            kinds: list[str] = []
            while "assignment.acknowledged" not in kinds:
                kinds.append((await next_event(response))["event"])
        status, _ = await done
        assert status == 200
    finally:
        store.stream_facts = real_facts  # type: ignore[method-assign]
    assert calls == []
    assert hub.fact_reads == 0
    for response in streams:
        response.close()
