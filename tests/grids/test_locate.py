"""Locator: the deepest cell covering a point, boundaries included, ties by smallest code."""

from __future__ import annotations

import pytest
from shapely import MultiPolygon, Point, Polygon, box

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


def test_a_shape_that_only_fills_part_of_its_box_is_tested_exactly() -> None:
    # An L: its bounding box holds the point (0.75, 0.75), the shape does not.
    ell = box(0, 0, 1, 0.5).union(box(0, 0, 0.5, 1))
    locator = Locator([("1", 1, box(0, 0, 1, 1)), ("11", 2, ell)])

    assert locator.locate(0.75, 0.75) == "1"
    assert locator.locate(0.25, 0.75) == "11"
    assert locator.locate(0.5, 0.5) == "11"  # the inner corner is on its boundary


def test_a_rotated_square_is_not_taken_for_its_box() -> None:
    diamond = Polygon([(1, 0), (2, 1), (1, 2), (0, 1), (1, 0)])
    locator = Locator([("1", 1, box(0, 0, 2, 2)), ("11", 2, diamond)])

    assert locator.locate(0.1, 0.1) == "1"
    assert locator.locate(1.0, 1.0) == "11"


def test_nan_and_far_away_points_are_outside(locator: Locator) -> None:
    assert locator.locate(float("nan"), 99.1) is None
    assert locator.locate(24.2, float("inf")) is None


def test_a_grid_of_small_cells_agrees_with_shapely_covers() -> None:
    # Many cells sharing edges and corners, under one parent: the index's buckets cut through
    # cells, and every edge and corner must still go to the same cell as shapely says.
    cells = [("0", 1, box(0, 0, 10, 10))]
    cells += [(f"{x}{y}", 2, box(x, y, x + 1, y + 1)) for x in range(1, 10) for y in range(10)]
    locator = Locator(cells)
    ranked = sorted(cells, key=lambda c: (-c[1], c[0]))
    for lat in [i / 4 for i in range(-2, 43)]:
        for lon in [i / 4 for i in range(-2, 43)]:
            point = Point(lon, lat)
            expected = next((code for code, _, shape in ranked if shape.covers(point)), None)
            assert locator.locate(lat, lon) == expected, (lat, lon)
