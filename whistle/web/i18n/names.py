"""What several pages name: case statuses, roles, the five whistles (built from the enums'
Chinese labels), and the GeoReport status notes."""

from __future__ import annotations

from dispatch import Source
from dispatch.case import CaseStatus
from whistle.auth import Role

__all__ = ["OPEN311_NOTES", "ROLES", "SOURCES", "STATUSES"]

STATUSES: dict[str, dict[str, str]] = {
    "zh": {s.value: s.label_zh for s in CaseStatus},
    "en": {s.value: s.value.replace("_", " ") for s in CaseStatus},
}

ROLES: dict[str, dict[str, str]] = {
    "zh": {r.value: r.label_zh for r in Role},
    "en": {r.value: r.value for r in Role},
}

SOURCES: dict[str, dict[str, str]] = {
    "zh": {s.value: s.label_zh for s in Source},
    "en": {
        "citizen": "Citizen",
        "community": "Community party organisation",
        "town_committee": "Town party committee",
        "police": "Police alert",
        "camera": "Camera (sky eye)",
    },
}

# The GeoReport ``status_notes``: the status as the town names it (Chinese whatever ``lang``).
OPEN311_NOTES: dict[str, str] = STATUSES["zh"]
