"""The published GeoReport v2 schemas as validators, for JSON answers and for XML ones.

The JSON schemas (draft 4) are open311's schema-validation files, copied into
tests/data/open311 from ../shared/open311; the answers that have no file of their own (the
POST answer and the token answer) are checked against their definitions in the same
publication's swagger.json (``RequestResponse``, ``TokenResponse``). Formats (date-time, uri)
are really checked.

An XML answer is read back into the JSON the schema describes, guided by the schema: an
element's text becomes a boolean, integer or number where the schema types it so, an empty
element is null, and a list's repeated elements become an array. So one schema checks both
formats, and a field typed differently in XML (``"true"`` where a boolean belongs, an empty
``account_id``) fails the same way it would in JSON.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

__all__ = ["SCHEMAS", "conforms", "from_xml", "schema_of"]

SCHEMAS = Path(__file__).resolve().parents[1] / "data" / "open311"

_FILES = ("services", "service", "service-definition", "requests", "request")
# Answers without a schema file of their own: their swagger definition, as an array.
_SWAGGER = {"request-response": "RequestResponse", "token-response": "TokenResponse"}


def _registry() -> Registry[Any]:
    resources = [
        (path.name, Resource.from_contents(json.loads(path.read_text()), DRAFT4))
        for path in SCHEMAS.glob("*.json")
        if path.name != "swagger.json"
    ]
    registry: Registry[Any] = Registry().with_resources(resources)
    return registry


def _schemas() -> dict[str, dict[str, Any]]:
    out = {name: json.loads((SCHEMAS / f"{name}.json").read_text()) for name in _FILES}
    swagger = json.loads((SCHEMAS / "swagger.json").read_text())["definitions"]
    for name, definition in _SWAGGER.items():
        item = {k: v for k, v in swagger[definition].items() if k != "description"}
        out[name] = {"type": "array", "items": item}
    return out


_ALL = _schemas()
_REGISTRY = _registry()
_VALIDATORS = {
    name: Draft4Validator(schema, registry=_REGISTRY, format_checker=FormatChecker())
    for name, schema in _ALL.items()
}


def schema_of(name: str) -> dict[str, Any]:
    """The schema ``name`` (a file's stem, or request-response / token-response)."""
    return _ALL[name]


def conforms(name: str, data: Any) -> Any:
    """``data`` after validating it against schema ``name`` (raises ValidationError)."""
    _VALIDATORS[name].validate(data)
    return data


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return dict(_ALL[ref.removesuffix(".json")])
    return schema


def _types(schema: dict[str, Any]) -> set[str]:
    schema = _resolve(schema)
    if "anyOf" in schema:
        return {t for option in schema["anyOf"] for t in _types(option)}
    kind = schema.get("type")
    if isinstance(kind, list):
        return set(kind)
    return {kind} if isinstance(kind, str) else set()


def _scalar(text: str | None, schema: dict[str, Any]) -> Any:
    types = _types(schema)
    if not text:
        return None  # an empty element is a null: the publication never allows ""
    if "boolean" in types and text in ("true", "false"):
        return text == "true"
    if "integer" in types and text.lstrip("-").isdigit():
        return int(text)
    if "number" in types:
        try:
            return float(text)
        except ValueError:
            return text
    return text


def _object(element: ET.Element, schema: dict[str, Any]) -> dict[str, Any]:
    properties = _resolve(schema).get("properties", {})
    out: dict[str, Any] = {}
    for child in element:
        prop = _resolve(properties.get(child.tag, {}))
        if "array" in _types(prop):
            items = _resolve(prop.get("items", {}))
            out[child.tag] = [_value(sub, items) for sub in child]
        else:
            out[child.tag] = _value(child, prop)
    return out


def _value(element: ET.Element, schema: dict[str, Any]) -> Any:
    schema = _resolve(schema)
    if len(element) or "properties" in schema:
        return _object(element, schema)
    return _scalar(element.text, schema)


def from_xml(name: str, body: bytes) -> Any:
    """An XML answer as the JSON that schema ``name`` (an array of items) describes."""
    root = ET.fromstring(body)
    schema = _resolve(_ALL[name])
    if "array" in _types(schema):
        items = _resolve(schema.get("items", {}))
        return [_object(child, items) for child in root]
    return _object(root, schema)
