"""The README's Security section states how many probes this suite runs: keep it true."""

from __future__ import annotations

from pathlib import Path

from tests.security import test_hostile_input as hostile
from tests.security import test_pages_in_chromium as chromium_pages
from tests.security.test_feed_signatures import FEED_TAMPERING_PROBES
from tests.security.test_injection import SQL_INJECTION_PROBES
from tests.security.test_markup import PAYLOADS as XSS_PAYLOADS
from tests.security.test_markup import XSS_PAGE_CHECKS
from tests.security.test_route_matrix import ROLE_ENDPOINT_PROBES, ROUTES
from tests.security.test_traversal import TRAVERSAL_PROBES
from tests.support.formulas import CSV_EXPORTS, NAMES
from tests.support.probe import CAST

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
    # the coverage table: routes × principals × input kinds
    "routes of the app's router": len(ROUTES),
    "principals": len(CAST),
    "routes with parameters": len([r for r in hostile.PROBED if any(hostile.parameters(r))]),
    "path and query parameters": sum(
        len(path) + len(query) for path, query in map(hostile.parameters, hostile.PROBED)
    ),
    "SQL metacharacter strings": len(hostile.SQL),
    "SQL-metacharacter parameter probes": hostile.SQL_PARAMETER_PROBES,
    "routes that take a body": len(hostile.BODY_ROUTES),
    "hostile bodies": len(hostile.BODIES),
    "hostile-body probes": hostile.BODY_PROBES,
    "coordinate values": len(hostile.COORDINATES),
    "off-Earth coordinate probes": hostile.COORDINATE_PROBES,
    "pages of the router": len(chromium_pages.PAGES),
    "typed texts": len(chromium_pages.TEXTS),
    "Chromium page loads": chromium_pages.XSS_BROWSER_CHECKS,
}


def test_the_readme_states_the_probe_counts() -> None:
    security = README.read_text(encoding="utf-8").split("## Security", 1)[1]
    missing = [f"{n:,} {what}" for what, n in COUNTS.items() if f"{n:,} {what}" not in security]
    assert not missing, f"the README's Security section should say: {missing}"
