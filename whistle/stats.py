"""Committee statistics (统计): what the figures mean, how a request chooses them, and how they
are shown (names, labels, rates, CSV).

The store aggregates (``Store.statistics``, ``Store.cases_for``); this module turns a request's
``grid``/``since``/``until`` into a :class:`~whistle.store.StatsQuery`, the counts into the
rates of DOMAIN.md ("What the committee measures"), names every bucket, and writes each table
as CSV for Excel. Nothing here does I/O.

The rates, each a numerator metric over a denominator metric (see ``whistle.store.facts`` for
the SQL of each metric):

- 响应率 response: cases a pushed responder reported in (报到) to by that assignment's
  deadline / cases with a push assignment whose acknowledgement fell due (acknowledged, or
  still silent at the deadline). It counts cases, not assignments: a case with one responder
  in time and another late counts once, in time; a case only on a claim board, or that nobody
  was pushed, is in neither;
- 解决率 resolution: cases resolved / cases due (resolve deadline passed, or resolved);
- 满意率 satisfaction: 非常满意 + 满意 + 基本满意 / rated;
- 按期结案率 on-time closure: closed on time / (due − on hold);
- 结案率 closure: closed / all cases; 返工率 rework: closed cases reopened at least once / closed;
- 整改率 rectification: rectifications (差评整改) verified and closed again by their deadline /
  rectifications that fell due (closed again, or past their deadline); a case counts its latest.

Muted whistles and cases merged as duplicates are not counted. Medians and p90 are nearest
rank. Days are Asia/Shanghai days; ``since`` and ``until`` are both included.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from dispatch import Catalog, Source
from grids import Cell, Hierarchy, ResponderKind
from whistle.auth import Principal
from whistle.bounds import bounded_date
from whistle.exceptions import FieldError, InvalidWhistle
from whistle.exports import csv_bytes
from whistle.privacy import UNIT_KINDS
from whistle.store import StatsQuery
from whistle.store.facts import (
    ASSIGNMENT_METRICS,
    BREAKDOWN_METRICS,
    CASE_METRICS,
    RESPONSE_METRICS,
)

__all__ = [
    "LABELS",
    "MAX_DAYS",
    "RATES",
    "TABLES",
    "Window",
    "csv_table",
    "labels",
    "parse_window",
    "report",
]

MAX_DAYS = 731  # two years: a county-year with room to compare
DEFAULT_DAYS = 30
TABLES = ("rates", "sources", "places", "categories", "days", "responders")
METRICS = frozenset(CASE_METRICS) | frozenset(ASSIGNMENT_METRICS) | frozenset(RESPONSE_METRICS)

# (key, numerator metric, denominator metric)
RATES: tuple[tuple[str, str, str], ...] = (
    ("response", "responded_in_time", "response_due"),
    ("resolution", "resolved", "due"),
    ("satisfaction", "satisfied", "rated"),
    ("on_time_closure", "closed_on_time", "due_not_held"),
    ("closure", "closed", "total"),
    ("rework", "reworked", "closed"),
    ("rectification", "rectified_on_time", "rectify_due"),
)

_METRIC_ZH = {
    "total": "受理",
    "acknowledged": "已报到",
    "resolved": "已解决",
    "due": "应办结",
    "closed": "已结案",
    "closed_on_time": "按期结案",
    "due_not_held": "应办结(不含挂账)",
    "on_hold": "挂账",
    "reworked": "返工后结案",
    "rated": "已评价",
    "satisfied": "满意",
    "rectify_due": "应整改",
    "rectified_on_time": "按期整改",
    "response_due": "应报到事件",
    "responded_in_time": "按时报到事件",
    "answered": "报到次数",
    "claimed": "认领",
    "completed": "认领办结",
}
_METRIC_EN = {
    "total": "Cases",
    "acknowledged": "Acknowledged",
    "resolved": "Resolved",
    "due": "Due",
    "closed": "Closed",
    "closed_on_time": "Closed on time",
    "due_not_held": "Due, not on hold",
    "on_hold": "On hold",
    "reworked": "Closed after rework",
    "rated": "Rated",
    "satisfied": "Satisfied",
    "rectify_due": "Rectifications due",
    "rectified_on_time": "Rectified on time",
    "response_due": "Cases due a response",
    "responded_in_time": "Cases responded to in time",
    "answered": "Whistles answered",
    "claimed": "Needs claimed",
    "completed": "Needs completed",
}

LABELS: dict[str, dict[str, Any]] = {
    "zh": {
        "title": "统计",
        "grid": "范围",
        "since": "起始日期",
        "until": "截止日期",
        "show": "查询",
        "rates": "三率及结案指标",
        "rate": "比率",
        "numerator": "分子",
        "denominator": "分母",
        "durations": "时效",
        "acknowledge": "报到用时",
        "resolve": "解决用时",
        "median": "中位数",
        "p90": "90分位",
        "count": "件数",
        "hours": "小时",
        "sources": "按来源(五哨)",
        "places": "按区域",
        "categories": "按大类",
        "days": "按日",
        "responders": "党员与单位报到",
        "responder": "报到人/单位",
        "kind": "类型",
        "hours_served": "服务时长(小时)",
        "key": "编码",
        "name": "名称",
        "direct": "本级",
        "csv": "导出CSV",
        "cases": "相关事件",
        "none": "暂无",
        "charts": "图表",
        "by_day": "每日受理量",
        "by_source": "来源分布",
        "by_category": "大类分布",
        "drill": "下列事件构成该数字",
        "truncated": "仅显示前 {n} 件",
        "columns": {
            "case_number": "受理编号",
            "place": "地点",
            "category": "类别",
            "status": "状态",
            "received_at": "受理时间",
            "resolved_at": "解决时间",
            "closed_at": "结案时间",
        },
        "rate_names": {
            "response": "响应率",
            "resolution": "解决率",
            "satisfaction": "满意率",
            "on_time_closure": "按期结案率",
            "closure": "结案率",
            "rework": "返工率",
            "rectification": "整改率",
        },
        "metrics": _METRIC_ZH,
        "timezone": "时间为北京时间(Asia/Shanghai)",
    },
    "en": {
        "title": "Statistics",
        "grid": "Area",
        "since": "From",
        "until": "To",
        "show": "Show",
        "rates": "Rates",
        "rate": "Rate",
        "numerator": "Numerator",
        "denominator": "Denominator",
        "durations": "Timeliness",
        "acknowledge": "Time to acknowledge",
        "resolve": "Time to resolve",
        "median": "Median",
        "p90": "90th percentile",
        "count": "Cases",
        "hours": "h",
        "sources": "By source (five whistles)",
        "places": "By area",
        "categories": "By category",
        "days": "By day",
        "responders": "Party members and units",
        "responder": "Responder",
        "kind": "Kind",
        "hours_served": "Hours served",
        "key": "Code",
        "name": "Name",
        "direct": "This level",
        "csv": "CSV",
        "cases": "Cases",
        "none": "None",
        "charts": "Charts",
        "by_day": "Cases per day",
        "by_source": "By source",
        "by_category": "By category",
        "drill": "The cases behind this figure",
        "truncated": "Only the first {n} are shown",
        "columns": {
            "case_number": "Case number",
            "place": "Place",
            "category": "Category",
            "status": "Status",
            "received_at": "Received",
            "resolved_at": "Resolved",
            "closed_at": "Closed",
        },
        "rate_names": {
            "response": "Response rate",
            "resolution": "Resolution rate",
            "satisfaction": "Satisfaction rate",
            "on_time_closure": "On-time closure rate",
            "closure": "Closure rate",
            "rework": "Rework rate",
            "rectification": "Rectification rate",
        },
        "metrics": _METRIC_EN,
        "timezone": "Times are Beijing time (Asia/Shanghai)",
    },
}

_PARAMS = frozenset({"grid", "since", "until"})


def labels(lang: str) -> dict[str, Any]:
    """The page's and the CSV's words in ``lang`` (Simplified Chinese unless ``en``)."""
    return LABELS.get(lang, LABELS["zh"])


@dataclass(frozen=True, slots=True)
class Window:
    """The subtree and the days (both included, Shanghai days) a request asks about."""

    cell: Cell
    since: date
    until: date

    def query(self, tz: tzinfo, now: datetime, top: int | None = 100) -> StatsQuery:
        start = datetime.combine(self.since, time(), tz)
        end = datetime.combine(self.until + timedelta(days=1), time(), tz)
        return StatsQuery(
            grid_path="/" + "/".join(self.cell.path) + "/",
            since=start,
            until=end,
            now=now,
            top=top,
        )

    def params(self) -> dict[str, str]:
        return {
            "grid": self.cell.code,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
        }


def _date(q: Mapping[str, str], name: str, errors: list[FieldError]) -> date | None:
    if name not in q:
        return None
    try:
        return bounded_date(q[name])
    except ValueError as exc:
        errors.append(FieldError(name, str(exc)))
        return None


def parse_window(
    q: Mapping[str, str],
    principal: Principal,
    hierarchy: Hierarchy,
    today: date,
    *,
    extra: frozenset[str] = frozenset(),
) -> Window:
    """The window a request's query asks for. Defaults: the principal's scope (the county for
    an admin) and the last 30 days up to ``today``. Raises InvalidWhistle (400); the caller
    checks the cell against the principal's scope."""
    errors = [FieldError(name, "unknown parameter") for name in q if name not in _PARAMS | extra]
    code = q.get("grid") or principal.scope or hierarchy.root
    cell = hierarchy.get(code)
    if cell is None:
        errors.append(FieldError("grid", f"unknown grid code {code!r}"))
    until = _date(q, "until", errors) or today
    since = _date(q, "since", errors) or until - timedelta(days=DEFAULT_DAYS - 1)
    if since > until:
        errors.append(FieldError("since", "must not be after until"))
    elif (until - since).days + 1 > MAX_DAYS:
        errors.append(FieldError("until", f"at most {MAX_DAYS} days from since"))
    if errors or cell is None:
        raise InvalidWhistle(errors, status=400)
    return Window(cell, since, until)


def _rate(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else round(numerator / denominator, 4)


def report(
    raw: Mapping[str, Any],
    window: Window,
    *,
    hierarchy: Hierarchy,
    catalog: Catalog,
    lang: str = "zh",
) -> dict[str, Any]:
    """The store's aggregates with rates, names, and every day of the window present."""
    words = labels(lang)
    counts: dict[str, int] = dict(raw["counts"])
    rates = [
        {
            "key": key,
            "name": words["rate_names"][key],
            "numerator": counts[num],
            "denominator": counts[den],
            "numerator_metric": num,
            "denominator_metric": den,
            "rate": _rate(counts[num], counts[den]),
        }
        for key, num, den in RATES
    ]
    sources = [{**row, "name": _source_name(row["key"], lang)} for row in raw["sources"]]
    places = [{**row, "name": _place_name(hierarchy, row["key"], words)} for row in raw["places"]]
    categories = [
        {**row, "name": _major_name(catalog, row["key"], lang)} for row in raw["categories"]
    ]
    by_day = {row["key"]: row for row in raw["days"]}
    days = []
    day = window.since
    while day <= window.until:
        key = day.isoformat()
        days.append(by_day.get(key) or {"key": key, **dict.fromkeys(BREAKDOWN_METRICS, 0)})
        day += timedelta(days=1)
    responders = []
    for row in raw["responders"]:
        found = hierarchy.responder(row["responder_id"])
        responders.append(
            {
                **row,
                "name": None if found is None else found.name,
                "kind_name": _kind_name(row["kind"], lang),
            }
        )
    return {
        "grid": {
            "code": window.cell.code,
            "name": window.cell.name,
            "level": window.cell.level.key,
        },
        "since": window.since.isoformat(),
        "until": window.until.isoformat(),
        "timezone": "Asia/Shanghai",
        "counts": counts,
        "rates": rates,
        "durations": raw["durations"],
        "sources": sources,
        "places": places,
        "categories": categories,
        "days": days,
        "responders": responders,
    }


def _source_name(key: str, lang: str) -> str:
    try:
        source = Source(key)
    except ValueError:
        return key
    return source.label_zh if lang == "zh" else source.value.replace("_", " ")


def _place_name(hierarchy: Hierarchy, code: str, words: Mapping[str, Any]) -> str:
    if not code:
        return str(words["direct"])
    cell = hierarchy.get(code)
    return code if cell is None else cell.name


def _major_name(catalog: Catalog, code: str, lang: str) -> str:
    major = catalog.major(code)
    if major is None:
        return code
    return major.name if lang == "zh" else major.name_en


def _kind_name(kind: str, lang: str) -> str:
    try:
        value = ResponderKind(kind)
    except ValueError:
        return kind
    return value.label_zh if lang == "zh" else value.value.replace("_", " ")


# -- CSV ---------------------------------------------------------------------------------------


def csv_table(
    doc: Mapping[str, Any], table: str, lang: str = "zh", *, names_shown: bool = True
) -> bytes:
    """One table of a :func:`report` as CSV (whistle/exports.py: UTF-8 with a BOM, every cell
    safe from formula injection). ``names_shown`` False puts each responder's role where a
    person's name would be (a unit keeps its name: it is an office, not a person)."""
    words = labels(lang)
    names = words["metrics"]
    rows: list[list[Any]] = []
    if table == "rates":
        header = ["key", words["name"], words["numerator"], words["denominator"], words["rate"]]
        rows += [
            [row["key"], row["name"], row["numerator"], row["denominator"], row["rate"]]
            for row in doc["rates"]
        ]
        for key in ("acknowledge", "resolve"):
            d = doc["durations"][key]
            rows.append([f"{key}_median_seconds", words[key], d["count"], "", d["median"]])
            rows.append([f"{key}_p90_seconds", words[key], d["count"], "", d["p90"]])
    elif table == "responders":
        columns = ("answered", "claimed", "completed")
        header = [
            words["responder"],
            words["name"],
            words["kind"],
            *(names[c] for c in columns),
            words["hours_served"],
        ]
        rows += [
            [
                row["responder_id"],
                row["name"] if names_shown or row.get("kind") in UNIT_KINDS else row["kind_name"],
                row["kind_name"],
                *(row[c] for c in columns),
                row["hours"],
            ]
            for row in doc["responders"]
        ]
    elif table in ("sources", "places", "categories", "days"):
        header = [words["key"], words["name"], *(names[m] for m in BREAKDOWN_METRICS)]
        rows += [
            [row["key"], row.get("name", row["key"]), *(row[m] for m in BREAKDOWN_METRICS)]
            for row in doc[table]
        ]
    else:
        raise ValueError(f"unknown table {table!r}")
    return csv_bytes(header, rows)
