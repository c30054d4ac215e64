"""The listener: another store's events on one PostgreSQL database reach this store's bus, in
log order, each once, and keep coming after the listening connection is cut."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest

from tests.support.harness import Recorder, new_whistle
from tests.support.postgres import fresh_database
from whistle.bus import Bus
from whistle.store.postgres import PostgresStore


@pytest.fixture
async def database() -> AsyncIterator[str]:
    async with fresh_database() as url:
        yield url


async def opened(url: str, bus: Bus) -> PostgresStore:
    await bus.start()
    store = PostgresStore(url, bus)
    await store.open()
    return store


async def until(condition: Callable[[], bool]) -> None:
    """Within ten seconds (real time: another connection's work, not a deadline)."""
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110 -- polls what another store delivered
            await asyncio.sleep(0.02)


async def test_events_written_by_another_store_reach_this_bus_in_log_order_once(
    database: str,
) -> None:
    here_bus, there_bus = Bus(), Bus()
    here_events, there_events = Recorder(here_bus), Recorder(there_bus)
    here, there = await opened(database, here_bus), await opened(database, there_bus)
    there_ids = {new_whistle(n).whistle.id for n in range(20)}
    try:
        await asyncio.gather(*(there.create_whistle(new_whistle(n)) for n in range(20)))
        await asyncio.gather(*(here.create_whistle(new_whistle(n)) for n in range(20, 30)))
        written = 30 * len(new_whistle(0).events)
        await until(lambda: len(here_events.events) >= written)
        await until(lambda: len(there_events.events) >= written)
        await asyncio.sleep(1.5)  # a poll or two more: nothing is published twice
        # What must happen once per event (a webhook) is left to the process that wrote it.
        mine = {e.seq for e in here_events.events if e.whistle_id not in there_ids}
        assert not any(here.written_elsewhere(seq) for seq in mine)
        assert all(here.written_elsewhere(seq) for seq in range(1, written + 1) if seq not in mine)
    finally:
        await here.close()
        await there.close()
        await here_bus.stop()
        await there_bus.stop()
    for events in (here_events.events, there_events.events):
        # Every event of both stores, once each; another store's in log order.
        assert sorted(e.seq for e in events) == list(range(1, written + 1))
    theirs = [
        e.seq
        for e in here_events.events
        if e.whistle_id in {new_whistle(n).whistle.id for n in range(20)}
    ]
    assert theirs == sorted(theirs)


async def test_the_listener_reconnects_and_catches_up_after_its_connection_is_cut(
    database: str,
) -> None:
    here_bus, there_bus = Bus(), Bus()
    here_events = Recorder(here_bus)
    here, there = await opened(database, here_bus), await opened(database, there_bus)
    try:
        admin = await asyncpg.connect(database)
        try:
            # Cut every LISTEN connection, as a PostgreSQL restart or a network cut would.
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()"
            )
        finally:
            await admin.close()
        await until(lambda: here.listener.reconnects >= 1)
        await there.create_whistle(new_whistle(1))
        await until(lambda: len(here_events.events) >= len(new_whistle(1).events))
    finally:
        await here.close()
        await there.close()
        await here_bus.stop()
        await there_bus.stop()
    assert [e.whistle_id for e in here_events.events] == [new_whistle(1).whistle.id] * len(
        new_whistle(1).events
    )


async def test_a_notification_arriving_as_the_store_closes_does_not_keep_the_listener_running(
    database: str,
) -> None:
    # The intermittent hang of the contract suite: a write's NOTIFY woke the follower in the
    # very turn of the loop in which close() cancelled it, and Python 3.11's wait_for
    # returned the wake-up instead of raising the cancellation, so the follower kept polling
    # and close() waited for it forever. Here the two meet on purpose, many times over.
    for _ in range(5):
        bus = Bus()
        store = await opened(database, bus)
        await asyncio.sleep(0.05)  # the follower back in its wait after the first read
        store.listener._notified()  # what a NOTIFY does, in the same turn as the cancel
        closing = asyncio.create_task(store.close())
        done, _ = await asyncio.wait({closing}, timeout=5)  # waits, never cancels
        await bus.stop()
        assert closing in done, "close() still waiting for the listener"
