"""The assignee picker's answer (issue 17): the responders of the case's cell and the cells
above it, grouped by kind and by name, on duty or not, with their open tasks, searchable."""

from __future__ import annotations

from typing import Any

from grids import Hierarchy
from tests.support.harness import Live
from tests.support.lifecycle import Cases


def everyone(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return [item for group in answer["groups"] for item in group["items"]]


async def test_candidates_climb_from_the_case_cell_to_the_county_grouped_by_kind(
    live: Live, county: Hierarchy
) -> None:
    cases = Cases(live, county)
    doc = await cases.new()
    status, answer = await live.get(f"/api/v1/whistles/{doc['id']}/candidates")
    assert status == 200, answer
    cells = {c.code for c in county.ancestors(doc["grid"]["code"])}
    listed = everyone(answer)
    assert listed
    assert all(item["cell"] in cells for item in listed)
    expected = {
        r.id
        for code in cells
        for r in county.responders_at(code)
        if r.handles(doc["category"]["code"])
    }
    assert {item["id"] for item in listed} == expected
    kinds = [group["kind"] for group in answer["groups"]]
    assert len(kinds) == len(set(kinds))  # one group per kind
    for group in answer["groups"]:
        names = [(i["name"], i["id"]) for i in group["items"]]
        assert names == sorted(names)
    assert answer["groups"][0]["kind_name"]  # named, in Chinese by default


async def test_candidates_show_open_tasks_and_who_is_already_on_the_case(
    live: Live, county: Hierarchy
) -> None:
    cases = Cases(live, county)
    doc = await cases.new()
    await cases.new(description="第二件")
    holder = doc["assignments"][0]["responder"]["id"]
    status, answer = await live.get(f"/api/v1/whistles/{doc['id']}/candidates")
    assert status == 200
    item = next(i for i in everyone(answer) if i["id"] == holder)
    assert item["on_case"] is True
    assert item["open_tasks"] == 2
    assert item["on_duty"] is True  # no duty.csv rows for it: always on duty
    others = [i for i in everyone(answer) if not i["on_case"]]
    assert others  # the rest of the ladder, not on the case
    assert all(not i["on_case"] for i in others if i["id"] != holder)


async def test_candidates_filter_by_the_words_typed(live: Live, county: Hierarchy) -> None:
    cases = Cases(live, county)
    doc = await cases.new()
    status, answer = await live.get(f"/api/v1/whistles/{doc['id']}/candidates")
    first = everyone(answer)[0]
    word = first["name"][-2:]
    status, narrowed = await live.get(f"/api/v1/whistles/{doc['id']}/candidates?q={word}")
    assert status == 200
    names = [i["name"] for i in everyone(narrowed)]
    assert first["name"] in names
    assert all(word in n or word in i["cell_name"] or word in i["id"]
               for n, i in zip(names, everyone(narrowed), strict=True))  # fmt: skip
    status, none = await live.get(f"/api/v1/whistles/{doc['id']}/candidates?q=没有这个人")
    assert status == 200
    assert none["groups"] == []


async def test_candidates_are_for_operators(live: Live, county: Hierarchy) -> None:
    cases = Cases(live, county)
    doc = await cases.new()
    token = await live.token("committee")
    status, _ = await live.get(f"/api/v1/whistles/{doc['id']}/candidates", token=token)
    assert status == 403
    status, _ = await live.get("/api/v1/whistles/nope/candidates")
    assert status == 404
