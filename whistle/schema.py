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


def field_errors(exc: ValidationError) -> list[FieldError]:
    """pydantic's errors as field/reason pairs a person can act on."""
    out: list[FieldError] = []
    for err in exc.errors(include_url=False):
        loc = [str(part) for part in err["loc"]]
        field = ".".join(loc) or "body"
        kind = err["type"]
        ctx = err.get("ctx", {})
        value = err.get("input")
        if kind == "missing":
            reason = "required"
        elif kind == "extra_forbidden":
            reason = "unknown field"
        elif kind == "enum" and loc and loc[0] == "source":
            reason = f"unknown source {value!r}; expected one of {_choices(Source)}"
        elif kind == "enum" and loc and loc[0] == "urgency":
            reason = f"unknown urgency {value!r}; expected one of {_choices(Urgency)}"
        elif kind == "string_too_long":
            reason = f"too long: at most {ctx.get('max_length')} characters"
        elif kind == "too_long":
            reason = f"too many items: at most {ctx.get('max_length')}"
        elif kind == "too_short":
            reason = f"too few items: at least {ctx.get('min_length')}"
        elif kind == "string_type":
            reason = "expected a string"
        elif kind in ("float_parsing", "float_type"):
            reason = "expected a number"
        elif kind in ("greater_than_equal", "less_than_equal"):
            lo, hi = ("-90", "90") if loc[-1] == "lat" else ("-180", "180")
            reason = f"out of range: must be between {lo} and {hi}"
        elif kind == "finite_number":
            reason = "must be a finite number"
        elif kind in ("model_type", "model_attributes_type", "dict_type"):
            reason = "expected an object"
        elif kind == "list_type":
            reason = "expected a list"
        elif kind == "value_error":
            reason = str(ctx.get("error", err["msg"]))
            if field.startswith("location") and len(loc) == 1:
                field = "location"
        elif kind.startswith("datetime"):
            detail = str(ctx.get("error") or err["msg"])
            reason = f"not a valid date-time: {detail}"
        else:
            reason = err["msg"]
        out.append(FieldError(field, reason))
    return out
