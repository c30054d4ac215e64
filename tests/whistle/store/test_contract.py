"""The Store contract: what every backend must do, through the Store protocol alone.

No SQL and no backend's internals here: each test writes and reads through ``Store`` (see
whistle/store/base.py), and durability is checked by closing the store and opening a new one
on the same data. conftest.py runs every test once per backend.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from typing import Any

import pytest

from tests.support.harness import T0, Recorder, new_whistle, with_history
from tests.support.store_contract import Backend
from whistle.bus import Bus
from whistle.events import Event, NewEvent
from whistle.exceptions import Conflict, StoreBusy, StoreUnavailable
from whistle.store import (
    Created,
    Duplicate,
    NewWhistle,
    SessionRecord,
    Silence,
    StatsQuery,
    Store,
    TokenRecord,
    Transition,
    UserRecord,
    WhistleQuery,
)

TOWN = "/530524/530524101/"
OTHER_TOWN = "/530524/530524102/"


def _id(n: int) -> str:
    return new_whistle(n).whistle.id


def _shown(n: int, *, responder: str = "R1") -> NewWhistle:
    """Whistle ``n`` with the fields an inbox shows, pushed to ``responder``."""
    base = new_whistle(n)
    doc = {
        **base.whistle.doc,
        "source": "citizen",
        "category": "E0101",
        "urgency": "normal",
        "description": f"路灯不亮 {n}",
        "grid": {"code": "530524101", "name": "一号镇"},
        "received_at": base.whistle.received_at.isoformat(),
    }
    assignment = dataclasses.replace(base.assignments[0], responder_id=responder)
    return NewWhistle(dataclasses.replace(base.whistle, doc=doc), [assignment], base.events)


def _step(n: int, status: str, *, expected: int = 2) -> Transition:
    wid = _id(n)
    return Transition(
        wid,
        expected,
        expected + 1,
        status,
        {"status": status, "version": expected + 1},
        events=[NewEvent(f"case.{status}", wid, T0 + timedelta(hours=1), "tester", {})],
    )


async def _created(store: Store, new: NewWhistle) -> Created:
    outcome = await store.create_whistle(new)
    assert isinstance(outcome, Created)
    return outcome


# -- durability and the log ----------------------------------------------------------------


async def test_a_written_whistle_reads_back_from_a_store_opened_again(
    backend: Backend, store: Store
) -> None:
    new = new_whistle(1)
    created = await _created(store, new)
    await store.close()
    again = await backend.open()
    stored = await again.get_whistle(new.whistle.id)
    assert stored is not None
    assert stored.row_doc == new.whistle.doc
    assert stored.status == "dispatched"
    assert [a["id"] for a in stored.assignments] == [new.assignments[0].id]
    assert await again.timeline(new.whistle.id) == list(created.events)


async def test_the_log_continues_its_numbering_after_reopening(
    backend: Backend, store: Store
) -> None:
    await _created(store, new_whistle(1))
    await store.close()
    again = await backend.open()
    created = await _created(again, new_whistle(2))
    assert [e.seq for e in created.events] == [3, 4]
    assert await again.count_whistles() == 2


async def test_concurrent_writes_number_their_events_without_gaps(store: Store) -> None:
    outcomes = await asyncio.gather(*(store.create_whistle(new_whistle(n)) for n in range(50)))
    seqs = [e.seq for o in outcomes if isinstance(o, Created) for e in o.events]
    assert sorted(seqs) == list(range(1, 101))
    for outcome in outcomes:
        assert isinstance(outcome, Created)
        assert [e.type for e in outcome.events] == ["whistle.received", "whistle.routed"]
        assert outcome.events[1].seq == outcome.events[0].seq + 1  # one write, one run
    assert await store.count_whistles() == 50


async def test_a_timeline_is_one_whistles_events_in_log_order(store: Store) -> None:
    await _created(store, new_whistle(0))
    new = new_whistle(1)
    await _created(store, new)
    await store.transition(_step(1, "acknowledged"))
    timeline = await store.timeline(new.whistle.id)
    assert [(e.seq, e.type) for e in timeline] == [
        (3, "whistle.received"),
        (4, "whistle.routed"),
        (5, "case.acknowledged"),
    ]
    assert timeline[0].at == new.whistle.received_at
    assert timeline[0].data == {"n": 1}


async def test_an_unknown_whistle_has_no_document_and_no_timeline(store: Store) -> None:
    assert await store.get_whistle("01JWNOPE") is None
    assert await store.timeline("01JWNOPE") == []


async def test_events_after_resumes_the_log_after_a_sequence_number(store: Store) -> None:
    for n in range(3):
        await _created(store, new_whistle(n))
    after = await store.events_after(2, limit=3)
    assert [e.seq for e in after] == [3, 4, 5]
    assert await store.events_after(6, limit=10) == []


# -- idempotency ---------------------------------------------------------------------------


async def test_an_idempotency_key_used_again_answers_the_first_whistle(store: Store) -> None:
    first = await _created(store, new_whistle(1, key="k1", request_hash="h1"))
    again = await store.create_whistle(new_whistle(2, key="k1", request_hash="h2"))
    assert again == Duplicate(first.whistle_id, "h1")
    assert await store.count_whistles() == 1
    assert await store.find_idempotent("k1") == Duplicate(first.whistle_id, "h1")
    assert await store.find_idempotent("k2") is None


async def test_one_key_sent_many_times_at_once_makes_one_whistle(store: Store) -> None:
    outcomes = await asyncio.gather(
        *(store.create_whistle(new_whistle(n, key="same")) for n in range(10))
    )
    created = [o for o in outcomes if isinstance(o, Created)]
    duplicates = [o for o in outcomes if isinstance(o, Duplicate)]
    assert len(created) == 1
    assert {d.whistle_id for d in duplicates} == {created[0].whistle_id}
    assert len(duplicates) == 9
    assert await store.count_whistles() == 1


# -- lifecycle steps -----------------------------------------------------------------------


async def test_a_transition_moves_the_case_and_appends_its_events(store: Store) -> None:
    await _created(store, new_whistle(1))
    events = await store.transition(_step(1, "acknowledged"))
    assert [(e.seq, e.type) for e in events] == [(3, "case.acknowledged")]
    stored = await store.get_whistle(_id(1))
    assert stored is not None
    assert stored.status == "acknowledged"
    assert stored.case == {"status": "acknowledged", "version": 3}


async def test_a_transition_on_a_case_that_moved_on_is_a_conflict_and_writes_nothing(
    store: Store,
) -> None:
    await _created(store, new_whistle(1))
    await store.transition(_step(1, "acknowledged"))
    with pytest.raises(Conflict):
        await store.transition(_step(1, "in_progress", expected=2))  # version is 3 now
    stored = await store.get_whistle(_id(1))
    assert stored is not None
    assert stored.status == "acknowledged"
    assert [e.type for e in await store.timeline(_id(1))][-1] == "case.acknowledged"


async def test_pending_deadlines_come_earliest_first_and_a_cancelled_one_drops_out(
    store: Store,
) -> None:
    for n in (2, 1):
        await _created(store, with_history(n))
    await store.cancel_deadline(_id(1), "urge:1")
    pending = await store.pending_deadlines()
    assert [(d.whistle_id, d.key) for d in pending] == [
        (_id(2), "urge:1"),
        (_id(1), "escalate:1"),
        (_id(2), "escalate:1"),
    ]
    assert pending[0].due_at == T0 + timedelta(seconds=2, days=3)


# -- lists and queries ---------------------------------------------------------------------


async def test_a_list_pages_newest_first_with_its_cursor(store: Store) -> None:
    for n in range(7):
        await _created(store, new_whistle(n))
    page = await store.list_whistles(WhistleQuery(limit=3))
    assert [w.row_doc["n"] for w in page.items] == [6, 5, 4]
    page = await store.list_whistles(WhistleQuery(limit=3, before=page.next_before))
    assert [w.row_doc["n"] for w in page.items] == [3, 2, 1]
    page = await store.list_whistles(WhistleQuery(limit=3, before=page.next_before))
    assert [w.row_doc["n"] for w in page.items] == [0]
    assert page.next_before is None


async def test_a_list_filters_by_source_subtree_category_and_window(store: Store) -> None:
    for n in range(8):
        path = TOWN if n % 2 else OTHER_TOWN
        source = "camera" if n < 3 else "citizen"
        category = "F0201" if n == 7 else "E0101"
        await _created(store, new_whistle(n, path=path, source=source, category=category))

    async def listed(**filters: Any) -> list[int]:
        page = await store.list_whistles(WhistleQuery(**filters))
        return [w.row_doc["n"] for w in page.items]

    assert await listed(grid_path=TOWN) == [7, 5, 3, 1]
    assert await listed(source="camera") == [2, 1, 0]
    assert await listed(category="E01") == [6, 5, 4, 3, 2, 1, 0]
    assert await listed(category="F") == [7]
    assert await listed(since=T0 + timedelta(seconds=2), until=T0 + timedelta(seconds=5)) == [
        4,
        3,
        2,
    ]
    assert await listed(level=2, source="citizen", grid_path=OTHER_TOWN) == [6, 4]


async def test_a_list_filters_by_status(store: Store) -> None:
    for n in range(3):
        await _created(store, new_whistle(n))
    await store.transition(_step(1, "acknowledged"))
    page = await store.list_whistles(WhistleQuery(status="acknowledged"))
    assert [w.row_doc["n"] for w in page.items] == [1]
    assert page.items[0].document()["status"] == "acknowledged"


async def test_find_external_names_the_newest_whistle_with_that_id_in_the_subtree(
    store: Store,
) -> None:
    for n, path in ((1, TOWN), (2, TOWN), (3, OTHER_TOWN)):
        base = new_whistle(n, path=path, source="hotline")
        row = dataclasses.replace(base.whistle, external_id="12345-0001")
        await _created(store, NewWhistle(row, base.assignments, base.events))
    assert await store.find_external("hotline", "12345-0001") == _id(3)
    assert await store.find_external("hotline", "12345-0001", within=TOWN) == _id(2)
    assert await store.find_external("citizen", "12345-0001") is None


async def test_an_inbox_lists_the_responders_live_assignments(store: Store) -> None:
    await _created(store, _shown(1, responder="R1"))
    await _created(store, _shown(2, responder="R2"))
    inbox = await store.inbox("R1", [])
    assert [item["whistle"]["id"] for item in inbox] == [_id(1)]
    assert inbox[0]["assignment"]["status"] == "dispatched"
    assert inbox[0]["whistle"]["description"] == "路灯不亮 1"
    assert await store.open_load(["R1", "R2", "R3"]) == {"R1": 1, "R2": 1}


async def test_queue_counts_count_cases_per_status_in_a_subtree(store: Store) -> None:
    for n in range(4):
        await _created(store, new_whistle(n, path=TOWN if n else OTHER_TOWN))
    await store.transition(_step(1, "acknowledged"))
    counts = await store.queue_counts(TOWN, T0 + timedelta(hours=1))
    assert counts["dispatched"] == 2
    assert counts["acknowledged"] == 1
    assert (await store.queue_counts(None, T0 + timedelta(hours=1)))["dispatched"] == 3
    assert counts["overdue"] == counts["escalated"] == counts["returned"] == 0


async def test_open_among_keeps_the_stored_ids_still_in_the_statuses(store: Store) -> None:
    for n in range(3):
        await _created(store, new_whistle(n))
    await store.transition(_step(1, "closed"))
    found = await store.open_among([_id(0), _id(1), _id(2), "01JWNOPE"], ["dispatched"])
    assert found == {_id(0), _id(2)}


# -- statistics ----------------------------------------------------------------------------


def _town_day() -> StatsQuery:
    return StatsQuery(TOWN, T0, T0 + timedelta(days=1), T0 + timedelta(hours=2))


async def test_statistics_count_the_cases_of_the_subtree_and_the_window(store: Store) -> None:
    for n in range(3):
        await _created(store, with_history(n))  # acknowledged after five minutes
    await _created(store, new_whistle(3))
    await _created(store, new_whistle(4, path=OTHER_TOWN))
    figures = await store.statistics(_town_day())
    assert figures["counts"]["total"] == 4
    assert figures["counts"]["acknowledged"] == 3
    assert figures["durations"]["acknowledge"] == {"count": 3, "median": 300.0, "p90": 300.0}
    assert [(row["key"], row["total"]) for row in figures["sources"]] == [("citizen", 4)]
    assert sum(row["total"] for row in figures["days"]) == 4
    later = StatsQuery(TOWN, T0 + timedelta(hours=1), T0 + timedelta(days=1), T0)
    assert (await store.statistics(later))["counts"]["total"] == 0


async def test_the_cases_behind_a_figure_are_the_ones_it_counts(store: Store) -> None:
    for n in range(3):
        await _created(store, with_history(n))
    await _created(store, new_whistle(3))
    query = _town_day()
    assert await store.cases_for("total", None, query) == [_id(n) for n in range(4)]
    assert await store.cases_for("acknowledged", None, query) == [_id(n) for n in range(3)]
    with pytest.raises(ValueError, match="unknown metric"):
        await store.cases_for("no-such-metric", None, query)


# -- the outbox: published after commit, once ----------------------------------------------


async def test_events_are_published_after_their_commit_in_log_order(store: Store, bus: Bus) -> None:
    seen: list[tuple[int, bool]] = []

    async def on_event(event: Event) -> None:
        # Published after commit: whoever hears of an event can already read it back.
        seen.append((event.seq, await store.get_whistle(event.whistle_id) is not None))

    bus.subscribe("*", on_event, name="reader")
    await bus.start()
    await asyncio.gather(*(store.create_whistle(new_whistle(n)) for n in range(10)))
    await bus.stop()
    assert seen == [(seq, True) for seq in range(1, 21)]


async def test_a_store_opened_again_after_a_clean_close_publishes_nothing_again(
    backend: Backend, store: Store
) -> None:
    await _created(store, new_whistle(1))
    await store.close()
    bus = Bus()
    recorder = Recorder(bus)
    again = await backend.open(bus)
    await bus.start()
    await _created(again, new_whistle(2))
    await bus.stop()
    assert [e.seq for e in recorder.events] == [3, 4]


async def test_a_caller_that_goes_away_does_not_cancel_its_write(store: Store) -> None:
    writing = asyncio.ensure_future(store.create_whistle(new_whistle(1)))
    await asyncio.sleep(0)  # let it reach the queue (a scheduling step, not a wait for time)
    writing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writing
    await _created(store, new_whistle(2))  # written after the first, so the first is done
    assert await store.get_whistle(_id(1)) is not None


# -- the write queue -----------------------------------------------------------------------


async def test_queue_depth_counts_the_writes_waiting_and_falls_back_to_zero(
    store: Store,
) -> None:
    assert store.queue_depth == 0
    writes = [asyncio.ensure_future(store.create_whistle(new_whistle(n))) for n in range(20)]
    await asyncio.sleep(0)  # every write queued, the writer not yet run
    assert store.queue_depth > 0
    await asyncio.gather(*writes)
    assert store.queue_depth == 0
    assert await store.count_whistles() == 20


async def test_a_full_write_queue_refuses_at_once(backend: Backend) -> None:
    store = await backend.open(max_queue=2)
    results = await asyncio.gather(
        *(store.create_whistle(new_whistle(n)) for n in range(10)), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, StoreBusy)]
    created = [r for r in results if isinstance(r, Created)]
    assert refused
    assert len(created) + len(refused) == 10
    assert await store.count_whistles() == len(created)


async def test_a_closed_store_refuses_writes(store: Store) -> None:
    await store.ping()
    await store.close()
    with pytest.raises(StoreUnavailable, match="not open"):
        await store.create_whistle(new_whistle(1))


# -- records beside the cases --------------------------------------------------------------


async def test_tokens_logins_and_sessions_read_back_as_saved(store: Store) -> None:
    token = TokenRecord("T1", "hash1", "operator", "530524", None, None, "desk", T0)
    await store.save_token(token)
    revoked = dataclasses.replace(token, revoked_at=T0 + timedelta(hours=1))
    await store.save_token(revoked)  # saving again updates the revocation
    assert await store.get_token("T1") == revoked
    assert await store.tokens() == [revoked]
    user = UserRecord("wang", "argon2-hash", "operator", "530524", None, T0)
    await store.save_user(user)
    assert await store.get_user("wang") == user
    session = SessionRecord("sid-hash", "wang", "csrf", T0, T0 + timedelta(hours=8))
    await store.save_session(session)
    assert await store.get_session("sid-hash") == session
    await store.delete_session("sid-hash")
    assert await store.get_session("sid-hash") is None
    assert await store.get_token("T2") is None
    assert await store.get_user("li") is None


async def test_the_audit_trail_lists_the_newest_first(store: Store) -> None:
    for n in range(3):
        await store.audit(T0 + timedelta(minutes=n), "admin", f"act{n}", "T1", {"n": n})
    trail = await store.audit_trail(limit=2)
    assert [(e["action"], e["detail"]) for e in trail] == [("act2", {"n": 2}), ("act1", {"n": 1})]


async def test_silences_list_newest_first_and_saving_again_moves_the_end(store: Store) -> None:
    older = Silence("S1", {"camera": "CAM-1"}, T0, T0 + timedelta(hours=1), "wang", "维修", T0)
    newer = Silence(
        "S2", {"grid": "530524101"}, T0, T0 + timedelta(hours=2), "li", "演练",
        T0 + timedelta(minutes=1),
    )  # fmt: skip
    await store.save_silence(older)
    await store.save_silence(newer)
    ended = dataclasses.replace(older, ends_at=T0 + timedelta(minutes=30))
    await store.save_silence(ended)
    assert await store.silences() == [newer, ended]


async def test_citizen_links_and_uploads_read_back(store: Store) -> None:
    await _created(store, new_whistle(1))
    await store.save_citizen_link(_id(1), "key-hash")
    assert await store.citizen_link(_id(1)) == "key-hash"
    assert await store.citizen_link(_id(2)) is None
    await store.save_upload("photo.jpg", "citizen:1", None)
    await store.save_upload("photo.jpg", "citizen:1", None)  # once per uploader
    await store.save_upload("photo.jpg", "T1", "530524")
    assert sorted(await store.uploads("photo.jpg")) == [("T1", "530524"), ("citizen:1", None)]
