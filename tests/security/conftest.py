"""Fixtures for the security probe: the small county, one server per module.

The probe's cast, client and server live in probe_support.py; each module opens its own
server with ``open_probe`` in a module-scoped fixture, so a module's probes share one app.
"""

from __future__ import annotations

from tests.support.harness import county, county_dir

__all__ = ["county", "county_dir"]
