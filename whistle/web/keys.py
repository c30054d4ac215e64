"""Typed application keys: every resource the app holds, named once."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta, tzinfo
from pathlib import Path

from aiohttp import web

from dispatch import Teams
from grids import Hierarchy
from grids.gazetteer import Gazetteer
from whistle.bus import Bus
from whistle.cameras import CameraRegistry
from whistle.cases import CaseService
from whistle.clock import Clock
from whistle.deliveries import OutboxDeliveries
from whistle.ids import IdFactory
from whistle.intake import Intake
from whistle.party import PartyService, Visits
from whistle.placing import Placer
from whistle.silences import Silences
from whistle.store import Store, StoreUrl
from whistle.versions import LiveConfig
from whistle.web.access import AccessLimits
from whistle.webhooks import WebhookNotifier

__all__ = [
    "BUS",
    "CAMERAS",
    "CASES",
    "CLOCK",
    "GAZETTEER",
    "HIERARCHY",
    "HOTLINE_CATEGORIES",
    "IDS",
    "INTAKE",
    "LIVE",
    "MIN_CONFIDENCE",
    "OUTBOX",
    "PARTY",
    "PLACER",
    "SETTINGS",
    "SILENCES",
    "STORE",
    "TEAMS",
    "TZ",
    "VISITS",
    "WEBHOOKS",
    "Settings",
]


@dataclass(frozen=True, slots=True)
class Settings:
    """What one server process needs to know to start."""

    db_path: Path
    config_dir: Path
    # The database when it is not the SQLite file ``db_path`` (a postgresql:// StoreUrl);
    # ``db_path`` then only places the files beside it (photos in its parent's media/).
    db: StoreUrl | None = None
    max_body: int = 64 * 1024
    write_queue: int = 10_000
    # Fire deadlines in the background. Tests that drive a fake clock turn this off and call
    # CaseService.tick() after moving the clock.
    run_timer: bool = True
    limits: AccessLimits = field(default_factory=AccessLimits)
    # Mark cookies Secure even on plain HTTP: for a server behind a proxy that ends TLS.
    secure_cookies: bool = False
    # Where browsers reach this server (``https://whistle.example.org``): notices link to
    # task pages under it. Empty: the links are paths (``/tasks/…``).
    public_url: str = ""
    # Origins that may show /wall in a frame (``serve --wall-frame-ancestors``); none: no page
    # may be framed anywhere (whistle/web/headers.py).
    wall_frame_ancestors: tuple[str, ...] = ()
    # The compiled grids (grids.cache), keyed by the grid files' content hash; None: none.
    grid_cache: Path | None = None
    # This process's name: the ``process`` label of its metrics. Empty: host:port, once the
    # socket is bound (several processes on one PostgreSQL database each have their own).
    name: str = ""
    # How long a process holds a deadline (or a webhook delivery) it claimed before another
    # may take it: what a process that dies holding some costs (whistle/cases.py).
    deadline_lease: timedelta = timedelta(seconds=30)
    extra: dict[str, str] = field(default_factory=dict)


SETTINGS = web.AppKey("settings", Settings)
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
BUS = web.AppKey("bus", Bus)
HIERARCHY = web.AppKey("hierarchy", Hierarchy)
CAMERAS = web.AppKey("cameras", CameraRegistry)
# The active config version, compiled (router, catalog, calendar, policy, duty): read
# ``app[LIVE].router`` and the like at the moment of use, never keep them, for an applied
# version swaps them while the server runs.
LIVE = web.AppKey("live_config", LiveConfig)
TZ: web.AppKey[tzinfo] = web.AppKey("tz")
STORE: web.AppKey[Store] = web.AppKey("store")
INTAKE = web.AppKey("intake", Intake)
CASES = web.AppKey("cases", CaseService)
TEAMS = web.AppKey("teams", Teams)
WEBHOOKS = web.AppKey("webhooks", WebhookNotifier)
# The webhook outbox's delivery loop, when the store has an outbox (PostgreSQL).
OUTBOX = web.AppKey("outbox", OutboxDeliveries)
SILENCES = web.AppKey("silences", Silences)
# The one id factory: every id the app makes comes from it, so ids stay monotonic.
IDS = web.AppKey("ids", IdFactory)
# hotline_categories.csv, read with the configuration: hotline category -> catalog code.
HOTLINE_CATEGORIES: web.AppKey[dict[str, str]] = web.AppKey("hotline_categories")
# Places held whistles (待定位) where an operator says.
PLACER = web.AppKey("placer", Placer)
# Place names in addresses -> cells (grids.gazetteer): the hierarchy's names and places.csv.
GAZETTEER = web.AppKey("gazetteer", Gazetteer)
# Camera detections below this confidence are stored muted, never dispatched.
MIN_CONFIDENCE = web.AppKey("camera_min_confidence", float)
PARTY = web.AppKey("party", PartyService)
VISITS = web.AppKey("visits", Visits)
