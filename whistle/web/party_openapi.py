"""The party-building API's rows of the OpenAPI document (issue 19): a create, list and get
row for each record kind of :data:`whistle.web.party_api.KINDS`, then the actions, figures and
the bulk door. whistle/web/openapi.py adds them to the document."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from whistle.party.model import ClaimIn, CompleteIn, VisitIn
from whistle.web import party_resources
from whistle.web.openapi_ops import (
    ID,
    READ,
    STR,
    WRITE,
    Op,
    json_answer,
    query,
)
from whistle.web.party_api import KINDS

__all__ = ["PARTY_MODELS", "PARTY_RESPONSES", "party_ops"]

# component name -> the model its handler validates with
PARTY_MODELS: dict[str, type[BaseModel]] = {
    **{f"{spec.model.__name__}": spec.model for spec in KINDS if spec.model is not None},
    "PartyClaimIn": ClaimIn,
    "CompleteIn": CompleteIn,
    "VisitIn": VisitIn,
}

PARTY_RESPONSES = (
    party_resources.PartyRecordDoc,
    party_resources.PartyRecords,
    party_resources.BulkRegistered,
    party_resources.PartySummary,
    party_resources.UnitReport,
    party_resources.MemberParty,
)

_DATE: dict[str, Any] = {"type": "string", "format": "date"}
_CSV = {"text/csv": {"schema": {"type": "string"}}}
_LIST = (
    query("grid", STR, "a subtree inside the caller's scope (default: the scope)"),
    query("status", STR, "a status"),
    query("ref", STR, "the record it hangs off (a unit, project or pairing id)"),
    query("person", STR, "the member it is about"),
    query("since", STR, "dated at or after (YYYY-MM-DD or RFC 3339)"),
    query("until", STR, "dated before (YYYY-MM-DD or RFC 3339)"),
    query("limit", {"type": "integer", "minimum": 1, "maximum": 5000}, "at most (500)"),
    query("format", {"enum": ["csv"]}, "csv: the rows as CSV"),
)
_WINDOW = (
    query("grid", STR, "the subtree (default: the caller's scope)"),
    query("since", _DATE, "first day (default: 364 days before until)"),
    query("until", _DATE, "last day (default: today)"),
)


def _with_csv(schema: str) -> dict[str, Any]:
    answer = json_answer(schema)
    answer["content"] = {**answer["content"], **_CSV}
    return answer


def _kind_ops() -> list[Op]:
    ops: list[Op] = []
    for spec in KINDS:
        base = f"/api/v1/{spec.path}"
        if spec.model is not None:
            ops.append(
                Op(
                    "post",
                    base,
                    f"Add: {spec.summary}",
                    json_answer("PartyRecordDoc", "Created"),
                    (*WRITE, 404, 409),
                    status=201,
                    body=spec.model.__name__,
                )
            )
        ops.append(Op("get", base, spec.summary, _with_csv("PartyRecords"), READ, params=_LIST))
        ops.append(
            Op(
                "get",
                base + "/{id}",
                f"One of: {spec.summary}",
                "PartyRecordDoc",
                (*READ, 404),
                params=(ID,),
            )
        )
    return ops


_ACTION = (*WRITE, 404, 409)


def party_ops() -> list[Op]:
    """Every operation of the party-building API."""
    return [*_kind_ops(), *_action_ops(), *_figure_ops()]


def _action_ops() -> list[Op]:
    action = _ACTION
    return [
        Op(
            "post",
            "/api/v1/registrations/{id}/withdraw",
            "Withdraw a 双报到 registration",
            "PartyRecordDoc",
            action,
            params=(ID,),
        ),
        Op(
            "post",
            "/api/v1/registrations/bulk",
            "Register members in bulk from CSV (member,name,unit_id,since,services); nothing "
            "is stored unless every line is good (422 naming `line N.field`)",
            json_answer("BulkRegistered", "Created"),
            WRITE,
            status=201,
            params=(query("community", STR, "the community they register with (required)"),),
            request={"required": True, "content": _CSV},
        ),
        Op(
            "post",
            "/api/v1/projects/{id}/claims",
            "Claim a project: a member, a team (by its captain) or a unit",
            json_answer("PartyRecordDoc", "Created"),
            action,
            status=201,
            body="PartyClaimIn",
            params=(ID,),
        ),
        Op(
            "post",
            "/api/v1/claims/{id}/complete",
            "Complete a claim with hours per person, photos and the rating (a team's claim: "
            "its captain only, 队长负责制)",
            "PartyRecordDoc",
            action,
            body="CompleteIn",
            params=(ID,),
        ),
        Op(
            "post",
            "/api/v1/pairings/{id}/visits",
            "Record the pairing's visit due (late when past due)",
            json_answer("PartyRecordDoc", "Created"),
            action,
            status=201,
            body="VisitIn",
            params=(ID,),
        ),
    ]


def _figure_ops() -> list[Op]:
    return [
        Op(
            "get",
            "/api/v1/party/summary",
            "The committee's party-building figures for a subtree and a date range",
            _with_csv("PartySummary"),
            READ,
            params=(
                *_WINDOW,
                query("format", {"enum": ["csv"]}, "csv: one table as CSV"),
                query(
                    "table",
                    {"enum": ["units", "member_hours", "team_hours", "unit_hours"]},
                    "the table for format=csv",
                ),
            ),
        ),
        Op(
            "get",
            "/api/v1/units/{id}/report",
            "双报告: what the unit's members did, by community and member",
            _with_csv("UnitReport"),
            (*READ, 404),
            params=(ID, *_WINDOW[1:], query("format", {"enum": ["csv"]}, "csv")),
        ),
        Op(
            "get",
            "/api/v1/members/{id}/party",
            "A member's registration, claims and hours",
            "MemberParty",
            READ,
            params=(ID,),
        ),
    ]
