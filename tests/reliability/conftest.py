"""Fixtures for the reliability tests: the small county of tests/whistle, a live app, sizes.

Sizes (CI default, ``WHISTLE_FULL=1`` for ``make soak``) are in reliability_support.FULL.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "whistle"))

from whistle_support import clock, county, county_dir, start_server

__all__ = ["clock", "county", "county_dir", "start_server"]
