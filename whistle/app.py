"""The aiohttp application: resources in cleanup contexts, in dependency order.

bus -> configuration (grid hierarchy, rules, catalog, calendar, router, cameras, hotline
categories: every file validated before the server listens) -> database -> intake (with the
app's one IdFactory). Teardown runs in reverse, also when start-up fails part-way.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from pathlib import Path

import structlog
from aiohttp import web

from dispatch import (
    DispatchConfigError,
    DutyRoster,
    LifecyclePolicy,
    Router,
    Teams,
    calendar_outlook,
    load_dispatch_config,
)
from grids.loader import load_hierarchy
from whistle.bus import Bus
from whistle.cameras import CameraRegistry
from whistle.cases import CaseService
from whistle.clock import Clock, SystemClock
from whistle.deliveries import OutboxDeliveries
from whistle.events import Event
from whistle.grouping import CameraRepeats
from whistle.ids import IdFactory
from whistle.intake import Intake
from whistle.integrations import feeds, hotline
from whistle.integrations.open311 import routes as open311_routes
from whistle.silences import Silences
from whistle.store import open_store
from whistle.web import console, metrics, picker, stream
from whistle.web.access import ACCESS, Access, access_middleware
from whistle.web.actions import routes as action_routes
from whistle.web.admin import routes as admin_routes
from whistle.web.api import routes
from whistle.web.citizen_pages import routes as citizen_page_routes
from whistle.web.citizens import routes as citizen_routes
from whistle.web.field import routes as field_routes
from whistle.web.keys import (
    BUS,
    CAMERAS,
    CASES,
    CATALOG,
    CLOCK,
    DUTY,
    HIERARCHY,
    HOTLINE_CATEGORIES,
    IDS,
    INTAKE,
    MIN_CONFIDENCE,
    OUTBOX,
    POLICY,
    ROUTER,
    SETTINGS,
    SILENCES,
    STORE,
    TEAMS,
    TZ,
    WEBHOOKS,
    Settings,
)
from whistle.web.media import routes as media_routes
from whistle.web.openapi import routes as openapi_routes
from whistle.web.pages import html_errors
from whistle.web.pages import routes as page_routes
from whistle.web.problems import error_middleware
from whistle.web.queue import routes as queue_routes
from whistle.web.silences import routes as silence_routes
from whistle.web.silences_page import routes as silences_page_routes
from whistle.web.stats import routes as stats_routes
from whistle.web.tasks import routes as task_routes
from whistle.web.wall import routes as wall_routes
from whistle.webhooks import Failure, WebhookNotifier, known_responders, load_webhooks

__all__ = ["STATIC", "create_app"]

STATIC = Path(__file__).resolve().parent / "web" / "static"

log = structlog.get_logger(__name__)


def create_app(settings: Settings, *, clock: Clock | None = None) -> web.Application:
    """Build the application; resources open when the runner starts it."""
    # Leave headroom over max_body so that our own handler, which knows the limit, answers.
    app = web.Application(
        client_max_size=settings.max_body,
        middlewares=[html_errors, error_middleware, access_middleware],
    )
    app[SETTINGS] = settings
    app[CLOCK] = clock or SystemClock()
    app.cleanup_ctx.extend(
        [_bus_ctx, _config_ctx, _webhooks_ctx, _store_ctx, _outbox_ctx, _cases_ctx, _intake_ctx]
    )
    app.add_routes(routes)
    app.add_routes(action_routes)
    app.add_routes(silence_routes)
    app.add_routes(silences_page_routes)
    app.add_routes(queue_routes)
    app.add_routes(admin_routes)
    app.add_routes(citizen_routes)
    app.add_routes(citizen_page_routes)
    app.add_routes(page_routes)
    app.add_routes(media_routes)
    app.add_routes(field_routes)
    app.add_routes(task_routes)
    app.add_routes(console.routes)
    app.add_routes(picker.routes)
    app.add_routes(stats_routes)
    app.add_routes(wall_routes)
    app.add_routes(open311_routes)
    app.add_routes(feeds.routes)
    app.add_routes(hotline.routes)
    app.add_routes(openapi_routes)
    # The live stream: its route, its hub, and closing open streams on shutdown (an open
    # stream never ends by itself, and cleanup contexts run only after handlers finish).
    stream.install(app)
    metrics.install(app)  # GET /metrics, its timing middleware and its bus subscriber
    app.router.add_static("/static/", STATIC, name="static", show_index=False)
    app.on_response_prepare.append(_nosniff)
    return app


async def _nosniff(request: web.Request, response: web.StreamResponse) -> None:
    # Every answer, JSON, CSV, static files and health checks too: a browser must take the
    # declared type, never guess one (a JSON body read as HTML would run what it contains).
    response.headers["X-Content-Type-Options"] = "nosniff"


async def _bus_ctx(app: web.Application) -> AsyncIterator[None]:
    bus = Bus()
    app[BUS] = bus
    await bus.start()
    yield
    await bus.stop()


async def _config_ctx(app: web.Application) -> AsyncIterator[None]:
    config_dir = app[SETTINGS].config_dir

    now = app[CLOCK].now()

    def load() -> tuple[Router, LifecyclePolicy, DutyRoster, Teams, CameraRegistry, dict[str, str]]:
        hierarchy = load_hierarchy(config_dir)
        config = load_dispatch_config(config_dir)
        # A calendar that cannot place today's deadlines would get them wrong: refuse.
        problems, warnings = calendar_outlook(config, now)
        if problems:
            raise DispatchConfigError(problems)
        for warning in warnings:
            log.warning("calendar.ending", detail=warning)
        router = Router.compile(hierarchy, config)
        duty = DutyRoster.load(config_dir, hierarchy, config.calendar)
        teams = Teams.load(config_dir, hierarchy)
        cameras = CameraRegistry.load(config_dir, hierarchy)
        # Every file now, not at the first request that needs it: a bad line stops the start.
        hotline_categories = hotline.load_hotline_categories(config_dir, router.catalog)
        return router, config.policy, duty, teams, cameras, hotline_categories

    # Loading ~28,000 polygons takes a second; keep the loop free for the signal handlers.
    router, policy, duty, teams, cameras, hotline_categories = await asyncio.to_thread(load)
    min_confidence = feeds.min_confidence(app[SETTINGS])
    # The county is about a million long-lived objects. Left in the collector's generations,
    # every full collection walks them all (measured: 111 ms on the sample county), which is a
    # latency spike for whatever request is running; frozen, they are never scanned again.
    gc.collect()
    gc.freeze()
    app[HIERARCHY] = router.hierarchy
    app[CATALOG] = router.catalog
    app[ROUTER] = router
    app[TZ] = router.calendar.timezone
    app[POLICY] = policy
    app[DUTY] = duty
    app[TEAMS] = teams
    app[CAMERAS] = cameras
    app[MIN_CONFIDENCE] = min_confidence
    app[HOTLINE_CATEGORIES] = hotline_categories
    log.info(
        "config.loaded",
        config_dir=str(config_dir),
        cells=len(app[HIERARCHY]),
        responders=app[HIERARCHY].responder_count,
        cameras=len(cameras),
        min_confidence=min_confidence,
        hotline_categories=len(hotline_categories),
    )
    yield


async def _webhooks_ctx(app: web.Application) -> AsyncIterator[None]:
    # Subscribed before the store opens, so notices the outbox republishes are not missed.
    endpoints = load_webhooks(app[SETTINGS].config_dir, known_responders(app[HIERARCHY]))

    async def record(failure: Failure) -> None:
        # Visible on the case. The event carries no notify list, so it sends nothing itself.
        cases = app.get(CASES)
        if cases is not None:
            await cases.record_failure(
                failure.whistle_id,
                {
                    "responder_id": failure.responder_id,
                    "notice": str(failure.notice),
                    "attempts": failure.attempts,
                    "error": failure.error,
                },
            )

    notifier = WebhookNotifier(
        endpoints,
        app[CLOCK],
        tz=app[TZ],
        on_failure=record,
        public_url=app[SETTINGS].public_url,
    )
    await notifier.start()
    app[WEBHOOKS] = notifier

    # PostgreSQL: the notices are rows of the database's outbox, delivered by whichever
    # process claims them (_outbox_ctx); the bus only wakes that loop.
    settings = app[SETTINGS]
    from_outbox = settings.db is not None and settings.db.backend == "postgresql"

    async def deliver(event: Event) -> None:
        if not from_outbox:
            await notifier.handle(event)

    subscription = app[BUS].subscribe("*", deliver, name="webhooks")
    log.info("webhooks.loaded", endpoints=len(endpoints))
    yield
    # The store has closed: hand over what the bus still holds for us, then drain.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(2.0):
            await subscription.queue.join()
    await notifier.stop(drain_timeout=5.0)


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    where = settings.db if settings.db is not None else settings.db_path
    store = await open_store(where, app[BUS], max_queue=settings.write_queue)
    app[STORE] = store
    app[ACCESS] = Access(store, app[CLOCK], app[HIERARCHY], settings.limits)
    yield
    app[ACCESS].close()
    await store.close()


async def _outbox_ctx(app: web.Application) -> AsyncIterator[None]:
    store = app[STORE]
    if not store.webhook_outbox:
        yield  # SQLite: the bus feeds the notifier (_webhooks_ctx)
        return
    outbox = OutboxDeliveries(store, app[WEBHOOKS], app[CLOCK], lease=app[SETTINGS].deadline_lease)
    app[BUS].subscribe("*", outbox.on_event, name="webhook-outbox")
    outbox.start()
    app[OUTBOX] = outbox
    yield
    await outbox.stop()


async def _cases_ctx(app: web.Application) -> AsyncIterator[None]:
    cases = CaseService(
        store=app[STORE],
        router=app[ROUTER],
        policy=app[POLICY],
        clock=app[CLOCK],
        tz=app[TZ],
        duty=app[DUTY],
        teams=app[TEAMS],
        run_timer=app[SETTINGS].run_timer,
        lease=app[SETTINGS].deadline_lease,
    )
    app[BUS].subscribe("*", cases.on_event, name="timers")
    await cases.start()
    app[CASES] = cases
    yield
    await cases.stop()


async def _intake_ctx(app: web.Application) -> AsyncIterator[None]:
    clock = app[CLOCK]
    ids = IdFactory(clock)
    app[IDS] = ids
    silences = Silences(
        app[STORE], clock, ids, hierarchy=app[HIERARCHY], catalog=app[CATALOG], tz=app[TZ]
    )
    await silences.load()
    silences.follow()  # other processes' silences, on PostgreSQL
    app[SILENCES] = silences
    app[INTAKE] = Intake(
        hierarchy=app[HIERARCHY],
        router=app[ROUTER],
        catalog=app[CATALOG],
        store=app[STORE],
        clock=clock,
        ids=ids,
        tz=app[TZ],
        policy=app[POLICY],
        duty=app[DUTY],
        silences=silences,
        repeats=CameraRepeats(app[STORE], clock, app[POLICY]),
        cameras=app[CAMERAS],
    )
    # The open whistles of each category's duplicate window, so that the first whistles after
    # a restart are matched against those before it.
    held = await app[INTAKE].nearby.load(app[STORE])
    log.info("nearby.loaded", whistles=held)
    yield
    await silences.stop()
