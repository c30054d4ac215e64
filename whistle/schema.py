"""The shape of a whistle on the wire, and turning shape errors into field/reason pairs.

pydantic checks the shape (types, lengths, enums, RFC 3339 times) in one pass and reports
every bad field with its path; we reword its messages where a grid worker would not
understand them. Checks that need the county (a known category, a grid code, a point inside
the county) are done by the intake afterwards.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from dispatch import Source, Urgency
from whistle.bounds import RANGE, check_instant
from whistle.exceptions import FieldError

__all__ = ["INPUT", "LIMITS", "Instant", "LocationIn", "WhistleIn", "field_errors"]

# The configuration of every request body's model: unknown fields refused, text stripped.
# pydantic caches the strings it validates in a process-wide table of 16,384 entries, to reuse
# the objects; that pays for repeated values, but the text of a request (a description, a
# note, a reporter's name) rarely repeats, and the table kept up to ~16,000 such strings alive
# (2-3 MB, the soak's memory growing until it filled). Field names repeat: only keys are cached.
INPUT = ConfigDict(extra="forbid", str_strip_whitespace=True, cache_strings="keys")

LIMITS = {
    "description": 2000,
    "reporter": 100,
    "category": 16,
    "grid": 32,
    "address": 200,
    "camera_id": 64,
    "external_id": 128,
    "media_urls": 10,
    "media_url": 2048,
    "units": 20,
    "unit": 64,
}

# RFC 3339 date-time: a full date, a time, and an offset (Z or ±hh:mm) are all required.
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)


def _rfc3339(value: Any) -> Any:
    if isinstance(value, str) and not _RFC3339.match(value):
        raise ValueError("not an RFC 3339 date-time with an offset, e.g. 2026-11-21T09:30:00+08:00")
    if not isinstance(value, str):
        raise ValueError("expected an RFC 3339 date-time string")
    return value


# An RFC 3339 time within the range of whistle.bounds: year 1 at +14:00 is valid RFC 3339,
# and only fails when turned into UTC, deep inside the intake (a 500); here it is a 422.
Instant = Annotated[
    datetime,
    BeforeValidator(_rfc3339),
    AfterValidator(check_instant),
    Field(description=f"RFC 3339 with an offset, {RANGE}"),
]


def _url(value: str) -> str:
    if not re.match(r"^https?://[^\s/$.?#][^\s]*$", value):
        raise ValueError("not an http(s) URL")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


_NotBlank = AfterValidator(_not_blank)


class LocationIn(BaseModel):
    """A grid code, a point (lat and lon), or an address in words; the first of these given
    places the whistle (grid, then point, then address). An address is kept either way; alone,
    the gazetteer places it, and one it cannot place waits for an operator (待定位)."""

    model_config = INPUT

    grid: Annotated[str, Field(max_length=LIMITS["grid"]), _NotBlank] | None = None
    lat: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)] | None = None
    lon: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)] | None = None
    address: Annotated[str, Field(max_length=LIMITS["address"]), _NotBlank] | None = None

    @model_validator(mode="after")
    def _grid_or_point(self) -> LocationIn:
        if self.grid is None and (self.lat is None or self.lon is None):
            if self.lat is None and self.lon is None:
                if self.address is not None:
                    return self
                raise ValueError(
                    'give {"grid": CODE}, {"lat": .., "lon": ..} or {"address": "..."}'
                )
            missing = "lon" if self.lon is None else "lat"
            raise ValueError(f"{missing} is missing: a point needs both lat and lon")
        return self


class WhistleIn(BaseModel):
    """A whistle as posted to ``POST /api/v1/whistles``."""

    model_config = INPUT

    source: Source
    category: Annotated[str, Field(max_length=LIMITS["category"]), _NotBlank]
    description: Annotated[str, Field(max_length=LIMITS["description"]), _NotBlank]
    location: LocationIn
    urgency: Urgency | None = None
    reporter: Annotated[str, Field(max_length=LIMITS["reporter"]), _NotBlank] | None = None
    occurred_at: Instant | None = None
    media_urls: Annotated[
        list[Annotated[str, Field(max_length=LIMITS["media_url"]), AfterValidator(_url)]],
        Field(max_length=LIMITS["media_urls"]),
    ] = Field(default_factory=list)
    camera_id: Annotated[str, Field(max_length=LIMITS["camera_id"]), _NotBlank] | None = None
    external_id: Annotated[str, Field(max_length=LIMITS["external_id"]), _NotBlank] | None = None
    # 镇党委吹哨 only: the jurisdiction units and grid departments of the town it summons
    # (responder ids); the intake checks them against the county.
    units: (
        Annotated[
            list[Annotated[str, Field(max_length=LIMITS["unit"]), _NotBlank]],
            Field(min_length=1, max_length=LIMITS["units"]),
        ]
        | None
    ) = None


def _choices(enum: type[Source] | type[Urgency]) -> str:
    return ", ".join(member.value for member in enum)


# The messages of this module's own validators, by the code a page says them with.
_VALUE_CODES = {
    "not an http(s) URL": "not_url",
    "must not be empty": "empty",
    'give {"grid": CODE}, {"lat": .., "lon": ..} or {"address": "..."}': "no_place",
    "expected an RFC 3339 date-time string": "not_datetime",
}
# ... and those that begin alike (their values vary).
_VALUE_PREFIXES = (
    ("not an RFC 3339 date-time", "not_datetime"),
    ("needs an offset", "not_datetime"),
    ("expected an RFC 3339", "not_datetime"),
    ("out of range: must be", "time_out_of_range"),
)


def field_errors(exc: ValidationError) -> list[FieldError]:
    """pydantic's errors as field/reason pairs a person can act on, each with the code (and
    values) a page says it with in the reader's language."""
    return [_field_error(err) for err in exc.errors(include_url=False)]


def _field_error(err: Any) -> FieldError:
    loc = [str(part) for part in err["loc"]]
    field = ".".join(loc) or "body"
    kind = err["type"]
    ctx = err.get("ctx", {})
    value = err.get("input")
    code, params = "", {}
    if kind == "missing":
        reason, code = "required", "required"
    elif kind == "extra_forbidden":
        reason, code = "unknown field", "unknown_field"
    elif kind == "enum" and loc and loc[0] in ("source", "urgency"):
        choices = _choices(Source if loc[0] == "source" else Urgency)
        reason = f"unknown {loc[0]} {value!r}; expected one of {choices}"
        code, params = "unknown_choice", {"value": str(value), "choices": choices}
    elif kind == "string_too_long":
        reason = f"too long: at most {ctx.get('max_length')} characters"
        code, params = "too_long", {"max": str(ctx.get("max_length"))}
    elif kind == "too_long":
        reason = f"too many items: at most {ctx.get('max_length')}"
        code, params = "too_many", {"max": str(ctx.get("max_length"))}
    elif kind == "too_short":
        reason = f"too few items: at least {ctx.get('min_length')}"
        code, params = "too_few", {"min": str(ctx.get("min_length"))}
    elif kind == "string_type":
        reason, code = "expected a string", "expected_string"
    elif kind in ("float_parsing", "float_type"):
        reason, code = "expected a number", "expected_number"
    elif kind in ("greater_than_equal", "less_than_equal"):
        lo, hi = ("-90", "90") if loc[-1] == "lat" else ("-180", "180")
        reason = f"out of range: must be between {lo} and {hi}"
        code, params = "out_of_range", {"lo": lo, "hi": hi}
    elif kind == "finite_number":
        reason, code = "must be a finite number", "not_finite"
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        reason, code = "expected an object", "expected_object"
    elif kind == "list_type":
        reason, code = "expected a list", "expected_list"
    elif kind == "value_error":
        reason = str(ctx.get("error", err["msg"]))
        code = _VALUE_CODES.get(reason) or next(
            (c for prefix, c in _VALUE_PREFIXES if reason.startswith(prefix)), ""
        )
        if reason.endswith("is missing: a point needs both lat and lon"):
            code, params = "half_point", {"missing": reason.split(" ", 1)[0]}
        if field.startswith("location") and len(loc) == 1:
            field = "location"
    elif kind.startswith("datetime"):
        detail = str(ctx.get("error") or err["msg"])
        reason, code = f"not a valid date-time: {detail}", "not_datetime"
    else:
        reason = err["msg"]
    return FieldError(field, reason, code, tuple(params.items()))
