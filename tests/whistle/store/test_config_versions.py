"""The store's config versions, for every backend: drawn ids, one active version, and two
stores on one database agreeing on which."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.support.store_contract import Backend
from whistle.bus import Bus
from whistle.store import Store

AT = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
FILES = {"rules.toml": "# one\n", "categories.toml": "# two\n", "calendar.toml": "# three\n"}


async def test_versions_get_the_next_id_and_the_same_files_keep_theirs(store: Store) -> None:
    first, new = await store.add_config_version(
        hash="a" * 64, files=FILES, author="admin", reason="start", at=AT
    )
    assert (first.id, first.state, new) == (1, "proposed", True)
    second, new = await store.add_config_version(
        hash="b" * 64, files={**FILES, "duty.csv": "x\n"}, author="li", reason="duty", at=AT
    )
    assert (second.id, new) == (2, True)
    again, new = await store.add_config_version(
        hash="a" * 64, files=FILES, author="wang", reason="again", at=AT + timedelta(hours=1)
    )
    assert (again.id, again.author, new) == (1, "admin", False)
    stored = await store.config_version(2)
    assert stored is not None
    assert stored.files == {**FILES, "duty.csv": "x\n"}
    assert stored.author == "li"
    assert stored.reason == "duty"
    assert stored.created_at == AT
    assert [v.id for v in await store.config_versions()] == [2, 1]
    assert all(v.files == {} for v in await store.config_versions())  # the listing is light
    assert await store.config_version(3) is None


async def test_one_version_is_active_and_activating_another_retires_it(store: Store) -> None:
    for n in (1, 2):
        await store.add_config_version(
            hash=str(n) * 64, files=FILES, author="admin", reason="", at=AT
        )
    assert await store.active_config_version() is None
    await store.activate_config_version(1, AT)
    await store.activate_config_version(2, AT + timedelta(minutes=5))
    states = {v.id: (v.state, v.applied_at) for v in await store.config_versions()}
    assert states == {1: ("retired", AT), 2: ("active", AT + timedelta(minutes=5))}
    await store.activate_config_version(1, AT + timedelta(minutes=9))
    assert await store.active_config_version() == 1
    assert {v.id: v.state for v in await store.config_versions()} == {1: "active", 2: "retired"}


async def test_two_stores_on_one_database_see_the_same_active_version(
    backend: Backend, store: Store
) -> None:
    other = await backend.open(Bus())
    await store.add_config_version(hash="a" * 64, files=FILES, author="a", reason="", at=AT)
    drawn, _ = await other.add_config_version(
        hash="b" * 64, files=FILES, author="b", reason="", at=AT
    )
    assert drawn.id == 2  # drawn in the write, so the other store's version counts
    await store.activate_config_version(2, AT)
    assert await other.active_config_version() == 2
