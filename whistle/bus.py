"""An in-process asyncio event bus with named topics.

Publishing never waits: each subscription owns a bounded queue and a task that feeds its
handler, so a slow subscriber only delays itself. A subscriber whose work is a few
microseconds of bookkeeping that never waits (the timers, the metrics counters, webhook
scheduling) is instead *attached*: :meth:`Bus.attach` calls it inside ``publish``, in
publishing order, without a queue or a task (issue 21: the queue, the task switch and the
wake-up cost more than the handlers did). The bus carries events that are already
durable (the store publishes after commit), so a subscriber that falls too far behind loses
nothing that cannot be read back from the event log; the overflow is counted and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from whistle.events import Event

__all__ = ["Bus", "Callback", "Handler", "Subscription"]

Handler = Callable[[Event], Awaitable[None]]
Callback = Callable[[Event], None]
log = structlog.get_logger(__name__)


def _matches(pattern: str, topic: str) -> bool:
    """``whistle.*`` matches ``whistle.received``; ``*`` matches everything."""
    if pattern in ("*", topic):
        return True
    return pattern.endswith(".*") and topic.startswith(pattern[:-1])


@dataclass(eq=False)
class Subscription:
    """One subscriber: a topic pattern, a handler and its private queue."""

    name: str
    pattern: str
    handler: Handler
    queue: asyncio.Queue[Event]
    delivered: int = 0
    dropped: int = 0
    failed: int = 0
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    # Attached (see Bus.attach): called inside publish, never queued.
    callback: Callback | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return (
            f"Subscription({self.name!r}, {self.pattern!r}, queued={self.queue.qsize()}, "
            f"delivered={self.delivered}, dropped={self.dropped})"
        )


class Bus:
    """Named-topic publish/subscribe inside one process.

    ``start()`` runs one task per subscription; ``stop()`` lets them drain what is queued
    (bounded by ``drain_timeout``), then cancels and awaits every task it owns.
    """

    def __init__(self, *, queue_size: int = 10_000) -> None:
        self._queue_size = queue_size
        self._subscriptions: list[Subscription] = []
        self._running = False

    def subscribe(self, pattern: str, handler: Handler, *, name: str | None = None) -> Subscription:
        """Register ``handler`` for topics matching ``pattern``. Works before or after start."""
        sub = Subscription(
            name=name or str(getattr(handler, "__qualname__", "handler")),
            pattern=pattern,
            handler=handler,
            queue=asyncio.Queue(self._queue_size),
        )
        self._subscriptions.append(sub)
        if self._running:
            sub.task = asyncio.create_task(self._pump(sub), name=f"bus:{sub.name}")
        return sub

    def attach(self, pattern: str, callback: Callback, *, name: str | None = None) -> Subscription:
        """Call ``callback`` inside :meth:`publish` for topics matching ``pattern``, in order.

        Only for work that is cheap and never waits (no I/O, no await): it runs on the
        publisher's turn of the loop, right after the commit that made the event durable.
        An exception is counted and logged; it never reaches the publisher.
        """

        async def never(_: Event) -> None:  # pragma: no cover - attached: never queued
            raise AssertionError("an attached subscription is called, not queued")

        sub = Subscription(
            name=name or str(getattr(callback, "__qualname__", "callback")),
            pattern=pattern,
            handler=never,
            queue=asyncio.Queue(1),
            callback=callback,
        )
        self._subscriptions.append(sub)
        return sub

    async def unsubscribe(self, sub: Subscription) -> None:
        """Stop delivering to ``sub`` and end its task; what it still had queued is dropped.

        For short-lived subscribers (a browser's event stream): the bus must not keep
        feeding, or holding on to, a consumer that has gone away.
        """
        with contextlib.suppress(ValueError):
            self._subscriptions.remove(sub)
        task, sub.task = sub.task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        return tuple(self._subscriptions)

    def depth(self) -> int:
        """Events queued and not yet handled, over all subscriptions."""
        return sum(sub.queue.qsize() for sub in self._subscriptions)

    def publish(self, event: Event) -> None:
        """Hand ``event`` to every matching subscription without waiting."""
        for sub in self._subscriptions:
            if not _matches(sub.pattern, event.type):
                continue
            if sub.callback is not None:
                try:
                    sub.callback(event)
                    sub.delivered += 1
                except Exception:
                    sub.failed += 1
                    log.exception("bus.handler_failed", subscriber=sub.name, seq=event.seq)
                continue
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                sub.dropped += 1
                log.warning(
                    "bus.subscriber_lagging",
                    subscriber=sub.name,
                    dropped=sub.dropped,
                    seq=event.seq,
                )

    async def start(self) -> None:
        if self._running:
            return
        self._running = True
        for sub in self._subscriptions:
            if sub.callback is None:
                sub.task = asyncio.create_task(self._pump(sub), name=f"bus:{sub.name}")

    async def stop(self, *, drain_timeout: float = 5.0) -> None:
        if not self._running:
            return
        self._running = False
        pending = [sub for sub in self._subscriptions if sub.task is not None]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(drain_timeout):
                for sub in pending:
                    await sub.queue.join()
        for sub in pending:
            assert sub.task is not None
            sub.task.cancel()
        for sub in pending:
            assert sub.task is not None
            with contextlib.suppress(asyncio.CancelledError):
                await sub.task
            sub.task = None

    async def _pump(self, sub: Subscription) -> None:
        while True:
            event = await sub.queue.get()
            try:
                await sub.handler(event)
                sub.delivered += 1
            except Exception:
                # A failing subscriber must not stop the others or lose its place.
                sub.failed += 1
                log.exception("bus.handler_failed", subscriber=sub.name, seq=event.seq)
            finally:
                sub.queue.task_done()
