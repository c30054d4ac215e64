"""Browser fixtures; they live in tests/support/browser.py with the helpers journeys import."""

from tests.support.browser import browser, chromium, open_as, shots, site

__all__ = ["browser", "chromium", "open_as", "shots", "site"]
