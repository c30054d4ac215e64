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

from dispatch import Teams, calendar_warnings
from grids.cache import load_compiled
from grids.gazetteer import Gazetteer, load_aliases
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
from whistle.party import PartyService, Visits
from whistle.placing import Placer
from whistle.reload import GRID_RELOADER, GridReloader
from whistle.silences import Silences
from whistle.store import open_store
from whistle.versions import ConfigBundle, LiveConfig, build_bundle, read_files
from whistle.web import console, headers, metrics, picker, stream
from whistle.web.access import ACCESS, Access, access_middleware
from whistle.web.actions import routes as action_routes
from whistle.web.admin import routes as admin_routes
from whistle.web.api import routes
from whistle.web.citizen_pages import routes as citizen_page_routes
from whistle.web.citizens import routes as citizen_routes
from whistle.web.config_page import routes as config_page_routes
from whistle.web.config_versions import routes as config_routes
from whistle.web.field import routes as field_routes
from whistle.web.keys import (
    BUS,
    CAMERAS,
    CASES,
    CLOCK,
    GAZETTEER,
    HIERARCHY,
    HOTLINE_CATEGORIES,
    IDS,
    INTAKE,
    LIVE,
    MIN_CONFIDENCE,
    OUTBOX,
    PARTY,
    PLACER,
    SETTINGS,
    SILENCES,
    STORE,
    TEAMS,
    TZ,
    VISITS,
    WEBHOOKS,
    Settings,
)
from whistle.web.media import routes as media_routes
from whistle.web.openapi import routes as openapi_routes
from whistle.web.pages import html_errors
from whistle.web.pages import routes as page_routes
from whistle.web.party_api import routes as party_api_routes
from whistle.web.party_pages import routes as party_page_routes
from whistle.web.party_reports import routes as party_report_routes
from whistle.web.problems import error_middleware
from whistle.web.queue import routes as queue_routes
from whistle.web.replay import jobs_ctx as replay_jobs_ctx
from whistle.web.replay import routes as replay_routes
from whistle.web.silences import routes as silence_routes
from whistle.web.silences_page import routes as silences_page_routes
from whistle.web.stats import routes as stats_routes
from whistle.web.tasks import routes as task_routes
from whistle.web.wall import routes as wall_routes
from whistle.webhooks import Failure, WebhookNotifier, known_responders, load_webhooks

__all__ = ["STATIC", "create_app"]

STATIC = Path(__file__).resolve().parent / "web" / "static"

log = structlog.get_logger(__name__)

# The bundle of --config's files, from loading them until the store has them as a version.
_BOOT = web.AppKey("boot_config", ConfigBundle)


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
        [
            _bus_ctx,
            _config_ctx,
            _webhooks_ctx,
            _store_ctx,
            _outbox_ctx,
            _versions_ctx,
            _cases_ctx,
            _intake_ctx,
            _poll_ctx,
            replay_jobs_ctx,
            _party_ctx,
        ]
    )
    app.add_routes(routes)
    app.add_routes(action_routes)
    app.add_routes(silence_routes)
    app.add_routes(silences_page_routes)
    app.add_routes(queue_routes)
    app.add_routes(admin_routes)
    app.add_routes(config_routes)
    app.add_routes(config_page_routes)
    app.add_routes(replay_routes)
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
    app.add_routes(party_report_routes)  # before party_api: /registrations/bulk is no id
    app.add_routes(party_api_routes)
    app.add_routes(party_page_routes)
    # The live stream: its route, its hub, and closing open streams on shutdown (an open
    # stream never ends by itself, and cleanup contexts run only after handlers finish).
    stream.install(app)
    metrics.install(app)  # GET /metrics, its timing middleware and its bus subscriber
    app.router.add_static("/static/", STATIC, name="static", show_index=False)
    headers.install(app)  # CSP, nosniff and framing on every answer (whistle/web/headers.py)
    return app


async def _bus_ctx(app: web.Application) -> AsyncIterator[None]:
    bus = Bus()
    app[BUS] = bus
    await bus.start()
    yield
    await bus.stop()


async def _config_ctx(app: web.Application) -> AsyncIterator[None]:
    config_dir = app[SETTINGS].config_dir

    now = app[CLOCK].now()

    def load() -> tuple[ConfigBundle, Teams, CameraRegistry, dict[str, str], Gazetteer]:
        # From the compiled grid cache when the grid files are unchanged (grids/cache.py).
        hierarchy = load_compiled(config_dir, app[SETTINGS].grid_cache)
        # The rules, catalog, calendar and duty rota: one config version. A calendar that
        # cannot place today's deadlines would get them wrong: build_bundle refuses it.
        bundle = build_bundle(read_files(config_dir), hierarchy, now=now)
        for warning in calendar_warnings(bundle.calendar, now):
            log.warning("calendar.ending", detail=warning)
        teams = Teams.load(config_dir, hierarchy)
        cameras = CameraRegistry.load(config_dir, hierarchy)
        # Every file now, not at the first request that needs it: a bad line stops the start.
        hotline_categories = hotline.load_hotline_categories(config_dir, bundle.catalog)
        aliases = load_aliases(config_dir, hierarchy)  # checked now, whatever the size
        # A county's names index in well under a second; a province's millions of cells would
        # hold /readyz for a minute, so theirs are indexed after the start (_intake_ctx) and
        # an address meanwhile waits for an operator (待定位), never placed wrong.
        if len(hierarchy) <= EAGER_GAZETTEER_CELLS:
            gazetteer = Gazetteer.build(hierarchy, aliases, cache_dir=app[SETTINGS].grid_cache)
        else:
            gazetteer = Gazetteer.empty(hierarchy)
        return bundle, teams, cameras, hotline_categories, gazetteer

    # Loading ~28,000 polygons takes a second; keep the loop free for the signal handlers.
    bundle, teams, cameras, hotline_categories, gazetteer = await asyncio.to_thread(load)
    min_confidence = feeds.min_confidence(app[SETTINGS])
    # The county is about a million long-lived objects. Left in the collector's generations,
    # every full collection walks them all (measured: 111 ms on the sample county), which is a
    # latency spike for whatever request is running; frozen, they are never scanned again.
    gc.collect()
    gc.freeze()
    app[HIERARCHY] = bundle.router.hierarchy
    app[_BOOT] = bundle
    # A reload re-plans the router of the config version in force then (whistle/reload.py).
    app[GRID_RELOADER] = GridReloader(
        config_dir,
        app[SETTINGS].grid_cache,
        lambda: app[LIVE].current.router,
        lambda gazetteer: app[INTAKE].use_gazetteer(gazetteer),
    )
    # The time zone stays what it was at start: a version may not change it.
    app[TZ] = bundle.calendar.timezone
    app[TEAMS] = teams
    app[CAMERAS] = cameras
    app[MIN_CONFIDENCE] = min_confidence
    app[HOTLINE_CATEGORIES] = hotline_categories
    app[GAZETTEER] = gazetteer
    log.info(
        "config.loaded",
        config_dir=str(config_dir),
        cells=len(app[HIERARCHY]),
        responders=app[HIERARCHY].responder_count,
        cameras=len(cameras),
        min_confidence=min_confidence,
        hotline_categories=len(hotline_categories),
        place_names=len(gazetteer),
    )
    yield


# Hierarchies larger than this have their place names indexed after the start.
EAGER_GAZETTEER_CELLS = 300_000


async def _index_places(app: web.Application) -> None:
    """A large hierarchy's gazetteer, built off the loop and then used by the intake."""
    hierarchy, config_dir = app[HIERARCHY], app[SETTINGS].config_dir
    columns = hierarchy.tables
    aliases = await asyncio.to_thread(load_aliases, config_dir, hierarchy)
    # Mapped from the names' cache on a warm start (instant); built and written on a miss.
    built = await asyncio.to_thread(
        Gazetteer.build, hierarchy, aliases, cache_dir=app[SETTINGS].grid_cache
    )
    if hierarchy.tables is not columns:
        return  # the grids were reloaded meanwhile, and the reload brought its own gazetteer
    app[INTAKE].use_gazetteer(built)
    log.info("gazetteer.ready", place_names=len(built))


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

    def deliver(event: Event) -> None:
        if not from_outbox:
            notifier.take(event)

    # Attached: scheduling a delivery never waits, so the bus calls it as it publishes.
    app[BUS].attach("*", deliver, name="webhooks")
    log.info("webhooks.loaded", endpoints=len(endpoints))
    yield
    # The store has closed, so nothing more is published: drain what is scheduled.
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


async def _versions_ctx(app: web.Application) -> AsyncIterator[None]:
    # The store keeps every config version; this process runs the active one.
    live = LiveConfig(app[_BOOT], store=app[STORE], hierarchy=app[HIERARCHY], clock=app[CLOCK])
    bundle = await live.adopt()
    app[LIVE] = live
    log.info("config.version", version=bundle.version_id, hash=bundle.hash[:12])
    yield


async def _poll_ctx(app: web.Application) -> AsyncIterator[None]:
    # Last: everyone who follows a swap has subscribed. A version applied by another
    # process on the same database arrives within the poll interval.
    task = asyncio.create_task(app[LIVE].run(), name="config-poll")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


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
    bundle = app[LIVE].current
    cases = CaseService(
        store=app[STORE],
        router=bundle.router,
        policy=bundle.policy,
        clock=app[CLOCK],
        tz=app[TZ],
        duty=bundle.duty,
        teams=app[TEAMS],
        run_timer=app[SETTINGS].run_timer,
        lease=app[SETTINGS].deadline_lease,
    )
    app[LIVE].subscribe(cases.use)
    app[BUS].attach("*", cases.take, name="timers")  # re-arming a timer never waits
    await cases.start()
    app[CASES] = cases
    yield
    await cases.stop()


async def _intake_ctx(app: web.Application) -> AsyncIterator[None]:
    clock = app[CLOCK]
    ids = IdFactory(clock)
    app[IDS] = ids
    bundle = app[LIVE].current
    silences = Silences(
        app[STORE], clock, ids, hierarchy=app[HIERARCHY], catalog=bundle.catalog, tz=app[TZ]
    )
    await silences.load()
    silences.follow()  # other processes' silences, on PostgreSQL
    app[SILENCES] = silences
    repeats = CameraRepeats(app[STORE], clock, bundle.policy)
    intake = Intake(
        hierarchy=app[HIERARCHY],
        router=bundle.router,
        catalog=bundle.catalog,
        store=app[STORE],
        clock=clock,
        ids=ids,
        tz=app[TZ],
        policy=bundle.policy,
        duty=bundle.duty,
        silences=silences,
        repeats=repeats,
        cameras=app[CAMERAS],
        gazetteer=app[GAZETTEER],
    )
    intake.use(bundle)  # the version's id too

    def follow(applied: ConfigBundle) -> None:
        # A duplicate's radius and window stay as they were until a restart: the index
        # holds the open whistles by the windows it was built with.
        intake.use(applied)
        silences.catalog = applied.catalog
        repeats.use(applied.policy)

    app[LIVE].subscribe(follow)
    app[INTAKE] = intake
    # The open whistles of each category's duplicate window, so that the first whistles after
    # a restart are matched against those before it.
    held = await app[INTAKE].nearby.load(app[STORE])
    log.info("nearby.loaded", whistles=held)
    # A held whistle (待定位) is placed by hand, then routed by the intake's router.
    app[PLACER] = Placer(
        intake=app[INTAKE],
        cases=app[CASES],
        store=app[STORE],
        hierarchy=app[HIERARCHY],
        clock=clock,
        tz=app[TZ],
    )
    late = None
    if len(app[HIERARCHY]) > EAGER_GAZETTEER_CELLS:
        late = asyncio.create_task(_index_places(app), name="gazetteer")
    yield
    if late is not None:
        late.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await late
    await silences.stop()


async def _party_ctx(app: web.Application) -> AsyncIterator[None]:
    # The party-building records, and their visits' deadlines armed from the store.
    party = PartyService(app[STORE].party, app[HIERARCHY], app[CLOCK], app[IDS], app[TZ])
    visits = Visits(party)
    armed = await visits.load()
    app[PARTY] = party
    app[VISITS] = visits
    if app[SETTINGS].run_timer:
        visits.start()
    log.info("party.loaded", visits=armed)
    yield
    await visits.stop()
