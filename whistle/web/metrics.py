"""Prometheus metrics at ``GET /metrics`` (text exposition format), one registry per app.

Three kinds of numbers:

* counters and histograms fed by the event bus (whistles received by source, routed,
  escalations by reason and level, overdue marks, time to acknowledge and to resolve);
* the intake latency, measured by a middleware around ``POST /api/v1/whistles`` (and the
  citizens' ``POST /api/v1/public/whistles``), labelled by status class;
* gauges read at scrape time: cases per status from the store (one cached read), the bus
  and store write queues, pending deadlines, the webhook notifier's counters.

The endpoint is public (a Prometheus server has no token) and shows only aggregates: every
label value comes from a small closed set (sources, grid levels, case statuses, reasons,
status classes), never an id, a name, a place or free text.

Every sample carries a ``process`` label: the process's ``--name``, or the host:port its
socket is bound to. The numbers are per process (several processes on one PostgreSQL
database each count their own requests and writes, docs/scale-out.md); the label keeps the
series of the processes apart when one Prometheus scrapes them all.

``install(app)`` wires all of it; it is idempotent.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterator
from datetime import datetime

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from dispatch import Source
from dispatch.case import CaseStatus
from grids import Level
from whistle.bus import Subscription
from whistle.events import Event
from whistle.exceptions import StoreUnavailable
from whistle.web.access import public
from whistle.web.keys import BUS, CASES, CLOCK, SETTINGS, STORE, WEBHOOKS

__all__ = ["METRICS", "Metrics", "install"]

log = structlog.get_logger(__name__)

# 1 min .. 15 days: acknowledgements take minutes, resolutions working days.
CASE_BUCKETS = (
    60.0, 300.0, 900.0, 1800.0, 3600.0, 2 * 3600.0, 4 * 3600.0, 8 * 3600.0,
    86400.0, 2 * 86400.0, 3 * 86400.0, 7 * 86400.0, 15 * 86400.0,
)  # fmt: skip
INTAKE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Intake endpoints and their label.
INTAKE_PATHS = {"/api/v1/whistles": "api", "/api/v1/public/whistles": "public"}
# ``assignment.added`` reasons that count as escalations.
ESCALATION_REASONS = frozenset({"escalation", "backstop", "backup"})

_SOURCES = frozenset(s.value for s in Source)
_LEVELS = frozenset(level.key for level in Level)
_STATUSES = tuple(s.value for s in CaseStatus)
# whistle id -> received_at, for the time histograms; oldest forgotten first, and a case's
# entry as it closes. A week of a county's whistles (about 1,400 a day); an older one costs a
# read. (At 100,000 this memory alone held a third of a soak's heap growth.)
RECEIVED_MEMORY = 10_000


def _bounded(value: object, allowed: frozenset[str]) -> str:
    """``value`` as a label if it is one of ``allowed``, else ``other`` (no free text)."""
    return value if isinstance(value, str) and value in allowed else "other"


class _StateCollector(Collector):
    """Gauges and counters read from the app's resources when scraped.

    ``collect`` is synchronous: the handler reads the store first (``case_counts``) and
    collects right after, without awaiting in between.
    """

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self.case_counts: dict[str, int] | None = None

    def collect(self) -> Iterator[Metric]:
        app = self._app
        up = GaugeMetricFamily(
            "whistle_store_up", "1 when the last scrape could read case counts from the store."
        )
        up.add_metric([], 0.0 if self.case_counts is None else 1.0)
        yield up
        if self.case_counts is not None:
            counts = self.case_counts
            cases = GaugeMetricFamily("whistle_cases", "Cases by status.", labels=["status"])
            for status in (*_STATUSES, *sorted(set(counts) - set(_STATUSES) - _DERIVED)):
                cases.add_metric([status], float(counts.get(status, 0)))
            yield cases
            overdue = GaugeMetricFamily(
                "whistle_cases_overdue",
                "Active cases marked overdue or past their resolution deadline.",
            )
            overdue.add_metric([], float(counts.get("overdue", 0)))
            yield overdue
            escalated = GaugeMetricFamily(
                "whistle_cases_escalated",
                "Active cases with a live assignment added by an escalation or the backstop.",
            )
            escalated.add_metric([], float(counts.get("escalated", 0)))
            yield escalated
        bus = app.get(BUS)
        if bus is not None:
            yield _gauge("whistle_bus_queue_depth", "Events queued on the bus.", bus.depth())
            dropped = CounterMetricFamily(
                "whistle_bus_dropped", "Events dropped for lagging subscribers."
            )
            dropped.add_metric([], float(sum(s.dropped for s in bus.subscriptions)))
            yield dropped
        store = app.get(STORE)
        if store is not None:
            yield _gauge(
                "whistle_store_write_queue_depth", "Writes queued for the store.", store.queue_depth
            )
        service = app.get(CASES)
        if service is not None:
            yield _gauge("whistle_deadlines_pending", "Deadlines armed.", len(service.timer))
        notifier = app.get(WEBHOOKS)
        if notifier is not None:
            c = notifier.counts
            notices = CounterMetricFamily(
                "whistle_webhook_notices",
                "Webhook notices by outcome.",
                labels=["outcome"],
            )
            for outcome, n in (
                ("delivered", c.delivered),
                ("failed", c.failed),
                ("dropped", c.dropped),
                ("cancelled", c.cancelled),
                ("skipped", c.skipped),
                ("invalid", c.invalid),
            ):
                notices.add_metric([outcome], float(n))
            yield notices
            attempts = CounterMetricFamily(
                "whistle_webhook_attempts", "Webhook delivery attempts (retries included)."
            )
            attempts.add_metric([], float(c.attempts))
            yield attempts
            retries = CounterMetricFamily(
                "whistle_webhook_retries", "Webhook attempts followed by another one."
            )
            retries.add_metric([], float(c.retries))
            yield retries
            yield _gauge("whistle_webhook_pending", "Webhook deliveries under way.", c.pending)


_DERIVED = frozenset({"overdue", "escalated", "returned"})


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation)
    family.add_metric([], float(value))
    return family


class Metrics:
    """The app's registry, its bus subscriber, intake middleware and scrape handler."""

    def __init__(self, app: web.Application, *, store_ttl: float = 1.0) -> None:
        self._app = app
        # How long a store read serves scrapes (a public endpoint: bound the database work).
        self.store_ttl = store_ttl
        self._store_read: tuple[float, dict[str, int]] | None = None
        self.registry = CollectorRegistry(auto_describe=False)
        r = self.registry
        self.received = Counter(
            "whistle_received", "Whistles received, by source.", ["source"], registry=r
        )
        self.routed = Counter("whistle_routed", "Whistles routed to responders.", registry=r)
        self.escalated = Counter(
            "whistle_escalations",
            "Assignments added by escalation, backstop or B post, by the new assignment's level.",
            ["reason", "level"],
            registry=r,
        )
        self.overdue = Counter(
            "whistle_overdue", "Cases marked overdue (case.overdue).", registry=r
        )
        self.acknowledge = Histogram(
            "whistle_time_to_acknowledge_seconds",
            "From whistle received to an assignment acknowledged; owner: the case's first.",
            ["owner"],
            buckets=CASE_BUCKETS,
            registry=r,
        )
        self.resolve = Histogram(
            "whistle_time_to_resolve_seconds",
            "From whistle received to an assignment resolved.",
            buckets=CASE_BUCKETS,
            registry=r,
        )
        self.intake = Histogram(
            "whistle_intake_duration_seconds",
            "Time to handle a POST of a whistle, by endpoint and status class.",
            ["endpoint", "status"],
            buckets=INTAKE_BUCKETS,
            registry=r,
        )
        self.state = _StateCollector(app)
        r.register(self.state)
        self.subscription: Subscription | None = None
        self._received_at: OrderedDict[str, datetime] = OrderedDict()
        self._last_seq = 0
        self._last_timed_seq = 0
        self._process = ""  # the process label, known at the first scrape

    def __repr__(self) -> str:
        return f"Metrics(remembered={len(self._received_at)}, last_seq={self._last_seq})"

    # -- bus -----------------------------------------------------------------------------

    async def on_event(self, event: Event) -> None:
        """Bus subscriber. Repeats (delivery is at least once) are dropped by ``seq``."""
        self.count(event)
        await self.time(event)

    def count(self, event: Event) -> None:
        """The counters of :meth:`on_event`, which never wait: attached to the bus (called
        as it publishes, issue 21)."""
        if event.seq <= self._last_seq:
            return
        self._last_seq = event.seq
        kind = event.type
        # Receipts are remembered whoever wrote them, for a step on the case timed here.
        if kind == "whistle.received":
            self._remember(event.whistle_id, event.at)
        elif kind in ("case.closed", "case.merged"):
            self._received_at.pop(event.whistle_id, None)  # a reopen reads it back once
        if self._elsewhere(event):
            return  # counted by the process that wrote it: a sum over processes counts it once
        if kind == "whistle.received":
            request = event.data.get("request")
            source = request.get("source") if isinstance(request, dict) else None
            self.received.labels(_bounded(source, _SOURCES)).inc()
        elif kind == "whistle.routed":
            self.routed.inc()
        elif kind == "assignment.added":
            reason = event.data.get("reason")
            if reason in ESCALATION_REASONS:
                assignment = event.data.get("assignment")
                level = assignment.get("level") if isinstance(assignment, dict) else None
                self.escalated.labels(str(reason), _bounded(level, _LEVELS)).inc()
        elif kind == "case.overdue":
            self.overdue.inc()

    async def time(self, event: Event) -> None:
        """The latencies of :meth:`on_event`: they may read a case's receipt back from the
        store, so a queued subscriber of ``assignment.*`` runs them."""
        kind = event.type
        if kind not in ("assignment.acknowledged", "assignment.resolved"):
            return
        if event.seq <= self._last_timed_seq:
            return
        self._last_timed_seq = event.seq
        if self._elsewhere(event):
            return  # timed by the process that wrote it
        if kind == "assignment.acknowledged":
            seconds = await self._since_received(event)
            if seconds is not None:
                owner = "true" if event.data.get("owner") else "false"
                self.acknowledge.labels(owner).observe(seconds)
        else:
            seconds = await self._since_received(event)
            if seconds is not None:
                self.resolve.observe(seconds)

    def _elsewhere(self, event: Event) -> bool:
        """Whether another process wrote ``event`` (relayed here from PostgreSQL)."""
        store = self._app.get(STORE)
        return store is not None and store.written_elsewhere(event.seq)

    def _remember(self, whistle_id: str, at: datetime) -> None:
        self._received_at[whistle_id] = at
        self._received_at.move_to_end(whistle_id)
        while len(self._received_at) > RECEIVED_MEMORY:
            self._received_at.popitem(last=False)

    async def _since_received(self, event: Event) -> float | None:
        received = self._received_at.get(event.whistle_id)
        if received is None:
            # Received before this process started (or forgotten): read it back once.
            store = self._app.get(STORE)
            stored = None
            if store is not None:
                try:
                    stored = await store.get_whistle(event.whistle_id)
                except StoreUnavailable:
                    stored = None
            text = stored.row_doc.get("received_at") if stored is not None else None
            if not isinstance(text, str):
                return None
            try:
                received = datetime.fromisoformat(text)
            except ValueError:
                return None
            self._remember(event.whistle_id, received)
        return max(0.0, (event.at - received).total_seconds())

    # -- intake latency ------------------------------------------------------------------

    async def timed(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        endpoint = INTAKE_PATHS.get(request.path) if request.method == "POST" else None
        if endpoint is None:
            return await handler(request)
        start = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            self.intake.labels(endpoint, f"{status // 100}xx").observe(time.perf_counter() - start)

    # -- scraping ------------------------------------------------------------------------

    async def _case_counts(self) -> dict[str, int] | None:
        now = time.monotonic()
        if self._store_read is not None and now - self._store_read[0] < self.store_ttl:
            return self._store_read[1]
        store = self._app.get(STORE)
        if store is None:
            return None
        try:
            counts = await store.queue_counts(None, self._app[CLOCK].now())
        except StoreUnavailable as exc:
            log.warning("metrics.store_unavailable", error=str(exc))
            return None
        self._store_read = (now, counts)
        return counts

    def render(self, process: str = "") -> bytes:
        """The exposition text, every sample labelled ``process`` (when given)."""
        if not process:
            return generate_latest(self.registry)
        return generate_latest(_Labelled(self.registry, process))

    def process_name(self, request: web.Request) -> str:
        """``--name``, else the host:port of the socket this request came in on."""
        if not self._process:
            settings = self._app.get(SETTINGS)
            name = settings.name if settings is not None else ""
            if not name:
                bound = request.transport.get_extra_info("sockname") if request.transport else None
                name = f"{bound[0]}:{bound[1]}" if bound else "unknown"
            self._process = name
        return self._process

    async def handle(self, request: web.Request) -> web.Response:
        counts = await self._case_counts()
        # No await from here on: the collector reads what was just fetched.
        self.state.case_counts = counts
        body = self.render(self.process_name(request))
        response = web.Response(body=body)
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        response.headers["Cache-Control"] = "no-store"
        return response

    # -- wiring --------------------------------------------------------------------------

    async def _on_startup(self, app: web.Application) -> None:
        # on_startup handlers run after every cleanup context has opened: the bus exists.
        app[BUS].attach("*", self.count, name="metrics")
        self.subscription = app[BUS].subscribe("assignment.*", self.time, name="metrics-times")


class _Labelled:
    """A registry's metrics with one more label on every sample (what generate_latest
    reads: anything with ``collect``)."""

    def __init__(self, registry: CollectorRegistry, process: str) -> None:
        self._registry = registry
        self._process = process

    def collect(self) -> Iterator[Metric]:
        for family in self._registry.collect():
            family.samples = [
                s._replace(labels={**s.labels, "process": self._process}) for s in family.samples
            ]
            yield family


METRICS = web.AppKey("metrics", Metrics)


def install(app: web.Application, *, store_ttl: float = 1.0) -> Metrics:
    """Add ``GET /metrics`` (public), the intake-latency middleware and the bus subscriber.

    Call in ``create_app`` before the app starts; calling it again returns the same object.
    """
    existing = app.get(METRICS)
    if existing is not None:
        return existing
    metrics = Metrics(app, store_ttl=store_ttl)
    app[METRICS] = metrics

    # Outermost, so it sees the status the error middleware turned exceptions into, and
    # the time spent authenticating.
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        return await metrics.timed(request, handler)

    app.middlewares.insert(0, middleware)
    app.on_startup.append(metrics._on_startup)

    @public
    async def scrape(request: web.Request) -> web.StreamResponse:
        return await metrics.handle(request)

    app.router.add_get("/metrics", scrape, name="metrics")
    return metrics
