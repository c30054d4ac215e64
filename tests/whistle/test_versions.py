"""Config versions: the content hash, building a version's bundle, and LiveConfig's steps
(adopting --config at start, propose, apply, roll back, and polling across processes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from dispatch.exceptions import DutyConfigError
from grids import Hierarchy
from whistle.bus import Bus
from whistle.clock import FakeClock
from whistle.store import SqliteStore, Store
from whistle.versions import (
    ConfigBundle,
    LiveConfig,
    UnknownVersion,
    VersionRefused,
    build_bundle,
    bundle_from_dir,
    content_hash,
    load_version,
    read_files,
)

ACK_30 = 'normal = "30m"'
ACK_20 = 'normal = "20m"'


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "versions.sqlite3"


async def _store(path: Path, opened: list[Store]) -> Store:
    store = SqliteStore(path, Bus())
    await store.open()
    opened.append(store)
    return store


@pytest.fixture
async def stores() -> AsyncIterator[list[Store]]:
    opened: list[Store] = []
    yield opened
    for store in opened:
        await store.close()


def _live(bundle: ConfigBundle, store: Store, county: Hierarchy, clock: FakeClock) -> LiveConfig:
    return LiveConfig(bundle, store=store, hierarchy=county, clock=clock)


def test_the_hash_is_over_the_canonical_files() -> None:
    files = {"rules.toml": "a = 1\n", "categories.toml": "b = 2\n", "calendar.toml": "c\n"}
    same = {"calendar.toml": "c\r\n", "categories.toml": "b = 2\r\n", "rules.toml": "a = 1\n"}
    assert content_hash(files) == content_hash(same)
    assert content_hash(files) == content_hash({**files, "duty.csv": "  \n"})  # empty optional
    assert content_hash(files) != content_hash({**files, "duty.csv": "responder,days\n"})
    # A name is part of the text hashed: moving bytes between files changes the hash.
    moved = {"rules.toml": "a = 1\nb = 2\n", "categories.toml": "", "calendar.toml": "c\n"}
    assert content_hash(files) != content_hash(moved)


def test_a_bundle_of_stored_files_routes_as_the_directory_does(
    county_dir: Path, county: Hierarchy, clock: FakeClock
) -> None:
    from_dir = bundle_from_dir(county_dir, county, now=clock.now())
    rebuilt = build_bundle(read_files(county_dir), county, now=clock.now(), version_id=7)
    assert rebuilt.hash == from_dir.hash
    assert rebuilt.version_id == 7
    assert rebuilt.policy == from_dir.policy
    assert [r.id for r in rebuilt.router.rules.rules] == [r.id for r in from_dir.router.rules.rules]
    assert len(rebuilt.duty) == len(from_dir.duty) > 0


def test_a_bad_duty_row_is_refused_with_its_line(
    county_dir: Path, county: Hierarchy, clock: FakeClock
) -> None:
    files = read_files(county_dir)
    lines = files["duty.csv"].splitlines()
    lines[2] = lines[2].replace(",daily,", ",dayly,").replace(",workdays,", ",wrkdays,")
    with pytest.raises(DutyConfigError) as caught:
        build_bundle({**files, "duty.csv": "\n".join(lines)}, county, now=clock.now())
    assert [(p.file, p.line) for p in caught.value.problems] == [("duty.csv", 3)]


def test_files_a_version_cannot_hold_are_refused(county: Hierarchy, clock: FakeClock) -> None:
    with pytest.raises(VersionRefused) as caught:
        build_bundle({"grids.csv": "x", "rules.toml": ""}, county, now=clock.now())
    assert sorted(str(p) for p in caught.value.problems) == [
        "calendar.toml: missing required file",
        "categories.toml: missing required file",
        "grids.csv: not a versioned file; expected rules.toml, categories.toml, calendar.toml, "
        "duty.csv, lifecycle.toml",
    ]


async def test_first_start_stores_the_files_as_version_1_and_a_restart_keeps_the_applied_one(
    db: Path, stores: list[Store], county_dir: Path, county: Hierarchy, clock: FakeClock
) -> None:
    store = await _store(db, stores)
    boot = bundle_from_dir(county_dir, county, now=clock.now())
    live = _live(boot, store, county, clock)
    assert (await live.adopt()).version_id == 1
    files = dict(live.current.files)
    record, new = await live.propose(
        {**files, "rules.toml": files["rules.toml"].replace(ACK_30, ACK_20)},
        author="admin",
        reason="shorter",
    )
    assert (record.id, new) == (2, True)
    await live.apply(2, author="admin")

    # A restart with the same files on disk keeps version 2: an applied version survives.
    again = _live(boot, store, county, clock)
    assert (await again.adopt()).version_id == 2
    assert again.current.hash == live.current.hash

    # Files edited on disk are a deliberate change: they become version 3, active.
    edited = build_bundle(
        {**files, "rules.toml": files["rules.toml"] + "\n# edited\n"}, county, now=clock.now()
    )
    third = _live(edited, store, county, clock)
    assert (await third.adopt()).version_id == 3
    assert await store.active_config_version() == 3


async def test_apply_swaps_for_every_subscriber_and_rollback_is_audited(
    db: Path, stores: list[Store], county_dir: Path, county: Hierarchy, clock: FakeClock
) -> None:
    store = await _store(db, stores)
    live = _live(bundle_from_dir(county_dir, county, now=clock.now()), store, county, clock)
    await live.adopt()
    seen: list[int | None] = []
    live.subscribe(lambda bundle: seen.append(bundle.version_id))
    files = dict(live.current.files)
    record, _ = await live.propose(
        {**files, "rules.toml": files["rules.toml"].replace(ACK_30, ACK_20)}, author="li", reason=""
    )
    _, action = await live.apply(record.id, author="li")
    _, back = await live.apply(1, author="li")
    assert (action, back, seen) == ("config.apply", "config.rollback", [2, 1])
    with pytest.raises(UnknownVersion):
        await live.apply(9, author="li")
    trail = [(e["action"], e["target"], e["actor"]) for e in await store.audit_trail()]
    assert trail[:3] == [
        ("config.rollback", "1", "li"),
        ("config.apply", "2", "li"),
        ("config.propose", "2", "li"),
    ]


async def test_a_version_applied_in_one_process_reaches_another_by_polling(
    db: Path, stores: list[Store], county_dir: Path, county: Hierarchy, clock: FakeClock
) -> None:
    boot = bundle_from_dir(county_dir, county, now=clock.now())
    first = _live(boot, await _store(db, stores), county, clock)
    second = _live(boot, await _store(db, stores), county, clock)
    await first.adopt()
    await second.adopt()
    files = dict(first.current.files)
    record, _ = await first.propose(
        {**files, "rules.toml": files["rules.toml"].replace(ACK_30, ACK_20)}, author="a", reason=""
    )
    swapped = asyncio.Event()
    second.subscribe(lambda bundle: swapped.set())
    poller = asyncio.create_task(second.run(tick=0.01))
    try:
        await first.apply(record.id, author="a")
        clock.advance(timedelta(seconds=1))  # the poll is due on the injected clock
        async with asyncio.timeout(10):
            await swapped.wait()
    finally:
        poller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await poller
    assert second.current.version_id == record.id == first.current.version_id
    assert second.current.hash == first.current.hash
    assert await second.poll() is False  # nothing new


async def test_load_version_gives_the_stored_bundle(
    db: Path, stores: list[Store], county_dir: Path, county: Hierarchy, clock: FakeClock
) -> None:
    store = await _store(db, stores)
    live = _live(bundle_from_dir(county_dir, county, now=clock.now()), store, county, clock)
    await live.adopt()
    loaded = await load_version(store, 1, county, now=clock.now())
    assert (loaded.version_id, loaded.hash) == (1, live.current.hash)
    with pytest.raises(UnknownVersion):
        await load_version(store, 2, county)
