"""Targeting is exact: the index reaches the same residents as a brute-force test of each point.

Polygons are drawn on a dyadic lattice near Tokyo so that many points fall exactly on edges and
vertices (the boundary counts as inside), and grid cells of several sizes cut through them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from disaster.domain import PolygonArea
from notify.targeting import (
    EARTH_RADIUS_M,
    Circle,
    ResidentIndex,
    TargetArea,
    haversine_m,
    parse_cap_circle,
    parse_cap_polygon,
    points_inside,
)
from tests.support import square

STEP = 2.0**-8  # lattice step in degrees, exact in binary, ~400 m
LON0, LAT0 = 139.5, 35.5
CELL_SIDES_M = st.sampled_from([20.0, 100.0, 434.3, 1000.0, 5000.0])
EXAMPLES = settings(max_examples=200, deadline=None)


# --- points_inside (used by the notifier) --------------------------------------------------------


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


# --- CAP parsing ---------------------------------------------------------------------------------


def test_a_cap_polygon_is_lat_lon_and_becomes_lon_lat() -> None:
    polygon = parse_cap_polygon("35.0,139.0 35.0,139.1 35.1,139.1 35.1,139.0 35.0,139.0")
    assert polygon.bounds == (139.0, 35.0, 139.1, 35.1)


def test_a_cap_circle_is_lat_lon_and_km() -> None:
    assert parse_cap_circle(" 35.68,139.76   1.5 ") == Circle(139.76, 35.68, 1500.0)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("35.0,139.0 35.0,139.1 35.0,139.0", "at least 4 lat,lon pairs, got 3"),
        ("35.0,139.0 35.0,139.1 35.1,139.1 35.1,139.0", "must be closed"),
        ("35.0,139.0 35.0;139.1 35.1,139.1 35.0,139.0", "pair 2 '35.0;139.1' is not lat,lon"),
        ("35.0,139.0 35.0,139.1,2 35.1,139.1 35.0,139.0", "pair 2 '35.0,139.1,2' is not lat,lon"),
        ("139.0,35.0 139.0,35.1 139.1,35.1 139.0,35.0", "pair 1 '139.0,35.0' is out of range"),
        ("35.0,nan 35.0,139.1 35.1,139.1 35.0,nan", "out of range"),
        ("0,0 1,1 0,1 1,0 0,0", "not a simple ring: Self-intersection"),
        ("35,130 35,131 35,130 35,130", "not a simple ring"),
        ("30,130 30,134 34,134 34,130 30,130", "covers 167,625 km², more than 50,000 km²"),
    ],
)
def test_bad_cap_polygons_are_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_cap_polygon(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("35.68,139.76", "is 'lat,lon radius_km'"),
        ("35.68,139.76 1.5 2", "is 'lat,lon radius_km'"),
        ("35.68 1.5", "circle centre '35.68' is not lat,lon"),
        ("139.76,35.68 1.5", "out of range"),
        ("35.68,139.76 0", "positive number of km, got '0'"),
        ("35.68,139.76 -1", "positive number of km"),
        ("35.68,139.76 inf", "positive number of km"),
        ("35.68,139.76 1.5km", "positive number of km, got '1.5km'"),
        ("35.68,139.76 130", "covers 53,093 km², more than 50,000 km²"),
    ],
)
def test_bad_cap_circles_are_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_cap_circle(text)


def test_a_target_area_refuses_invalid_geometry() -> None:
    bowtie = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)])
    with pytest.raises(ValueError, match="not valid: Self-intersection"):
        TargetArea(polygons=(bowtie,))
    with pytest.raises(TypeError, match="got LineString"):
        TargetArea(polygons=(shapely.LineString([(0, 0), (1, 1)]),))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="out of range"):
        TargetArea(polygons=(shapely.box(35.0, 139.0, 35.1, 139.1),))
    with pytest.raises(ValueError, match="positive number of metres"):
        Circle(139.0, 35.0, 0.0)


def test_an_index_refuses_rows_it_cannot_place() -> None:
    with pytest.raises(ValueError, match="differ in length: 2, 2, 1"):
        ResidentIndex([1, 2], [139.0, 139.1], [35.0])
    with pytest.raises(ValueError, match=r"location 1 \(id 2\) is out of range"):
        ResidentIndex([1, 2], [139.0, math.nan], [35.0, 35.0])


# --- polygons against brute force --------------------------------------------------------------


@st.composite
def star_rings(draw: st.DrawFn, cx: int, cy: int, r_min: int, r_max: int) -> list[tuple]:
    """A star-shaped (so often concave) ring on the lattice around (cx, cy), lattice units."""
    k = draw(st.integers(6, 14))
    ring = []
    for i in range(k):
        angle = 2 * math.pi * (i + draw(st.floats(0.0, 0.9))) / k
        radius = draw(st.integers(r_min, r_max))
        ring.append((cx + round(radius * math.cos(angle)), cy + round(radius * math.sin(angle))))
    return [*ring, ring[0]]


def _degrees(ring: list[tuple]) -> list[tuple[float, float]]:
    return [(LON0 + x * STEP, LAT0 + y * STEP) for x, y in ring]


@st.composite
def lattice_areas(draw: st.DrawFn) -> shapely.Polygon | shapely.MultiPolygon:
    """A concave polygon, maybe with a hole, or two of them as a MultiPolygon."""
    parts = []
    for cx in range(draw(st.integers(1, 2))):
        shell = draw(star_rings(cx * 30, 0, 6, 12))
        holes = [draw(star_rings(cx * 30, 0, 1, 2))] if draw(st.booleans()) else []
        parts.append(shapely.Polygon(_degrees(shell), [_degrees(h) for h in holes]))
    area = parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)
    assume(area.is_valid)
    return area


def _points_for(area: shapely.Geometry, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Every lattice point of the box, the vertices, edge midpoints and random points."""
    minx, miny, maxx, maxy = area.bounds
    xs = np.arange(minx - STEP, maxx + 2 * STEP, STEP)
    ys = np.arange(miny - STEP, maxy + 2 * STEP, STEP)
    grid_x, grid_y = (a.ravel() for a in np.meshgrid(xs, ys))
    rings = shapely.get_rings(shapely.get_parts(area))
    vertices = shapely.get_coordinates(rings)
    middles = (vertices[:-1] + vertices[1:]) / 2
    rng = np.random.default_rng(seed)
    noise = rng.uniform((minx, miny), (maxx, maxy), (300, 2))
    points = np.concatenate([np.c_[grid_x, grid_y], vertices, middles, noise])
    return points[:, 0], points[:, 1]


def _brute_force(area: shapely.Geometry, ids: np.ndarray, lon: np.ndarray, lat: np.ndarray):
    inside = [area.intersects(shapely.Point(x, y)) for x, y in zip(lon, lat, strict=True)]
    return np.unique(ids[np.array(inside, np.bool_)])


@EXAMPLES
@given(lattice_areas(), CELL_SIDES_M, st.integers(0, 2**32 - 1))
def test_polygon_targets_match_brute_force(
    area: shapely.Polygon | shapely.MultiPolygon, cell_m: float, seed: int
) -> None:
    lon, lat = _points_for(area, seed)
    ids = np.random.default_rng(seed).integers(0, len(lon) // 2, len(lon))  # ~2 rows per id
    index = ResidentIndex(ids, lon, lat, cell_m=cell_m)
    got = index.targets(TargetArea(polygons=(area,)))
    assert got.tolist() == _brute_force(area, ids, lon, lat).tolist()


def test_points_on_cell_lines_and_edges_of_an_aligned_square_are_inside() -> None:
    """Cell lines, polygon edges and points coincide: the worst case for a grid."""
    xs, ys = np.meshgrid(np.arange(-4, 13) * STEP, np.arange(-4, 13) * STEP)
    lon, lat = LON0 + xs.ravel(), LAT0 + ys.ravel()
    area = shapely.box(LON0, LAT0, LON0 + 8 * STEP, LAT0 + 8 * STEP)
    index = ResidentIndex(np.arange(len(lon)), lon, lat, cell_m=STEP * 111_195.08 * 2)
    got = index.targets(TargetArea(polygons=(area,)))
    assert len(got) == 81
    assert got.tolist() == _brute_force(area, np.arange(len(lon)), lon, lat).tolist()


# --- circles against brute force ----------------------------------------------------------------


def _destinations(
    lon0: float, lat0: float, bearing: np.ndarray, dist_m: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Points at ``dist_m`` along great circles from (lon0, lat0), lon wrapped to ±180."""
    phi0, delta = math.radians(lat0), dist_m / EARTH_RADIUS_M
    phi = np.arcsin(np.sin(phi0) * np.cos(delta) + np.cos(phi0) * np.sin(delta) * np.cos(bearing))
    lam = np.arctan2(
        np.sin(bearing) * np.sin(delta) * np.cos(phi0), np.cos(delta) - np.sin(phi0) * np.sin(phi)
    )
    lon = (lon0 + np.degrees(lam) + 180.0) % 360.0 - 180.0
    return lon, np.clip(np.degrees(phi), -90.0, 90.0)


@EXAMPLES
@given(
    st.floats(-180.0, 180.0),
    st.floats(-89.9, 89.9),
    st.floats(1.0, 126_000.0),
    CELL_SIDES_M,
    st.integers(0, 2**32 - 1),
)
def test_circle_targets_match_brute_force(
    lon0: float, lat0: float, radius_m: float, cell_m: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    near = rng.uniform(0.0, 1.5, 600) * radius_m
    near[:100] = radius_m * (1 + rng.uniform(-1e-12, 1e-12, 100))  # on the circle, to rounding
    lon, lat = _destinations(lon0, lat0, rng.uniform(0, 2 * math.pi, 600), near)
    lon, lat = np.append(lon, lon0), np.append(lat, lat0)  # the centre itself
    ids = rng.integers(0, 300, 601)
    index = ResidentIndex(ids, lon, lat, cell_m=cell_m)
    got = index.targets(TargetArea(circles=(Circle(lon0, lat0, radius_m),)))
    expected = np.unique(ids[haversine_m(lon0, lat0, lon, lat) <= radius_m])
    assert ids[-1] in expected
    assert got.tolist() == expected.tolist()


def test_a_circle_reaches_across_the_antimeridian() -> None:
    index = ResidentIndex([1, 2, 3], [-179.995, 179.995, 179.9], [0.0, 0.0, 0.0], cell_m=100.0)
    got = index.targets(TargetArea(circles=(Circle(180.0, 0.0, 1000.0),)))
    assert got.tolist() == [1, 2]


def test_one_degree_of_latitude_is_r_times_pi_over_180() -> None:
    distance = haversine_m(139.0, 35.0, np.array([139.0]), np.array([36.0]))[0]
    assert distance == pytest.approx(EARTH_RADIUS_M * math.pi / 180, rel=1e-12)


# --- several locations, several shapes, changes ------------------------------------------------


def test_a_resident_with_several_locations_is_reached_once() -> None:
    lon = np.array([139.001, 139.002, 139.5, 139.5])
    lat = np.array([35.001, 35.002, 35.5, 35.5])
    index = ResidentIndex([7, 7, 8, 9], lon, lat)
    area = TargetArea(
        polygons=(square(139.0, 35.0).to_shape(),), circles=(Circle(139.001, 35.001, 50.0),)
    )
    assert index.targets(area).tolist() == [7]
    assert index.targets(TargetArea()).tolist() == []


def test_an_outlier_far_away_does_not_coarsen_the_grid() -> None:
    rng = np.random.default_rng(1)
    lon = np.append(rng.uniform(139.6, 139.8, 5000), 141.35)  # one resident in Sapporo
    lat = np.append(rng.uniform(35.5, 35.7, 5000), 43.06)
    index = ResidentIndex(np.arange(5001), lon, lat)
    area = TargetArea(circles=(Circle(141.35, 43.06, 10.0), Circle(139.7, 35.6, 2000.0)))
    expected = [*np.flatnonzero(haversine_m(139.7, 35.6, lon, lat) <= 2000.0).tolist(), 5000]
    assert index.targets(area).tolist() == expected
    assert len(index._cells) > 100


def test_an_empty_index_targets_nobody() -> None:
    index = ResidentIndex([], [], [])
    area = TargetArea(polygons=(square(139.0, 35.0).to_shape(),), circles=(Circle(0, 0, 1.0),))
    assert index.targets(area).tolist() == []
    assert len(index.with_changes([], [], [], deleted=[1])) == 0
    assert index.with_changes([4], [139.001], [35.001]).targets(area).tolist() == [4]


@EXAMPLES
@given(
    lattice_areas(),
    st.integers(0, 2**32 - 1),
    st.lists(st.integers(0, 60), max_size=30),
    st.lists(st.integers(0, 60), max_size=10),
)
def test_changes_give_the_index_a_fresh_build_would(
    area: shapely.Polygon | shapely.MultiPolygon, seed: int, moved: list[int], deleted: list[int]
) -> None:
    lon, lat = _points_for(area, seed)
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 50, len(lon))
    pick = rng.integers(0, len(lon), len(moved))
    new_ids, new_lon, new_lat = np.array(moved, np.int64), lon[pick], lat[pick]
    changed = ResidentIndex(ids, lon, lat, cell_m=300.0).with_changes(
        new_ids, new_lon, new_lat, deleted=deleted
    )
    stay = ~np.isin(ids, np.union1d(moved, deleted))
    all_ids = np.concatenate([ids[stay], new_ids])
    all_lon, all_lat = np.concatenate([lon[stay], new_lon]), np.concatenate([lat[stay], new_lat])
    target = TargetArea(polygons=(area,), circles=(Circle(LON0, LAT0, 3000.0),))
    assert len(changed) == len(all_ids)
    fresh = ResidentIndex(all_ids, all_lon, all_lat, cell_m=300.0).targets(target)
    assert changed.targets(target).tolist() == fresh.tolist()
    brute = _brute_force(target.polygons[0], all_ids, all_lon, all_lat)
    in_circle = all_ids[haversine_m(LON0, LAT0, all_lon, all_lat) <= 3000.0]
    assert fresh.tolist() == np.union1d(brute, in_circle).tolist()
