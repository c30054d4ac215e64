"""CSV exports, written one way: every cell through :func:`csv_cell`, every file through
:func:`csv_bytes`.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, in some, a tab
or a carriage return) as a formula, so a name such as ``=HYPERLINK(...)`` typed into a form
would run on the committee's machine (CSV injection, OWASP). Such a text cell gets a leading
single quote, which the spreadsheet shows as text. Numbers are written as numbers.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["csv_bytes", "csv_cell"]

_FORMULA = re.compile(r"^[=+\-@\t\r]")


def csv_cell(value: Any) -> Any:
    """One cell as it may leave: a text that starts like a formula prefixed with ``'``;
    None as an empty cell; anything else as it is."""
    if isinstance(value, str) and _FORMULA.match(value):
        return "'" + value
    return "" if value is None else value


def csv_bytes(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> bytes:
    """A CSV file (UTF-8 with a BOM, so that Excel reads Chinese; CRLF) of ``header`` and
    ``rows``, every cell through :func:`csv_cell`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([csv_cell(v) for v in header])
    writer.writerows([csv_cell(v) for v in row] for row in rows)
    return "\ufeff".encode() + out.getvalue().encode("utf-8")
