"""The SQLite store: durability, group commit, idempotency, the outbox, migrations."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from tests.support.harness import T0, Recorder, new_whistle, with_history
from whistle.bus import Bus
from whistle.events import NewEvent
from whistle.exceptions import StoreBusy, StoreUnavailable
from whistle.store import (
    Created,
    Duplicate,
    NewWhistle,
    Repeat,
    SqliteStore,
    Transition,
    WhistleQuery,
)
from whistle.store._schema import SCHEMA_VERSION


@pytest.fixture
async def bus() -> Bus:
    return Bus()


async def open_store(path: Path, bus: Bus, **kwargs: int) -> SqliteStore:
    store = SqliteStore(path, bus, **kwargs)
    await store.open()
    return store


async def test_created_whistle_is_in_the_file_before_the_call_returns(
    tmp_path: Path, bus: Bus
) -> None:
    db = tmp_path / "w.sqlite3"
    store = await open_store(db, bus)
    try:
        outcome = await store.create_whistle(new_whistle(1))
        assert isinstance(outcome, Created)
        # A separate, plain sqlite3 connection sees it: it is committed, not only cached.
        with sqlite3.connect(db) as raw:
            assert raw.execute("SELECT count(*) FROM whistles").fetchone() == (1,)
            assert raw.execute("SELECT count(*) FROM assignments").fetchone() == (1,)
            assert raw.execute("SELECT seq, type FROM events ORDER BY seq").fetchall() == [
                (1, "whistle.received"),
                (2, "whistle.routed"),
            ]
    finally:
        await store.close()


async def test_database_is_in_wal_mode_with_full_sync(tmp_path: Path, bus: Bus) -> None:
    db = tmp_path / "w.sqlite3"
    store = await open_store(db, bus)
    await store.close()
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert raw.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


async def test_concurrent_writes_share_commits(tmp_path: Path, bus: Bus) -> None:
    store = await open_store(tmp_path / "w.sqlite3", bus)
    try:
        outcomes = await asyncio.gather(*(store.create_whistle(new_whistle(n)) for n in range(300)))
        assert all(isinstance(o, Created) for o in outcomes)
        assert await store.count_whistles() == 300
        assert store.writes == 300
        assert store.commits < 300  # group commit: many writes per transaction
        seqs = [e.seq for o in outcomes if isinstance(o, Created) for e in o.events]
        assert sorted(seqs) == list(range(1, 601))  # unique, gap-free log order
    finally:
        await store.close()


async def test_events_are_published_after_commit_in_log_order(tmp_path: Path, bus: Bus) -> None:
    recorder = Recorder(bus)
    await bus.start()
    store = await open_store(tmp_path / "w.sqlite3", bus)
    try:
        await asyncio.gather(*(store.create_whistle(new_whistle(n)) for n in range(20)))
    finally:
        await store.close()
        await bus.stop()
    assert [e.seq for e in recorder.events] == list(range(1, 41))


async def test_reopening_keeps_everything_and_continues_the_sequence(
    tmp_path: Path, bus: Bus
) -> None:
    db = tmp_path / "w.sqlite3"
    store = await open_store(db, bus)
    await store.create_whistle(new_whistle(1))
    await store.close()
    store = await open_store(db, bus)
    try:
        outcome = await store.create_whistle(new_whistle(2))
        assert isinstance(outcome, Created)
        assert [e.seq for e in outcome.events] == [3, 4]
        assert await store.count_whistles() == 2
        stored = await store.get_whistle(new_whistle(1).whistle.id)
        assert stored is not None
        assert stored.row_doc == {"id": new_whistle(1).whistle.id, "n": 1}
        assert stored.assignments[0]["status"] == "dispatched"
    finally:
        await store.close()


async def test_events_stored_but_not_marked_published_are_published_on_open(
    tmp_path: Path,
) -> None:
    db = tmp_path / "w.sqlite3"
    first_bus = Bus()
    store = await open_store(db, first_bus)
    await store.create_whistle(new_whistle(1))
    await store.create_whistle(new_whistle(2))
    await store.close()
    # Simulate a crash between commit and publish: the cursor never moved past event 2.
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE outbox SET published_seq = 2")
    second_bus = Bus()
    recorder = Recorder(second_bus)
    store = await open_store(db, second_bus)
    await second_bus.start()
    await store.close()
    await second_bus.stop()
    assert [e.seq for e in recorder.events] == [3, 4]
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT published_seq FROM outbox").fetchone() == (4,)


async def test_nothing_is_republished_after_a_clean_close(tmp_path: Path) -> None:
    db = tmp_path / "w.sqlite3"
    store = await open_store(db, Bus())
    await store.create_whistle(new_whistle(1))
    await store.close()
    bus = Bus()
    recorder = Recorder(bus)
    store = await open_store(db, bus)
    await bus.start()
    await store.close()
    await bus.stop()
    assert recorder.events == []


async def test_idempotency_key_returns_the_first_whistle(tmp_path: Path, bus: Bus) -> None:
    store = await open_store(tmp_path / "w.sqlite3", bus)
    try:
        first = await store.create_whistle(new_whistle(1, key="k1"))
        again = await store.create_whistle(new_whistle(2, key="k1"))
        assert isinstance(first, Created)
        assert again == Duplicate(first.whistle_id, "h")
        assert await store.count_whistles() == 1
        assert await store.find_idempotent("k1") == Duplicate(first.whistle_id, "h")
        assert await store.find_idempotent("other") is None
    finally:
        await store.close()


async def test_same_key_in_one_batch_writes_once(tmp_path: Path, bus: Bus) -> None:
    store = await open_store(tmp_path / "w.sqlite3", bus)
    try:
        outcomes = await asyncio.gather(
            *(store.create_whistle(new_whistle(n, key="same")) for n in range(10))
        )
        created = [o for o in outcomes if isinstance(o, Created)]
        duplicates = [o for o in outcomes if isinstance(o, Duplicate)]
        assert len(created) == 1
        assert len(duplicates) == 9
        assert {d.whistle_id for d in duplicates} == {created[0].whistle_id}
        assert await store.count_whistles() == 1
    finally:
        await store.close()


async def test_one_bad_write_does_not_sink_its_batch(tmp_path: Path, bus: Bus) -> None:
    store = await open_store(tmp_path / "w.sqlite3", bus)
    try:
        await store.create_whistle(new_whistle(5))
        # n=5 again collides on the primary key; the others in the same batch must land.
        outcomes = await asyncio.gather(
            *(store.create_whistle(new_whistle(n)) for n in (1, 2, 5, 3)),
            return_exceptions=True,
        )
        assert [type(o).__name__ for o in outcomes] == [
            "Created",
            "Created",
            "StoreUnavailable",
            "Created",
        ]
        assert await store.count_whistles() == 4
        with sqlite3.connect(tmp_path / "w.sqlite3") as raw:
            assert raw.execute("SELECT count(*) FROM events").fetchone() == (8,)
    finally:
        await store.close()


async def test_full_write_queue_refuses_at_once(tmp_path: Path, bus: Bus) -> None:
    store = await open_store(tmp_path / "w.sqlite3", bus, max_queue=2)
    try:
        results = await asyncio.gather(
            *(store.create_whistle(new_whistle(n)) for n in range(10)), return_exceptions=True
        )
        refused = [r for r in results if isinstance(r, StoreBusy)]
        created = [r for r in results if isinstance(r, Created)]
        assert refused
        assert len(created) + len(refused) == 10
        assert await store.count_whistles() == len(created)
    finally:
        await store.close()


async def test_locked_database_fails_the_write_and_keeps_nothing(tmp_path: Path, bus: Bus) -> None:
    db = tmp_path / "w.sqlite3"
    store = SqliteStore(db, bus, busy_timeout_ms=50)
    await store.open()
    blocker = sqlite3.connect(db, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with pytest.raises(StoreUnavailable, match="database is locked"):
            await store.create_whistle(new_whistle(1))
        blocker.execute("ROLLBACK")
        outcome = await store.create_whistle(new_whistle(2))  # recovers once the lock is gone
        assert isinstance(outcome, Created)
        assert await store.count_whistles() == 1
    finally:
        blocker.close()
        await store.close()


async def test_newer_schema_is_refused(tmp_path: Path, bus: Bus) -> None:
    db = tmp_path / "w.sqlite3"
    with sqlite3.connect(db) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    store = SqliteStore(db, bus)
    with pytest.raises(StoreUnavailable, match="upgrade the program"):
        await store.open()


async def test_write_after_close_is_refused(tmp_path: Path, bus: Bus) -> None:
    store = await open_store(tmp_path / "w.sqlite3", bus)
    await store.close()
    with pytest.raises(StoreUnavailable, match="not open"):
        await store.create_whistle(new_whistle(1))


async def test_list_filters_and_pages_newest_first(tmp_path: Path, bus: Bus) -> None:
    store = await open_store(tmp_path / "w.sqlite3", bus)
    try:
        for n in range(10):
            path = "/530524/530524101/" if n % 2 else "/530524/530524102/"
            source = "camera" if n < 3 else "citizen"
            await store.create_whistle(new_whistle(n, path=path, source=source))
        page = await store.list_whistles(WhistleQuery(limit=4))
        assert [w.row_doc["n"] for w in page.items] == [9, 8, 7, 6]
        page2 = await store.list_whistles(WhistleQuery(limit=4, before=page.next_before))
        assert [w.row_doc["n"] for w in page2.items] == [5, 4, 3, 2]
        page3 = await store.list_whistles(WhistleQuery(limit=4, before=page2.next_before))
        assert [w.row_doc["n"] for w in page3.items] == [1, 0]
        assert page3.next_before is None
        town = await store.list_whistles(WhistleQuery(grid_path="/530524/530524101/"))
        assert [w.row_doc["n"] for w in town.items] == [9, 7, 5, 3, 1]
        cams = await store.list_whistles(WhistleQuery(source="camera"))
        assert [w.row_doc["n"] for w in cams.items] == [2, 1, 0]
        window = await store.list_whistles(
            WhistleQuery(since=T0 + timedelta(seconds=2), until=T0 + timedelta(seconds=5))
        )
        assert [w.row_doc["n"] for w in window.items] == [4, 3, 2]
        by_major = await store.list_whistles(WhistleQuery(category="E01"))
        assert len(by_major.items) == 10
        assert (await store.list_whistles(WhistleQuery(category="F"))).items == ()
    finally:
        await store.close()


async def test_timeline_is_in_log_order(tmp_path: Path, bus: Bus) -> None:
    store = await open_store(tmp_path / "w.sqlite3", bus)
    try:
        new = new_whistle(1)
        await store.create_whistle(new_whistle(0))
        await store.create_whistle(new)
        timeline = await store.timeline(new.whistle.id)
        assert [(e.seq, e.type) for e in timeline] == [
            (3, "whistle.received"),
            (4, "whistle.routed"),
        ]
        assert timeline[0].at == new.whistle.received_at
        assert await store.timeline("nope") == []
    finally:
        await store.close()


async def test_a_committed_write_is_visible_to_every_read_that_follows_it(
    tmp_path: Path, bus: Bus
) -> None:
    # Many requests share the reader connection; a statement held open across an await by
    # one of them must not pin an old snapshot for the others.
    store = await open_store(tmp_path / "w.sqlite3", bus)

    async def write_then_read(n: int) -> bool:
        new = new_whistle(n, key=f"k{n}")
        await store.find_idempotent(f"k{n}")
        await store.create_whistle(new)
        return await store.get_whistle(new.whistle.id) is not None

    try:
        seen = await asyncio.gather(*(write_then_read(n) for n in range(300)))
        assert all(seen)
    finally:
        await store.close()


async def test_close_does_not_wait_for_a_writer_that_is_gone(tmp_path: Path, bus: Bus) -> None:
    # asyncio.run cancels every task when an exception escapes the loop; a close that then
    # waited for the (cancelled) writer to drain its queue hung the process on SIGTERM.
    store = await open_store(tmp_path / "w.sqlite3", bus)
    writer = store.writer.task
    assert writer is not None
    writer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await writer
    pending = asyncio.ensure_future(store.create_whistle(new_whistle(1)))
    await asyncio.sleep(0)  # let it reach the queue (a scheduling step, not a wait for time)
    async with asyncio.timeout(5):
        await store.close()
    with pytest.raises(StoreUnavailable, match="closed before this write"):
        await pending


async def test_repeats_join_only_cases_still_open_in_their_window(tmp_path: Path, bus: Bus) -> None:
    recorder = Recorder(bus)
    await bus.start()
    store = await open_store(tmp_path / "w.sqlite3", bus)
    try:
        for n in (1, 2, 3):
            base = new_whistle(n)
            await store.create_whistle(
                NewWhistle(
                    base.whistle,
                    base.assignments,
                    base.events,
                    case_doc={"repeats": 0, "version": 2},
                )
            )
        ids = [new_whistle(n).whistle.id for n in (1, 2, 3)]
        # Case 1 was received before the window opened; case 2 is closed.
        await store.transition(
            Transition(ids[1], 2, 3, "closed", {"repeats": 0, "version": 3}, events=[
                NewEvent("case.closed", ids[1], T0, "tester", {}),
            ])
        )  # fmt: skip
        since = T0 + timedelta(seconds=2)
        open_ = ("dispatched", "acknowledged", "in_progress")

        def repeat(case: str, *keys: str) -> Repeat:
            detections = [{"key": key, "confidence": 0.9} for key in keys]
            return Repeat(case, T0, "天眼 CAM-1", detections, open_, since)

        written = await store.add_repeats(
            [repeat(ids[0], "k1"), repeat(ids[1], "k2"), repeat(ids[2], "k3", "k4")]
        )
        assert written == [False, False, True]
        assert await store.known_detections(["k1", "k2", "k3", "k4"]) == {
            "k3": ids[2], "k4": ids[2],
        }  # fmt: skip
        stored = await store.get_whistle(ids[2])
        assert stored is not None
        assert stored.document()["case"]["repeats"] == 2
        timeline = await store.timeline(ids[2])
        assert [e.type for e in timeline][-1] == "case.repeated"
        assert timeline[-1].data["added"] == 2
        # The version moved with the event: a transition guarded on it applies.
        await store.transition(
            Transition(ids[2], 3, 4, "acknowledged", {"repeats": 2, "version": 4}, events=[
                NewEvent("case.acknowledged", ids[2], T0, "tester", {}),
            ])
        )  # fmt: skip
    finally:
        await store.close()
        await bus.stop()
    assert [e.type for e in recorder.events].count("case.repeated") == 1


def _tables(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(path) as raw:
        return {
            table: raw.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
            for table in (
                "whistles",
                "assignments",
                "deadlines",
                "events",
                "case_facts",
                "assignment_facts",
            )
        }


async def test_a_cameras_open_case_is_a_camera_whistle_in_its_own_cell(
    tmp_path: Path, bus: Bus
) -> None:
    # Whistles stored before camera ids were checked may name a camera they are no case of:
    # filed elsewhere (a decoy in another town) or from another source.
    store = await open_store(tmp_path / "w.sqlite3", bus)
    own = "/530524/530524102/530524102001/"

    def naming_the_camera(n: int, path: str, source: str = "camera") -> NewWhistle:
        base = new_whistle(n, path=path, source=source)
        row = dataclasses.replace(base.whistle, camera_id="CAM-B")
        return NewWhistle(row, base.assignments, base.events)

    try:
        await store.create_whistle(naming_the_camera(1, own))
        await store.create_whistle(naming_the_camera(2, "/530524/530524101/"))
        await store.create_whistle(naming_the_camera(3, own, source="citizen"))
        pair = ("CAM-B", "E0101")
        open_ = ("dispatched",)
        found = await store.open_camera_cases([pair], T0, open_, within={"CAM-B": own})
        assert found == {pair: new_whistle(1).whistle.id}
        assert await store.open_camera_cases([pair], T0, open_, within={"CAM-B": "/x/"}) == {}
    finally:
        await store.close()


async def test_bulk_create_writes_what_one_by_one_writes_in_one_commit(
    tmp_path: Path, bus: Bus
) -> None:
    news = [with_history(n) for n in range(30)]
    one = await open_store(tmp_path / "one.sqlite3", Bus())
    for new in news:
        await one.create_whistle(new)
    await one.close()
    recorder = Recorder(bus)
    await bus.start()
    bulk = await open_store(tmp_path / "bulk.sqlite3", bus)
    written = await bulk.create_whistles(news)
    assert bulk.commits == 1
    await bulk.close()
    await bus.stop()
    tables = _tables(tmp_path / "bulk.sqlite3")
    assert tables == _tables(tmp_path / "one.sqlite3")
    assert len(tables["deadlines"]) == 60
    assert len(tables["case_facts"]) == 30
    assert [e.seq for e in written] == list(range(1, 91))
    assert [e.seq for e in recorder.events] == [e.seq for e in written]


async def test_bulk_create_is_all_or_nothing(tmp_path: Path, bus: Bus) -> None:
    store = await open_store(tmp_path / "w.sqlite3", bus)
    await store.create_whistle(with_history(5))
    with pytest.raises(StoreUnavailable):
        await store.create_whistles([with_history(n) for n in range(10)])  # 5 is stored
    assert await store.count_whistles() == 1
    await store.close()
    assert len(_tables(tmp_path / "w.sqlite3")["events"]) == 3


async def test_bulk_create_refuses_idempotency_keys(tmp_path: Path, bus: Bus) -> None:
    store = await open_store(tmp_path / "w.sqlite3", bus)
    with pytest.raises(ValueError, match="idempotency"):
        await store.create_whistles([new_whistle(1, key="k1")])
    assert await store.create_whistles([]) == ()
    assert await store.count_whistles() == 0
    await store.close()


async def test_pending_deadlines_are_the_pending_rows_in_due_order_from_their_own_index(
    tmp_path: Path, bus: Bus
) -> None:
    store = await open_store(tmp_path / "w.sqlite3", bus)
    news = [with_history(n) for n in (3, 1, 2)]
    await store.create_whistles(news)
    await store.cancel_deadline(news[0].whistle.id, "urge:1")
    pending = await store.pending_deadlines()
    await store.close()
    expected = sorted(
        (due, new.whistle.id, key)
        for new in news
        for key, due in new.deadlines
        if (new.whistle.id, key) != (news[0].whistle.id, "urge:1")
    )
    assert [(d.due_at, d.whistle_id, d.key) for d in pending] == expected
    with sqlite3.connect(tmp_path / "w.sqlite3") as raw:
        plan = raw.execute(
            "EXPLAIN QUERY PLAN SELECT whistle_id, key, due_at FROM deadlines "
            "WHERE status = 'pending' ORDER BY due_at"
        ).fetchall()
    assert "COVERING INDEX deadlines_pending" in plan[0][3]
