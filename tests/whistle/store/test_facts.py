"""The statistics projection's 响应率 facts (whistle/store/facts.py, migration 15) in every
Store backend: a case's response facts are set when it is written with its story and kept
right by each later step, so that the statistics count each case once."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from tests.support.harness import T0, new_whistle, with_history
from whistle.events import NewEvent
from whistle.store import Created, StatsQuery, Store, Transition

TOWN = "/530524/530524101/"


def _acknowledged(n: int, after: timedelta) -> Transition:
    """Whistle ``n``'s pushed responder reports in (报到) ``after`` its receipt."""
    base = new_whistle(n)
    wid = base.whistle.id
    at = base.whistle.received_at + after
    return Transition(
        wid,
        2,
        3,
        "acknowledged",
        {"status": "acknowledged", "version": 3},
        events=[NewEvent("assignment.acknowledged", wid, at, "R1", {"assignment": f"{wid}-1"})],
    )


async def test_response_facts_count_cases_acknowledged_in_time_and_those_due(store: Store) -> None:
    for n in range(3):
        assert isinstance(await store.create_whistle(with_history(n)), Created)  # 5 min: in time
    for n in (3, 4, 5):
        assert isinstance(await store.create_whistle(new_whistle(n)), Created)
    await store.transition(_acknowledged(4, timedelta(minutes=10)))  # in time
    await store.transition(_acknowledged(5, timedelta(hours=1)))  # after the 30 min deadline
    query = StatsQuery(TOWN, T0, T0 + timedelta(days=1), T0 + timedelta(hours=2))
    counts = (await store.statistics(query))["counts"]
    assert (counts["response_due"], counts["responded_in_time"]) == (6, 4)
    ids = [new_whistle(n).whistle.id for n in range(6)]
    assert await store.cases_for("responded_in_time", None, query) == ids[:3] + ids[4:5]
    # Before any deadline passed only the acknowledged cases were due a response.
    early = dataclasses.replace(query, now=T0 + timedelta(minutes=20))
    assert (await store.statistics(early))["counts"]["response_due"] == 5
