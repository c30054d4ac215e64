"""Fixtures for the whistle package: a small county on disk and a live server on a socket.

They are defined once in whistle_support.py (tests/reliability uses them too).
"""

from whistle_support import clock, county, county_dir, live, start_server

__all__ = ["clock", "county", "county_dir", "live", "start_server"]
