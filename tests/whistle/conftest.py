"""Fixtures for the whistle package: a small county on disk, a live server on a socket, and a
live server whose config has cameras and hotline categories.

They are defined once in tests/support (tests/reliability and tests/security use them too).
"""

from tests.support.feeds import feeds_live
from tests.support.harness import clock, county, county_dir, live, start_server

__all__ = ["clock", "county", "county_dir", "feeds_live", "live", "start_server"]
