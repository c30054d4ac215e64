"""What a citizen sees of their case: its status in plain words, the place by name, and a
timeline of units and roles ("派遣至田园镇派出所", "第1网格报到党员已报到", "已办结").

Never a person's name, phone number or id: a unit (派出所, 网格部门, 辖区单位, the county's
command centre) is named, because it is an office the public deals with; a person is named by
their role and their cell ("金华社区社区民警"). Nothing here reads the reporter or the trace.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from dispatch.lifecycle import GRADES
from whistle.events import Event
from whistle.privacy import mask_phones, public_name
from whistle.store import StoredWhistle
from whistle.timefmt import rfc3339
from whistle.web.i18n import CITIZEN, SOURCES

__all__ = ["citizen_timeline", "place_name", "public_view", "who"]

# Event type -> the step's key in CITIZEN[lang]["steps"]; events not listed are not shown
# (notes, deadlines, duplicates found, webhooks: the inside of the work).
_STEPS = {
    "whistle.received": "received",
    "assignment.acknowledged": "acknowledged",
    "assignment.claimed": "claimed",
    "assignment.started": "started",
    "assignment.resolved": "resolved",
    "assignment.returned": "returned",
    "case.verified": "verified",
    "case.reopened": "reopened",
    "case.closed": "closed",
    "case.rated": "rated",
    "case.held": "held",
    "case.released": "released",
    "case.extended": "extended",
    "case.urged": "urged",
    "case.supervised": "supervised",
    "case.merged": "merged",
    "case.rectification_opened": "rectification_opened",
}


def who(assignment: dict[str, Any] | None, lang: str) -> str:
    """A unit's name, or a person's role in their cell; never a person's name."""
    if not assignment:
        return str(CITIZEN[lang]["someone"])
    return public_name(assignment, lang)


def place_name(doc: dict[str, Any]) -> str:
    """The place from the town down (田园镇 · 金华社区 · 第1网格 · 第3微网格)."""
    path = doc.get("grid", {}).get("path") or []
    names = [c["name"] for c in path if c.get("level") != "county"]
    return " · ".join(names) or str(doc.get("grid", {}).get("name", ""))


def _assignment_of(event: Event, by_id: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    ref = event.data.get("assignment")
    if isinstance(ref, dict):
        return ref
    return by_id.get(ref) if isinstance(ref, str) else None


def citizen_timeline(
    events: list[Event], stored: StoredWhistle, tz: tzinfo, lang: str
) -> list[dict[str, str]]:
    """The case's steps as sentences, oldest first: ``{"at", "text"}``."""
    steps = CITIZEN[lang]["steps"]
    by_id = {a["id"]: a for a in stored.assignments if a.get("id")}
    out: list[dict[str, str]] = []
    for event in events:
        at = rfc3339(event.at, tz) or ""
        if event.type in ("whistle.routed",):
            for planned in event.data.get("assignments") or ():
                if planned.get("mode") == "push" and planned.get("responder"):
                    text = steps["dispatched"].format(who=who(planned, lang))
                    out.append({"at": at, "text": text})
            continue
        if event.type == "assignment.added":
            added = _assignment_of(event, by_id)
            out.append({"at": at, "text": steps["dispatched"].format(who=who(added, lang))})
            continue
        key = _STEPS.get(event.type)
        if key is None:
            continue
        grade = str(event.data.get("grade") or "")
        text = steps[key].format(
            who=who(_assignment_of(event, by_id), lang),
            grade=GRADES.get(grade, grade) if lang == "zh" else grade.replace("_", " "),
        )
        out.append({"at": at, "text": text})
    return out


def public_view(stored: StoredWhistle, lang: str = "zh") -> dict[str, Any]:
    """What a citizen sees of their case: where it stands, not who works on it."""
    doc = stored.row_doc
    case = stored.case or {}
    resolution = case.get("resolution") or {}
    handled = {who(a, lang) for a in stored.assignments if a.get("status") != "cancelled"}
    return {
        "case_number": doc.get("case_number") or doc["id"],
        "whistle_id": doc["id"],
        "status": stored.status,
        "status_text": CITIZEN[lang]["status_words"].get(stored.status, stored.status),
        "source": SOURCES[lang].get(doc["source"], doc["source"]),
        "category": doc["category"]["name"]
        if lang == "zh"
        else doc["category"].get("name_en") or doc["category"]["name"],
        "description": mask_phones(doc["description"]),
        "place": place_name(doc),
        "received_at": doc["received_at"],
        "resolve_due": case.get("resolve_due"),
        "handled_by": sorted(handled),
        "resolution": mask_phones(resolution.get("note") or "") or None,
        "rating": case.get("rating"),
        "can_rate": "rate" in case.get("allowed", ()),
    }
