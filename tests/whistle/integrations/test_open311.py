"""Open311 GeoReport v2 conformance, against a server on a real socket.

Every JSON answer is validated against the published GeoReport v2 JSON schemas
(tests/data/open311/*.json, draft 4) with real format checks (date-time, uri); the endpoints
are driven with the independent ``georeport`` client from PyPI, in JSON and in XML.
"""

from __future__ import annotations

import asyncio
import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any

import pytest
import requests
from georeport import GeoReport
from jsonschema.exceptions import ValidationError

from grids import Hierarchy, Level
from tests.support.harness import Live
from tests.support.lifecycle import Cases
from tests.support.open311 import conforms, from_xml
from tests.support.requests import point_of
from whistle.web.keys import HIERARCHY, LIVE, STORE

PHONE = "13812345678"
_MOBILE = re.compile(r"(?<![\d.])1[3-9]\d{9}(?!\d)")  # a mainland mobile number


def base(live: Live) -> str:
    return str(live.client.make_url("/open311/v2"))


def client(live: Live, fmt: str = "json") -> GeoReport:
    return GeoReport(base(live), output_format=fmt)


async def call(fn: Any, *args: Any, **kw: Any) -> Any:
    """The georeport client is synchronous: run it off the loop that serves it."""
    return await asyncio.to_thread(fn, *args, **kw)


async def get(live: Live, path: str, **params: str) -> tuple[int, str, bytes]:
    response = await live.client.get(f"/open311/v2/{path}", params=params)
    return response.status, response.content_type, await response.read()


async def post(live: Live, fmt: str, form: dict[str, str]) -> tuple[int, str, bytes]:
    response = await live.client.post(f"/open311/v2/requests.{fmt}", data=form)
    return response.status, response.content_type, await response.read()


def micro(county: Hierarchy, index: int = 0) -> str:
    return list(county.cells(level=Level.MICRO_GRID))[index].code


def form_for(county: Hierarchy, api_key: str, **extra: str) -> dict[str, str]:
    point = point_of(county, micro(county))
    return {
        "api_key": api_key,
        "service_code": "E0101",
        "lat": str(point["lat"]),
        "long": str(point["lon"]),
        "description": "楼道堆放杂物，影响通行",
        "first_name": "芳",
        "last_name": "王",
        "phone": PHONE,
        "email": "wangfang@example.cn",
        "device_id": "phone-1",
        "media_url": "https://example.cn/photo.jpg",
        **extra,
    }


def errors_json(status: int, content_type: str, body: bytes, expected: int) -> str:
    assert status == expected, body
    assert content_type == "application/json"
    errors = json.loads(body)
    assert isinstance(errors, list)
    assert [e["code"] for e in errors] == [expected]
    assert isinstance(errors[0]["description"], str)
    return str(errors[0]["description"])


def errors_xml(status: int, content_type: str, body: bytes, expected: int) -> str:
    assert status == expected, body
    assert content_type == "application/xml"
    assert body.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    root = ET.fromstring(body)
    assert root.tag == "errors"
    assert root.findtext("error/code") == str(expected)
    return root.findtext("error/description") or ""


def rfc3339_offset(text: str) -> datetime:
    assert text.endswith("+08:00"), text
    return datetime.fromisoformat(text)


# -- the schemas check what they claim -----------------------------------------------------------


def test_the_validators_really_check_formats() -> None:
    good = {
        "service_request_id": "1",
        "status": "open",
        "service_code": "E0101",
        "requested_datetime": "2026-11-23T09:00:00.000+08:00",
    }
    conforms("request", good)
    with pytest.raises(ValidationError):
        conforms("request", {**good, "requested_datetime": "2026-11-23 nine o'clock"})
    with pytest.raises(ValidationError):
        conforms("request", {**good, "media_url": "not a uri"})
    with pytest.raises(ValidationError):
        conforms("requests", [{**good, "service_request_id": 1}])


# -- discovery and services ----------------------------------------------------------------------


async def test_discovery_in_json_and_xml(live: Live) -> None:
    status, content_type, raw = await get(live, "discovery.json")
    assert (status, content_type) == (200, "application/json")
    doc = json.loads(raw)
    (endpoint,) = doc["endpoints"]
    assert endpoint["url"] == base(live)
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    status, content_type, raw = await get(live, "discovery.xml")
    assert (status, content_type) == (200, "application/xml")
    root = ET.fromstring(raw)
    assert root.tag == "discovery"
    assert root.findtext("endpoints/endpoint/url") == base(live)
    assert [f.text for f in root.findall("endpoints/endpoint/formats/format")] == [
        "application/json",
        "text/xml",
    ]


async def test_services_are_the_category_catalog(live: Live) -> None:
    catalog = live.app[LIVE].catalog
    services = conforms("services", await call(client(live).get_service_list))
    assert [s["service_code"] for s in services] == [c.code for c in catalog]
    by_code = {s["service_code"]: s for s in services}
    rubbish = by_code["E0101"]
    assert rubbish["service_name"] == "暴露垃圾"
    assert rubbish["group"] == "市容环境"
    assert rubbish["type"] == "realtime"
    assert rubbish["metadata"] is False
    assert "Exposed rubbish" in rubbish["keywords"]
    for category in catalog:
        assert by_code[category.code]["metadata"] is bool(category.needs or category.claimable)
    assert by_code["E0501"]["metadata"] is True  # needs a grid department
    assert by_code["E0801"]["metadata"] is True  # claimable by party members

    in_xml = await call(client(live, "xml").get_service_list)
    assert [s["service_code"] for s in in_xml] == [c.code for c in catalog]
    xml_rubbish = next(s for s in in_xml if s["service_code"] == "E0101")
    assert xml_rubbish["group"] == "市容环境"
    assert xml_rubbish["metadata"] == "false"
    status, content_type, raw = await get(live, "services.xml")
    assert (status, content_type) == (200, "application/xml")
    assert raw.startswith(b"<?xml version='1.0' encoding='utf-8'?>")


async def test_service_definitions(live: Live) -> None:
    fire = conforms("service-definition", await call(client(live).get_service_definition, "E0501"))
    assert fire["service_code"] == "E0501"
    codes = [a["code"] for a in fire["attributes"]]
    assert codes == ["needs", "urgency"]
    assert "网格" in fire["attributes"][0]["description"]
    assert [a["order"] for a in fire["attributes"]] == [1, 2]
    urgency = fire["attributes"][1]
    assert urgency["variable"] is True
    assert urgency["datatype"] == "singlevaluelist"
    assert {v["key"] for v in urgency["values"]} == {"urgent", "normal"}
    claim = conforms("service-definition", await call(client(live).get_service_definition, "E0801"))
    assert [a["code"] for a in claim["attributes"]] == ["claimable", "urgency"]
    plain = conforms("service-definition", await call(client(live).get_service_definition, "E0101"))
    assert plain == {"service_code": "E0101", "attributes": []}

    in_xml = await call(client(live, "xml").get_service_definition, "E0501")
    assert in_xml["service_code"] == "E0501"
    attributes = in_xml["attributes"]["attribute"]
    assert [a["code"] for a in attributes] == ["needs", "urgency"]
    assert attributes[1]["variable"] == "true"
    assert [v["key"] for v in attributes[1]["values"]["value"]] == ["urgent", "normal"]


async def test_unknown_service_is_404(live: Live, county: Hierarchy) -> None:
    errors_json(*await get(live, "services/X9999.json"), 404)
    errors_xml(*await get(live, "services/X9999.xml"), 404)
    with pytest.raises(requests.HTTPError) as caught:
        await call(client(live).get_service_definition, "X9999")
    assert caught.value.response is not None
    assert caught.value.response.status_code == 404
    token = await live.token("reporter")
    errors_json(*await post(live, "json", form_for(county, token, service_code="X9999")), 404)


# -- filing and reading back ---------------------------------------------------------------------


async def test_post_a_request_and_read_it_back(
    live: Live, county: Hierarchy, capfd: pytest.CaptureFixture[str]
) -> None:
    token = await live.token("reporter", scope=county.root)
    status, content_type, raw = await post(live, "json", form_for(county, token))
    assert (status, content_type) == (201, "application/json"), raw
    (answer,) = json.loads(raw)
    assert set(answer) == {"service_request_id", "service_notice"}  # no account: no account_id
    request_id = answer["service_request_id"]
    assert isinstance(request_id, str)
    assert "暴露垃圾" in answer["service_notice"]

    found = conforms("request", await call(client(live).get_service_request, request_id))
    assert found["service_request_id"] == request_id
    assert found["status"] == "open"
    assert found["status_notes"] == "已派遣/dispatched"
    assert found["service_code"] == "E0101"
    assert found["service_name"] == "暴露垃圾"
    assert found["description"] == "楼道堆放杂物，影响通行"
    assert found["media_url"] == "https://example.cn/photo.jpg"
    point = point_of(county, micro(county))
    # The point is rounded to about 100 m: it is often the reporter's home (issue 18).
    assert (found["lat"], found["long"]) == (round(point["lat"], 3), round(point["lon"], 3))
    cell = county.cell(micro(county))
    assert found["address_id"] == cell.code
    assert found["address"] == ", ".join(county.cell(c).name for c in reversed(cell.path))
    requested = rfc3339_offset(found["requested_datetime"])
    assert rfc3339_offset(found["expected_datetime"]) > requested
    assert rfc3339_offset(found["updated_datetime"]) >= requested
    assert found["agency_responsible"]

    # The whole answer, as the spec's array, and as its token.
    status, _, raw = await get(live, f"requests/{request_id}.json")
    assert status == 200
    conforms("requests", json.loads(raw))
    status, _, raw = await get(live, f"tokens/{request_id}.json")
    assert status == 200
    assert json.loads(raw) == [{"service_request_id": request_id, "token": request_id}]
    status, _, raw = await get(live, f"tokens/{request_id}.xml")
    assert ET.fromstring(raw).findtext("request/token") == request_id

    # The person's name is kept; the phone, e-mail and device are not, nor logged.
    stored = await live.app[STORE].get_whistle(request_id)
    assert stored is not None
    assert stored.row_doc["reporter"] == "王芳"
    assert stored.row_doc["source"] == "citizen"
    everything = json.dumps(stored.document(), ensure_ascii=False)
    for secret in (PHONE, "wangfang@example.cn", "phone-1"):
        assert secret not in everything
    timeline = json.dumps([e.data for e in await live.app[STORE].timeline(request_id)])
    assert PHONE not in timeline
    out, err = capfd.readouterr()
    assert PHONE not in out + err

    # Public reads show nobody's personal data: no reporter, no phone numbers at all.
    status, _, raw = await get(live, "requests.json")
    assert status == 200
    text = raw.decode()
    assert "王芳" not in text
    assert not _MOBILE.search(text)


async def test_post_in_xml_with_a_grid_code_and_an_attribute(live: Live, county: Hierarchy) -> None:
    token = await live.token("operator", scope=county.root)
    code = micro(county, 3)
    form = {
        "api_key": token,
        "service_code": "E0501",
        "address_id": code,
        "address_string": "三号楼东侧",
        "description": "楼道冒烟",
        "attribute[urgency]": "urgent",
    }
    status, content_type, raw = await post(live, "xml", form)
    assert (status, content_type) == (201, "application/xml"), raw
    assert raw.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    root = ET.fromstring(raw)
    assert root.tag == "service_requests"
    request_id = root.findtext("request/service_request_id")
    assert request_id
    assert root.find("request/service_notice") is not None
    assert root.find("request/account_id") is None

    found = await call(client(live, "xml").get_service_request, request_id)
    assert found["service_request_id"] == request_id
    assert found["status"] == "open"
    assert found["service_code"] == "E0501"
    assert found["address_id"] == code
    # Staff read the address with the case; the public answer leaves it out (it may be a home).
    assert "三号楼东侧" not in found["description"]
    kept = await live.app[STORE].get_whistle(request_id)
    assert kept is not None
    assert "三号楼东侧" in kept.row_doc["description"]
    # No point was given: the cell's centroid stands in.
    centroid = county.centroid(code)
    assert centroid is not None
    assert (float(found["lat"]), float(found["long"])) == centroid
    stored = await live.app[STORE].get_whistle(request_id)
    assert stored is not None
    assert stored.row_doc["urgency"] == "urgent"
    conforms("request", await call(client(live).get_service_request, request_id))


# -- listing -------------------------------------------------------------------------------------


async def test_list_requests_by_status_code_and_id(live: Live, county: Hierarchy) -> None:
    cases = Cases(live, county)
    rubbish = await cases.new()
    road = await cases.new(category="E0103")
    police = await cases.new(source="police", category="E0103")  # not a service request
    assignment = rubbish["assignments"][0]
    await cases.assignment(assignment, "acknowledge")
    await cases.assignment(assignment, "resolve", note="已清理")
    code, _ = await cases.case(rubbish["id"], "verify", passed=True, actor="grid-checker")
    assert code == 200

    everything = conforms("requests", await call(client(live).get_service_requests))
    ids = [r["service_request_id"] for r in everything]
    assert ids == [road["id"], rubbish["id"]]  # newest first, citizen whistles only
    assert police["id"] not in ids

    closed = conforms("requests", await call(client(live).get_service_requests, status="closed"))
    assert [r["service_request_id"] for r in closed] == [rubbish["id"]]
    assert closed[0]["status_notes"] == "已结案/closed"
    opened = conforms("requests", await call(client(live).get_service_requests, status="open"))
    assert [r["service_request_id"] for r in opened] == [road["id"]]
    both = await call(client(live).get_service_requests, status="open,closed")
    assert len(both) == 2
    by_code = conforms(
        "requests", await call(client(live).get_service_requests, service_code="E0103")
    )
    assert [r["service_request_id"] for r in by_code] == [road["id"]]
    by_id = conforms(
        "requests",
        await call(
            client(live).get_service_requests,
            service_request_id=f"{rubbish['id']},{police['id']},nope",
            status="open",  # overridden by the ids, per the spec
        ),
    )
    assert [r["service_request_id"] for r in by_id] == [rubbish["id"]]
    window = await call(
        client(live).get_service_requests,
        start_date="2026-11-22T00:00:00+08:00",
        end_date="2026-11-23T23:59:59Z",
    )
    assert len(window) == 2
    earlier = conforms(
        "requests",
        await call(
            client(live).get_service_requests,
            start_date="2026-01-01T00:00:00+08:00",
            end_date="2026-02-01T00:00:00+08:00",
        ),
    )
    assert earlier == []

    # The same in XML.
    in_xml = await call(client(live, "xml").get_service_requests, status="open")
    assert in_xml["service_request_id"] == road["id"]  # one element: xmltodict gives a dict
    two = await call(client(live, "xml").get_service_requests, service_code="E0101,E0103")
    assert [r["service_request_id"] for r in two] == [road["id"], rubbish["id"]]
    assert two[1]["status"] == "closed"
    status, content_type, raw = await get(live, "requests.xml", service_code="E0801")
    assert (status, content_type) == (200, "application/xml")
    assert ET.fromstring(raw).tag == "service_requests"


# -- errors --------------------------------------------------------------------------------------


async def test_bad_api_keys_are_403(live: Live, county: Hierarchy) -> None:
    for key in ("", "nonsense", "wst_" + "A" * 40):
        errors_json(*await post(live, "json", form_for(county, key)), 403)
    real = await live.token("reporter")
    errors_xml(*await post(live, "xml", form_for(county, real[:-2] + "xx")), 403)
    responder = next(iter(county.responders_at(county.at_level(micro(county), Level.GRID).code)))
    for token in (
        await live.token("responder", responder=responder.id),
        await live.token("committee"),
    ):
        reason = errors_json(*await post(live, "json", form_for(county, token)), 403)
        assert "may not file" in reason
    # A bearer header is no substitute for the api_key.
    response = await live.client.post(
        "/open311/v2/requests.json",
        data={k: v for k, v in form_for(county, real).items() if k != "api_key"},
        headers=await live.auth(real),
    )
    errors_json(response.status, response.content_type, await response.read(), 403)
    assert await live.app[STORE].count_whistles() == 0


async def test_a_place_outside_the_keys_scope_is_403(live: Live, county: Hierarchy) -> None:
    towns = list(county.cells(level=Level.TOWN))
    first, other = towns[0], towns[1]
    token = await live.token("reporter", scope=first.code)
    outside = next(c for c in county.cells(level=Level.MICRO_GRID) if c.is_within(other.code))
    inside = next(c for c in county.cells(level=Level.MICRO_GRID) if c.is_within(first.code))
    form = {"api_key": token, "service_code": "E0101", "description": "x"}
    reason = errors_json(*await post(live, "json", {**form, "address_id": outside.code}), 403)
    assert "outside scope" in reason
    point = point_of(county, outside.code)
    located = {**form, "lat": str(point["lat"]), "long": str(point["lon"])}
    errors_xml(*await post(live, "xml", located), 403)
    status, _, raw = await post(live, "json", {**form, "address_id": inside.code})
    assert status == 201, raw
    assert await live.app[STORE].count_whistles() == 1


async def test_bad_parameters_are_400(live: Live, county: Hierarchy) -> None:
    for params in (
        {"start_date": "yesterday"},
        {"end_date": "2026-11-23"},  # a date, not a date-time
        {"start_date": "2026-11-23T09:00:00"},  # no offset
        {"start_date": "2026-11-23T00:00:00+08:00", "end_date": "2026-11-01T00:00:00+08:00"},
        {"start_date": "2026-01-01T00:00:00+08:00", "end_date": "2026-11-01T00:00:00+08:00"},
        {"status": "pending"},
        {"service_code": "X9999"},
    ):
        errors_json(*await get(live, "requests.json", **params), 400)
        errors_xml(*await get(live, "requests.xml", **params), 400)
    with pytest.raises(requests.HTTPError) as caught:
        await call(client(live).get_service_requests, start_date="not a date")
    assert caught.value.response is not None
    assert caught.value.response.status_code == 400

    token = await live.token("reporter")
    for extra in (
        {"lat": "north"},
        {"attribute[colour]": "red"},
        {"description": "x" * 2100},
        {"media_url": "ftp://example.cn/x"},
        {"shoe_size": "42"},
    ):
        errors_json(*await post(live, "json", form_for(county, token, **extra)), 400)
    no_place = {"api_key": token, "service_code": "E0101"}
    reason = errors_json(*await post(live, "json", no_place), 400)
    assert "address_string" in reason
    errors_json(*await post(live, "json", {**no_place, "address_id": "NOPE"}), 400)
    response = await live.client.post(
        "/open311/v2/requests.json", json=form_for(county, token)
    )  # not form-encoded
    errors_json(response.status, response.content_type, await response.read(), 400)
    assert await live.app[STORE].count_whistles() == 0


async def test_unknown_requests_are_404(live: Live, county: Hierarchy) -> None:
    errors_json(*await get(live, "requests/nope.json"), 404)
    errors_xml(*await get(live, "requests/nope.xml"), 404)
    errors_json(*await get(live, "tokens/nope.json"), 404)
    cases = Cases(live, county)
    police = await cases.new(source="police")
    errors_json(*await get(live, f"requests/{police['id']}.json"), 404)
    errors_json(*await get(live, "services.json", jurisdiction_id="elsewhere"), 404)
    status, _, _ = await get(live, "services.json", jurisdiction_id=county.root)
    assert status == 200


# -- the closed loop, as GeoReport shows it ------------------------------------------------------


async def test_status_and_notes_follow_the_case(live: Live, county: Hierarchy) -> None:
    cases = Cases(live, county)
    doc = await cases.new()
    whistle_id = doc["id"]
    reader = client(live)

    first = conforms("request", await call(reader.get_service_request, whistle_id))
    assert (first["status"], first["status_notes"]) == ("open", "已派遣/dispatched")
    assert first["expected_datetime"] == doc["case"]["resolve_due"]

    owner = doc["assignments"][1]
    code, _ = await cases.assignment(owner, "acknowledge")
    assert code == 200
    acknowledged = conforms("request", await call(reader.get_service_request, whistle_id))
    assert (acknowledged["status"], acknowledged["status_notes"]) == ("open", "已报到/acknowledged")
    # The owner by role and cell (第1网格报到党员), never by name (issue 18).
    assert acknowledged["agency_responsible"] == f"{owner['cell_name']}{owner['kind_name']}"
    assert owner["responder"]["name"] not in json.dumps(acknowledged, ensure_ascii=False)
    responder = county.responder(owner["responder"]["id"])
    assert responder is not None
    if responder.contact:
        assert responder.contact not in json.dumps(acknowledged, ensure_ascii=False)

    await cases.assignment(owner, "resolve", note="已清理")
    resolved = conforms("request", await call(reader.get_service_request, whistle_id))
    assert (resolved["status"], resolved["status_notes"]) == ("open", "已反馈/resolved")
    code, _ = await cases.case(whistle_id, "verify", passed=True, actor="grid-checker")
    assert code == 200
    closed = conforms("request", await call(reader.get_service_request, whistle_id))
    assert (closed["status"], closed["status_notes"]) == ("closed", "已结案/closed")
    assert closed["updated_datetime"] >= acknowledged["updated_datetime"]
    code, _ = await cases.case(whistle_id, "rate", grade="满意")
    assert code == 200
    rated = await call(client(live, "xml").get_service_request, whistle_id)
    assert (rated["status"], rated["status_notes"]) == ("closed", "已评价/rated")

    duplicate = await cases.new()
    code, _ = await cases.case(duplicate["id"], "merge", into=whistle_id)
    merged = await call(reader.get_service_request, duplicate["id"])
    assert (merged["status"], merged["status_notes"]) == ("closed", "已合并/cancelled")


# -- addresses in words --------------------------------------------------------------------------


async def test_an_address_string_alone_is_placed_by_the_gazetteer(live: Live) -> None:
    token = await live.token("reporter", scope=live.app[HIERARCHY].root)
    form = {"api_key": token, "service_code": "E0101", "address_string": "田园文化路2号"}
    status, _, raw = await post(live, "json", form)
    assert status == 201, raw
    (answer,) = conforms("request-response", json.loads(raw))
    found = conforms(
        "request", await call(client(live).get_service_request, answer["service_request_id"])
    )
    assert found["address_id"] == "530524101001003002"
    assert found["status_notes"] == "已派遣/dispatched"
    stored = await live.app[STORE].get_whistle(answer["service_request_id"])
    assert stored is not None
    assert stored.row_doc["placement"]["entry"] == "田园文化路2号"


async def test_an_address_no_place_matches_is_accepted_and_waits(live: Live) -> None:
    token = await live.token("reporter", scope=live.app[HIERARCHY].root)
    form = {"api_key": token, "service_code": "E0101", "address_string": "某小区东门"}
    for fmt in ("json", "xml"):
        status, _, raw = await post(live, fmt, form)
        assert status == 201, raw
    (answer,) = json.loads((await post(live, "json", form))[2])
    assert "待人工定位" in answer["service_notice"]
    found = conforms(
        "request", await call(client(live).get_service_request, answer["service_request_id"])
    )
    assert found["status"] == "open"
    assert found["status_notes"] == "待定位/unplaced"
    # The words given may be someone's home: the public answer names the cell it waits in.
    county = live.app[HIERARCHY]
    assert found["address"] == county.cell(county.root).name
    assert "某小区东门" not in json.dumps(found, ensure_ascii=False)
    assert (found["address_id"], found["lat"], found["long"]) == (None, None, None)
    status, _, raw = await get(live, "requests.xml")
    assert status == 200
    conforms("requests", from_xml("requests", raw))
