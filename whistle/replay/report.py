"""The replay's report: what it adds up to, named for people, and its tables as CSV.

``build`` turns a :class:`~whistle.replay.engine.Tally` into one JSON-ready document (the CLI's
``--json``, the API's result, the page's data); ``csv_table`` writes one of its tables.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any

from dispatch.decision import Decision
from grids import Hierarchy, Level, ResponderKind

if TYPE_CHECKING:
    from whistle.replay.engine import Side, Tally
    from whistle.replay.outcome import Model
    from whistle.replay.recorded import Period, RecordedCase

__all__ = ["TABLES", "build", "csv_table"]

TABLES = ("rates", "kinds", "levels", "units", "busiest", "changed")
UNITS_SHOWN = 100  # the units whose share moves most
BUSIEST = 10
_LEVELS = {level.key: level for level in Level}


def _rate(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else round(numerator / denominator, 4)


def _rates(side: Side) -> dict[str, Any]:
    f = side.figures
    cases = f["cases"]
    return {
        "response": _rate(f["responded_in_time"], f["response_due"]),
        "responded_in_time": f["responded_in_time"],
        "response_due": f["response_due"],
        "on_time_closure": _rate(f["closed_on_time"], f["due_not_held"]),
        "closed_on_time": f["closed_on_time"],
        "due_not_held": f["due_not_held"],
        "backstop": side.backstop,
        "backstop_share": _rate(side.backstop, cases),
    }


def _kind_name(kind: str) -> str:
    try:
        return ResponderKind(kind).label_zh
    except ValueError:
        return kind


def _level_name(level: str) -> str:
    found = _LEVELS.get(level)
    return level if found is None else found.label_zh


class _Names:
    def __init__(self, hierarchy: Hierarchy) -> None:
        self.hierarchy = hierarchy

    def unit(self, unit: str) -> tuple[str, str]:
        """(name, kind) of a responder id or a ``board:<cell>``."""
        if unit.startswith("board:"):
            code = unit[6:]
            cell = self.hierarchy.get(code)
            return (f"{cell.name} 认领板" if cell is not None else f"{code} 认领板"), "board"
        responder = self.hierarchy.responder(unit)
        if responder is None:
            return unit, ""
        return responder.name, responder.kind.value


def _diff(before: Counter[str], after: Counter[str]) -> list[tuple[str, int, int]]:
    keys = sorted(set(before) | set(after))
    return [(k, before[k], after[k]) for k in keys]


def _busiest(side: Counter[str], names: _Names) -> list[dict[str, Any]]:
    rows = [(unit, n) for unit, n in side.most_common() if not unit.startswith("board:")]
    out = []
    for unit, n in rows[:BUSIEST]:
        name, kind = names.unit(unit)
        out.append(
            {"unit": unit, "name": name, "kind": kind, "kind_name": _kind_name(kind), "cases": n}
        )
    return out


def _trace_after(decision: Decision, hierarchy: Hierarchy) -> list[dict[str, Any]]:
    return [
        {
            "kind": a.kind.value,
            "kind_name": a.kind.label_zh,
            "mode": a.mode.value,
            "responder": None
            if a.responder is None
            else {"id": a.responder.id, "name": a.responder.name},
            "cell": a.cell,
            "cell_name": hierarchy.cell(a.cell).name,
            "level": a.level.key,
            "origin": a.origin.value,
            "rule": a.rule_id,
            "explain": a.explain(),
            "steps": [s.to_dict() for s in a.trace],
        }
        for a in decision.assignments
    ]


def _trace_before(
    case: RecordedCase, doc: Mapping[str, Any], hierarchy: Hierarchy
) -> list[dict[str, Any]]:
    traces = {t.get("assignment"): t for t in doc.get("trace", [])}
    out = []
    for a in case.initial:
        t = traces.get(a.id, {})
        who = None
        if a.mode == "push" and a.responder_id is not None:
            found = hierarchy.responder(a.responder_id)
            who = {"id": a.responder_id, "name": a.responder_id if found is None else found.name}
        cell = hierarchy.get(a.cell)
        out.append(
            {
                "kind": a.kind,
                "kind_name": _kind_name(a.kind),
                "mode": a.mode,
                "responder": who,
                "cell": a.cell,
                "cell_name": a.cell if cell is None else cell.name,
                "level": a.level,
                "origin": a.origin,
                "rule": t.get("rule"),
                "explain": t.get("explain", ""),
                "steps": t.get("steps", []),
            }
        )
    return out


def _changed(
    tally: Tally, documents: Mapping[str, Mapping[str, Any]], hierarchy: Hierarchy, tz: tzinfo
) -> list[dict[str, Any]]:
    out = []
    for case, decision in tally.examples:
        doc = documents.get(case.id, {})
        out.append(
            {
                "id": case.id,
                "case_number": case.case_number,
                "received_at": datetime.fromtimestamp(case.received_at, UTC)
                .astimezone(tz)
                .isoformat(timespec="seconds"),
                "source": case.source,
                "category": case.category,
                "category_name": (doc.get("category") or {}).get("name", case.category),
                "cell": case.cell,
                "cell_name": (doc.get("grid") or {}).get("name", case.cell),
                "rule_before": (doc.get("rule") or {}).get("id"),
                "rule_after": decision.rule_id,
                "before": _trace_before(case, doc, hierarchy),
                "after": _trace_after(decision, hierarchy),
            }
        )
    return out


def build(
    tally: Tally,
    *,
    hierarchy: Hierarchy,
    tz: tzinfo,
    documents: Mapping[str, Mapping[str, Any]],
    period: Period,
    model: Model,
    label: str,
    cache: tuple[int, int],
    seconds: float,
) -> dict[str, Any]:
    """The report document (see the README's "How a county tries a change")."""
    names = _Names(hierarchy)
    units = sorted(
        _diff(tally.before.units, tally.after.units), key=lambda r: (-abs(r[2] - r[1]), r[0])
    )
    unit_rows: list[dict[str, Any]] = []
    for unit, b, a in units:
        if a == b or len(unit_rows) >= UNITS_SHOWN:
            continue
        name, kind = names.unit(unit)
        unit_rows.append(
            {
                "unit": unit,
                "name": name,
                "kind": kind,
                "kind_name": _kind_name(kind),
                "before": b,
                "after": a,
                "delta": a - b,
            }
        )
    return {
        "period": {"from": period.first.isoformat(), "to": period.last.isoformat()},
        "config": label,
        "now": datetime.fromtimestamp(model.now, UTC).astimezone(tz).isoformat(timespec="seconds"),
        "cases": tally.before.figures["cases"],
        "changed": tally.changed,
        "retimed": tally.retimed,
        "skipped": dict(tally.skipped),
        "rates": {"before": _rates(tally.before), "after": _rates(tally.after)},
        "kinds": [
            {"kind": k, "name": _kind_name(k), "before": b, "after": a, "delta": a - b}
            for k, b, a in _diff(tally.before.kinds, tally.after.kinds)
        ],
        "levels": [
            {"level": k, "name": _level_name(k), "before": b, "after": a, "delta": a - b}
            for k, b, a in sorted(
                _diff(tally.before.levels, tally.after.levels),
                key=lambda r: -_LEVELS[r[0]] if r[0] in _LEVELS else 0,
            )
        ],
        "units": unit_rows,
        "busiest": {
            "before": _busiest(tally.before.units, names),
            "after": _busiest(tally.after.units, names),
        },
        "changed_cases": _changed(tally, documents, hierarchy, tz),
        "model": {"ack_median_seconds": model.ack, "resolve_median_seconds": model.resolve},
        "routing": {"routed": cache[0], "from_cache": cache[1]},
        "seconds": round(seconds, 2),
    }


def csv_table(doc: Mapping[str, Any], table: str) -> bytes:
    """One table of a report as UTF-8 CSV with a BOM (so that Excel reads Chinese)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if table == "rates":
        writer.writerow(["figure", "before", "after"])
        for key in doc["rates"]["before"]:
            writer.writerow([key, doc["rates"]["before"][key], doc["rates"]["after"][key]])
    elif table in ("kinds", "levels", "units"):
        first = {"kinds": "kind", "levels": "level", "units": "unit"}[table]
        writer.writerow([first, "name", "before", "after", "delta"])
        for row in doc[table]:
            writer.writerow([row[first], row["name"], row["before"], row["after"], row["delta"]])
    elif table == "busiest":
        writer.writerow(["side", "rank", "unit", "name", "kind", "cases"])
        for side in ("before", "after"):
            for rank, row in enumerate(doc["busiest"][side], 1):
                writer.writerow([side, rank, row["unit"], row["name"], row["kind"], row["cases"]])
    elif table == "changed":
        writer.writerow(["id", "case_number", "received_at", "category", "cell", "before", "after"])
        for row in doc["changed_cases"]:
            writer.writerow(
                [row["id"], row["case_number"], row["received_at"], row["category"], row["cell"],
                 " | ".join(a["explain"] for a in row["before"]),
                 " | ".join(a["explain"] for a in row["after"])]
            )  # fmt: skip
    else:
        raise KeyError(table)
    return ("\ufeff" + out.getvalue()).encode()
