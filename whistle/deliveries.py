"""Webhook deliveries from the database's outbox, when the store has one (PostgreSQL).

Several processes on one database each run an :class:`OutboxDeliveries`. A notice's row is
written with its event (whistle/store/postgres/outbox.py); whichever process claims the row
delivers it, through this process's :class:`~whistle.webhooks.WebhookNotifier` (its retries,
bounds and signature), and deletes the row once the delivery is settled. While it delivers,
the process renews its lease every third of it, so no other process takes the row meanwhile:
a notice is never delivered by two processes at the same time. A process that dies holding
rows lets them go when their lease ends, and another process claims and delivers them: at
least once, as on one process (a receiver drops delivery ids it has seen).

The loop wakes when an event with notices reaches the bus (this process's or, through the
listener, another's) and otherwise looks every third of the lease, which is how rows of a
dead process are found.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import structlog

from whistle.clock import Clock
from whistle.events import Event
from whistle.store import Store
from whistle.webhooks import WebhookNotifier

__all__ = ["OutboxDeliveries"]

log = structlog.get_logger(__name__)


class OutboxDeliveries:
    """Claims outbox rows, delivers them with ``notifier``, renews and finishes them.

    ``capacity`` bounds the rows held at once (below the notifier's own pending bounds, so a
    claimed row is never dropped).
    """

    def __init__(
        self,
        store: Store,
        notifier: WebhookNotifier,
        clock: Clock,
        *,
        lease: timedelta = timedelta(seconds=30),
        capacity: int = 256,
    ) -> None:
        self._store = store
        self._notifier = notifier
        self._clock = clock
        self._lease = lease
        self._capacity = capacity
        self._held: set[tuple[int, int]] = set()
        self._watchers: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        # One round at a time: a claim another round is waiting on holds rows that neither
        # round would see as this process's otherwise (drain must wait for them).
        self._rounds = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.claimed = 0  # rows this process claimed since it started

    def __repr__(self) -> str:
        return f"OutboxDeliveries(held={len(self._held)}, claimed={self.claimed})"

    async def on_event(self, event: Event) -> None:
        """Bus subscriber: an event with notices has been committed; look at the outbox."""
        if event.data.get("notify"):
            self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="webhook-outbox")

    async def stop(self) -> None:
        """Stop claiming; rows still held are left to their lease (another process, or this
        one's next start, delivers them)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for watcher in list(self._watchers):
            watcher.cancel()
        await asyncio.gather(*self._watchers, return_exceptions=True)

    async def drain(self) -> None:
        """Deliver what the outbox holds that nobody else does, and wait until it is settled
        (for tests: what ``WebhookNotifier.join`` is on the bus's path)."""
        while True:
            await self.round()
            if not self._watchers:
                return
            await asyncio.gather(*list(self._watchers), return_exceptions=True)

    async def _loop(self) -> None:
        every = max(0.05, self._lease.total_seconds() / 3)
        while True:
            self._wake.clear()
            full = False
            try:
                full = await self.round()
            except Exception:
                log.exception("webhooks.outbox_failed")
            if full:
                continue  # more may be waiting
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(every):
                    await self._wake.wait()

    async def round(self) -> bool:
        """Renew what is held, claim what is free; True when the claim filled the capacity."""
        async with self._rounds:
            return await self._round()

    async def _round(self) -> bool:
        now = self._clock.now()
        if self._held:
            await self._store.renew_deliveries(sorted(self._held), now, self._lease)
        room = self._capacity - len(self._held)
        claimed = await self._store.claim_deliveries(now, self._lease, room)
        for event, index in claimed:
            key = (event.seq, index)
            if key in self._held:
                continue  # its lease ran out under us and we took it again: it is under way
            self.claimed += 1
            self._held.add(key)
            watcher = asyncio.create_task(self._deliver(event, index), name=f"outbox:{key}")
            self._watchers.add(watcher)
            watcher.add_done_callback(self._watchers.discard)
        return bool(claimed) and len(claimed) >= room

    async def _deliver(self, event: Event, index: int) -> None:
        key = (event.seq, index)
        try:
            task = self._notifier.deliver_one(event, index)
            if task is not None:
                await task
            await self._store.finish_deliveries([key])
        except asyncio.CancelledError:
            raise  # stopping: the row stays, and its lease lets another process take it
        except Exception:
            log.exception("webhooks.outbox_delivery_failed", seq=event.seq, index=index)
        finally:
            self._held.discard(key)
