"""Geofence targeting is exact for registered points, boundary included."""

import numpy as np

from disaster.domain import PolygonArea
from notify.targeting import points_inside
from tests.support import square


def test_inside_outside_and_boundary_points() -> None:
    area = square(139.0, 35.0, 0.01).to_shape()
    lon = np.array([139.005, 139.02, 139.0, 139.01, 139.0100001])
    lat = np.array([35.005, 35.005, 35.003, 35.01, 35.005])
    assert points_inside(area, lon, lat).tolist() == [True, False, True, True, False]


def test_a_hole_is_outside() -> None:
    outer = [(0.0, 0.0), (4.0, 0.0), (4.0, 4.0), (0.0, 4.0), (0.0, 0.0)]
    hole = [(1.0, 1.0), (3.0, 1.0), (3.0, 3.0), (1.0, 3.0), (1.0, 1.0)]
    area = PolygonArea(coordinates=[outer, hole]).to_shape()
    assert points_inside(area, np.array([2.0, 0.5]), np.array([2.0, 0.5])).tolist() == [False, True]


def test_no_points_gives_an_empty_mask() -> None:
    area = square(139.0, 35.0).to_shape()
    assert points_inside(area, np.empty(0), np.empty(0)).shape == (0,)
