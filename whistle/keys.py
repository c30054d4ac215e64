"""Typed application keys: every resource the app holds, named once."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path

from aiohttp import web

from dispatch import Catalog, Router
from grids import Hierarchy
from whistle.bus import Bus
from whistle.clock import Clock
from whistle.intake import Intake
from whistle.store import Store

__all__ = [
    "BUS",
    "CATALOG",
    "CLOCK",
    "HIERARCHY",
    "INTAKE",
    "ROUTER",
    "SETTINGS",
    "STORE",
    "TZ",
    "Settings",
]


@dataclass(frozen=True, slots=True)
class Settings:
    """What one server process needs to know to start."""

    db_path: Path
    config_dir: Path
    max_body: int = 64 * 1024
    write_queue: int = 10_000
    extra: dict[str, str] = field(default_factory=dict)


SETTINGS = web.AppKey("settings", Settings)
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
BUS = web.AppKey("bus", Bus)
HIERARCHY = web.AppKey("hierarchy", Hierarchy)
CATALOG = web.AppKey("catalog", Catalog)
ROUTER = web.AppKey("router", Router)
TZ: web.AppKey[tzinfo] = web.AppKey("tz")
STORE: web.AppKey[Store] = web.AppKey("store")
INTAKE = web.AppKey("intake", Intake)
