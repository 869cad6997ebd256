"""EdgeIndex: nearest edge, projection, distance in metres, masks, speed."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from evac.generate import generate_town
from evac.graph import EARTH_RADIUS_M, STEPS, RoadGraph, haversine_m
from evac.osm import graph_from_osm
from evac.profiles import travel_time_s, wheelchair
from evac.snap import EdgeIndex

OSM = Path(__file__).resolve().parents[3] / "shared" / "data" / "osm"
CENTER_GAI = 48391641  # 渋谷センター街


@pytest.fixture(scope="module")
def shibuya() -> RoadGraph:
    return graph_from_osm(OSM / "map.osm.pbf")


@pytest.fixture(scope="module")
def shibuya_index(shibuya: RoadGraph) -> EdgeIndex:
    return EdgeIndex(shibuya)


def _ends(g: RoadGraph, edge: int) -> frozenset[int]:
    return frozenset((int(g.edge_source()[edge]), int(g.indices[edge])))


def _brute_force(g: RoadGraph, lon: float, lat: float) -> float:
    """Nearest-segment distance over all edges, computed independently (metres)."""
    lat0 = math.radians(lat)
    kx, ky = EARTH_RADIUS_M * math.cos(lat0) * math.pi / 180, EARTH_RADIUS_M * math.pi / 180
    src = g.edge_source()
    ax, ay = (g.node_lon[src] - lon) * kx, (g.node_lat[src] - lat) * ky
    bx, by = (g.node_lon[g.indices] - lon) * kx, (g.node_lat[g.indices] - lat) * ky
    dx, dy = bx - ax, by - ay
    seg2 = np.where(dx * dx + dy * dy > 0, dx * dx + dy * dy, 1.0)
    t = np.clip(-(ax * dx + ay * dy) / seg2, 0, 1)
    return float(np.hypot(ax + t * dx, ay + t * dy).min())


def test_point_on_a_known_street(shibuya: RoadGraph, shibuya_index: EdgeIndex) -> None:
    g = shibuya
    edge = int(np.flatnonzero(g.way_id == CENTER_GAI)[0])
    u, v = int(g.edge_source()[edge]), int(g.indices[edge])
    lon = 0.3 * g.node_lon[u] + 0.7 * g.node_lon[v]
    lat = 0.3 * g.node_lat[u] + 0.7 * g.node_lat[v]
    snap = shibuya_index.snap(lon, lat)
    assert g.way_id[snap.edge] == CENTER_GAI
    assert _ends(g, snap.edge) == {u, v}
    assert snap.distance_m < 0.01
    fraction = snap.fraction if g.edge_source()[snap.edge] == u else 1 - snap.fraction
    assert fraction == pytest.approx(0.7, abs=1e-6)
    assert (snap.lon, snap.lat) == pytest.approx((lon, lat), abs=1e-9)


def test_offset_point_distance_in_metres() -> None:
    g = generate_town(0).graph
    index = EdgeIndex(g)
    # an east-going street of the grid: same latitude at both ends
    src = g.edge_source()
    east = np.flatnonzero(
        (g.node_lat[src] == g.node_lat[g.indices]) & (g.node_lon[g.indices] > g.node_lon[src])
    )
    edge = int(east[len(east) // 2])
    u, v = int(src[edge]), int(g.indices[edge])
    lon = 0.25 * g.node_lon[u] + 0.75 * g.node_lon[v]
    lat = g.node_lat[u] + 12.0 / (EARTH_RADIUS_M * math.pi / 180)  # 12 m north
    snap = index.snap(lon, lat)
    assert snap.distance_m == pytest.approx(12.0, abs=1e-3)
    assert float(haversine_m(lon, lat, snap.lon, snap.lat)) == pytest.approx(12.0, abs=0.01)
    assert _ends(g, snap.edge) == {u, v}
    assert snap.lat == pytest.approx(g.node_lat[u], abs=1e-9)


def test_matches_brute_force(shibuya: RoadGraph, shibuya_index: EdgeIndex) -> None:
    rng = np.random.default_rng(5)
    lon = rng.uniform(shibuya.node_lon.min() - 0.005, shibuya.node_lon.max() + 0.005, 200)
    lat = rng.uniform(shibuya.node_lat.min() - 0.005, shibuya.node_lat.max() + 0.005, 200)
    many = shibuya_index.snap_many(lon, lat)
    for i in range(200):
        want = _brute_force(shibuya, lon[i], lat[i])
        assert many.distance_m[i] == pytest.approx(want, rel=1e-3, abs=0.01)
        one = shibuya_index.snap(lon[i], lat[i])
        assert one.edge == many.edge[i]
        assert one.distance_m == pytest.approx(many.distance_m[i], abs=1e-9)
    assert many.distance_m.max() > 50  # far points took the nearest-box path


def test_mask_excludes_steps(shibuya: RoadGraph) -> None:
    allowed = np.isfinite(travel_time_s(shibuya, wheelchair))
    index = EdgeIndex(shibuya, allowed=allowed)
    steps = np.flatnonzero(shibuya.flags & STEPS)
    src = shibuya.edge_source()
    mid_lon = (shibuya.node_lon[src[steps]] + shibuya.node_lon[shibuya.indices[steps]]) / 2
    mid_lat = (shibuya.node_lat[src[steps]] + shibuya.node_lat[shibuya.indices[steps]]) / 2
    snapped = index.snap_many(mid_lon, mid_lat)
    assert allowed[snapped.edge].all()
    assert not np.any(shibuya.flags[snapped.edge] & STEPS)
    assert np.all(snapped.distance_m > 0)


def test_empty_index_and_bad_input(shibuya: RoadGraph) -> None:
    index = EdgeIndex(shibuya, allowed=np.zeros(shibuya.n_edges, bool))
    with pytest.raises(ValueError, match="empty"):
        index.snap(139.7, 35.66)
    with pytest.raises(ValueError, match="mask of shape"):
        EdgeIndex(shibuya, allowed=np.ones(3, bool))
    with pytest.raises(ValueError, match="finite"):
        EdgeIndex(shibuya).snap(math.nan, 35.66)


def test_every_resident_of_a_town_snaps_near_a_road() -> None:
    """Snap speed is measured in bench/evac; here, that a whole town's residents snap."""
    town = generate_town(1, size=200)
    index = EdgeIndex(town.graph)
    many = index.snap_many(town.residents_lon[:20000], town.residents_lat[:20000])
    assert np.all(many.edge >= 0)
    assert many.distance_m.max() < 60
