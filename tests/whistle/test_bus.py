"""The in-process bus: topics, patterns, isolation of slow and failing subscribers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from structlog.testing import capture_logs

from whistle.bus import Bus
from whistle.events import Event

AT = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def event(seq: int, topic: str = "whistle.received") -> Event:
    return Event(seq, topic, f"W{seq}", AT, None, {})


async def test_subscriber_gets_only_matching_topics() -> None:
    bus = Bus()
    got: list[tuple[str, int]] = []

    async def on_received(e: Event) -> None:
        got.append(("received", e.seq))

    async def on_any_whistle(e: Event) -> None:
        got.append(("whistle.*", e.seq))

    bus.subscribe("whistle.received", on_received)
    bus.subscribe("whistle.*", on_any_whistle)
    await bus.start()
    bus.publish(event(1, "whistle.received"))
    bus.publish(event(2, "whistle.routed"))
    bus.publish(event(3, "case.closed"))
    await bus.stop()
    assert sorted(got) == [("received", 1), ("whistle.*", 1), ("whistle.*", 2)]


async def test_publish_does_not_wait_for_a_slow_subscriber() -> None:
    bus = Bus()
    release = asyncio.Event()
    fast: list[int] = []

    async def slow(e: Event) -> None:
        await release.wait()

    async def quick(e: Event) -> None:
        fast.append(e.seq)

    bus.subscribe("*", slow, name="slow")
    bus.subscribe("*", quick, name="quick")
    await bus.start()
    for seq in range(1, 101):
        bus.publish(event(seq))  # returns at once although `slow` is stuck
    await asyncio.sleep(0)  # let the quick pump run; no deadline is involved
    for _ in range(200):
        if len(fast) == 100:
            break
        await asyncio.sleep(0)
    assert fast == list(range(1, 101))
    assert bus.depth() >= 99  # the slow subscriber's backlog
    release.set()
    await bus.stop()
    assert all(sub.task is None for sub in bus.subscriptions)


async def test_full_queue_drops_and_counts_instead_of_blocking() -> None:
    bus = Bus(queue_size=2)
    sub = bus.subscribe("*", lambda e: asyncio.sleep(0), name="tiny")  # not started: no pump
    with capture_logs() as logs:
        for seq in range(1, 6):
            bus.publish(event(seq))
    assert sub.queue.qsize() == 2
    assert sub.dropped == 3
    assert [entry["event"] for entry in logs] == ["bus.subscriber_lagging"] * 3


async def test_failing_subscriber_keeps_receiving_and_others_are_unaffected() -> None:
    bus = Bus()
    seen: list[int] = []

    async def broken(e: Event) -> None:
        raise RuntimeError("boom")

    async def fine(e: Event) -> None:
        seen.append(e.seq)

    failing = bus.subscribe("*", broken, name="broken")
    bus.subscribe("*", fine, name="fine")
    await bus.start()
    with capture_logs() as logs:
        bus.publish(event(1))
        bus.publish(event(2))
        await bus.stop()
    assert seen == [1, 2]
    assert failing.failed == 2
    assert sum(1 for entry in logs if entry["event"] == "bus.handler_failed") == 2


async def test_stop_cancels_a_handler_that_never_finishes() -> None:
    bus = Bus()
    started = asyncio.Event()

    async def forever(e: Event) -> None:
        started.set()
        await asyncio.Event().wait()

    sub = bus.subscribe("*", forever)
    await bus.start()
    bus.publish(event(1))
    await started.wait()
    await bus.stop(drain_timeout=0.01)
    assert sub.task is None


@pytest.mark.parametrize(
    ("pattern", "topic", "expected"),
    [
        ("*", "anything", True),
        ("whistle.*", "whistle.routed", True),
        ("whistle.*", "whistles.routed", False),
        ("whistle.routed", "whistle.routed", True),
        ("whistle.routed", "whistle.received", False),
    ],
)
def test_topic_patterns(pattern: str, topic: str, expected: bool) -> None:
    from whistle.bus import _matches

    assert _matches(pattern, topic) is expected


async def test_an_attached_callback_runs_inside_publish_in_order_and_its_failure_is_counted() -> (
    None
):
    bus = Bus()
    got: list[int] = []

    def take(e: Event) -> None:
        if e.seq == 2:
            raise RuntimeError("boom")
        got.append(e.seq)

    sub = bus.attach("whistle.*", take, name="timers")
    with capture_logs() as logs:
        for seq in (1, 2, 3):
            bus.publish(event(seq))
        bus.publish(event(4, "case.closed"))  # not its topic
    assert got == [1, 3]  # called before publish returned: no start(), no task, no queue
    assert (sub.delivered, sub.failed, sub.task) == (2, 1, None)
    assert bus.depth() == 0
    assert [entry["subscriber"] for entry in logs if entry["event"] == "bus.handler_failed"] == [
        "timers"
    ]
