"""Retention's blanking of personal fields (issue 18) in every Store backend: a case closed
before the cutoff is listed once, its document, case document, assignments, events and search
text lose the personal fields, its statistics stay, and photos no kept case names are handed
back for deletion."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from tests.support.harness import T0, new_whistle
from whistle.events import NewEvent
from whistle.store import Created, NewWhistle, StatsQuery, Store, WhistleQuery

TOWN = "/530524/530524101/"
PHONE = "13900001111"


def _closed(n: int, photo: str, *, closed_after: timedelta) -> NewWhistle:
    """Whistle ``n`` with a reporter, a phone and a photo, closed ``closed_after`` receipt."""
    base = new_whistle(n)
    wid, at = base.whistle.id, base.whistle.received_at
    doc = {
        **base.whistle.doc,
        "reporter": "张三丰",
        "phone": PHONE,
        "description": f"楼道堆放杂物，请打{PHONE}",
        "media_urls": [f"/media/{photo}"],
    }
    events = [
        *base.events,
        NewEvent("case.closed", wid, at + closed_after, "op", {"on_time": True, "phone": PHONE}),
    ]
    return NewWhistle(
        dataclasses.replace(base.whistle, doc=doc, status="closed"),
        base.assignments,
        events,
        case_doc={"status": "closed", "reporter": "张三丰"},
    )


async def test_an_expired_case_is_blanked_everywhere_and_its_figures_stay(store: Store) -> None:
    old = _closed(1, "a.jpg", closed_after=timedelta(hours=1))
    kept = _closed(2, "b.jpg", closed_after=timedelta(days=400))
    for new in (old, kept):
        assert isinstance(await store.create_whistle(new), Created)
        await store.save_upload(new.whistle.doc["media_urls"][0].rsplit("/", 1)[1], "u1", None)
    query = StatsQuery(TOWN, T0, T0 + timedelta(days=1), T0 + timedelta(days=500))
    before = await store.statistics(query)
    cutoff = T0 + timedelta(days=30)
    assert await store.expired_cases(cutoff) == [old.whistle.id]
    orphans = await store.redact_cases([old.whistle.id], T0 + timedelta(days=31))
    assert orphans == ["a.jpg"]
    assert await store.uploads("a.jpg") == []
    assert await store.uploads("b.jpg") == [("u1", None)]
    stored = await store.get_whistle(old.whistle.id)
    assert stored is not None
    assert (stored.row_doc["reporter"], stored.row_doc["phone"], stored.row_doc["media_urls"]) == (
        "",
        "",
        [],
    )
    assert PHONE not in stored.row_doc["description"]
    assert stored.case is not None
    assert stored.case["reporter"] == ""
    timeline = await store.timeline(old.whistle.id)
    assert all(PHONE not in str(event.data) for event in timeline)
    still = await store.get_whistle(kept.whistle.id)
    assert still is not None
    assert still.row_doc["phone"] == PHONE
    found = await store.list_whistles(WhistleQuery(text="张三丰"))
    assert [w.row_doc["id"] for w in found.items] == [kept.whistle.id]
    assert (await store.statistics(query))["counts"] == before["counts"]
    assert await store.expired_cases(cutoff) == []  # done once
