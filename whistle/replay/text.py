"""The replay report as text for a terminal (``whistle replay`` without ``--json``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["render"]


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _table(title: str, rows: list[Mapping[str, Any]], key: str) -> list[str]:
    lines = [title, f"  {'':<28} {'before':>8} {'after':>8} {'delta':>8}"]
    for row in rows:
        label = f"{row['name']} ({row[key]})" if row["name"] != row[key] else row[key]
        lines.append(f"  {label:<28} {row['before']:>8} {row['after']:>8} {row['delta']:>+8}")
    return lines


def render(report: Mapping[str, Any]) -> str:
    """The report in a few tables: rates, who gets what, the busiest, the changed cases."""
    b, a = report["rates"]["before"], report["rates"]["after"]
    period = report["period"]
    lines = [
        f"replay {period['from']} .. {period['to']} under {report['config']}",
        f"  {report['cases']} cases replayed, {report['changed']} routed differently, "
        f"{report['retimed']} with other deadlines ({report['seconds']} s)",
        "",
        *(
            f"  {label:<22} {_pct(b[key]):>8} -> {_pct(a[key])}"
            for label, key in (
                ("响应率 response", "response"),
                ("按期结案率 on time", "on_time_closure"),
                ("兜底 backstop share", "backstop_share"),
            )
        ),
        "",
        *_table("by responder kind", report["kinds"], "kind"),
        "",
        *_table("by level", report["levels"], "level"),
        "",
        *_table("units whose share moves most", report["units"][:20], "unit"),
        "",
        "busiest before / after",
    ]
    for side in ("before", "after"):
        shown = ", ".join(f"{r['name']} {r['cases']}" for r in report["busiest"][side])
        lines.append(f"  {side}: {shown}")
    if report["changed_cases"]:
        lines += ["", "cases whose route changes (first of them)"]
        for case in report["changed_cases"][:20]:
            name = case["case_number"] or case["id"]
            lines.append(f"  {name} {case['category_name']} at {case['cell_name']}")
            lines += [f"    before: {x['explain']}" for x in case["before"]]
            lines += [f"    after:  {x['explain']}" for x in case["after"]]
    if report["skipped"]:
        lines += ["", f"  skipped: {report['skipped']}"]
    return "\n".join(lines)
