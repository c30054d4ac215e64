"""What the cases write, in every Store backend, beyond tests/whistle/store/test_contract.py:
a held whistle (待定位) placed by hand moves its row, statistics row and search text to its new
place, and tells the responders it names, in the step that routes it."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import orjson
import pytest

from tests.support.harness import T0, new_whistle
from whistle.events import NewEvent
from whistle.store import Created, Placed, StatsQuery, Store, Transition, WhistleQuery

COUNTY, TOWN = "/530524/", "/530524/530524101/"


async def test_a_held_whistle_placed_by_hand_moves_with_its_facts_and_search_text(
    store: Store,
) -> None:
    held = new_whistle(1, path=COUNTY)
    doc = {
        **held.whistle.doc,
        "source": "citizen",
        "category": "E0101",
        "urgency": "normal",
        "description": "井盖丢失待定位",
        "grid": {"code": "530524", "name": "县"},
        "received_at": held.whistle.received_at.isoformat(),
    }
    held = dataclasses.replace(held, whistle=dataclasses.replace(held.whistle, doc=doc))
    assert isinstance(await store.create_whistle(held), Created)
    wid = held.whistle.id
    placed_doc = {
        **doc,
        "grid": {"code": "530524101", "name": "一号镇"},
        "informed": [{"responder": {"id": "R9"}}],
    }
    step = Transition(
        wid,
        2,
        3,
        "dispatched",
        {"status": "dispatched", "version": 3},
        events=[NewEvent("whistle.placed", wid, T0 + timedelta(minutes=3), "op", {})],
        placed=Placed("530524101", TOWN, 2, "near-1", placed_doc),
    )
    await store.transition(step)
    stored = await store.get_whistle(wid)
    assert stored is not None
    assert stored.row_doc["grid"]["name"] == "一号镇"
    in_town = await store.list_whistles(WhistleQuery(grid_path=TOWN))
    assert [w.row_doc["id"] for w in in_town.items] == [wid]
    found = await store.list_whistles(WhistleQuery(grid_path=TOWN, text="井盖丢失"))
    assert [w.row_doc["id"] for w in found.items] == [wid]
    query = StatsQuery(TOWN, T0, T0 + timedelta(days=1), T0 + timedelta(hours=1))
    assert (await store.statistics(query))["counts"]["total"] == 1
    informed = await store.informed_of("R9", ["dispatched"])
    assert [w["id"] for w in informed] == [wid]


def test_the_case_number_is_spliced_into_the_documents_text() -> None:
    from whistle.store.sqlite.writes import with_case_number

    doc = {"id": "w1", "case_number": None, "description": '"case_number":null inside', "n": 3}
    text = orjson.dumps(doc).decode()
    spliced = with_case_number(text, "TY2612-0007")
    assert orjson.loads(spliced) == {**doc, "case_number": "TY2612-0007"}
    assert with_case_number(text, None) == text
    with pytest.raises(ValueError, match="case_number"):
        with_case_number(orjson.dumps({"id": "w1"}).decode(), "TY2612-0007")
