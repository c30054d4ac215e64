"""The likely-duplicate index on its own: distance by haversine, whatever bucket or latitude."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

import pytest

from dispatch import Catalog, LifecyclePolicy
from whistle.clock import FakeClock
from whistle.nearby import Nearby, distance_m

ROOT = Path(__file__).resolve().parents[2]
_M_PER_DEGREE = math.pi * 6_371_008.8 / 180.0


def offset(lat: float, lon: float, metres: float, bearing: float) -> tuple[float, float]:
    """The point ``metres`` from (lat, lon) towards ``bearing`` degrees (small distances)."""
    b = math.radians(bearing)
    dlat = metres * math.cos(b) / _M_PER_DEGREE
    dlon = metres * math.sin(b) / (_M_PER_DEGREE * math.cos(math.radians(lat)))
    return lat + dlat, lon + dlon


def test_distance_is_great_circle_metres() -> None:
    # One minute of latitude is a nautical mile on this sphere, give or take its definition.
    assert distance_m(25.0, 99.0, 25.0 + 1 / 60, 99.0) == pytest.approx(1853.2, abs=0.5)
    assert distance_m(25.1, 99.3, 25.1, 99.3) == 0.0


@pytest.mark.parametrize("lat", [25.1479, 45.75, 53.5, -33.9])
async def test_every_point_inside_the_radius_is_found_and_none_outside(lat: float) -> None:
    """Around the point and at every bearing, across bucket edges, at any latitude (a bucket
    is narrower in metres the further from the equator)."""
    catalog = Catalog.load(ROOT / "config" / "categories.toml")  # E0101: 50 m
    clock = FakeClock()
    nearby = Nearby(catalog, LifecyclePolicy(), clock)
    now = clock.now()
    centre = (lat, 99.35)
    n = 0
    for bearing in range(0, 360, 20):  # 18 inside: fewer than the 20 a whistle lists
        for metres in (49.0, 51.0):
            n += 1
            here = offset(*centre, metres, bearing)
            nearby.claim(f"W{n}", "E0101", now, "G1", *here).done(True)
    found = nearby.claim("NEW", "E0101", now, "G2", *centre, register=False).found
    assert {m.whistle_id for m in found} == {f"W{2 * k + 1}" for k in range(18)}
    assert all(m.distance_m is not None and 48.9 <= m.distance_m <= 49.1 for m in found)


async def test_whistles_older_than_the_window_are_forgotten() -> None:
    catalog = Catalog.load(ROOT / "config" / "categories.toml")
    clock = FakeClock()
    nearby = Nearby(catalog, LifecyclePolicy(), clock)
    nearby.claim("OLD", "E0501", clock.now(), "G1", 25.0, 99.0).done(True)  # 火灾: 1 h
    clock.advance(timedelta(minutes=61))
    assert nearby.claim("NEW", "E0501", clock.now(), "G1", 25.0, 99.0).found == []
    assert "held=1" in repr(nearby)  # the old one is gone, the new one held


async def test_a_whistle_whose_write_failed_leaves_the_index() -> None:
    catalog = Catalog.load(ROOT / "config" / "categories.toml")
    clock = FakeClock()
    nearby = Nearby(catalog, LifecyclePolicy(), clock)
    nearby.claim("LOST", "E0101", clock.now(), "G1", 25.0, 99.0).done(False)
    assert nearby.claim("NEXT", "E0101", clock.now(), "G1", 25.0, 99.0).found == []
