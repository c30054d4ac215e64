"""A live server's answers keep to the OpenAPI document: each resource's answer, from a real
server over a real SQLite file, validates against its schema in the document, with formats
checked and nothing unlisted (an object with listed properties accepts no others here, so a key
added to an answer without its model fails)."""

from __future__ import annotations

import copy
from typing import Any

from jsonschema import Draft202012Validator

from grids import Hierarchy, Level
from tests.support.harness import Live
from tests.support.lifecycle import Cases
from tests.support.requests import body as whistle_body
from whistle.stats import CASE_METRICS
from whistle.web.keys import HIERARCHY
from whistle.web.openapi import document


def _closed(schema: Any) -> Any:
    """``schema`` with every object that lists its properties closed to any others."""
    if isinstance(schema, dict):
        out = {key: _closed(value) for key, value in schema.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    return schema


def validator(component: str) -> Draft202012Validator:
    """A strict validator for the answer the document calls ``component``."""
    schemas = _closed(copy.deepcopy(document()["components"]["schemas"]))
    root = {"$ref": f"#/components/schemas/{component}", "components": {"schemas": schemas}}
    return Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)


def keeps_to(component: str, answer: Any) -> None:
    """Fail naming every place where ``answer`` leaves its schema."""
    errors = [
        f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
        for e in validator(component).iter_errors(answer)
    ]
    assert errors == [], f"{component}: {errors[:10]}"


def breaks(component: str, answer: Any) -> bool:
    return not validator(component).is_valid(answer)


def county_root(live: Live) -> str:
    return str(live.app[HIERARCHY].root)


async def call(live: Live, method: str, path: str, token: str | None = None, **json: Any) -> Any:
    response = await live.client.request(
        method, path, json=json or None, headers=await live.auth(token)
    )
    assert response.status < 300, (path, response.status, await response.text())
    return await response.json()


async def test_a_whistle_through_its_life_answers_as_the_document_says(
    live: Live, county: Hierarchy
) -> None:
    cases = Cases(live, county)
    filed = await cases.new()
    keeps_to("Whistle", filed)
    assert breaks("Whistle", {**filed, "unlisted": 1}), "the check must see unlisted keys"
    assert breaks("Whistle", {k: v for k, v in filed.items() if k != "trace"})
    owner = next(a for a in filed["assignments"] if a["mode"] == "push")
    status, acknowledged = await cases.assignment(owner, "acknowledge")
    assert status == 200
    keeps_to("Whistle", acknowledged)
    status, resolved = await cases.assignment(owner, "resolve", note="杂物已清理")
    assert status == 200
    keeps_to("Whistle", resolved)
    status, verified = await cases.case(filed["id"], "verify", passed=True, note="核查属实")
    assert status == 200
    keeps_to("Whistle", verified)
    status, rated = await cases.case(filed["id"], "rate", grade="satisfied")
    assert status == 200, rated
    assert rated["case"]["rating"] is not None
    keeps_to("Whistle", rated)
    read = await call(live, "GET", f"/api/v1/whistles/{filed['id']}")
    assert len(read["timeline"]) >= 5
    keeps_to("WhistleWithTimeline", read)
    page = await call(live, "GET", "/api/v1/whistles?limit=10")
    assert [item["id"] for item in page["items"]] == [filed["id"]]
    keeps_to("WhistlePage", page)


async def test_muted_warned_and_merged_whistles_answer_as_the_document_says(
    live: Live, county: Hierarchy
) -> None:
    cases = Cases(live, county)
    micro = next(iter(county.cells(level=Level.MICRO_GRID))).code
    for matchers in ({"category": "E0101"}, {"source": "police"}):
        await call(
            live,
            "POST",
            "/api/v1/silences",
            matchers=matchers,
            author="调度员李娜",
            comment="道路施工，临时屏蔽",
            duration_minutes=60,
        )
    muted = await cases.new(location={"grid": micro})
    assert muted["status"] == "muted"
    assert muted["muted_by"] is not None
    keeps_to("Whistle", muted)
    warned = await cases.new(source="police", category="E0703", location={"grid": micro})
    assert warned["silence_warning"] is not None
    keeps_to("Whistle", warned)
    again = await cases.new(source="police", category="E0703", location={"grid": micro})
    status, merged = await cases.case(again["id"], "merge", into=warned["id"])
    assert status == 200, merged
    keeps_to("Whistle", merged)
    kept = await call(live, "GET", f"/api/v1/whistles/{warned['id']}")
    assert [m["id"] for m in kept["case"]["merged"]] == [again["id"]]
    keeps_to("WhistleWithTimeline", kept)


async def test_grids_and_categories_answer_as_the_document_says(
    live: Live, county: Hierarchy
) -> None:
    page = await call(live, "GET", "/api/v1/grids?level=micro_grid&limit=5")
    assert len(page["items"]) == 5
    keeps_to("CellPage", page)
    cell = await call(live, "GET", f"/api/v1/grids/{page['items'][0]['code']}")
    assert cell["responders"], "a cell inside the caller's scope shows who staffs it"
    keeps_to("Cell", cell)
    town = next(iter(county.cells(level=Level.TOWN))).code
    reporter = await live.token("reporter", scope=town)
    elsewhere = next(c for c in county.cells(level=Level.TOWN) if c.code != town).code
    outside = await call(live, "GET", f"/api/v1/grids/{elsewhere}", token=reporter)
    assert outside["responders"] is None
    keeps_to("Cell", outside)
    categories = await call(live, "GET", "/api/v1/categories")
    assert categories["items"]
    keeps_to("Categories", categories)


async def test_tokens_and_silences_answer_as_the_document_says(live: Live) -> None:
    admin = await live.token("admin", scope=None)
    county = county_root(live)
    issued = await call(live, "POST", "/api/v1/tokens", admin, role="operator", scope=county)
    keeps_to("IssuedToken", issued)
    tokens = await call(live, "GET", "/api/v1/tokens", admin)
    assert issued["id"] in {t["id"] for t in tokens["items"]}
    keeps_to("Tokens", tokens)
    revoked = await call(live, "DELETE", f"/api/v1/tokens/{issued['id']}", admin)
    assert revoked["revoked_at"] is not None
    keeps_to("Token", revoked)
    created = await call(
        live,
        "POST",
        "/api/v1/silences",
        matchers={"category": "F01"},
        author="调度员李娜",
        comment="管线检修",
        duration_minutes=30,
    )
    keeps_to("Silence", created)
    listing = await call(live, "GET", "/api/v1/silences")
    assert [s["id"] for s in listing["items"]] == [created["id"]]
    keeps_to("Silences", listing)
    expired = await call(live, "DELETE", f"/api/v1/silences/{created['id']}")
    assert expired["active"] is False
    keeps_to("Silence", expired)


async def test_statistics_problems_and_health_answer_as_the_document_says(
    live: Live, county: Hierarchy
) -> None:
    await Cases(live, county).new()
    stats = await call(live, "GET", "/api/v1/stats")
    assert stats["counts"]
    keeps_to("Stats", stats)
    metric = next(iter(CASE_METRICS))
    drill = await call(live, "GET", f"/api/v1/stats/cases?metric={metric}")
    keeps_to("StatsCases", drill)
    status, _, problem = await live.post(whistle_body(county, category=""))
    assert status == 422
    assert problem["errors"]
    keeps_to("Problem", problem)
    for path in ("/healthz", "/readyz"):
        response = await live.client.get(path)
        assert response.status == 200
        keeps_to("Health", await response.json())
