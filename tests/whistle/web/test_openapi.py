"""The OpenAPI document: valid OpenAPI 3.1, served publicly, and describing exactly the routes
the app has (so that it cannot drift from them)."""

from __future__ import annotations

from typing import Any

import orjson
from openapi_spec_validator import validate

from grids import Hierarchy
from tests.support.harness import Live
from tests.support.requests import body as whistle_body
from whistle.web.openapi import MODELS, PATH, document

METHODS = ("get", "post", "put", "patch", "delete")
EXTRA = {"/healthz", "/readyz", "/media/{name}"}  # described though outside /api/v1


def described(doc: dict[str, Any]) -> set[str]:
    return {
        f"{method.upper()} {path}"
        for path, item in doc["paths"].items()
        for method in METHODS
        if method in item
    }


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = document()
    validate(doc)  # raises with the offending place when it is not
    assert doc["openapi"].startswith("3.1")


async def test_the_document_is_served_without_credentials_and_cacheable(live: Live) -> None:
    response = await live.client.get(PATH)
    assert response.status == 200
    assert response.content_type == "application/json"
    assert "max-age" in response.headers["Cache-Control"]
    assert orjson.loads(await response.read()) == orjson.loads(orjson.dumps(document()))


async def test_every_api_route_is_described_and_nothing_else(live: Live) -> None:
    routes = {
        f"{route.method} {route.resource.canonical}"
        for route in live.app.router.routes()
        if route.resource is not None
        and route.method != "HEAD"
        and (route.resource.canonical.startswith("/api/v1/") or route.resource.canonical in EXTRA)
    }
    doc = described(document())
    assert routes - doc == set(), "describe these routes in whistle/web/openapi.py"
    assert doc - routes == set(), "the document describes routes the app does not have"


def test_every_operation_names_its_errors_as_problem_details() -> None:
    for path, item in document()["paths"].items():
        for method in METHODS:
            for status, answer in item.get(method, {}).get("responses", {}).items():
                if int(status) >= 400:
                    assert "application/problem+json" in answer["content"], (method, path)


def test_request_bodies_are_the_validation_models() -> None:
    schemas = document()["components"]["schemas"]
    for name, model in MODELS.items():
        wanted = {k for k, f in model.model_fields.items() if f.is_required()}
        assert set(schemas[name].get("required", ())) == wanted, name
        assert set(schemas[name]["properties"]) == set(model.model_fields), name
    body = document()["paths"]["/api/v1/whistles"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/WhistleIn"
    }


async def test_a_filed_whistle_answers_with_the_fields_the_document_promises(
    live: Live, county: Hierarchy
) -> None:
    status, headers, doc = await live.post(whistle_body(county))
    assert status == 201
    promised = document()["components"]["schemas"]["Whistle"]["required"]
    assert set(promised) <= set(doc)
    assert headers["Location"] == f"/api/v1/whistles/{doc['id']}"
