"""Outgoing webhooks: signed JSON notices of assignments, urges, supervision and escalations.

A responder or a unit may register a URL in ``webhooks.csv`` (``responder,url,secret``). Any
bus event whose ``data`` carries a ``"notify"`` list is turned into one HTTP POST per entry
whose responder has an endpoint; everything else is ignored. Delivery runs in tasks that the
:class:`WebhookNotifier` owns, so the bus subscriber returns at once and a slow or dead
receiver delays nothing but its own notices.

The receiver's contract
-----------------------
Each notice is a ``POST`` to the registered URL with these headers:

``Content-Type: application/json``
``X-Whistle-Event: <notice>``
    ``assignment``, ``urge`` (催办), ``supervise`` (督办) or ``escalation``.
``X-Whistle-Delivery: <delivery id>``
    Unique per notice and the same on every attempt. It is derived from the event's place in
    the log (``<whistle_id>.<seq>.<index in the notify list>``), so a notice sent again after a
    server restart carries the same id: receivers should drop ids they have already seen.
``X-Whistle-Timestamp: <unix seconds>``
    When this attempt was signed; a retry is signed afresh.
``X-Whistle-Signature: sha256=<hex>``
    ``HMAC-SHA256(secret, f"{timestamp}.".encode() + body)`` over the raw body bytes, in
    lower-case hex. Check it with :func:`verify` (or the same computation and a constant-time
    comparison), and refuse timestamps more than a few minutes from your own clock, which
    stops an old request being replayed.

The body is a JSON object::

    {"delivery": "01J...Z.42.0", "notice": "assignment", "responder_id": "R0001",
     "assignment_id": "A...", "summary": "...", "link": "https://host/tasks/A...",
     "event": {"seq": 42, "type": "whistle.routed", "whistle_id": "01J...Z",
               "at": "2026-11-23T09:00:00.000+08:00", "data": {...}}}

``notice`` is ``assignment``, ``urge`` (催办), ``supervise`` (督办), ``escalation`` or ``inform``
(知会: the 网格长 or 联户长 is told of a case in their grid or micro-grid; it has no assignment
and nothing to acknowledge, so its ``assignment_id`` is null). ``assignment_id`` may be null;
``link`` is the responder's task page for the assignment (absolute when the server was
given ``--public-url``, else a path; null without an assignment), for an SMS to carry;
``at`` is RFC 3339 in the county's time zone; ``data`` is the
event's data without the system's own bookkeeping (the ``notify`` list, which names other
responders, and the case's pending ``deadlines``).

Answer any 2xx once the notice is safely received. 408, 429, 5xx, a refused connection or no
answer within the per-attempt timeout are retried with exponential backoff (a ``Retry-After``
in seconds on 429 and 503 is honoured, up to a cap); any other status (other 4xx, and 3xx:
redirects are not followed, because the signature is for the registered URL) is final.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import random
from collections.abc import Awaitable, Callable, Container, Mapping
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from enum import StrEnum
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, urlsplit

import aiohttp
import orjson
import structlog

from grids import Hierarchy
from grids.configcsv import ConfigCsv
from whistle.clock import Clock
from whistle.events import Event
from whistle.exceptions import WebhookConfigError
from whistle.timefmt import rfc3339

__all__ = [
    "MIN_SECRET_LENGTH",
    "WEBHOOKS_FILE",
    "WEBHOOKS_HEADER",
    "Delivered",
    "Endpoint",
    "Failure",
    "Notice",
    "WebhookCounts",
    "WebhookNotifier",
    "equal_jitter",
    "known_responders",
    "load_webhooks",
    "sign",
    "verify",
]

log = structlog.get_logger(__name__)

WEBHOOKS_FILE: Final = "webhooks.csv"
WEBHOOKS_HEADER: Final = ("responder", "url", "secret")
MIN_SECRET_LENGTH: Final = 16
USER_AGENT: Final = "whistle-webhooks/1"

_SIGNATURE_PREFIX = "sha256="
# Enough of an error body to say what went wrong in the case record, not enough to store a
# receiver's whole error page.
_ERROR_SNIPPET = 200


class Notice(StrEnum):
    """What a notice tells its responder."""

    ASSIGNMENT = "assignment"
    URGE = "urge"  # 催办
    SUPERVISE = "supervise"  # 督办
    ESCALATION = "escalation"
    INFORM = "inform"  # 知会: told of a case in their grid or micro-grid, without owning it


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where one responder's notices go, and the secret they are signed with."""

    responder_id: str
    url: str
    secret: str
    line: int | None = None

    def __repr__(self) -> str:
        # Neither the secret nor the URL's path and query, which some receivers use as a token.
        parts = urlsplit(self.url)
        return f"Endpoint({self.responder_id!r}, origin={parts.scheme}://{parts.netloc!s})"


@dataclass(frozen=True, slots=True)
class Delivered:
    """A notice the receiver accepted (answered 2xx)."""

    whistle_id: str
    responder_id: str
    notice: Notice
    assignment_id: str | None
    delivery: str
    seq: int
    attempts: int
    status: int


@dataclass(frozen=True, slots=True)
class Failure:
    """A notice given up on: a final status, or every attempt used.

    ``status`` is the last HTTP status, or None when the last attempt got no answer.
    """

    whistle_id: str
    responder_id: str
    notice: Notice
    assignment_id: str | None
    delivery: str
    seq: int
    attempts: int
    error: str
    status: int | None
    permanent: bool


@dataclass(frozen=True, slots=True)
class WebhookCounts:
    """A snapshot of the notifier's counters, for metrics.

    ``dropped``: notices refused because too many were pending or the notifier was not
    running. ``skipped``: notify entries for responders without an endpoint. ``invalid``:
    notify entries that do not follow the contract. ``cancelled``: deliveries abandoned by
    ``stop()``. ``retries``: attempts that were followed by another one.
    """

    delivered: int
    failed: int
    dropped: int
    attempts: int
    retries: int
    cancelled: int
    skipped: int
    invalid: int
    pending: int


# -- signatures --------------------------------------------------------------------------


# Keys of event data that are the system's bookkeeping, not the receiver's business.
_INTERNAL = frozenset({"notify", "deadlines"})


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Whistle-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return _SIGNATURE_PREFIX + mac.hexdigest()


def verify(
    secret: str, timestamp: int, body: bytes, signature: str, *, now: int, tolerance: int = 300
) -> bool:
    """True when ``signature`` is ours for ``body`` and ``timestamp`` is within ``tolerance``
    seconds of ``now`` (either side, for clock skew), so an old request cannot be replayed.
    """
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).encode()
    # Constant time, so the comparison does not leak how much of a forgery was right.
    return hmac.compare_digest(expected, signature.encode("utf-8", "replace"))


# -- webhooks.csv ------------------------------------------------------------------------


def load_webhooks(config_dir: Path, known_responders: Container[str]) -> dict[str, Endpoint]:
    """Read ``webhooks.csv`` from ``config_dir``: responder id -> endpoint.

    The file is optional: without it nobody gets webhooks. Fields are stripped of surrounding
    blanks and blank lines are skipped. Every problem is collected, then raised together as
    :class:`~whistle.exceptions.WebhookConfigError`, each naming file, line and responder id.
    """
    path = config_dir / WEBHOOKS_FILE
    if not path.exists():
        return {}
    sheet = ConfigCsv.read(path, WEBHOOKS_HEADER)
    endpoints: dict[str, Endpoint] = {}
    for line, rid, (_, url, secret) in sheet.keyed("responder"):
        ok = True
        if rid not in known_responders:
            sheet.problem(line, rid, "unknown responder: no row in responders.csv has this id")
            ok = False
        reason = _url_problem(url)
        if reason is not None:
            sheet.problem(line, rid, f"bad url {url!r}: {reason}")
            ok = False
        if len(secret) < MIN_SECRET_LENGTH:
            # The length only: a config error must not print the secret into a log.
            message = (
                f"secret too short: {len(secret)} characters, need at least {MIN_SECRET_LENGTH}"
            )
            sheet.problem(line, rid, message)
            ok = False
        if ok:
            endpoints[rid] = Endpoint(responder_id=rid, url=url, secret=secret, line=line)
    sheet.raise_problems(WebhookConfigError)
    return endpoints


class _KnownResponders:
    def __init__(self, hierarchy: Hierarchy) -> None:
        self._hierarchy = hierarchy

    def __contains__(self, responder_id: object) -> bool:
        return isinstance(responder_id, str) and self._hierarchy.responder(responder_id) is not None


def known_responders(hierarchy: Hierarchy) -> Container[str]:
    """The roster's responder ids, as ``load_webhooks`` wants them."""
    return _KnownResponders(hierarchy)


def _url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a webhook target, or None when it can."""
    if not url:
        return "empty"
    if any(char.isspace() for char in url):
        return "contains whitespace"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- only parsed on access; a bad port raises here
    except ValueError as exc:
        return f"unparseable ({exc})"
    if parts.scheme.lower() not in ("http", "https"):
        return "expected an absolute http:// or https:// URL"
    if not parts.hostname:
        return "no host"
    return None


# -- delivery ----------------------------------------------------------------------------


def equal_jitter(delay: float) -> float:
    """Somewhere in [delay/2, delay]: spreads retries apart yet keeps them growing."""
    half = delay / 2
    return half + random.uniform(0, half)


@dataclass(frozen=True, slots=True)
class _Job:
    """One notice to one endpoint, its body built once and sent as is on every attempt."""

    endpoint: Endpoint
    notice: Notice
    assignment_id: str | None
    delivery: str
    whistle_id: str
    seq: int
    body: bytes = field(repr=False)

    def log_fields(self) -> dict[str, Any]:
        return {
            "whistle_id": self.whistle_id,
            "responder_id": self.endpoint.responder_id,
            "notice": self.notice.value,
            "delivery": self.delivery,
            "seq": self.seq,
        }


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What one attempt came to."""

    status: int | None
    error: str | None = None
    retry: bool = False
    retry_after: float | None = None


class WebhookNotifier:
    """Delivers the notices in bus events to the responders' webhooks.

    Attach ``take`` to every topic (``bus.attach("*", notifier.take, name="webhooks")``;
    ``handle`` is the same as a queued subscriber); it only schedules deliveries, each in a
    task of its own. At most
    ``concurrency`` attempts are in flight at once, and at most ``per_receiver`` of them to one
    receiver (scheme, host and port), so a receiver that never answers cannot take every slot.
    Beyond ``max_pending`` undelivered notices, new ones are dropped, logged and counted; and
    beyond ``max_pending_per_receiver`` to one receiver, new ones to that receiver are: a dead
    receiver's backlog must not fill the common bound and get everyone else's notices dropped.

    Each attempt is bounded by ``timeout`` seconds. Retries wait ``backoff_base`` seconds,
    doubling up to ``backoff_cap``, passed through ``jitter``; or, on 429 and 503, the
    receiver's ``Retry-After`` seconds up to ``retry_after_cap``. Waiting goes through
    ``sleep`` so tests never wait. After ``max_attempts`` (or a final status) ``on_failure``
    is awaited once; ``on_success`` after a 2xx. The notifier owns the session that
    ``session_factory`` returns (or the one it makes) and closes it in ``stop()``.
    """

    def __init__(
        self,
        endpoints: Mapping[str, Endpoint],
        clock: Clock,
        *,
        session_factory: Callable[[], aiohttp.ClientSession] | None = None,
        timeout: float = 5.0,
        max_attempts: int = 6,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        retry_after_cap: float = 60.0,
        jitter: Callable[[float], float] = equal_jitter,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        concurrency: int = 16,
        per_receiver: int = 4,
        max_pending: int = 10_000,
        max_pending_per_receiver: int = 1_000,
        tz: tzinfo = UTC,
        on_success: Callable[[Delivered], Awaitable[None]] | None = None,
        on_failure: Callable[[Failure], Awaitable[None]] | None = None,
        public_url: str = "",
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        if backoff_base < 0 or backoff_cap < 0 or retry_after_cap < 0:
            raise ValueError("backoff_base, backoff_cap and retry_after_cap must not be negative")
        if min(concurrency, per_receiver, max_pending, max_pending_per_receiver) < 1:
            raise ValueError(
                "concurrency, per_receiver, max_pending and max_pending_per_receiver must be "
                "at least 1"
            )
        self._endpoints = dict(endpoints)
        self._clock = clock
        self._session_factory = session_factory
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._retry_after_cap = retry_after_cap
        self._jitter = jitter
        self._sleep = sleep
        self._concurrency = concurrency
        self._per_receiver = per_receiver
        self._max_pending = max_pending
        self._max_pending_per_receiver = max_pending_per_receiver
        self._pending_by_receiver: dict[str, int] = {}
        self._tz = tz
        self._on_success = on_success
        self._on_failure = on_failure
        self._public_url = public_url.rstrip("/")

        self._session: aiohttp.ClientSession | None = None
        self._running = False
        self._slots = asyncio.Semaphore(concurrency)
        self._receiver_slots: dict[str, asyncio.Semaphore] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._backing_off: set[asyncio.Task[None]] = set()
        self._delivered = 0
        self._failed = 0
        self._dropped = 0
        self._attempts = 0
        self._retries = 0
        self._cancelled = 0
        self._skipped = 0
        self._invalid = 0

    def __repr__(self) -> str:
        return (
            f"WebhookNotifier(endpoints={len(self._endpoints)}, running={self._running}, "
            f"pending={len(self._tasks)}, delivered={self._delivered}, failed={self._failed})"
        )

    @property
    def counts(self) -> WebhookCounts:
        """The counters as they are now."""
        return WebhookCounts(
            delivered=self._delivered,
            failed=self._failed,
            dropped=self._dropped,
            attempts=self._attempts,
            retries=self._retries,
            cancelled=self._cancelled,
            skipped=self._skipped,
            invalid=self._invalid,
            pending=len(self._tasks),
        )

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Open the HTTP session; notices handled before this are dropped."""
        if self._running:
            return
        if self._session_factory is not None:
            self._session = self._session_factory()
        else:
            self._session = aiohttp.ClientSession(
                # Our semaphore is the limit; the pool must never make an attempt queue
                # inside its own timeout.
                connector=aiohttp.TCPConnector(limit=self._concurrency),
                # A receiver must not be able to set cookies that go to the others.
                cookie_jar=aiohttp.DummyCookieJar(),
                headers={"User-Agent": USER_AGENT},
            )
        self._running = True

    async def stop(self, *, drain_timeout: float = 5.0) -> None:
        """Stop taking notices, let attempts in flight finish (up to ``drain_timeout``), then
        cancel and await every delivery task and close the session.

        Deliveries waiting to retry are abandoned at once: their wait may be longer than any
        drain. Abandoned deliveries are counted as ``cancelled`` and do not call
        ``on_failure``; the events stay in the log.
        """
        if not self._running:
            return
        self._running = False
        for task in self._backing_off:
            task.cancel()
        if self._tasks and drain_timeout > 0:
            await asyncio.wait(set(self._tasks), timeout=drain_timeout)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def join(self) -> None:
        """Wait until every delivery scheduled so far (and any scheduled meanwhile) is done."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    # -- intake from the bus -------------------------------------------------------------

    async def handle(self, event: Event) -> None:
        """Schedule one delivery per notify entry of ``event``; never waits for them."""
        self.take(event)

    def take(self, event: Event) -> None:
        """:meth:`handle` without the coroutine: what the bus calls inline (``bus.attach``),
        since scheduling is a few dict lookups and ``create_task``."""
        requests = event.data.get("notify")
        if requests is None:
            return
        if not isinstance(requests, list):
            self._reject(event, None, "notify is not a list")
            return
        for index, request in enumerate(requests):
            reason = _request_problem(request)
            if reason is not None:
                self._reject(event, index, reason)
                continue
            endpoint = self._endpoints.get(request["responder_id"])
            if endpoint is None:
                self._skipped += 1
                continue
            self._schedule(event, index, request, endpoint)

    def deliver_one(self, event: Event, index: int) -> asyncio.Task[None] | None:
        """Schedule the notice at ``index`` of ``event``'s notify list alone (an outbox row,
        whistle/deliveries.py); its delivery's task, or None when there is nothing to send
        (no endpoint, not a notice) or it was dropped (see ``counts``)."""
        requests = event.data.get("notify")
        request = requests[index] if isinstance(requests, list) and index < len(requests) else None
        if _request_problem(request) is not None:
            self._reject(event, index, _request_problem(request) or "")
            return None
        assert isinstance(request, dict)
        endpoint = self._endpoints.get(request["responder_id"])
        if endpoint is None:
            self._skipped += 1
            return None
        return self._schedule(event, index, request, endpoint)

    def _link(self, assignment_id: str | None) -> str | None:
        """The responder's task page for ``assignment_id`` (the page 我的任务 opens)."""
        if assignment_id is None:
            return None
        return f"{self._public_url}/tasks/{quote(assignment_id, safe='')}"

    def _reject(self, event: Event, index: int | None, reason: str) -> None:
        self._invalid += 1
        log.warning(
            "webhook.bad_notice",
            whistle_id=event.whistle_id,
            seq=event.seq,
            index=index,
            reason=reason,
        )

    def _schedule(
        self, event: Event, index: int, request: dict[str, Any], endpoint: Endpoint
    ) -> asyncio.Task[None] | None:
        notice = Notice(request["notice"])
        delivery = f"{event.whistle_id}.{event.seq}.{index}"
        origin = _origin(endpoint)
        backlog = self._pending_by_receiver.get(origin, 0)
        if (
            not self._running
            or len(self._tasks) >= self._max_pending
            or backlog >= self._max_pending_per_receiver
        ):
            # Dropping is safe to recover from: the event, and so the notice, is in the log.
            self._dropped += 1
            log.warning(
                "webhook.dropped",
                whistle_id=event.whistle_id,
                responder_id=endpoint.responder_id,
                notice=notice.value,
                delivery=delivery,
                seq=event.seq,
                reason="not running"
                if not self._running
                else "too many pending deliveries"
                if len(self._tasks) >= self._max_pending
                else "too many pending deliveries to this receiver",
                pending=len(self._tasks),
                dropped=self._dropped,
            )
            return None
        payload = {
            "delivery": delivery,
            "notice": notice.value,
            "responder_id": endpoint.responder_id,
            "assignment_id": request.get("assignment_id"),
            "summary": request["summary"],
            "link": self._link(request.get("assignment_id")),
            "event": {
                "seq": event.seq,
                "type": event.type,
                "whistle_id": event.whistle_id,
                "at": rfc3339(event.at, self._tz),
                "data": {k: v for k, v in event.data.items() if k not in _INTERNAL},
            },
        }
        try:
            body = orjson.dumps(payload)
        except orjson.JSONEncodeError as exc:
            self._reject(event, index, f"event data is not JSON: {exc}")
            return None
        job = _Job(
            endpoint=endpoint,
            notice=notice,
            assignment_id=request.get("assignment_id"),
            delivery=delivery,
            whistle_id=event.whistle_id,
            seq=event.seq,
            body=body,
        )
        task = asyncio.create_task(self._deliver(job), name=f"webhook:{delivery}")
        self._tasks.add(task)
        self._pending_by_receiver[origin] = backlog + 1
        task.add_done_callback(lambda done: self._settled(done, origin))
        return task

    def _settled(self, task: asyncio.Task[None], origin: str) -> None:
        self._tasks.discard(task)
        left = self._pending_by_receiver[origin] - 1
        if left:
            self._pending_by_receiver[origin] = left
        else:
            del self._pending_by_receiver[origin]

    # -- one delivery --------------------------------------------------------------------

    async def _deliver(self, job: _Job) -> None:
        attempt = 0
        try:
            while True:
                attempt += 1
                outcome = await self._attempt(job)
                if outcome.error is None:
                    assert outcome.status is not None
                    await self._succeed(job, attempt, outcome.status)
                    return
                if not outcome.retry or attempt >= self._max_attempts:
                    await self._fail(job, attempt, outcome)
                    return
                if not self._running:
                    # Stopping: a retry would outlive the drain; the event stays in the log.
                    self._abandon(job, attempt)
                    return
                delay = self._delay(attempt, outcome.retry_after)
                self._retries += 1
                log.warning(
                    "webhook.retry",
                    **job.log_fields(),
                    attempt=attempt,
                    status=outcome.status,
                    error=outcome.error,
                    delay=delay,
                )
                task = asyncio.current_task()
                assert task is not None
                self._backing_off.add(task)
                try:
                    await self._sleep(delay)
                finally:
                    self._backing_off.discard(task)
        except asyncio.CancelledError:
            self._abandon(job, attempt)
            raise
        except Exception as exc:
            # A bug here must still end in a recorded failure, not a silently dead task.
            log.exception("webhook.crashed", **job.log_fields(), attempt=attempt)
            crash = _Outcome(status=None, error=f"internal error: {type(exc).__name__}: {exc}")
            await self._fail(job, attempt, crash)

    async def _attempt(self, job: _Job) -> _Outcome:
        session = self._session
        assert session is not None, "deliveries are only scheduled while running"
        async with self._receiver_slot(job.endpoint), self._slots:
            self._attempts += 1
            timestamp = int(self._clock.now().timestamp())
            headers = {
                "Content-Type": "application/json",
                "X-Whistle-Event": job.notice.value,
                "X-Whistle-Delivery": job.delivery,
                "X-Whistle-Timestamp": str(timestamp),
                "X-Whistle-Signature": sign(job.endpoint.secret, timestamp, job.body),
            }
            try:
                # The whole attempt, connecting and reading the answer included.
                async with asyncio.timeout(self._timeout):
                    async with session.post(
                        job.endpoint.url, data=job.body, headers=headers, allow_redirects=False
                    ) as response:
                        status = response.status
                        if 200 <= status < 300:
                            return _Outcome(status=status)
                        retry_after = (
                            _retry_after(response.headers.get("Retry-After"))
                            if status in (429, 503)
                            else None
                        )
                        snippet = await response.content.read(_ERROR_SNIPPET)
            except TimeoutError:
                return _Outcome(
                    status=None, error=f"no answer within {self._timeout:g} s", retry=True
                )
            except aiohttp.InvalidURL as exc:
                return _Outcome(status=None, error=f"invalid URL: {exc}")
            except (aiohttp.ClientError, OSError) as exc:
                return _Outcome(status=None, error=f"{type(exc).__name__}: {exc}", retry=True)
        text = " ".join(snippet.decode("utf-8", "replace").split())
        error = f"HTTP {status}: {text}" if text else f"HTTP {status}"
        if 300 <= status < 400:
            error += " (redirects are not followed)"
        retry = status in (408, 429) or status >= 500
        return _Outcome(status=status, error=error, retry=retry, retry_after=retry_after)

    def _receiver_slot(self, endpoint: Endpoint) -> asyncio.Semaphore:
        origin = _origin(endpoint)
        slot = self._receiver_slots.get(origin)
        if slot is None:
            slot = self._receiver_slots[origin] = asyncio.Semaphore(self._per_receiver)
        return slot

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            # The receiver said when; jitter would only make us early or late.
            return min(retry_after, self._retry_after_cap)
        backoff = min(self._backoff_cap, self._backoff_base * 2 ** (attempt - 1))
        return max(0.0, self._jitter(backoff))

    async def _succeed(self, job: _Job, attempts: int, status: int) -> None:
        self._delivered += 1
        log.info("webhook.delivered", **job.log_fields(), attempt=attempts, status=status)
        if self._on_success is not None:
            record = Delivered(
                whistle_id=job.whistle_id,
                responder_id=job.endpoint.responder_id,
                notice=job.notice,
                assignment_id=job.assignment_id,
                delivery=job.delivery,
                seq=job.seq,
                attempts=attempts,
                status=status,
            )
            await self._callback(self._on_success, record, job)

    async def _fail(self, job: _Job, attempts: int, outcome: _Outcome) -> None:
        self._failed += 1
        assert outcome.error is not None
        permanent = not outcome.retry
        log.error(
            "webhook.failed",
            **job.log_fields(),
            attempt=attempts,
            status=outcome.status,
            error=outcome.error,
            permanent=permanent,
        )
        if self._on_failure is not None:
            record = Failure(
                whistle_id=job.whistle_id,
                responder_id=job.endpoint.responder_id,
                notice=job.notice,
                assignment_id=job.assignment_id,
                delivery=job.delivery,
                seq=job.seq,
                attempts=attempts,
                error=outcome.error,
                status=outcome.status,
                permanent=permanent,
            )
            await self._callback(self._on_failure, record, job)

    def _abandon(self, job: _Job, attempts: int) -> None:
        self._cancelled += 1
        log.warning("webhook.cancelled", **job.log_fields(), attempt=attempts)

    async def _callback(
        self, callback: Callable[[Any], Awaitable[None]], record: Delivered | Failure, job: _Job
    ) -> None:
        try:
            await callback(record)
        except Exception:
            # Recording the outcome failed; the delivery itself is settled either way.
            log.exception("webhook.callback_failed", **job.log_fields())


def _origin(endpoint: Endpoint) -> str:
    """The receiver an endpoint is on (scheme, host and port): what the bounds are per."""
    parts = urlsplit(endpoint.url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def _request_problem(request: object) -> str | None:
    """Why a notify entry breaks the contract, or None when it follows it."""
    if not isinstance(request, dict):
        return "entry is not an object"
    responder_id = request.get("responder_id")
    if not isinstance(responder_id, str) or not responder_id:
        return "responder_id is not a non-empty string"
    notice = request.get("notice")
    if notice not in tuple(Notice):
        expected = ", ".join(kind.value for kind in Notice)
        return f"notice {notice!r} is not one of {expected}"
    assignment_id = request.get("assignment_id")
    if assignment_id is not None and not isinstance(assignment_id, str):
        return "assignment_id is neither a string nor null"
    if not isinstance(request.get("summary"), str):
        return "summary is not a string"
    return None


def _retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` in seconds; None for an HTTP date or nonsense (back off as usual)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if seconds != seconds or seconds < 0:  # NaN or negative
        return None
    return seconds
