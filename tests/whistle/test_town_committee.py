"""镇党委吹哨: the town party committee names the units and departments it summons."""

from __future__ import annotations

from typing import Any

from grids import Hierarchy, Level, ResponderKind
from tests.support.harness import Live
from tests.support.requests import body, micro_in, towns


def committee(county: Hierarchy, town: str, **overrides: Any) -> dict[str, Any]:
    return body(
        county,
        source="town_committee",
        category="E0501",
        location={"grid": micro_in(county, town)},
        **overrides,
    )


def units_of(county: Hierarchy, town: str, kind: ResponderKind) -> list[str]:
    return [r.id for r in county.responders_at(town, kind)]


async def test_the_town_committee_names_the_units_it_summons(live: Live, county: Hierarchy) -> None:
    town = towns(county)[0]
    school = units_of(county, town, ResponderKind.JURISDICTION_UNIT)[1]
    department = units_of(county, town, ResponderKind.GRID_DEPARTMENT)[-1]
    status, _, doc = await live.post(committee(county, town, units=[school, department]))
    assert status == 201, doc
    got = [(a["responder"]["id"], a["kind"], a["origin"]) for a in doc["assignments"]]
    assert got == [
        (school, "jurisdiction_unit", "named"),
        (department, "grid_department", "named"),
    ]
    assert all(a["acknowledge_due"] and a["resolve_due"] for a in doc["assignments"])
    assert "named by the town committee" in doc["trace"][0]["explain"]


async def test_units_outside_the_town_or_unknown_or_of_other_kinds_are_refused(
    live: Live, county: Hierarchy
) -> None:
    town_a, town_b = towns(county)
    theirs = units_of(county, town_b, ResponderKind.JURISDICTION_UNIT)[0]
    ours = units_of(county, town_a, ResponderKind.JURISDICTION_UNIT)[0]
    grid = county.at_level(micro_in(county, town_a), Level.GRID)
    member = county.responders_at(grid.code, ResponderKind.REGISTERED_MEMBER)[0].id
    status, _, problem = await live.post(
        committee(county, town_a, units=[ours, theirs, "JU-nobody", member, ours])
    )
    assert status == 422
    fields = {e["field"]: e["reason"] for e in problem["errors"]}
    assert set(fields) == {"units[1]", "units[2]", "units[3]", "units[4]"}
    assert "not a unit of" in fields["units[1]"]
    assert "unknown responder" in fields["units[2]"]
    assert "registered_member" in fields["units[3]"]
    assert "twice" in fields["units[4]"]
    status, _, problem = await live.post(
        body(county, source="citizen", units=[ours], location={"grid": micro_in(county, town_a)})
    )
    assert status == 422
    assert problem["errors"][0]["field"] == "units"
    status, _, problem = await live.post(committee(county, town_a, units=[]))
    assert status == 422
    assert problem["errors"][0]["field"] == "units"


async def test_without_named_units_committee_whistles_spread_over_the_units_that_fit(
    live: Live, county: Hierarchy
) -> None:
    town = towns(county)[0]
    fitting = [
        r.id
        for r in county.responders_at(town, ResponderKind.JURISDICTION_UNIT)
        if any(c == "E05" for c in r.categories)
    ]
    assert len(fitting) == 2  # the test county's company and health centre take E05
    chosen = []
    for _ in range(4):
        status, _, doc = await live.post(committee(county, town))
        assert status == 201, doc
        chosen.append(doc["assignments"][0]["responder"]["id"])
    assert chosen == [fitting[0], fitting[1], fitting[0], fitting[1]]


async def test_a_whistle_without_units_is_stored_and_fingerprinted_as_before(
    live: Live, county: Hierarchy
) -> None:
    # A retry of a request made before ``units`` existed must still match its stored hash.
    status, _, doc = await live.post(body(county), **{"Idempotency-Key": "before-units"})
    assert status == 201, doc
    timeline = (await live.get(f"/api/v1/whistles/{doc['id']}"))[1]["timeline"]
    assert "units" not in timeline[0]["data"]["request"]
