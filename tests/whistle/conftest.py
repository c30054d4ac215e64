"""Fixtures for the whistle package: a small county on disk and a live server on a socket.

They are defined once in tests/support/harness.py (tests/reliability uses them too).
"""

from tests.support.harness import clock, county, county_dir, live, start_server

__all__ = ["clock", "county", "county_dir", "live", "start_server"]
