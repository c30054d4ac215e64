"""12345 hotline import (12345 政务服务便民热线工单导入): a CSV of tickets becomes citizen whistles.

One import function serves both doors: ``whistle import-hotline FILE.csv --db DB --config DIR``
and the operators' upload page ``GET/POST /hotline``.

The CSV (UTF-8, with or without BOM, or GB18030 as Excel saves it) has this header, in order:

=========  ===============================================================================
column     what
=========  ===============================================================================
工单编号   ticket id (required); stored as the whistle's ``external_id``
来电时间   call time: ``2026-11-21 09:30[:00]``, ``2026/11/21 09:30[:00]`` (county time) or
           RFC 3339 with an offset; may be empty
诉求类别   hotline category, mapped through ``config/hotline_categories.csv``
           (``hotline_category,category``); a catalog code is accepted as is
诉求内容   what the caller asked (required)
网格       grid code; or leave it empty and give 纬度 and 经度, or 事发地址
纬度       latitude (with 经度, when 网格 is empty)
经度       longitude
来电人     caller (optional), stored as the reporter
事发地址   optional last column: the address in words, as most 12345 tickets have it; with
           neither 网格 nor a point the gazetteer places it, and one it cannot place is
           stored all the same, held for an operator to place (待定位 in the console)
=========  ===============================================================================

Row numbers are the file's line numbers (the header is row 1). Every row is checked on its
own; a bad row is reported with its number and the reasons and does not stop the others.
Re-importing a file creates nothing twice: a ticket already stored as a citizen whistle with
that ``external_id`` inside the importer's scope is skipped as a duplicate. A ticket stored
in another subtree is not looked at (nor named): ticket numbers are scoped like idempotency
keys.
"""

from __future__ import annotations

import csv
import hmac
import io
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from dispatch import Catalog, Source
from grids.configcsv import ConfigCsv
from whistle.auth import Principal, Role
from whistle.bounds import check_instant
from whistle.exceptions import (
    FieldError,
    Forbidden,
    HotlineConfigError,
    IdempotencyConflict,
    InvalidWhistle,
    StoreBusy,
    StoreUnavailable,
)
from whistle.intake import Intake
from whistle.schema import LIMITS
from whistle.store import Store
from whistle.timefmt import rfc3339
from whistle.web.access import public
from whistle.web.i18n import HOTLINE
from whistle.web.i18n import lang as _lang
from whistle.web.keys import HOTLINE_CATEGORIES, INTAKE, LIVE, STORE, TZ
from whistle.web.pages import page_session, render

__all__ = [
    "ADDRESS_COLUMN",
    "COLUMNS",
    "HOTLINE_CATEGORIES_FILE",
    "HOTLINE_CATEGORIES_HEADER",
    "WITH_ADDRESS",
    "ImportReport",
    "RowResult",
    "import_hotline",
    "load_hotline_categories",
    "routes",
]

log = structlog.get_logger(__name__)

HOTLINE_CATEGORIES_FILE = "hotline_categories.csv"
HOTLINE_CATEGORIES_HEADER = ("hotline_category", "category")
COLUMNS = ("工单编号", "来电时间", "诉求类别", "诉求内容", "网格", "纬度", "经度", "来电人")
# Exports that carry the address add it as a last column (the older header stays valid).
ADDRESS_COLUMN = "事发地址"
WITH_ADDRESS = (*COLUMNS, ADDRESS_COLUMN)
SOURCE = Source.CITIZEN
MAX_ROWS = 5000

# Which column a whistle field came from, to name it in a row's errors.
_COLUMN_OF = {
    "external_id": "工单编号",
    "occurred_at": "来电时间",
    "category": "诉求类别",
    "description": "诉求内容",
    "location.grid": "网格",
    "location.lat": "纬度",
    "location.lon": "经度",
    "location.address": ADDRESS_COLUMN,
    "location": "网格",
    "reporter": "来电人",
}
_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M")


def load_hotline_categories(config_dir: Path, catalog: Catalog) -> dict[str, str]:
    """Read ``hotline_categories.csv`` (optional): hotline category -> catalog code.

    Raises HotlineConfigError with every problem, each naming file and line.
    """
    path = config_dir / HOTLINE_CATEGORIES_FILE
    if not path.exists():
        return {}
    sheet = ConfigCsv.read(path, HOTLINE_CATEGORIES_HEADER)
    mapping: dict[str, str] = {}
    for line, hotline_category, (_, category) in sheet.keyed(
        "hotline_category", duplicate="duplicate"
    ):
        if catalog.get(category) is None:
            sheet.problem(line, hotline_category, f"unknown category {category!r}")
            continue
        mapping[hotline_category] = category
    sheet.raise_problems(HotlineConfigError)
    return mapping


@dataclass
class RowResult:
    row: int
    ticket: str
    status: str  # created, duplicate, error
    whistle_id: str | None = None
    errors: list[FieldError] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "ticket": self.ticket,
            "status": self.status,
            "whistle_id": self.whistle_id,
            "errors": [e.to_dict() for e in self.errors],
        }


@dataclass
class ImportReport:
    """What an import did. ``read`` is False when the file could not be used at all (its
    encoding or header), and ``problem`` says why."""

    read: bool
    rows: list[RowResult] = field(default_factory=list)
    problem: str | None = None

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows if r.status == status)

    @property
    def created(self) -> int:
        return self.count("created")

    @property
    def duplicates(self) -> int:
        return self.count("duplicate")

    @property
    def errors(self) -> list[RowResult]:
        return [r for r in self.rows if r.status == "error"]

    def summary(self) -> str:
        if not self.read:
            return f"not imported: {self.problem}"
        return (
            f"{len(self.rows)} rows: created {self.created}, "
            f"skipped duplicates {self.duplicates}, errors {len(self.errors)}"
        )

    def error_lines(self) -> list[str]:
        return [
            f"row {r.row}" + (f" ({r.ticket})" if r.ticket else "") + ": "
            + "; ".join(f"{e.field}: {e.reason}" for e in r.errors)
            for r in self.errors
        ]  # fmt: skip


def _decode(data: bytes) -> str | None:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


def _rows(text: str) -> tuple[list[tuple[int, list[str]]], str | None]:
    """Rows with the line each starts on (an export without 事发地址 reads as one whose
    addresses are all empty), or why the file cannot be read."""
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for row in reader:
            rows.append((start, [cell.strip() for cell in row]))
            start = reader.line_num + 1
    except csv.Error as exc:
        return [], f"unreadable CSV at row {reader.line_num}: {exc}"
    if not rows:
        return [], "empty file"
    header = rows[0][1]
    if header not in (list(COLUMNS), list(WITH_ADDRESS)):
        expected = f"{','.join(COLUMNS)}[,{ADDRESS_COLUMN}]"
        return [], f"wrong header: expected {expected}, got {','.join(header)}"
    short = len(header) == len(COLUMNS)
    data = [
        (line, [*row, ""] if short and len(row) == len(COLUMNS) else row)
        for line, row in rows[1:]
        if any(row)
    ]
    if len(data) > MAX_ROWS:
        return [], f"{len(data)} rows: an import holds at most {MAX_ROWS}"
    return data, None


def _time(text: str, tz: tzinfo) -> tuple[str | None, str | None]:
    """(RFC 3339 time, None) or (None, why)."""
    if not text:
        return None, None
    for fmt in _TIME_FORMATS:
        try:
            return rfc3339(datetime.strptime(text, fmt).replace(tzinfo=tz), tz), None
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        return None, f"unreadable time {text!r}; expected e.g. 2026-11-21 09:30:00"
    try:
        check_instant(parsed)  # year 1 at +14:00 overflows when shown in our zone
    except ValueError as exc:
        return None, f"time {text!r}: {exc}"
    return rfc3339(parsed, tz), None


def _body(
    fields: list[str], categories: dict[str, str], catalog: Catalog, tz: tzinfo
) -> tuple[dict[str, Any] | None, list[FieldError]]:
    ticket, called, hotline_category, content, grid, lat, lon, caller, address = fields
    errors: list[FieldError] = []
    if not ticket:
        errors.append(FieldError("工单编号", "required"))
    elif len(ticket) > LIMITS["external_id"]:
        errors.append(FieldError("工单编号", f"too long: at most {LIMITS['external_id']}"))
    occurred_at, why = _time(called, tz)
    if why:
        errors.append(FieldError("来电时间", why))
    category = categories.get(hotline_category, hotline_category)
    if not hotline_category:
        errors.append(FieldError("诉求类别", "required"))
    elif catalog.get(category) is None:
        errors.append(
            FieldError(
                "诉求类别",
                f"unknown hotline category {hotline_category!r}; "
                f"add it to {HOTLINE_CATEGORIES_FILE}",
            )
        )
    location: dict[str, Any] = {}
    if grid:
        location = {"grid": grid}
    elif lat and lon:
        try:
            location = {"lat": float(lat), "lon": float(lon)}
        except ValueError:
            errors.append(FieldError("纬度", f"not a point: ({lat!r}, {lon!r})"))
    elif not address:
        errors.append(FieldError("网格", f"give 网格, 纬度 and 经度, or {ADDRESS_COLUMN}"))
    if address:
        location["address"] = address
    if errors:
        return None, errors
    body: dict[str, Any] = {
        "source": SOURCE.value,
        "category": category,
        "description": content,
        "location": location,
        "external_id": ticket,
    }
    if occurred_at:
        body["occurred_at"] = occurred_at
    if caller:
        body["reporter"] = caller[: LIMITS["reporter"]]
    return body, []


async def import_hotline(
    data: bytes,
    *,
    intake: Intake,
    store: Store,
    catalog: Catalog,
    categories: dict[str, str],
    tz: tzinfo,
    principal: Principal | None = None,
    filer: Principal | None = None,
) -> ImportReport:
    """Import the tickets of a 12345 CSV, one row after another; see the module docstring.

    Each ticket is filed by ``principal`` (the operator who uploaded the file: checked, and
    recorded as the whistle's ``filed_by``), or, from the command line, by ``filer``."""
    text = _decode(data)
    if text is None:
        return ImportReport(False, problem="not UTF-8 or GB18030 text")
    rows, why = _rows(text)
    if why is not None:
        return ImportReport(False, problem=why)
    report = ImportReport(True)
    for line, fields in rows:
        if len(fields) != len(WITH_ADDRESS):
            reason = (
                f"expected {len(COLUMNS)} fields ({len(WITH_ADDRESS)} with {ADDRESS_COLUMN}), "
                f"got {len(fields)}"
            )
            report.rows.append(
                RowResult(line, fields[0], "error", None, [FieldError("row", reason)])
            )
            continue
        ticket = fields[0]
        body, errors = _body(fields, categories, catalog, tz)
        if body is None:
            report.rows.append(RowResult(line, ticket, "error", None, errors))
            continue
        existing = await store.find_external(SOURCE.value, ticket, within=intake.subtree(principal))
        if existing is not None:
            report.rows.append(RowResult(line, ticket, "duplicate", existing))
            continue
        try:
            submission = await intake.submit(
                body, idempotency_key=f"hotline:{ticket}", principal=principal, filer=filer
            )
        except InvalidWhistle as exc:
            errors = [FieldError(_COLUMN_OF.get(e.field, e.field), e.reason) for e in exc.errors]
        except Forbidden as exc:
            errors = [FieldError("网格", str(exc))]
        except IdempotencyConflict as exc:
            # The key is in the importer's namespace: the whistle it names is in its scope.
            errors = [FieldError("工单编号", f"already used by {exc.whistle_id or 'another case'}")]
        except (StoreBusy, StoreUnavailable):
            errors = [FieldError("row", "the database cannot take writes now; import again")]
        else:
            status = "created" if submission.created else "duplicate"
            report.rows.append(RowResult(line, ticket, status, submission.whistle_id))
            continue
        report.rows.append(RowResult(line, ticket, "error", None, errors))
    log.info(
        "hotline.imported",
        rows=len(report.rows),
        created=report.created,
        duplicates=report.duplicates,
        errors=len(report.errors),
        by=None if principal is None else principal.id,
    )
    return report


# -- the upload page ---------------------------------------------------------------------------

routes = web.RouteTableDef()


def _text(request: web.Request) -> dict[str, Any]:
    words = HOTLINE[_lang(request)]
    return {**words, "hint": str(words["hint"]).format(columns=",".join(COLUMNS))}


def _page(
    request: web.Request,
    principal: Principal,
    csrf: str,
    *,
    report: ImportReport | None = None,
    error: str | None = None,
    status: int = 200,
) -> web.Response:
    text = _text(request)
    return render(
        request,
        "hotline.html",
        status=status,
        title=text["title"],
        principal=principal,
        csrf=csrf,
        ht=text,
        report=report,
        rows=[] if report is None else [r.to_dict() for r in report.rows],
        error=error,
    )


@routes.get("/hotline")
@public
async def hotline_form(request: web.Request) -> web.Response:
    principal, csrf = await page_session(request, Role.OPERATOR)
    return _page(request, principal, csrf)


@routes.post("/hotline")
@public
async def hotline_upload(request: web.Request) -> web.Response:
    principal, csrf = await page_session(request, Role.OPERATOR)
    text = _text(request)
    try:
        form = await request.post()
    except web.HTTPRequestEntityTooLarge:
        limit = request.client_max_size
        return _page(
            request, principal, csrf, error=f"{text['too_large']} (> {limit} B)", status=413
        )
    sent = form.get("csrf_token")
    if not isinstance(sent, str) or not hmac.compare_digest(sent, csrf):
        raise Forbidden("missing or wrong CSRF token")
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        return _page(request, principal, csrf, error=text["no_file"], status=400)
    data = upload.file.read()
    report = await import_hotline(
        data,
        intake=request.app[INTAKE],
        store=request.app[STORE],
        catalog=request.app[LIVE].catalog,
        categories=request.app[HOTLINE_CATEGORIES],
        tz=request.app[TZ],
        principal=principal,
    )
    status = 200 if report.read else 400
    return _page(request, principal, csrf, report=report, error=report.problem, status=status)
