"""The synthetic town: determinism, the river and its bridges, the hill, shelters, scale."""

from __future__ import annotations

import time

import numpy as np
import pytest
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from evac.generate import BENCH_SIZE, HAZARDS, Town, generate_town
from evac.graph import BRIDGE, CAR, FOOT, KIND_CODES, STEPS, UNDERPASS, RoadGraph, check_graph


@pytest.fixture(scope="module")
def town() -> Town:
    return generate_town(7)


def _segments(g: RoadGraph) -> np.ndarray:
    src, dst = g.edge_source(), g.indices
    a = np.column_stack([g.node_lon[src], g.node_lat[src]])
    b = np.column_stack([g.node_lon[dst], g.node_lat[dst]])
    return shapely.linestrings(np.stack([a, b], axis=1))


def _components(g: RoadGraph, keep: np.ndarray) -> int:
    src, dst = g.edge_source()[keep], g.indices[keep]
    adj = coo_matrix((np.ones(src.shape[0]), (src, dst)), shape=(g.n_nodes, g.n_nodes))
    return int(connected_components(adj, directed=False)[0])


def test_same_seed_same_town() -> None:
    a, b = generate_town(3), generate_town(3)
    for name in ("node_lon", "node_lat", "node_elev_m", "indptr", "indices", "length_m"):
        np.testing.assert_array_equal(getattr(a.graph, name), getattr(b.graph, name))
    for name in ("kind", "flags", "slope", "way_id"):
        np.testing.assert_array_equal(getattr(a.graph, name), getattr(b.graph, name))
    np.testing.assert_array_equal(a.residents_lon, b.residents_lon)
    np.testing.assert_array_equal(a.bridges, b.bridges)
    assert a.shelters == b.shelters
    assert a.river.equals(b.river)


def test_other_seed_other_town() -> None:
    a, b = generate_town(1), generate_town(2)
    assert not np.array_equal(a.residents_lon, b.residents_lon)
    assert not np.array_equal(a.graph.flags, b.graph.flags)


def test_graph_is_valid(town: Town) -> None:
    g = town.graph
    check_graph(g)
    assert 5000 < g.n_edges < 8000
    assert np.all(g.way_id == 0)
    assert np.all(g.flags & FOOT)  # every street is walkable both ways
    assert np.all((g.length_m > 59) & (g.length_m < 61))
    # in Japan
    assert g.node_lon.min() > 122
    assert g.node_lon.max() < 154
    assert g.node_lat.min() > 20
    assert g.node_lat.max() < 46


def test_river_is_crossed_only_by_bridges(town: Town) -> None:
    g = town.graph
    crossing = np.flatnonzero(shapely.intersects(_segments(g), town.river))
    np.testing.assert_array_equal(crossing, town.bridges)
    assert np.all(g.flags[town.bridges] & BRIDGE)
    assert 2 <= town.bridges.size // 2 <= 5  # a few bridges, two directions each
    assert np.any(g.flags[town.bridges] & CAR)
    assert not np.all(g.flags[town.bridges] & CAR)  # one is a footbridge
    assert not shapely.contains_xy(town.river, g.node_lon, g.node_lat).any()


def test_bridges_are_the_only_way_across(town: Town) -> None:
    g = town.graph
    everything = np.ones(g.n_edges, bool)
    assert _components(g, everything) == 1
    no_bridges = (g.flags & BRIDGE) == 0
    assert _components(g, no_bridges) == 2


def test_hill_has_slopes_and_steps(town: Town) -> None:
    g = town.graph
    src = g.edge_source()
    rise = g.node_elev_m[g.indices] - g.node_elev_m[src]
    np.testing.assert_allclose(g.slope, rise / g.length_m, rtol=1e-4, atol=1e-6)
    assert g.node_elev_m.max() > 50
    steps = (g.flags & STEPS) != 0
    assert steps.sum() >= 10
    assert np.all(g.kind[steps] == KIND_CODES["steps"])
    assert not np.any(g.flags[steps] & CAR)
    assert np.all(np.abs(g.slope[steps]) > 0.1)
    assert g.node_elev_m[src[steps]].min() > 10  # on the hill, not by the river


def test_one_way_streets(town: Town) -> None:
    g = town.graph
    src, dst = g.edge_source(), g.indices
    car = (g.flags & CAR) != 0
    keys = set(zip(src[car].tolist(), dst[car].tolist(), strict=True))
    one_way = [e for e in np.flatnonzero(car) if (dst[e], src[e]) not in keys]
    assert len(one_way) > 20
    assert np.any(g.flags & UNDERPASS)


def test_shelters_and_residents(town: Town) -> None:
    g = town.graph
    assert len(town.shelters) >= 5
    for s in town.shelters:
        assert g.node_lon.min() <= s.lon <= g.node_lon.max()
        assert g.node_lat.min() <= s.lat <= g.node_lat.max()
        assert s.capacity > 0
        assert s.hazards <= set(HAZARDS)
        assert {"earthquake", "fire"} <= s.hazards
    assert "flood" in town.shelters[0].hazards  # the hill top
    assert town.residents_lon.shape == town.residents_lat.shape == (2 * 40 * 40,)
    assert not shapely.contains_xy(town.river, town.residents_lon, town.residents_lat).any()


def test_size_validation() -> None:
    with pytest.raises(ValueError, match="size >= 16"):
        generate_town(size=4)


def test_benchmark_size_has_a_million_edges() -> None:
    start = time.perf_counter()
    big = generate_town(size=BENCH_SIZE)
    elapsed = time.perf_counter() - start
    print(f"\ngenerate_town(size={BENCH_SIZE}): {big.graph.n_edges:,} edges in {elapsed:.2f} s")
    assert big.graph.n_edges >= 1_000_000
    assert big.bridges.size > 0
