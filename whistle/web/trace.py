"""A case's route trace as people read it: for each assignment, who it went to and why, and
the router's climb cell by cell, by name (``第2网格（网格）：无此类人员``), never codes or ids.

The trace itself is the router's (``dispatch.TraceStep``, stored in the whistle document and
in ``assignment.added`` events); this only names it, with the same :class:`Names` as the
timeline.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from grids import Level
from grids.gazetteer import AliasKind
from whistle.web.timeline import ORIGIN_WORDS, Names

__all__ = ["TraceEntry", "placement_text", "trace_entries"]

_RESULT = {
    "zh": {
        "chosen": "选定",
        "none_of_kind": "无此类人员",
        "cannot_handle": "不办理此类事项",
        "backstop": "县级兜底",
        "board": "发布到认领栏",
        "excluded": "已办过此案（退单或超时），跳过",
        "off_duty": "不在岗，改由AB岗或值班人员",
        "spread": "多个单位可办，按匹配度和在办量选择",
    },
    "en": {
        "chosen": "chosen",
        "none_of_kind": "none of this kind here",
        "cannot_handle": "does not handle this category",
        "backstop": "the county backstop",
        "board": "posted on the claim board",
        "excluded": "already had this case (returned or missed it): skipped",
        "off_duty": "off duty: its B post or the duty person instead",
        "spread": "several units fit: by category fit, then fewest open cases",
    },
}
_BY_RULE = {"zh": "按规则", "en": "by the rule"}


@dataclass(frozen=True, slots=True)
class TraceEntry:
    """One assignment's route: a heading and the climb, one sentence a cell."""

    head: str
    steps: tuple[str, ...]


def _level(key: Any, lang: str) -> str:
    try:
        level = Level.parse(key)
    except ValueError:
        return str(key or "")
    return level.label_zh if lang == "zh" else level.key.replace("_", " ")


def _step(step: Mapping[str, Any], names: Names, lang: str) -> str:
    code = str(step.get("cell") or "")
    cell = names.cell(code) or code
    result = _RESULT[lang].get(str(step.get("result")), str(step.get("result") or ""))
    who = names.responder(str(step.get("responder_id") or "")) if step.get("responder_id") else None
    level = _level(step.get("level"), lang)
    text = f"{cell}（{level}）：{result}" if lang == "zh" else f"{cell} ({level}): {result}"
    return f"{text} · {who}" if who else text


def _head(entry: Mapping[str, Any], holder: str, rule: str, lang: str) -> str:
    origin = str(entry.get("origin") or "rule")
    why = _BY_RULE[lang] if origin == "rule" else ORIGIN_WORDS[lang].get(origin, origin)
    if origin == "rule" and rule:
        return (
            f"按规则「{rule}」派至{holder}" if lang == "zh" else f"by the rule “{rule}” to {holder}"
        )
    return f"{why}：{holder}" if lang == "zh" else f"{why}: {holder}"


def trace_entries(
    doc: Mapping[str, Any],
    added: Iterable[tuple[str, Mapping[str, Any]]],
    names: Names,
    *,
    lang: str,
) -> list[TraceEntry]:
    """The routes of the whistle's first assignments (``doc["trace"]``) and of those added
    later (``added``: each ``assignment.added`` event's reason and assignment), in order."""
    lang = lang if lang in _RESULT else "zh"
    holders = {a.get("id"): a for a in doc.get("assignments") or ()}
    rule = names.rule(str((doc.get("rule") or {}).get("id") or "")) or str(
        (doc.get("rule") or {}).get("name") or ""
    )
    entries = []
    for entry in doc.get("trace") or ():
        steps = entry.get("steps") or ()
        held = holders.get(entry.get("assignment")) or {}
        entries.append(
            TraceEntry(_head(entry, _holder(held, names, lang), rule, lang),
                       tuple(_step(s, names, lang) for s in steps))
        )  # fmt: skip
    for reason, assignment in added:
        steps = assignment.get("trace") or ()
        entries.append(
            TraceEntry(
                _head({"origin": reason}, _holder(assignment, names, lang), rule, lang),
                tuple(_step(s, names, lang) for s in steps),
            )
        )
    return entries


def _holder(assignment: Mapping[str, Any], names: Names, lang: str) -> str:
    holder = assignment.get("responder") or {}
    if holder.get("name"):
        return str(holder["name"])
    if assignment.get("mode") == "claim":
        return "认领栏" if lang == "zh" else "the claim board"
    cell = names.cell(str(assignment.get("cell") or ""))
    return cell or str(assignment.get("kind_name") or assignment.get("kind") or "")


# -- how the place was found (the whistle's ``placement``) ----------------------------------

_PLACED = {
    "zh": {
        "grid": "按网格编码定位：{cell}",
        "coordinates": "按坐标定位（{lat}, {lon}）：{cell}",
        "gazetteer": "按地址定位：地址「{address}」中的「{matched}」，地名库条目「{entry}」"
        "（{kind}）→ {cell}",
        "pending": "待定位：地址「{address}」未能自动定位（{reason}），等待调度员选择所在网格",
        "hand": "人工定位：{who}于{at}选定{cell}（地址「{address}」）",
        "hierarchy": "网格名称",
    },
    "en": {
        "grid": "placed by its grid code: {cell}",
        "coordinates": "placed by its point ({lat}, {lon}): {cell}",
        "gazetteer": "placed by its address: “{matched}” in “{address}”, the gazetteer entry "
        "“{entry}” ({kind}) → {cell}",
        "pending": "waiting for a place: the address “{address}” placed nothing ({reason}); an "
        "operator picks its cell",
        "hand": "placed by hand: {who} picked {cell} at {at} (address “{address}”)",
        "hierarchy": "grid names",
    },
}
_REASONS_ZH = (
    (re.compile(r"^no known place name$"), "没有认出任何地名"),
    (re.compile(r"^only (.+) \((.+)\) is known$"), r"只认出「\1」（\2），不够具体"),
    (re.compile(r"^names on different branches: (.+)$"), r"地名「\1」分属不同地方"),
)


def placement_text(doc: Mapping[str, Any], names: Names, *, lang: str, who: str = "") -> str:
    """How the whistle's place was found, in words: by coordinates, by which gazetteer entry
    (the words matched and the entry), or by hand (by whom); "" for whistles stored before
    placements were recorded. ``who``: the placer as the page names people."""
    placement = doc.get("placement")
    if not placement:
        return ""
    lang = lang if lang in _PLACED else "zh"
    words = _PLACED[lang]
    location = doc.get("location") or {}
    kind = str(placement.get("entry_kind") or "")
    if kind == "grid":
        kind_words = words["hierarchy"]
    elif kind in AliasKind.__members__.values():
        kind_words = AliasKind(kind).label_zh if lang == "zh" else kind
    else:
        kind_words = kind
    reason = str(placement.get("reason") or "")
    if lang == "zh":
        for pattern, replacement in _REASONS_ZH:
            reason = pattern.sub(replacement, reason)
    path = (doc.get("grid") or {}).get("path") or ()
    cell = "".join(str(step.get("name") or "") for step in path[1:]) or str(
        (doc.get("grid") or {}).get("name") or ""
    )
    template = words.get(str(placement.get("by")), "")
    return template.format(
        cell=cell,
        lat=location.get("lat"),
        lon=location.get("lon"),
        address=placement.get("address") or "",
        matched=placement.get("matched") or "",
        entry=placement.get("entry") or "",
        kind=kind_words,
        reason=reason,
        who=who or placement.get("placed_by") or "",
        at=str(placement.get("placed_at") or "")[:16].replace("T", " "),
    )
