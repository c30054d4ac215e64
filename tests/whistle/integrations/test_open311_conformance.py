"""Every Open311 GeoReport v2 route, in every format it serves, answers what the published
schemas describe: each (route, format) pair is called and its answer validated, JSON as it
is and XML read back through the same schema (tests/support/open311.py). The pairs are taken
from the app's own router, so a route added later without a check here fails the count.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from jsonschema.exceptions import ValidationError

from grids import Hierarchy, Level
from tests.support.harness import Live
from tests.support.lifecycle import Cases
from tests.support.open311 import conforms, from_xml
from tests.support.requests import point_of

FORMATS = ("json", "xml")
# The one answer the publication has no schema for: discovery (checked for its shape).
UNSCHEMED = {("GET", "/open311/v2/discovery.{fmt}")}


def open311_routes(live: Live) -> set[tuple[str, str]]:
    """(method, path template) of every Open311 route the app serves."""
    out = set()
    for resource in live.app.router.resources():
        path = resource.canonical
        if not path.startswith("/open311/v2/"):
            continue
        for route in resource:
            if route.method != "HEAD":
                out.add((route.method, path.replace("{fmt:(json|xml)}", "{fmt}")))
    return out


def checked(name: str, fmt: str, body: bytes) -> Any:
    data = json.loads(body) if fmt == "json" else from_xml(name, body)
    return conforms(name, data)


def test_an_xml_answer_typed_wrong_fails_its_schema() -> None:
    # An empty account_id is null in XML as in JSON: the schema wants a string.
    old = b"<service_requests><request><service_request_id>1</service_request_id>"
    with pytest.raises(ValidationError):
        checked("request-response", "xml", old + b"<account_id /></request></service_requests>")
    checked("request-response", "xml", old + b"</request></service_requests>")
    with pytest.raises(ValidationError):  # "yes" is no boolean
        checked(
            "services",
            "xml",
            b"<services><service><service_code>E1</service_code><service_name>x</service_name>"
            b"<type>realtime</type><metadata>yes</metadata></service></services>",
        )


async def test_every_route_and_format_conforms(live: Live, county: Hierarchy) -> None:
    cases = Cases(live, county)
    filed = await cases.new()
    token = await live.token("reporter", scope=county.root)
    micro = next(iter(county.cells(level=Level.MICRO_GRID))).code
    point = point_of(county, micro)
    results: dict[tuple[str, str, str], int] = {}

    async def get(
        template: str, fmt: str, name: str | None, path: str | None = None, **params: str
    ) -> Any:
        response = await live.client.get((path or template).format(fmt=fmt), params=params)
        raw = await response.read()
        assert response.status == 200, raw
        results[("GET", template, fmt)] = results.get(("GET", template, fmt), 0) + 1
        if name is None:
            return json.loads(raw) if fmt == "json" else ET.fromstring(raw)
        return checked(name, fmt, raw)

    async def post(fmt: str, form: dict[str, str]) -> Any:
        template = "/open311/v2/requests.{fmt}"
        response = await live.client.post(template.format(fmt=fmt), data=form)
        raw = await response.read()
        assert response.status == 201, raw
        results[("POST", template, fmt)] = results.get(("POST", template, fmt), 0) + 1
        return checked("request-response", fmt, raw)

    base = {"api_key": token, "service_code": "E0101", "description": "楼道堆放杂物"}
    for fmt in FORMATS:
        found = await get("/open311/v2/discovery.{fmt}", fmt, None)
        assert found is not None
        await get("/open311/v2/services.{fmt}", fmt, "services")
        for code in ("E0101", "E0501", "E0801"):  # none, needs, claimable: every attribute
            await get(
                "/open311/v2/services/{code}.{fmt}",
                fmt,
                "service-definition",
                "/open311/v2/services/" + code + ".{fmt}",
            )
        by_point = {**base, "lat": str(point["lat"]), "long": str(point["lon"])}
        (made,) = await post(fmt, by_point)
        assert set(made) == {"service_request_id", "service_notice"}
        fire = {"service_code": "E0501", "address_id": micro, "attribute[urgency]": "urgent"}
        await post(fmt, {**base, **fire})
        await post(fmt, {**base, "address_string": "某小区东门"})  # held for a place: 待定位
        rows = await get("/open311/v2/requests.{fmt}", fmt, "requests")
        assert len(rows) >= 2
        for params in ({"status": "open"}, {"service_request_id": filed["id"]}):
            await get("/open311/v2/requests.{fmt}", fmt, "requests", **params)
        for request_id in (filed["id"], made["service_request_id"]):
            (one,) = await get(
                "/open311/v2/requests/{id}.{fmt}",
                fmt,
                "requests",
                "/open311/v2/requests/" + request_id + ".{fmt}",
            )
            assert one["service_request_id"] == request_id
            (token_answer,) = await get(
                "/open311/v2/tokens/{id}.{fmt}",
                fmt,
                "token-response",
                "/open311/v2/tokens/" + request_id + ".{fmt}",
            )
            assert token_answer == {"service_request_id": request_id, "token": request_id}

    served = {(method, path, fmt) for method, path in open311_routes(live) for fmt in FORMATS}
    assert set(results) == served  # every route in every format was called
    validated = {key for key in results if key[:2] not in UNSCHEMED}
    # 6 routes with a published schema x 2 formats: every (route, format) pair called, and
    # every one of its 28 answers valid.
    assert len(validated) == 12, sorted(validated)
    assert sum(results[key] for key in validated) == 2 * (1 + 3 + 3 + 3 + 4)
