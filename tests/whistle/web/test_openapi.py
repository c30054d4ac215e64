"""The OpenAPI document: valid OpenAPI 3.1, served publicly, and describing exactly the routes
the app has (so that it cannot drift from them)."""

from __future__ import annotations

from typing import Any, get_type_hints

import orjson
import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from grids import Hierarchy
from tests.support.harness import Live
from tests.support.requests import body as whistle_body
from whistle.documents import WhistleRecord
from whistle.web.openapi import MODELS, PATH, RESPONSES, document

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
    assert doc["openapi"].startswith("3.1")
    # Raises with the offending place when it is not, by the version the document declares.
    validate(doc, cls=OpenAPIV31SpecValidator)


def test_the_validator_sees_a_broken_document() -> None:
    answer = {"200": {"content": {}}}  # an answer without its description
    broken = {**document(), "paths": {"/api/v1/whistles": {"get": {"responses": answer}}}}
    with pytest.raises(OpenAPIValidationError):
        validate(broken, cls=OpenAPIV31SpecValidator)


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


def test_answers_are_the_models_the_server_builds_them_as() -> None:
    schemas = document()["components"]["schemas"]
    for name, model in RESPONSES.items():
        fields = get_type_hints(model)
        assert set(schemas[name]["properties"]) == set(fields), name
        assert set(schemas[name].get("required", ())) == set(model.__required_keys__), name
    # The intake's record is the stored whistle: the answer adds its status, assignments and
    # case, and nothing else.
    record = set(get_type_hints(WhistleRecord))
    assert set(schemas["Whistle"]["properties"]) - record == {"status", "assignments", "case"}


async def test_a_filed_whistle_answers_with_the_fields_the_document_promises(
    live: Live, county: Hierarchy
) -> None:
    status, headers, doc = await live.post(whistle_body(county))
    assert status == 201
    promised = document()["components"]["schemas"]["Whistle"]["required"]
    assert set(promised) <= set(doc)
    assert headers["Location"] == f"/api/v1/whistles/{doc['id']}"
