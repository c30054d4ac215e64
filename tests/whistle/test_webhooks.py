"""Outgoing webhooks: real local receivers, signed notices, retries, isolation, config rules."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer, unused_port
from multidict import CIMultiDict
from structlog.testing import capture_logs

from grids.exceptions import Problem
from whistle.clock import FakeClock
from whistle.events import Event
from whistle.exceptions import WebhookConfigError
from whistle.webhooks import (
    Delivered,
    Endpoint,
    Failure,
    Notice,
    WebhookNotifier,
    load_webhooks,
    sign,
    verify,
)

AT = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
CST = timezone(timedelta(hours=8))
SECRET = "s3cret-0123456789abcdef"
WHISTLE = "01KAQZ8M0000000000000000W1"

# -- receivers ---------------------------------------------------------------------------

HANG: Literal["hang"] = "hang"
Reply = int | tuple[int, dict[str, str]] | Literal["hang"]


@dataclass
class Received:
    headers: CIMultiDict[str]
    body: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 answering with ``replies`` in turn (the last repeats).

    ``hang`` holds the request until ``release`` is set, then answers 200.
    """

    replies: tuple[Reply, ...]
    server: TestServer | None = None
    requests: list[Received] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Queue[Received] = field(default_factory=asyncio.Queue)

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/hook"))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        received = Received(request.headers.copy(), await request.read())
        self.requests.append(received)
        self.arrived.put_nowait(received)
        reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
        if reply == HANG:
            await self.release.wait()
            return web.Response(status=200)
        status, headers = reply if isinstance(reply, tuple) else (reply, {})
        text = "bad payload" if status == 400 else f"status {status}"
        return web.Response(status=status, headers=headers, text=text)


MakeReceiver = Callable[..., Awaitable[Receiver]]


@pytest.fixture
async def receiver() -> AsyncIterator[MakeReceiver]:
    started: list[Receiver] = []

    async def make(*replies: Reply) -> Receiver:
        rec = Receiver(replies or (200,))
        app = web.Application()
        app.router.add_post("/hook", rec.handle)
        rec.server = TestServer(app)
        await rec.server.start_server()
        started.append(rec)
        return rec

    yield make
    for rec in started:
        rec.release.set()  # let held handlers finish, so that closing does not wait on them
        assert rec.server is not None
        await rec.server.close()


# -- notifier ----------------------------------------------------------------------------


@dataclass
class Sleeps:
    """The injected sleep: records each delay; waits for ``gate`` when ``block`` is set."""

    block: bool = False
    delays: list[float] = field(default_factory=list)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    called: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        self.called.set()
        if self.block:
            await self.gate.wait()
        else:
            await asyncio.sleep(0)


@dataclass
class Outcomes:
    delivered: list[Delivered] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    delivered_queue: asyncio.Queue[Delivered] = field(default_factory=asyncio.Queue)

    async def on_success(self, record: Delivered) -> None:
        self.delivered.append(record)
        self.delivered_queue.put_nowait(record)

    async def on_failure(self, record: Failure) -> None:
        self.failed.append(record)


@dataclass
class Harness:
    notifier: WebhookNotifier
    sleeps: Sleeps
    outcomes: Outcomes
    clock: FakeClock


MakeNotifier = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def notifier() -> AsyncIterator[MakeNotifier]:
    made: list[WebhookNotifier] = []

    async def make(
        endpoints: dict[str, str], *, block_sleeps: bool = False, **options: Any
    ) -> Harness:
        clock = options.pop("clock", None) or FakeClock(AT)
        sleeps = Sleeps(block=block_sleeps)
        outcomes = Outcomes()
        options.setdefault("jitter", lambda delay: delay)
        options.setdefault("sleep", sleeps)
        options.setdefault("on_success", outcomes.on_success)
        options.setdefault("on_failure", outcomes.on_failure)
        n = WebhookNotifier(
            {rid: Endpoint(rid, url, SECRET) for rid, url in endpoints.items()},
            clock,
            tz=CST,
            **options,
        )
        await n.start()
        made.append(n)
        return Harness(n, sleeps, outcomes, clock)

    yield make
    for n in made:
        await n.stop(drain_timeout=0)


def notify(
    responder_id: str = "R1",
    notice: str = "assignment",
    assignment_id: str | None = "A1",
    summary: str = "楼道堆放杂物，请30分钟内报到",
) -> dict[str, Any]:
    return {
        "responder_id": responder_id,
        "notice": notice,
        "assignment_id": assignment_id,
        "summary": summary,
    }


def event(*notices: dict[str, Any], seq: int = 42, notify_key: bool = True) -> Event:
    data: dict[str, Any] = {"category": "E0101", "grid": "530524101001"}
    if notify_key:
        data["notify"] = list(notices)
    return Event(seq, "whistle.routed", WHISTLE, AT, "system", data)


async def handle(h: Harness, e: Event) -> None:
    """``notifier.handle``, bounded: one that waited for delivery fails the test, not hangs it."""
    await asyncio.wait_for(h.notifier.handle(e), 10)


async def next_arrival(rec: Receiver) -> Received:
    # A guard against a hung test, not a timing assumption: arrivals take milliseconds.
    return await asyncio.wait_for(rec.arrived.get(), 10)


# -- delivery ----------------------------------------------------------------------------


async def test_notice_is_delivered_signed_with_documented_headers_and_body(
    receiver: MakeReceiver, notifier: MakeNotifier
) -> None:
    rec = await receiver(200)
    h = await notifier({"R1": rec.url})
    e = event(notify())
    await handle(h, e)
    await h.notifier.join()

    assert len(rec.requests) == 1
    got = rec.requests[0]
    timestamp = int(AT.timestamp())
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["X-Whistle-Event"] == "assignment"
    assert got.headers["X-Whistle-Delivery"] == f"{WHISTLE}.42.0"
    assert got.headers["X-Whistle-Timestamp"] == str(timestamp)
    signature = got.headers["X-Whistle-Signature"]
    assert signature.startswith("sha256=")
    assert verify(SECRET, timestamp, got.body, signature, now=timestamp + 10)
    assert got.json == {
        "delivery": f"{WHISTLE}.42.0",
        "notice": "assignment",
        "responder_id": "R1",
        "assignment_id": "A1",
        "summary": "楼道堆放杂物，请30分钟内报到",
        "link": "/tasks/A1",  # the task page; absolute with a public URL (test_tasks.py)
        "event": {
            "seq": 42,
            "type": "whistle.routed",
            "whistle_id": WHISTLE,
            "at": "2026-11-23T09:00:00.000+08:00",
            # The system's bookkeeping (the notify list naming every responder) stays home.
            "data": {k: v for k, v in e.data.items() if k != "notify"},
        },
    }
    assert "notify" in e.data
    assert h.outcomes.delivered == [
        Delivered(WHISTLE, "R1", Notice.ASSIGNMENT, "A1", f"{WHISTLE}.42.0", 42, 1, 200)
    ]
    counts = h.notifier.counts
    assert (counts.delivered, counts.failed, counts.attempts, counts.pending) == (1, 0, 1, 0)


async def test_event_without_notify_is_ignored(
    receiver: MakeReceiver, notifier: MakeNotifier
) -> None:
    rec = await receiver(200)
    h = await notifier({"R1": rec.url})
    await handle(h, event(notify_key=False))
    await handle(h, event())  # an empty list: nobody to tell
    await h.notifier.join()
    assert rec.requests == []
    assert h.notifier.counts.attempts == 0


async def test_each_notify_entry_is_a_delivery_of_its_own(
    receiver: MakeReceiver, notifier: MakeNotifier
) -> None:
    one, two = await receiver(200), await receiver(200)
    h = await notifier({"R1": one.url, "R2": two.url})
    await handle(
        h,
        event(
            notify("R1", "assignment", "A1"),
            notify("R2", "urge", "A2", "催办：已超时"),
            notify("R1", "escalation", None, "升级至社区"),
        ),
    )
    await h.notifier.join()
    to_one = sorted((r.headers["X-Whistle-Delivery"], r.json["notice"]) for r in one.requests)
    assert to_one == [(f"{WHISTLE}.42.0", "assignment"), (f"{WHISTLE}.42.2", "escalation")]
    assert [r.headers["X-Whistle-Event"] for r in two.requests] == ["urge"]
    assert two.requests[0].json["summary"] == "催办：已超时"
    assert {r.json["assignment_id"] for r in one.requests} == {"A1", None}
    assert h.notifier.counts.delivered == 3


async def test_responder_without_endpoint_gets_nothing(
    receiver: MakeReceiver, notifier: MakeNotifier
) -> None:
    rec = await receiver(200)
    h = await notifier({"R1": rec.url})
    await handle(h, event(notify("R9")))
    await h.notifier.join()
    assert rec.requests == []
    assert h.notifier.counts.skipped == 1
    assert h.notifier.counts.attempts == 0


async def test_malformed_entry_is_skipped_and_the_rest_delivered(
    receiver: MakeReceiver, notifier: MakeNotifier
) -> None:
    rec = await receiver(200)
    h = await notifier({"R1": rec.url})
    with capture_logs() as logs:
        await handle(h, event(notify(notice="praise"), notify()))
        await h.notifier.join()
    assert [r.headers["X-Whistle-Delivery"] for r in rec.requests] == [f"{WHISTLE}.42.1"]
    bad = [entry for entry in logs if entry["event"] == "webhook.bad_notice"]
    assert bad[0]["index"] == 0
    assert (
        bad[0]["reason"]
        == "notice 'praise' is not one of assignment, urge, supervise, escalation, inform"
    )
    assert h.notifier.counts.invalid == 1


async def test_handle_returns_while_delivery_is_pending(
    receiver: MakeReceiver, notifier: MakeNotifier
) -> None:
    rec = await receiver(HANG)
    h = await notifier({"R1": rec.url})
    await handle(h, event(notify()))  # returns although the receiver holds the request
    assert h.notifier.counts.pending == 1
    await next_arrival(rec)  # the request is at the receiver, which holds it
    assert h.notifier.counts.pending == 1
    assert h.outcomes.delivered == []
    rec.release.set()
    await h.notifier.join()
    assert h.notifier.counts.delivered == 1


# -- retries and failures ----------------------------------------------------------------


async def test_500_is_retried_with_doubling_backoff_then_delivered(
    receiver: MakeReceiver, notifier: MakeNotifier
) -> None:
    rec = await receiver(500, 500, 200)
    clock = FakeClock(AT)
    delays: list[float] = []

    async def tick(delay: float) -> None:
        # Time passes while we back off, so each retry is signed with a newer timestamp.
        delays.append(delay)
        clock.advance(timedelta(seconds=delay))

    h = await notifier({"R1": rec.url}, clock=clock, sleep=tick)
    await handle(h, event(notify()))
    await h.notifier.join()

    assert len(rec.requests) == 3
    assert delays == [1.0, 2.0]
    assert {r.headers["X-Whistle-Delivery"] for r in rec.requests} == {f"{WHISTLE}.42.0"}
    base = int(AT.timestamp())
    stamps = [int(r.headers["X-Whistle-Timestamp"]) for r in rec.requests]
    assert stamps == [base, base + 1, base + 3]
    for r, stamp in zip(rec.requests, stamps, strict=True):
        assert verify(SECRET, stamp, r.body, r.headers["X-Whistle-Signature"], now=stamp)
    assert h.outcomes.delivered[0].attempts == 3
    counts = h.notifier.counts
    assert (counts.attempts, counts.retries, counts.delivered, counts.failed) == (3, 2, 1, 0)


async def test_backoff_doubles_up_to_the_cap_through_the_jitter(
    receiver: MakeReceiver, notifier: MakeNotifier
) -> None:
    rec = await receiver(503)
    h = await notifier(
        {"R1": rec.url},
        max_attempts=6,
        backoff_base=1.0,
        backoff_cap=5.0,
        jitter=lambda delay: delay * 0.5,
    )
    await handle(h, event(notify()))
    await h.notifier.join()
    assert h.sleeps.delays == [0.5, 1.0, 2.0, 2.5, 2.5]
    assert len(rec.requests) == 6
    [failure] = h.outcomes.failed
    assert (failure.attempts, failure.status, failure.permanent) == (6, 503, False)
    assert failure.error == "HTTP 503: status 503"


@pytest.mark.parametrize(
    ("status", "retry_after", "expected_delay"),
    [
        (429, "7", 7.0),
        (503, "2.5", 2.5),
        (429, "3600", 30.0),  # capped
        (429, "Wed, 21 Oct 2026 07:28:00 GMT", 1.0),  # a date: back off as usual
    ],
)
async def test_retry_after_is_honoured_up_to_the_cap(
    receiver: MakeReceiver,
    notifier: MakeNotifier,
    status: int,
    retry_after: str,
    expected_delay: float,
) -> None:
    rec = await receiver((status, {"Retry-After": retry_after}), 200)
    h = await notifier({"R1": rec.url}, retry_after_cap=30.0)
    await handle(h, event(notify()))
    await h.notifier.join()
    assert h.sleeps.delays == [expected_delay]
    assert h.outcomes.delivered[0].attempts == 2


async def test_400_is_final_and_reported_once(
    receiver: MakeReceiver, notifier: MakeNotifier
) -> None:
    rec = await receiver(400)
    h = await notifier({"R1": rec.url})
    await handle(h, event(notify("R1", "supervise", "A7", "督办")))
    await h.notifier.join()
    assert len(rec.requests) == 1
    assert h.sleeps.delays == []
    assert h.outcomes.failed == [
        Failure(
            whistle_id=WHISTLE,
            responder_id="R1",
            notice=Notice.SUPERVISE,
            assignment_id="A7",
            delivery=f"{WHISTLE}.42.0",
            seq=42,
            attempts=1,
            error="HTTP 400: bad payload",
            status=400,
            permanent=True,
        )
    ]
    assert h.notifier.counts.failed == 1


@pytest.mark.parametrize(
    ("status", "attempts"),
    [
        (408, 3),
        (429, 3),
        (500, 3),
        (502, 3),
        (503, 3),
        (401, 1),
        (404, 1),
        (410, 1),
        (422, 1),
        (301, 1),  # redirects are not followed: the signature is for the registered URL
    ],
)
async def test_which_statuses_are_retried(
    receiver: MakeReceiver, notifier: MakeNotifier, status: int, attempts: int
) -> None:
    headers = {"Location": "http://127.0.0.1:1/elsewhere"} if status == 301 else {}
    rec = await receiver((status, headers))
    h = await notifier({"R1": rec.url}, max_attempts=3)
    await handle(h, event(notify()))
    await h.notifier.join()
    assert len(rec.requests) == attempts
    [failure] = h.outcomes.failed
    assert (failure.attempts, failure.status, failure.permanent) == (
        attempts,
        status,
        attempts == 1,
    )


async def test_silent_receiver_times_out_each_attempt_then_fails(
    receiver: MakeReceiver, notifier: MakeNotifier
) -> None:
    rec = await receiver(HANG)
    h = await notifier({"R1": rec.url}, timeout=0.05, max_attempts=3)
    await handle(h, event(notify()))
    await h.notifier.join()
    assert len(rec.requests) == 3
    assert h.sleeps.delays == [1.0, 2.0]
    [failure] = h.outcomes.failed
    assert (failure.attempts, failure.status, failure.permanent) == (3, None, False)
    assert failure.error == "no answer within 0.05 s"


async def test_closed_port_is_retried_then_fails(notifier: MakeNotifier) -> None:
    h = await notifier({"R1": f"http://127.0.0.1:{unused_port()}/hook"}, max_attempts=2)
    await handle(h, event(notify()))
    await h.notifier.join()
    [failure] = h.outcomes.failed
    assert (failure.attempts, failure.status, failure.permanent) == (2, None, False)
    assert failure.error.startswith("ClientConnectorError: Cannot connect to host 127.0.0.1")


async def test_failing_failure_callback_is_logged_not_raised(
    receiver: MakeReceiver, notifier: MakeNotifier
) -> None:
    rec = await receiver(400)

    async def broken(record: Failure) -> None:
        raise RuntimeError("database is closed")

    h = await notifier({"R1": rec.url}, on_failure=broken)
    with capture_logs() as logs:
        await handle(h, event(notify()))
        await h.notifier.join()
    assert "webhook.callback_failed" in [entry["event"] for entry in logs]
    assert h.notifier.counts.failed == 1


# -- isolation ---------------------------------------------------------------------------


async def test_dead_receiver_does_not_delay_a_healthy_one(
    receiver: MakeReceiver, notifier: MakeNotifier
) -> None:
    healthy = await receiver(200)
    dead = f"http://127.0.0.1:{unused_port()}/hook"
    h = await notifier({"DEAD": dead, "OK": healthy.url}, block_sleeps=True)
    await handle(h, event(notify("DEAD"), notify("OK")))

    delivered = await asyncio.wait_for(h.outcomes.delivered_queue.get(), 10)
    await asyncio.wait_for(h.sleeps.called.wait(), 10)  # the dead one failed once, now waits
    assert delivered.responder_id == "OK"
    assert h.sleeps.delays == [1.0]
    assert h.outcomes.failed == []
    assert h.notifier.counts.pending == 1  # the dead one, still retrying


async def test_hanging_receiver_cannot_take_every_slot(
    receiver: MakeReceiver, notifier: MakeNotifier
) -> None:
    stuck, healthy = await receiver(HANG), await receiver(200)
    h = await notifier({"STUCK": stuck.url, "OK": healthy.url}, concurrency=2, per_receiver=1)
    await handle(h, event(*[notify("STUCK", assignment_id=f"A{i}") for i in range(5)]))
    await next_arrival(stuck)
    await handle(h, event(notify("OK"), seq=43))

    delivered = await asyncio.wait_for(h.outcomes.delivered_queue.get(), 10)
    assert delivered.responder_id == "OK"
    assert len(stuck.requests) == 1  # the other four wait for the stuck receiver's one slot
    assert h.notifier.counts.pending == 5


async def test_notices_beyond_the_pending_limit_are_dropped_and_counted(
    receiver: MakeReceiver, notifier: MakeNotifier
) -> None:
    rec = await receiver(HANG)
    h = await notifier({"R1": rec.url}, max_pending=2)
    with capture_logs() as logs:
        await handle(h, event(notify(), notify(), notify()))
    dropped = [entry for entry in logs if entry["event"] == "webhook.dropped"]
    assert len(dropped) == 1
    assert dropped[0]["delivery"] == f"{WHISTLE}.42.2"
    assert dropped[0]["reason"] == "too many pending deliveries"
    assert h.notifier.counts.dropped == 1
    assert h.notifier.counts.pending == 2


# -- stopping ----------------------------------------------------------------------------


async def test_stop_cancels_pending_retries(receiver: MakeReceiver, notifier: MakeNotifier) -> None:
    rec = await receiver(500)
    h = await notifier({"R1": rec.url}, block_sleeps=True)
    await handle(h, event(notify()))
    await asyncio.wait_for(h.sleeps.called.wait(), 10)

    # A drain long enough to notice if stop() waited for the retry instead of cancelling it;
    # the outer bound only keeps a broken stop() from hanging the suite.
    await asyncio.wait_for(h.notifier.stop(drain_timeout=60), 10)

    assert len(rec.requests) == 1
    counts = h.notifier.counts
    assert (counts.pending, counts.cancelled, counts.failed) == (0, 1, 0)
    assert h.outcomes.failed == []
    await handle(h, event(notify(), seq=43))  # stopped: dropped, not sent
    assert h.notifier.counts.dropped == 1
    assert h.notifier.counts.pending == 0


async def test_stop_lets_an_attempt_in_flight_finish(
    receiver: MakeReceiver, notifier: MakeNotifier
) -> None:
    rec = await receiver(HANG)
    h = await notifier({"R1": rec.url})
    await handle(h, event(notify()))
    await next_arrival(rec)

    stopping = asyncio.create_task(h.notifier.stop(drain_timeout=60))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not stopping.done()  # waiting for the receiver's answer
    rec.release.set()
    await asyncio.wait_for(stopping, 10)
    assert h.notifier.counts.delivered == 1
    assert h.notifier.counts.cancelled == 0


# -- logs --------------------------------------------------------------------------------


async def test_logs_name_the_notice_and_never_the_secret(
    receiver: MakeReceiver, notifier: MakeNotifier
) -> None:
    ok, bad = await receiver(500, 200), await receiver(404)
    h = await notifier({"R1": ok.url, "R2": bad.url})
    with capture_logs() as logs:
        await handle(h, event(notify("R1"), notify("R2", "urge")))
        await h.notifier.join()
    keys = ("whistle_id", "responder_id", "notice", "attempt", "log_level")
    seen = {
        entry["event"]: {key: entry[key] for key in keys}
        for entry in logs
        if entry["event"].startswith("webhook.")
    }
    assert seen == {
        "webhook.retry": {
            "whistle_id": WHISTLE,
            "responder_id": "R1",
            "notice": "assignment",
            "attempt": 1,
            "log_level": "warning",
        },
        "webhook.delivered": {
            "whistle_id": WHISTLE,
            "responder_id": "R1",
            "notice": "assignment",
            "attempt": 2,
            "log_level": "info",
        },
        "webhook.failed": {
            "whistle_id": WHISTLE,
            "responder_id": "R2",
            "notice": "urge",
            "attempt": 1,
            "log_level": "error",
        },
    }
    assert SECRET not in repr(logs)
    assert SECRET not in repr(h.notifier)
    assert SECRET not in repr(Endpoint("R1", ok.url, SECRET))


# -- signatures --------------------------------------------------------------------------


def test_sign_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = b'{"notice":"urge"}'
    mac = hmac.new(SECRET.encode(), b"1795395600." + body, hashlib.sha256).hexdigest()
    assert sign(SECRET, 1795395600, body) == f"sha256={mac}"


def test_verify_accepts_a_fresh_correct_signature() -> None:
    body = b"{}"
    signature = sign(SECRET, 1000, body)
    assert verify(SECRET, 1000, body, signature, now=1300)
    assert verify(SECRET, 1000, body, signature, now=700)  # a receiver's clock may run behind


def test_verify_refuses_a_wrong_signature() -> None:
    body = b'{"summary":"a"}'
    good = sign(SECRET, 1000, body)
    assert not verify(SECRET, 1000, b'{"summary":"b"}', good, now=1000)
    assert not verify("another-secret-of-length", 1000, body, good, now=1000)
    assert not verify(SECRET, 1001, body, good, now=1001)  # the timestamp is signed too
    assert not verify(SECRET, 1000, body, good[:-1] + "0", now=1000)
    assert not verify(SECRET, 1000, body, "sha256=签名", now=1000)


def test_verify_refuses_an_old_timestamp() -> None:
    body = b"{}"
    signature = sign(SECRET, 1000, body)
    assert not verify(SECRET, 1000, body, signature, now=1301)
    assert not verify(SECRET, 1000, body, signature, now=1061, tolerance=60)


# -- webhooks.csv ------------------------------------------------------------------------

KNOWN = {"R0001", "R0002", "U0100"}
GOOD = "https://hooks.example.org/whistle"


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "webhooks.csv").write_text(text, encoding="utf-8")
    return tmp_path


def problems(tmp_path: Path, text: str) -> list[Problem]:
    with pytest.raises(WebhookConfigError) as caught:
        load_webhooks(write(tmp_path, text), KNOWN)
    return caught.value.problems


def test_absent_file_means_no_webhooks(tmp_path: Path) -> None:
    assert load_webhooks(tmp_path, KNOWN) == {}


def test_valid_file_loads(tmp_path: Path) -> None:
    text = (
        "responder,url,secret\n"
        f"R0001,{GOOD},0123456789abcdef\n"
        "\n"
        "U0100, http://10.0.0.7:8081/hook?unit=1 , 社区网格中心-共享密钥-2026\n"
    )
    endpoints = load_webhooks(write(tmp_path, text), KNOWN)
    assert endpoints == {
        "R0001": Endpoint("R0001", GOOD, "0123456789abcdef", line=2),
        "U0100": Endpoint(
            "U0100", "http://10.0.0.7:8081/hook?unit=1", "社区网格中心-共享密钥-2026", line=4
        ),
    }


def test_wrong_header(tmp_path: Path) -> None:
    found = problems(tmp_path, f"id,url,secret\nR0001,{GOOD},0123456789abcdef\n")
    assert [str(p) for p in found] == [
        "webhooks.csv:1: wrong header: expected responder,url,secret, got id,url,secret"
    ]


def test_unknown_responder(tmp_path: Path) -> None:
    found = problems(tmp_path, f"responder,url,secret\nR9999,{GOOD},0123456789abcdef\n")
    assert [str(p) for p in found] == [
        "webhooks.csv:2: R9999: unknown responder: no row in responders.csv has this id"
    ]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://hooks.example.org/x", "expected an absolute http:// or https:// URL"),
        ("hooks.example.org/x", "expected an absolute http:// or https:// URL"),
        ("https:///x", "no host"),
        ("http://hooks.example.org:99999/x", "unparseable (Port out of range 0-65535)"),
        ("http://hooks.example.org/a b", "contains whitespace"),
        ("", "empty"),
    ],
)
def test_bad_url(tmp_path: Path, url: str, reason: str) -> None:
    found = problems(tmp_path, f'responder,url,secret\nR0001,"{url}",0123456789abcdef\n')
    assert [str(p) for p in found] == [f"webhooks.csv:2: R0001: bad url {url!r}: {reason}"]


def test_secret_too_short(tmp_path: Path) -> None:
    found = problems(tmp_path, f"responder,url,secret\nR0001,{GOOD},0123456789abcde\n")
    assert [str(p) for p in found] == [
        "webhooks.csv:2: R0001: secret too short: 15 characters, need at least 16"
    ]
    assert "0123456789abcde" not in str(found)


def test_duplicate_responder(tmp_path: Path) -> None:
    text = (
        "responder,url,secret\n"
        f"R0001,{GOOD},0123456789abcdef\n"
        f"R0002,{GOOD},0123456789abcdef\n"
        f"R0001,{GOOD}/2,fedcba9876543210\n"
    )
    found = problems(tmp_path, text)
    assert [str(p) for p in found] == [
        "webhooks.csv:4: R0001: duplicate responder; first defined on line 2"
    ]


def test_wrong_number_of_fields(tmp_path: Path) -> None:
    found = problems(tmp_path, f"responder,url,secret\nR0001,{GOOD}\n")
    assert [str(p) for p in found] == [
        "webhooks.csv:2: R0001: expected 3 fields (responder,url,secret), got 2"
    ]


def test_every_problem_is_reported_in_file_order(tmp_path: Path) -> None:
    text = (
        "responder,url,secret\n"
        "R9999,mailto:x@example.org,short\n"
        f"R0001,{GOOD},0123456789abcdef\n"
        f"R0001,{GOOD},0123456789abcdef\n"
    )
    found = problems(tmp_path, text)
    assert found == [
        Problem(
            "webhooks.csv", 2, "R9999", "unknown responder: no row in responders.csv has this id"
        ),
        Problem(
            "webhooks.csv",
            2,
            "R9999",
            "bad url 'mailto:x@example.org': expected an absolute http:// or https:// URL",
        ),
        Problem("webhooks.csv", 2, "R9999", "secret too short: 5 characters, need at least 16"),
        Problem("webhooks.csv", 4, "R0001", "duplicate responder; first defined on line 3"),
    ]
