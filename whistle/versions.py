"""Versioned configuration: the rules, catalog, duty rota and calendar as one version.

A version is the text of its files (:data:`VERSIONED_FILES`), identified by an id the store
draws and by a content hash over the canonical bytes. The store keeps every version with
who made it, when and why, and its state (proposed, active, retired).

:class:`ConfigBundle` is what a version compiles to: the router (rules, catalog, calendar
over the grid hierarchy), the lifecycle policy and the duty roster. ``--config DIR`` gives
one (:func:`bundle_from_dir`), and so does a stored version (:func:`load_version`).

:class:`LiveConfig` holds the running process's bundle. Applying a version builds the new
bundle completely first, then swaps one reference: a whistle already being filed finishes
under the bundle it started with, and none is refused meanwhile. Every process polls the
store's active id (:meth:`LiveConfig.run`), so one applied in another process arrives here
within the poll interval.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from dispatch import (
    Catalog,
    DispatchConfig,
    DispatchConfigError,
    DutyRoster,
    LifecyclePolicy,
    Router,
    calendar_outlook,
    load_dispatch_config,
)
from dispatch.calendar import WorkCalendar
from dispatch.toml_lines import with_toml_lines
from grids import Hierarchy
from grids.exceptions import ConfigError, Problem
from whistle.clock import Clock, SystemClock
from whistle.store import ConfigVersionRecord, Store

__all__ = [
    "MAX_FILE_BYTES",
    "OPTIONAL_FILES",
    "START_AUTHOR",
    "START_REASON",
    "VERSIONED_FILES",
    "ConfigBundle",
    "LiveConfig",
    "UnknownVersion",
    "VersionRefused",
    "build_bundle",
    "bundle_from_dir",
    "canonical_files",
    "check_files",
    "content_hash",
    "load_version",
    "read_files",
]

log = structlog.get_logger(__name__)

# The files a version holds, in the order an editor shows them. duty.csv and lifecycle.toml
# are optional, as they are in --config.
VERSIONED_FILES = ("rules.toml", "categories.toml", "calendar.toml", "duty.csv", "lifecycle.toml")
OPTIONAL_FILES = frozenset({"duty.csv", "lifecycle.toml"})
# Who made, and why, the version of the files --config holds at start.
START_AUTHOR = "config-dir"
START_REASON = "the files of --config at start"
# The shipped duty.csv is 30 KB, categories.toml 25 KB: a county's own stays well inside.
MAX_FILE_BYTES = 2 * 1024 * 1024


class VersionRefused(DispatchConfigError):
    """A proposed version does not load: its problems, each with its file and line."""


class UnknownVersion(LookupError):
    """No stored version has this id."""

    def __init__(self, version_id: int) -> None:
        self.version_id = version_id
        super().__init__(f"no config version {version_id}")


@dataclass(frozen=True, slots=True)
class ConfigBundle:
    """One version, compiled: what routing and the lifecycle read while it is active.

    ``version_id`` is None for files not (yet) stored as a version.
    """

    version_id: int | None
    hash: str
    files: Mapping[str, str]
    config: DispatchConfig
    router: Router
    duty: DutyRoster

    @property
    def catalog(self) -> Catalog:
        return self.router.catalog

    @property
    def calendar(self) -> WorkCalendar:
        return self.router.calendar

    @property
    def policy(self) -> LifecyclePolicy:
        return self.config.policy

    def __repr__(self) -> str:
        return f"ConfigBundle(version={self.version_id}, hash={self.hash[:12]})"


def canonical_files(files: Mapping[str, str]) -> dict[str, str]:
    """The files a version keeps, as it keeps them: known names only, in their order, with
    ``\\n`` line ends (a browser's form sends ``\\r\\n``), absent optional files left out."""
    out: dict[str, str] = {}
    for name in VERSIONED_FILES:
        text = files.get(name)
        if text is None or (name in OPTIONAL_FILES and not text.strip()):
            continue
        out[name] = text.replace("\r\n", "\n").replace("\r", "\n")
    return out


def content_hash(files: Mapping[str, str]) -> str:
    """SHA-256 over the canonical files: each name, its length and its UTF-8 bytes, in the
    order of :data:`VERSIONED_FILES` (so no two different sets of files share a text)."""
    digest = hashlib.sha256()
    for name, text in canonical_files(files).items():
        data = text.encode("utf-8")
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def read_files(config_dir: Path) -> dict[str, str]:
    """The versioned files of a ``--config`` directory, those that exist."""
    out = {}
    for name in VERSIONED_FILES:
        path = config_dir / name
        if path.exists():
            out[name] = path.read_text(encoding="utf-8")
    return out


def check_files(
    files: Mapping[str, Any], hierarchy: Hierarchy, now: datetime, *, tz: Any = None
) -> list[Problem]:
    """Every problem of ``files`` as a version, with lines: the same checks as
    ``whistle check-config`` for these files. ``tz``: the running server's time zone, which a
    version may not change (every stored time was shown in it)."""
    try:
        bundle = build_bundle(files, hierarchy, now=now)
    except ConfigError as exc:
        return exc.problems
    if tz is not None and str(bundle.calendar.timezone) != str(tz):
        return [
            Problem(
                "calendar.toml",
                None,
                "timezone",
                f"a running server keeps its time zone ({tz}); change it with a restart",
            )
        ]
    return []


def build_bundle(
    files: Mapping[str, Any],
    hierarchy: Hierarchy,
    *,
    now: datetime,
    version_id: int | None = None,
) -> ConfigBundle:
    """Compile ``files`` (name -> text) over ``hierarchy``. Raises the loaders' ConfigError
    (DispatchConfigError, DutyConfigError) with every problem, each with its file and, where
    it has one, its line; VersionRefused for names or sizes a version cannot hold."""
    problems = _shape_problems(files)
    if problems:
        raise VersionRefused(problems)
    texts = canonical_files(files)
    with tempfile.TemporaryDirectory(prefix="whistle-version-") as tmp:
        # The loaders read a directory (as --config does): the same code, the same checks.
        folder = Path(tmp)
        for name, text in texts.items():
            (folder / name).write_text(text, encoding="utf-8")
        try:
            config = load_dispatch_config(folder)
            problems, _ = calendar_outlook(config, now)
            if problems:
                raise DispatchConfigError(problems)
            router = Router.compile(hierarchy, config)
            duty = DutyRoster.load(folder, hierarchy, config.calendar)
        except ConfigError as exc:
            # The same error class the loader raised (DutyConfigError, ...), with lines.
            raise type(exc)(with_toml_lines(exc.problems, texts)) from None
    return ConfigBundle(version_id, content_hash(texts), texts, config, router, duty)


def _shape_problems(files: Mapping[str, Any]) -> list[Problem]:
    problems = []
    for name, text in files.items():
        if name not in VERSIONED_FILES:
            known = ", ".join(VERSIONED_FILES)
            problems.append(Problem(name, None, None, f"not a versioned file; expected {known}"))
        elif not isinstance(text, str):
            problems.append(Problem(name, None, None, "expected the file's text"))
        elif len(text.encode("utf-8")) > MAX_FILE_BYTES:
            problems.append(Problem(name, None, None, f"larger than {MAX_FILE_BYTES} bytes"))
    for name in VERSIONED_FILES:
        if name not in OPTIONAL_FILES and name not in files:
            problems.append(Problem(name, None, None, "missing required file"))
    return problems


def bundle_from_dir(
    config_dir: Path, hierarchy: Hierarchy, *, now: datetime | None = None
) -> ConfigBundle:
    """The bundle of a ``--config`` directory's files (``version_id`` None)."""
    return build_bundle(read_files(config_dir), hierarchy, now=now or SystemClock().now())


async def load_version(
    store: Store, version_id: int, hierarchy: Hierarchy, *, now: datetime | None = None
) -> ConfigBundle:
    """The bundle of stored version ``version_id``: the same object ``--config DIR`` gives
    (:func:`bundle_from_dir`). Raises UnknownVersion, or ConfigError when the version no
    longer loads over ``hierarchy`` (a responder it names was removed from the grids)."""
    record = await store.config_version(version_id)
    if record is None:
        raise UnknownVersion(version_id)
    at = now or SystemClock().now()
    return await asyncio.to_thread(
        build_bundle, record.files, hierarchy, now=at, version_id=record.id
    )


Listener = Callable[[ConfigBundle], None]


class LiveConfig:
    """The process's active bundle, and the steps that change it: propose, apply (and roll
    back, which is applying an earlier version), each in the audit trail.

    ``subscribe`` registers who must follow a swap (the intake, the case service); they are
    called synchronously with the new bundle, so between two awaits everyone sees the same one.
    """

    def __init__(
        self,
        bundle: ConfigBundle,
        *,
        store: Store,
        hierarchy: Hierarchy,
        clock: Clock,
        interval: timedelta = timedelta(seconds=1),
    ) -> None:
        self._current = bundle
        self._store = store
        self._hierarchy = hierarchy
        self._clock = clock
        self._interval = interval
        self._listeners: list[Listener] = []
        self._lock = asyncio.Lock()  # one swap at a time (an apply and a poll may race)

    def __repr__(self) -> str:
        return f"LiveConfig({self._current!r})"

    @property
    def current(self) -> ConfigBundle:
        """The active bundle now: read it once per piece of work."""
        return self._current

    @property
    def router(self) -> Router:
        return self._current.router

    @property
    def catalog(self) -> Catalog:
        return self._current.catalog

    @property
    def policy(self) -> LifecyclePolicy:
        return self._current.policy

    @property
    def duty(self) -> DutyRoster:
        return self._current.duty

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` with every bundle swapped in from now on."""
        self._listeners.append(listener)

    def swap(self, bundle: ConfigBundle) -> None:
        """Make ``bundle`` the active one here (no awaits: nobody sees half a swap)."""
        self._current = bundle
        for listener in self._listeners:
            listener(bundle)
        log.info("config.swapped", version=bundle.version_id, hash=bundle.hash[:12])

    async def adopt(self, *, author: str = START_AUTHOR) -> ConfigBundle:
        """At start: make the store and this process agree on the active version.

        With no version stored, the files of --config become version 1 and active. Files
        that match a stored version leave the store's active one as it is (an applied version
        survives restarts); files that match none are a deliberate edit on disk and become
        the newest version, active. Either way this process then runs the active version.
        """
        bundle = self._current
        files = dict(bundle.files)
        record, new = await self._store.add_config_version(
            hash=bundle.hash,
            files=files,
            author=author,
            reason=START_REASON,
            at=self._clock.now(),
        )
        active = await self._store.active_config_version()
        if new or active is None:
            await self._store.activate_config_version(record.id, self._clock.now())
            await self._audit(author, "config.apply", record.id, {"from": active, "start": True})
            active = record.id
        if active == record.id:
            self.swap(_numbered(bundle, record.id))
        else:
            self.swap(
                await load_version(self._store, active, self._hierarchy, now=self._clock.now())
            )
        return self._current

    async def validate(self, files: Mapping[str, Any]) -> list[Problem]:
        """The problems of ``files`` as a version (empty: it would apply)."""
        return await asyncio.to_thread(
            check_files,
            files,
            self._hierarchy,
            self._clock.now(),
            tz=self._current.calendar.timezone,
        )

    async def propose(
        self, files: Mapping[str, Any], *, author: str, reason: str
    ) -> tuple[ConfigVersionRecord, bool]:
        """Store ``files`` as a proposed version once they validate (the same files again:
        the version already stored). Raises VersionRefused, audited as refused."""
        problems = await self.validate(files)
        if problems:
            await self._refused(author, "propose", None, problems)
            raise VersionRefused(problems)
        texts = canonical_files(files)
        record, new = await self._store.add_config_version(
            hash=content_hash(texts),
            files=texts,
            author=author,
            reason=reason,
            at=self._clock.now(),
        )
        detail = {"hash": record.hash, "reason": reason, "new": new}
        await self._audit(author, "config.propose", record.id, detail)
        return record, new

    async def apply(self, version_id: int, *, author: str) -> tuple[ConfigBundle, str]:
        """Make stored version ``version_id`` active in the store and in this process; the
        audit names it ``config.apply``, or ``config.rollback`` for a version that was active
        before. Returns the bundle and that action. Raises UnknownVersion, VersionRefused."""
        record = await self._store.config_version(version_id)
        if record is None:
            raise UnknownVersion(version_id)
        action = "config.rollback" if record.state == "retired" else "config.apply"
        async with self._lock:
            before = self._current.version_id
            try:
                bundle = await load_version(
                    self._store, version_id, self._hierarchy, now=self._clock.now()
                )
            except ConfigError as exc:
                await self._refused(author, action.split(".")[1], version_id, exc.problems)
                raise VersionRefused(exc.problems) from None
            await self._store.activate_config_version(version_id, self._clock.now())
            self.swap(bundle)
        await self._audit(author, action, version_id, {"from": before, "hash": record.hash})
        return bundle, action

    async def poll(self) -> bool:
        """Pick up a version another process applied; True when this one swapped."""
        active = await self._store.active_config_version()
        if active is None or active == self._current.version_id:
            return False
        async with self._lock:
            if active == self._current.version_id:
                return False
            try:
                bundle = await load_version(
                    self._store, active, self._hierarchy, now=self._clock.now()
                )
            except (ConfigError, UnknownVersion) as exc:
                # Keep routing under the version we have rather than under none.
                log.error("config.poll_failed", version=active, error=str(exc))
                return False
            self.swap(bundle)
        return True

    async def run(self, *, tick: float = 0.2) -> None:
        """Poll the store's active id every ``interval`` of the injected clock, until
        cancelled (the app runs it in its cleanup context)."""
        due = self._clock.now()
        while True:
            if self._clock.now() >= due:
                due = self._clock.now() + self._interval
                try:
                    await self.poll()
                except Exception as exc:  # a store hiccup: try again at the next poll
                    log.warning("config.poll_error", error=str(exc))
            await asyncio.sleep(tick)

    async def _refused(
        self, author: str, step: str, version_id: int | None, problems: list[Problem]
    ) -> None:
        shown = [str(p) for p in problems[:20]]
        detail = {"step": step, "problems": len(problems), "first": shown}
        target = None if version_id is None else str(version_id)
        await self._store.audit(self._clock.now(), author, "config.refused", target, detail)

    async def _audit(
        self, author: str, action: str, version_id: int, detail: dict[str, Any]
    ) -> None:
        await self._store.audit(self._clock.now(), author, action, str(version_id), detail)


def _numbered(bundle: ConfigBundle, version_id: int) -> ConfigBundle:
    return ConfigBundle(
        version_id, bundle.hash, bundle.files, bundle.config, bundle.router, bundle.duty
    )
