"""The README's Security section states how many probes this suite runs: keep it true."""

from __future__ import annotations

from pathlib import Path

from tests.security.test_feed_signatures import FEED_TAMPERING_PROBES
from tests.security.test_injection import SQL_INJECTION_PROBES
from tests.security.test_markup import PAYLOADS as XSS_PAYLOADS
from tests.security.test_markup import XSS_PAGE_CHECKS
from tests.security.test_route_matrix import ROLE_ENDPOINT_PROBES
from tests.security.test_traversal import TRAVERSAL_PROBES
from tests.support.formulas import CSV_EXPORTS, NAMES

README = Path(__file__).resolve().parents[2] / "README.md"

COUNTS = {
    "role × endpoint probes": ROLE_ENDPOINT_PROBES,
    "SQL-injection probes": SQL_INJECTION_PROBES,
    "XSS payloads": len(XSS_PAYLOADS),
    "XSS page checks": XSS_PAGE_CHECKS,
    "path-traversal probes": TRAVERSAL_PROBES,
    "CSV exports read cell by cell": CSV_EXPORTS,
    "formula names": len(NAMES),
    "signed-feed tamperings": FEED_TAMPERING_PROBES,
}


def test_the_readme_states_the_probe_counts() -> None:
    security = README.read_text(encoding="utf-8").split("## Security", 1)[1]
    missing = [f"{n:,} {what}" for what, n in COUNTS.items() if f"{n:,} {what}" not in security]
    assert not missing, f"the README's Security section should say: {missing}"
