"""Capacity-aware assignment: never over capacity, and close to the exact min-cost optimum."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from evac.assign import assign_with_capacity
from evac.generate import generate_town
from evac.profiles import PROFILES, travel_time_s
from evac.snap import EdgeIndex
from evac.solver import nearest_shelter_times, search_graph

TOWN = generate_town(1)
GRAPH = search_graph(TOWN.graph.indptr, TOWN.graph.indices)
WEIGHTS = travel_time_s(TOWN.graph, PROFILES["walk"])
INDEX = EdgeIndex(TOWN.graph)


def _nodes(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    snaps = INDEX.snap_many(lon, lat)
    return TOWN.graph.indices[snaps.edge].astype(np.int64)


SHELTERS = _nodes(
    np.array([s.lon for s in TOWN.shelters]), np.array([s.lat for s in TOWN.shelters])
)


def _optimum(residents: np.ndarray, capacities: np.ndarray) -> float:
    """Exact minimum total travel time by min-cost flow (networkx), from per-shelter searches."""
    cost = np.stack([nearest_shelter_times(GRAPH, WEIGHTS, [s]).dist_s[residents]
                     for s in SHELTERS])  # fmt: skip
    flow = nx.DiGraph()
    flow.add_node("src", demand=-residents.size)
    flow.add_node("sink", demand=residents.size)
    for r in range(residents.size):
        flow.add_edge("src", ("r", r), capacity=1, weight=0)
        for s in range(SHELTERS.size):
            if np.isfinite(cost[s, r]):
                flow.add_edge(("r", r), ("s", s), capacity=1, weight=round(cost[s, r] * 10))
    for s in range(SHELTERS.size):
        flow.add_edge(("s", s), "sink", capacity=int(capacities[s]), weight=0)
    return nx.min_cost_flow_cost(flow) / 10


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_shelter_overflows_and_the_total_is_near_the_optimum(seed: int) -> None:
    rng = np.random.default_rng(seed)
    pick = rng.choice(TOWN.residents_lon.size, 60, replace=False)
    residents = _nodes(TOWN.residents_lon[pick], TOWN.residents_lat[pick])
    capacities = rng.integers(8, 20, SHELTERS.size)
    result = assign_with_capacity(GRAPH, WEIGHTS, SHELTERS, capacities, residents)
    assert np.all(result.load <= capacities)
    assert np.all(result.shelter >= 0)  # there is room for everyone here
    optimum = _optimum(residents, capacities)
    total = float(result.time_s.sum())
    assert optimum <= total + 1e-6
    assert total <= optimum * 1.15, f"greedy {total:.0f} s vs optimum {optimum:.0f} s"


def test_with_room_everywhere_everyone_goes_to_the_nearest_shelter() -> None:
    residents = _nodes(TOWN.residents_lon[:200], TOWN.residents_lat[:200])
    result = assign_with_capacity(GRAPH, WEIGHTS, SHELTERS, [10_000] * SHELTERS.size, residents)
    nearest = nearest_shelter_times(GRAPH, WEIGHTS, SHELTERS)
    assert np.array_equal(result.shelter, nearest.source[residents])
    assert result.rounds == 1


def test_more_residents_than_places_leaves_the_rest_unassigned() -> None:
    residents = _nodes(TOWN.residents_lon[:50], TOWN.residents_lat[:50])
    result = assign_with_capacity(GRAPH, WEIGHTS, SHELTERS, [3] * SHELTERS.size, residents)
    assert int(result.load.sum()) == 3 * SHELTERS.size
    assert np.sum(result.shelter < 0) == 50 - 3 * SHELTERS.size
    assert np.all(np.isinf(result.time_s[result.shelter < 0]))
