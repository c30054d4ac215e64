"""A case's event log as sentences with names, in the page's language.

``10:32 田园镇派出所 报到``, ``按规则「公安哨」派至田园镇派出所``: who did what, named as people
know them (responders by name, rules by their name, cells by theirs), never event type names,
responder ids or ULIDs. Actors that are not responders are named by their part: 系统 for the
router and the deadline timer, 群众 for a citizen, 调度中心 for the people at the console.

:func:`sentences` is pure: the names come through a :class:`Names` (built from the app's
hierarchy and router by :func:`names_of`), so tests can give their own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any, Protocol

from dispatch import Source
from dispatch.lifecycle import GRADES
from whistle.timefmt import display

__all__ = [
    "ORIGIN_WORDS",
    "Line",
    "Names",
    "actor_name",
    "duration_text",
    "names_of",
    "sentences",
]


class _Event(Protocol):
    @property
    def type(self) -> str: ...

    @property
    def data(self) -> dict[str, Any]: ...

    @property
    def at(self) -> Any: ...

    @property
    def actor(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Names:
    """How ids become names: each lookup answers None for an id it does not know."""

    responder: Callable[[str], str | None]
    rule: Callable[[str], str | None]
    cell: Callable[[str], str | None]


@dataclass(frozen=True, slots=True)
class Line:
    """One sentence of a timeline: when (the page's one date-time form) and what."""

    at: str
    text: str
    type: str  # for styling only (never shown)


def names_of(hierarchy: Any, router: Any) -> Names:
    """Names from the app's hierarchy (responders, cells) and router (rules)."""

    def responder(rid: str) -> str | None:
        found = hierarchy.responder(rid)
        return None if found is None else str(found.name)

    def cell(code: str) -> str | None:
        found = hierarchy.get(code)
        return None if found is None else str(found.name)

    rule_names: dict[str, str] = {}
    for source in Source:
        try:
            rule_names.update((r.id, r.name) for r in router.rules.for_source(source))
        except KeyError:  # no rule for that source
            continue

    def rule(rule_id: str) -> str | None:
        return rule_names.get(rule_id)

    return Names(responder=responder, rule=rule, cell=cell)


_WORDS: dict[str, dict[str, str]] = {
    "zh": {
        "system": "系统",
        "citizen": "群众",
        "centre": "调度中心",
        "someone": "报到人员",
        "board": "认领栏",
        "sep": "：",
        "units": "s=秒,m=分钟,h=小时,d=天,wh=个工作时,wd=个工作日",
    },
    "en": {
        "system": "the system",
        "citizen": "the citizen",
        "centre": "the dispatch centre",
        "someone": "a responder",
        "board": "the claim board",
        "sep": ": ",
        "units": "s= s,m= min,h= h,d= days,wh= working hours,wd= working days",
    },
}

# Why an assignment was added (dispatch.Origin), as people say it; the trace uses them too.
ORIGIN_WORDS = {
    "zh": {
        "escalation": "超时上报",
        "backstop": "兜底",
        "backup": "AB岗补位",
        "duty": "值班补位",
        "reroute": "退单改派",
        "unclaimed": "无人认领，推送",
        "reassign": "改派",
        "named": "点名",
    },
    "en": {
        "escalation": "escalated",
        "backstop": "backstop",
        "backup": "B post covers",
        "duty": "duty person covers",
        "reroute": "rerouted after a return",
        "unclaimed": "unclaimed, pushed",
        "reassign": "reassigned",
        "named": "named",
    },
}

# An actor that is an id (a ULID, a code), not a name: shown as the part it plays.
_ID_LIKE = re.compile(r"[0-9A-Z_-]{10,}")
_DURATION = re.compile(r"^(\d+)(wd|wh|s|m|h|d)$")


def duration_text(value: str | None, lang: str) -> str:
    """``3wd`` as ``3个工作日`` (``3 working days``); anything else as it came."""
    match = _DURATION.fullmatch(str(value or ""))
    if match is None:
        return str(value or "")
    units = dict(pair.split("=") for pair in _WORDS[lang]["units"].split(","))
    return f"{match.group(1)}{units[match.group(2)]}"


class _Say:
    """The sentence builders' shared lookups for one timeline."""

    def __init__(self, names: Names, lang: str) -> None:
        self.names = names
        self.lang = lang
        self.w = _WORDS[lang]

    def zh(self) -> bool:
        return self.lang == "zh"

    def who(self, actor: str | None) -> str:
        if actor in (None, "router", "scheduler", "webhooks"):
            return self.w["system"]
        if actor == "citizen":
            return self.w["citizen"]
        named = self.names.responder(actor)
        if named is not None:
            return named
        # A login is named by its name (调度中心 operator); a token only by its part, its id
        # being nothing a reader knows.
        if ":" in actor or _ID_LIKE.fullmatch(actor) or actor in ("public", "console"):
            return str(self.w["centre"])
        return f"{self.w['centre']} {actor}"

    def responder(self, rid: Any) -> str:
        if not isinstance(rid, str):
            return self.w["board"]
        return self.names.responder(rid) or self.w["someone"]

    def to(self, assignment: Mapping[str, Any]) -> str:
        """Where an assignment went: its cell and who (or the claim board)."""
        cell = self.names.cell(str(assignment.get("cell") or "")) or assignment.get("cell_name")
        holder = assignment.get("responder") or {}
        who = holder.get("name") or (
            self.responder(holder.get("id")) if holder.get("id") else self.w["board"]
        )
        if assignment.get("mode") == "claim":
            who = self.w["board"]
        if not cell or str(who).startswith(str(cell)):
            return str(who)  # 田园镇派出所, not 田园镇·田园镇派出所
        return f"{cell}·{who}" if self.zh() else f"{who} ({cell})"

    def note(self, text: Any) -> str:
        return "" if not text else f"{self.w['sep']}{text}"


def actor_name(actor: str | None, names: Names, *, lang: str) -> str:
    """Who did something, as the timeline names them (a responder by name, a token by its
    part: 调度中心, a login by its name)."""
    return _Say(names, lang if lang in _WORDS else "zh").who(actor)


def _received(say: _Say, e: _Event) -> str:
    return "受理" if say.zh() else "received"


def _routed(say: _Say, e: _Event) -> str:
    rule = say.names.rule(str(e.data.get("rule") or "")) or ""
    targets = [say.to(a) for a in e.data.get("assignments") or ()]
    if say.zh():
        return f"按规则「{rule}」派至{'、'.join(targets)}" if rule else f"派至{'、'.join(targets)}"
    went = ", ".join(targets)
    return f"by the rule “{rule}” sent to {went}" if rule else f"sent to {went}"


def _added(say: _Say, e: _Event) -> str:
    why = ORIGIN_WORDS[say.lang].get(str(e.data.get("reason")), "")
    target = say.to(e.data.get("assignment") or {})
    if say.zh():
        return f"{why}：派至{target}" if why else f"派至{target}"
    return f"{why}: sent to {target}" if why else f"sent to {target}"


def _step(zh: str, en: str, key: str | None = None) -> Callable[[_Say, _Event], str]:
    """``<who> <does>`` (with the event's ``key`` text after it, when it has one)."""

    def say_it(say: _Say, e: _Event) -> str:
        who = say.responder(e.data.get("responder_id")) if "responder_id" in e.data else None
        who = who or say.who(e.actor)
        text = f"{who} {zh if say.zh() else en}"
        return text + (say.note(e.data.get(key)) if key else "")

    return say_it


def _case(zh: str, en: str, key: str | None = None) -> Callable[[_Say, _Event], str]:
    """What happened to the case, by whom when a person did it, with ``key``'s text."""

    def say_it(say: _Say, e: _Event) -> str:
        text = zh if say.zh() else en
        if e.actor not in (None, "router", "scheduler", "webhooks"):
            text = f"{say.who(e.actor)} {text}"
        return text + (say.note(e.data.get(key)) if key else "")

    return say_it


def _extension(verb_zh: str, verb_en: str) -> Callable[[_Say, _Event], str]:
    def say_it(say: _Say, e: _Event) -> str:
        how_long = duration_text(e.data.get("duration"), say.lang)
        if "responder_id" in e.data and verb_zh == "申请延期":
            who = say.responder(e.data["responder_id"])
        else:
            who = say.who(e.actor)
        verb = verb_zh if say.zh() else verb_en
        return f"{who} {verb} {how_long}{say.note(e.data.get('reason'))}"

    return say_it


def _rated(say: _Say, e: _Event) -> str:
    label = GRADES.get(str(e.data.get("grade")), str(e.data.get("grade") or ""))
    return (f"评价：{label}" if say.zh() else f"rated: {label}") + (
        say.note(e.data.get("comment")) if e.data.get("comment") else ""
    )


def _unplaced(say: _Say, e: _Event) -> str:
    address = e.data.get("address") or ""
    if say.zh():
        return f"地址「{address}」未能自动定位，转调度台待定位"
    return f"the address “{address}” could not be placed: waiting for an operator"


def _placed(say: _Say, e: _Event) -> str:
    cell = say.names.cell(str(e.data.get("grid") or "")) or ""
    who = say.who(e.actor)
    return f"{who} 人工定位至{cell}" if say.zh() else f"{who} placed it in {cell}"


def _claimed(say: _Say, e: _Event) -> str:
    who = say.responder(e.data.get("responder_id") or e.actor)
    team = e.data.get("team")
    if say.zh():
        return f"{who} {'组团认领' if team else '认领'}"
    return f"{who} claimed it{' with a team' if team else ''}"


_SENTENCES: dict[str, Callable[[_Say, _Event], str]] = {
    "whistle.received": _received,
    "whistle.routed": _routed,
    "whistle.muted": _case("静默规则覆盖，未派遣", "muted by a silence, not dispatched"),
    "whistle.unplaced": _unplaced,
    "whistle.placed": _placed,
    "assignment.added": _added,
    "assignment.acknowledged": _step("报到", "reported in"),
    "assignment.claimed": _claimed,
    "assignment.started": _step("开始处置", "started work"),
    "assignment.resolved": _step("办结", "finished the work", "note"),
    "assignment.returned": _step("退单", "returned it", "reason"),
    "assignment.return_accepted": _case("同意退单", "accepted the return", "note"),
    "assignment.return_refused": _case("不同意退单", "refused the return", "reason"),
    "assignment.return_overdue": _case("退单逾期未决，督办", "return undecided in time"),
    "case.verified": _case("核查通过", "verified", "note"),
    "case.closed": _case("结案", "closed"),
    "case.reopened": _case("返工", "reopened", "reason"),
    "case.held": _case("挂账", "put on hold", "reason"),
    "case.released": _case("恢复办理", "released from hold", "reason"),
    "case.extended": _extension("延期", "extended by"),
    "case.extension_requested": _extension("申请延期", "asked for an extension of"),
    "case.extension_refused": _case("不同意延期", "refused the extension", "reason"),
    "case.rated": _rated,
    "case.rectification_opened": _case("差评整改", "rectification opened"),
    "case.merged": _case("并入另一案件", "merged into another case"),
    "case.duplicate_merged": _case("合并重复上报", "a duplicate was merged in"),
    "case.urged": _case("催办", "urged", "note"),
    "case.supervised": _case("督办", "supervised", "note"),
    "case.overdue": _case("超时", "overdue"),
    "case.repeated": _case("重复上报", "reported again"),
    "case.possible_duplicate": _case("可能与其他案件重复", "may duplicate another case"),
    "notification.failed": _case("通知未送达", "a notice could not be delivered"),
}


def sentences(events: Iterable[_Event], names: Names, *, lang: str, tz: tzinfo) -> list[Line]:
    """The timeline of ``events`` (log order) as sentences in ``lang`` (``zh`` or ``en``)."""
    say = _Say(names, lang if lang in _WORDS else "zh")
    lines = []
    for event in events:
        build = _SENTENCES.get(event.type, _case("记录更新", "updated"))
        lines.append(Line(at=display(event.at, tz), text=build(say, event), type=event.type))
    return lines
