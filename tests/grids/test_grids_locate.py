"""Locator: the deepest cell covering a point, boundaries included, ties by smallest code."""

from __future__ import annotations

import pytest
from shapely import MultiPolygon, box

from grids.locate import Locator

# A county split into two towns side by side; the west town holds one community, which is
# split into two grids. Boxes are (west, south, east, north) = (min lon, min lat, ...).
CELLS = [
    ("1", 1, box(99.0, 24.0, 100.0, 25.0)),
    ("11", 2, box(99.0, 24.0, 99.5, 25.0)),
    ("12", 2, box(99.5, 24.0, 100.0, 25.0)),
    ("111", 3, box(99.0, 24.0, 99.5, 24.5)),
    ("1111", 4, box(99.0, 24.0, 99.25, 24.5)),
    ("1112", 4, box(99.25, 24.0, 99.5, 24.5)),
]


@pytest.fixture
def locator() -> Locator:
    return Locator(CELLS)


@pytest.mark.parametrize(
    ("lat", "lon", "code"),
    [
        pytest.param(24.2, 99.1, "1111", id="deepest-cell"),
        pytest.param(24.2, 99.4, "1112", id="deepest-sibling"),
        pytest.param(24.7, 99.2, "11", id="town-without-deeper-cell-there"),
        pytest.param(24.7, 99.7, "12", id="other-town"),
        pytest.param(24.0, 99.1, "1111", id="outer-boundary-is-inside"),
        pytest.param(25.0, 100.0, "12", id="county-corner"),
        pytest.param(24.3, 99.25, "1111", id="shared-edge-goes-to-smallest-code"),
        pytest.param(24.5, 99.1, "1111", id="edge-between-levels-goes-deepest"),
        pytest.param(24.7, 99.5, "11", id="edge-between-towns"),
    ],
)
def test_locate_returns_the_deepest_covering_cell(
    locator: Locator, lat: float, lon: float, code: str
) -> None:
    assert locator.locate(lat, lon) == code


@pytest.mark.parametrize(("lat", "lon"), [(23.9, 99.5), (24.5, 100.01), (25.2, 99.0)])
def test_point_outside_every_cell_is_none(locator: Locator, lat: float, lon: float) -> None:
    assert locator.locate(lat, lon) is None


def test_argument_order_is_lat_then_lon() -> None:
    # A box that is wide in longitude and thin in latitude: swapping the axes would miss it.
    locator = Locator([("1", 1, box(99.0, 24.0, 100.0, 24.1))])

    assert locator.locate(24.05, 99.5) == "1"
    assert locator.locate(99.5, 24.05) is None


def test_overlapping_cells_of_one_level_resolve_to_the_smallest_code() -> None:
    cells = [
        ("9", 2, box(0, 0, 2, 2)),
        ("10", 2, box(1, 1, 3, 3)),
        ("11", 2, box(0, 0, 3, 3)),
    ]
    for ordering in (cells, cells[::-1]):
        locator = Locator(ordering)
        assert locator.locate(1.5, 1.5) == "10"  # "10" < "11" < "9" as strings
        assert locator.locate(0.5, 0.5) == "11"


def test_deeper_level_wins_over_smaller_code() -> None:
    locator = Locator([("2", 3, box(0, 0, 1, 1)), ("1", 2, box(0, 0, 1, 1))])

    assert locator.locate(0.5, 0.5) == "2"


def test_multipolygon_covers_each_of_its_parts() -> None:
    parts = MultiPolygon([box(0, 0, 1, 1), box(2, 0, 3, 1)])
    locator = Locator([("1", 1, box(0, 0, 3, 1)), ("11", 2, parts)])

    assert [locator.locate(0.5, lon) for lon in (0.5, 1.5, 2.5)] == ["11", "1", "11"]


def test_point_in_a_hole_is_not_in_the_cell() -> None:
    ring = box(0, 0, 3, 3).difference(box(1, 1, 2, 2))
    locator = Locator([("1", 1, box(0, 0, 3, 3)), ("11", 2, ring)])

    assert locator.locate(1.5, 1.5) == "1"
    assert locator.locate(0.5, 0.5) == "11"


def test_empty_locator_finds_nothing() -> None:
    locator = Locator([])

    assert len(locator) == 0
    assert locator.locate(24.0, 99.0) is None
    assert locator.locate_many([(24.0, 99.0)]) == [None]


def test_locate_many_agrees_with_locate(locator: Locator) -> None:
    points = [(24.2, 99.1), (24.2, 99.4), (23.0, 99.0), (24.3, 99.25), (24.7, 99.7), (24.5, 99.1)]

    assert locator.locate_many(points) == [locator.locate(lat, lon) for lat, lon in points]
    assert locator.locate_many([]) == []


def test_repr_counts_cells(locator: Locator) -> None:
    assert repr(locator) == "Locator(cells=6)"
