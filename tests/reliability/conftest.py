"""Fixtures for the reliability tests: the small county, a live app, sizes.

Sizes (CI default, ``WHISTLE_FULL=1`` for ``make soak``) are in reliability_support.FULL.
"""

from __future__ import annotations

from tests.support.harness import clock, county, county_dir, start_server

__all__ = ["clock", "county", "county_dir", "start_server"]
