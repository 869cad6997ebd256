"""Capacity-aware assignment against an exact lexicographic optimum (networkx flows).

The oracle takes every (group, shelter) travel time from a search per shelter, finds the most
residents that can be seated (max flow), the least egress time that still seats them (binary
search over the times, a max flow each), then the least total time using only legs up to that
egress (min-cost flow). Times are compared exactly, in quanta of ``QUANTUM_S``.
"""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from evac._assign_egress import egress_by_cuts, egress_by_max_flows
from evac._assign_layout import pack_candidates
from evac.assign import (
    CUT_SHELTERS,
    DEFAULT_CANDIDATES,
    Assignment,
    Candidates,
    assign_greedy,
    assign_with_capacity,
    k_nearest_shelters,
    seat_groups,
)
from evac.generate import Town, generate_town
from evac.profiles import PROFILES, travel_time_s
from evac.snap import EdgeIndex
from evac.solver import QUANTUM_S, SearchGraph, nearest_shelter_times, search_graph
from tests.evac.test_kernels import Case, cases

EXAMPLES = settings(max_examples=60, deadline=None)


class Problem(NamedTuple):
    """A road graph, one profile's weights, shelters with capacities and residents' nodes."""

    graph: SearchGraph
    weights_s: np.ndarray
    shelters: np.ndarray
    capacities: np.ndarray
    residents: np.ndarray


class Optimum(NamedTuple):
    seated: int
    egress_units: int
    total_units: int


# --- the oracle -----------------------------------------------------------------------------


def cost_units(problem: Problem, nodes: np.ndarray) -> np.ndarray:
    """(S, G) quanta from each node to each shelter, one search per shelter (inf: none)."""
    rows = [
        nearest_shelter_times(problem.graph, problem.weights_s, [s]).dist_s[nodes]
        for s in problem.shelters
    ]
    return np.rint(np.array(rows).reshape(len(rows), nodes.size) / QUANTUM_S)


def network(
    cost: np.ndarray, count: np.ndarray, capacities: np.ndarray, limit: float
) -> nx.DiGraph:
    net = nx.DiGraph()
    net.add_nodes_from(["source", "sink"])
    for g, people in enumerate(count):
        net.add_edge("source", ("g", g), capacity=int(people), weight=0)
    for s, room in enumerate(capacities):
        net.add_edge(("s", s), "sink", capacity=int(room), weight=0)
    for s, g in zip(*np.nonzero(np.isfinite(cost) & (cost <= limit)), strict=True):
        net.add_edge(("g", g), ("s", s), capacity=int(count[g]), weight=int(cost[s, g]))
    return net


def optimum(cost: np.ndarray, count: np.ndarray, capacities: np.ndarray) -> Optimum:
    """Most seated, then least egress, then least total, exactly."""
    times = np.unique(cost[np.isfinite(cost)])

    def seated(limit: float) -> int:
        return int(nx.maximum_flow_value(network(cost, count, capacities, limit), "source", "sink"))

    most = seated(np.inf)
    if most == 0:
        return Optimum(0, 0, 0)
    lo, hi = 0, times.size - 1
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if seated(times[mid]) == most else (mid + 1, hi)
    net = network(cost, count, capacities, times[lo])
    net.nodes["source"]["demand"], net.nodes["sink"]["demand"] = -most, most
    return Optimum(most, int(times[lo]), int(nx.min_cost_flow_cost(net)))


def optimum_of(problem: Problem) -> Optimum:
    nodes, count = np.unique(problem.residents, return_counts=True)
    return optimum(cost_units(problem, nodes), count, problem.capacities)


def achieved(result: Assignment) -> Optimum:
    seated = result.shelter >= 0
    units = np.rint(result.time_s[seated] / QUANTUM_S).astype(np.int64)
    return Optimum(int(seated.sum()), int(units.max(initial=0)), int(units.sum()))


def assign(problem: Problem, **options: int) -> Assignment:
    return assign_with_capacity(*problem, **options)


# --- towns ----------------------------------------------------------------------------------


@cache
def town(size: int, seed: int) -> tuple[Town, SearchGraph, np.ndarray, EdgeIndex]:
    made = generate_town(seed, size=size)
    graph = search_graph(made.graph.indptr, made.graph.indices)
    return made, graph, travel_time_s(made.graph, PROFILES["walk"]), EdgeIndex(made.graph)


def town_problem(size: int, seed: int, shelters: int, room: float, residents: int) -> Problem:
    """A generated town, ``shelters`` of its shelters with places for ``room`` times the
    ``residents`` drawn from its residents (short below 1, ample above)."""
    made, graph, weights, index = town(size, seed)
    rng = np.random.default_rng(seed)

    def nodes(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        return made.graph.indices[index.snap_many(lon, lat).edge].astype(np.int64)

    picked = made.shelters[:shelters]
    at = nodes(np.array([s.lon for s in picked]), np.array([s.lat for s in picked]))
    who = rng.choice(made.residents_lon.size, residents, replace=False)
    homes = nodes(made.residents_lon[who], made.residents_lat[who])
    weight = np.array([s.capacity for s in picked], dtype=np.float64)
    capacities = np.floor(weight / weight.sum() * room * residents).astype(np.int64)
    return Problem(graph, weights, at, capacities, homes)


TOWNS = {  # size, seed, shelters, room, residents
    "3 shelters, short": (24, 0, 3, 0.7, 400),
    "5 shelters, ample": (24, 1, 5, 1.3, 500),
    "5 shelters, tight": (40, 2, 5, 1.0, 500),
    "7 shelters, short": (48, 3, 7, 0.8, 500),
    "10 shelters, short": (56, 4, 10, 0.9, 500),
    "10 shelters, ample": (56, 5, 10, 1.5, 500),
}


@pytest.mark.parametrize("case", TOWNS.values(), ids=TOWNS.keys())
def test_egress_equals_the_exact_optimum_and_the_mean_is_within_2_percent(
    case: tuple[int, int, int, float, int],
) -> None:
    problem = town_problem(*case)
    best, got = optimum_of(problem), achieved(assign(problem))
    assert got.seated == best.seated
    assert got.egress_units == best.egress_units
    assert best.total_units <= got.total_units <= 1.02 * best.total_units


@pytest.mark.parametrize("case", TOWNS.values(), ids=TOWNS.keys())
def test_with_few_shelters_the_result_is_the_exact_optimum(
    case: tuple[int, int, int, float, int],
) -> None:
    problem = town_problem(*case)
    assert problem.shelters.size <= DEFAULT_CANDIDATES
    assert achieved(assign(problem)) == optimum_of(problem)


def test_with_too_many_shelters_for_cuts_the_max_flow_egress_is_exact() -> None:
    problem = town_problem(64, 6, 13, 0.9, 500)
    assert CUT_SHELTERS < problem.shelters.size <= DEFAULT_CANDIDATES
    assert achieved(assign(problem)) == optimum_of(problem)


def test_with_many_shelters_it_is_the_optimum_over_each_nodes_nearest() -> None:
    problem = town_problem(80, 7, 21, 0.9, 400)
    assert problem.shelters.size > DEFAULT_CANDIDATES
    nodes, count = np.unique(problem.residents, return_counts=True)
    near = k_nearest_shelters(
        problem.graph, problem.weights_s, problem.shelters, nodes, DEFAULT_CANDIDATES
    )
    cost = np.full((problem.shelters.size, nodes.size), np.inf)
    named = near.shelter >= 0
    cost[near.shelter[named], np.nonzero(named)[0]] = near.units[named]
    got = achieved(assign(problem))
    assert got == optimum(cost, count, problem.capacities)
    full = optimum_of(problem)
    assert got.seated == full.seated
    assert got.total_units <= 1.02 * full.total_units


def test_no_shelter_is_over_capacity_and_loads_are_counted() -> None:
    problem = town_problem(40, 8, 5, 0.5, 800)
    result = assign(problem)
    seated = result.shelter >= 0
    np.testing.assert_array_equal(result.load, np.bincount(result.shelter[seated], minlength=5))
    assert np.all(result.load <= problem.capacities)
    assert np.all(result.load == problem.capacities)  # short of room: every place is taken


def test_each_time_is_the_travel_time_to_the_shelter_given() -> None:
    problem = town_problem(40, 9, 5, 0.8, 600)
    result = assign(problem)
    for s, node in enumerate(problem.shelters):
        mine = result.shelter == s
        dist = nearest_shelter_times(problem.graph, problem.weights_s, [node]).dist_s
        np.testing.assert_array_equal(result.time_s[mine], dist[problem.residents[mine]])
    assert np.all(np.isinf(result.time_s[result.shelter < 0]))


def test_a_full_shelter_receives_nobody_more() -> None:
    problem = town_problem(40, 10, 5, 1.2, 600)
    nearest = nearest_shelter_times(problem.graph, problem.weights_s, problem.shelters)
    favourite = np.bincount(nearest.source[problem.residents]).argmax()
    capacities = problem.capacities.copy()
    capacities[favourite] = 7
    result = assign(problem._replace(capacities=capacities))
    assert result.load[favourite] == 7
    closed = problem._replace(capacities=np.where(np.arange(5) == favourite, 0, capacities))
    assert assign(closed).load[favourite] == 0


def test_unreachable_residents_stay_unassigned() -> None:
    problem = town_problem(24, 11, 5, 2.0, 100)
    weights = problem.weights_s.copy()
    cut_off = np.setdiff1d(problem.residents, problem.shelters)[0]
    graph = problem.graph
    weights[graph.indptr[cut_off] : graph.indptr[cut_off + 1]] = np.inf  # no way out
    result = assign(problem._replace(weights_s=weights))
    nearest = nearest_shelter_times(graph, weights, problem.shelters).dist_s[problem.residents]
    assert np.isinf(nearest[problem.residents == cut_off]).all()
    np.testing.assert_array_equal(result.shelter < 0, np.isinf(nearest))  # room for the rest
    assert np.all(np.isinf(result.time_s[result.shelter < 0]))


def test_with_room_everywhere_everyone_goes_to_a_nearest_shelter() -> None:
    problem = town_problem(40, 12, 5, 1.0, 300)
    result = assign(problem._replace(capacities=np.full(5, 10_000)))
    nearest = nearest_shelter_times(problem.graph, problem.weights_s, problem.shelters)
    np.testing.assert_array_equal(result.time_s, nearest.dist_s[problem.residents])
    assert result.rounds == 1


def test_more_residents_than_places_leaves_the_rest_unassigned() -> None:
    problem = town_problem(24, 13, 5, 1.0, 50)
    result = assign(problem._replace(capacities=np.full(5, 3)))
    assert int(result.load.sum()) == 15
    assert np.sum(result.shelter < 0) == 50 - 15
    assert np.all(np.isinf(result.time_s[result.shelter < 0]))


def test_the_greedy_baseline_never_overflows_but_is_beaten() -> None:
    problem = town_problem(56, 14, 10, 0.9, 500)
    greedy, best = assign_greedy(*problem), achieved(assign(problem))
    assert np.all(greedy.load <= problem.capacities)
    assert achieved(greedy).seated == best.seated
    assert achieved(greedy).total_units >= best.total_units


# --- k nearest shelters ---------------------------------------------------------------------


def check_k_nearest(problem: Problem, k: int) -> None:
    """Times equal the k smallest of a search per shelter, and each named shelter is that far."""
    nodes = np.arange(problem.graph.n_nodes)
    near = k_nearest_shelters(problem.graph, problem.weights_s, problem.shelters, nodes, k)
    every = cost_units(problem, nodes).T  # (n, S)
    want = np.sort(every, axis=1)[:, : near.units.shape[1]]
    got = np.where(near.shelter >= 0, near.units, np.inf)
    np.testing.assert_array_equal(got, want)
    named = near.shelter >= 0
    rows = np.nonzero(named)[0]
    np.testing.assert_array_equal(every[rows, near.shelter[named]], near.units[named])


def test_k_nearest_shelters_match_a_search_per_shelter_in_a_town() -> None:
    _, graph, weights, _ = town(40, 15)
    shelters = np.random.default_rng(15).choice(graph.n_nodes, 9, replace=False)
    check_k_nearest(Problem(graph, weights, shelters, np.ones(9), np.empty(0)), 4)


@EXAMPLES
@given(cases(), st.integers(1, 5))
def test_k_nearest_shelters_match_a_search_per_shelter(case: Case, k: int) -> None:
    graph = search_graph(case.indptr, case.indices)
    problem = Problem(graph, case.weights_s, case.sources, np.ones(case.sources.size), np.empty(0))
    check_k_nearest(problem, k)


# --- random graphs --------------------------------------------------------------------------


@st.composite
def problems(draw: st.DrawFn) -> Problem:
    """A random graph (ties, zero and closed edges, unreachable parts), up to 4 shelters,
    some closed (no places), and up to 30 residents."""
    case = draw(cases())
    graph = search_graph(case.indptr, case.indices)
    capacities = draw(arrays(np.int64, case.sources.size, elements=st.integers(0, 6)))
    node = st.integers(0, case.n - 1)
    residents = draw(arrays(np.int64, draw(st.integers(0, 30)), elements=node))
    return Problem(graph, case.weights_s, case.sources, capacities, residents)


@EXAMPLES
@given(problems())
def test_on_random_graphs_the_result_is_the_exact_optimum(problem: Problem) -> None:
    result = assign(problem)
    assert np.all(result.load <= problem.capacities)
    assert achieved(result) == optimum_of(problem)


@EXAMPLES
@given(problems())
def test_on_random_graphs_nobody_is_sent_where_they_cannot_go(problem: Problem) -> None:
    result = assign(problem)
    seated = result.shelter >= 0
    for s, node in enumerate(problem.shelters):
        dist = nearest_shelter_times(problem.graph, problem.weights_s, [node]).dist_s
        mine = result.shelter == s
        np.testing.assert_array_equal(result.time_s[mine], dist[problem.residents[mine]])
    loads = np.bincount(result.shelter[seated], minlength=problem.shelters.size)
    np.testing.assert_array_equal(result.load, loads)
    assert np.all(np.isinf(result.time_s[~seated]))


# --- seating on random candidates -----------------------------------------------------------


class Groups(NamedTuple):
    candidates: Candidates
    count: np.ndarray
    capacities: np.ndarray

    def cost(self) -> np.ndarray:
        """(S, G) quanta, inf where a shelter is not a group's candidate."""
        cost = np.full((self.capacities.size, self.count.size), np.inf)
        named = self.candidates.shelter >= 0
        cost[self.candidates.shelter[named], np.nonzero(named)[0]] = self.candidates.units[named]
        return cost


@st.composite
def groups(draw: st.DrawFn) -> Groups:
    """Up to 40 groups, each with up to k distinct candidates out of up to 6 shelters, in any
    order, times drawn from a few values (ties abound) at a scale that takes the transport's
    radix sort one, two or three passes, some capacities 0."""
    n_shelters = draw(st.integers(1, 6))
    k = draw(st.integers(1, n_shelters))
    n_groups = draw(st.integers(0, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shelter = np.array([rng.permutation(n_shelters)[:k] for _ in range(n_groups)], np.int32)
    shelter = shelter.reshape(n_groups, k)
    scale = draw(st.sampled_from([1, 2**12, 2**21]))
    units = scale * rng.choice([0, 5, 10, 12, 30, 31, 100], size=(n_groups, k)).astype(np.int64)
    missing = rng.random((n_groups, k)) < 0.2
    shelter[missing] = -1
    units[missing] = 2**31 - 1
    count = rng.integers(1, 6, n_groups)
    capacities = rng.integers(0, 12, n_shelters)
    return Groups(Candidates(shelter, units), count, capacities)


@EXAMPLES
@given(groups())
def test_seating_is_the_exact_optimum_over_any_candidates(case: Groups) -> None:
    seating = seat_groups(*case)
    flow = seating.flow
    assert np.all(flow.sum(axis=1) <= case.count)
    assert np.all(flow[case.candidates.shelter < 0] == 0)
    named = case.candidates.shelter >= 0
    load = np.bincount(case.candidates.shelter[named], flow[named], minlength=case.capacities.size)
    assert np.all(load <= case.capacities)
    used = flow > 0
    total = int((flow[used] * case.candidates.units[used]).sum())
    egress = int(case.candidates.units[used].max(initial=0))
    got = Optimum(int(flow.sum()), egress, total)
    assert got == optimum(case.cost(), case.count, case.capacities)
    assert (seating.seated, seating.egress_units) == (got.seated, got.egress_units)


@EXAMPLES
@given(groups())
def test_both_egress_searches_agree(case: Groups) -> None:
    cand, units = case.candidates
    shift = (cand.shape[1] - 1).bit_length()
    packed_cand = np.empty(cand.shape[0] << shift, np.int32)
    packed_units = np.empty(cand.shape[0] << shift, np.int64)
    order = np.empty(cand.shape, np.int64)
    pack_candidates(cand, units, shift, packed_cand, packed_units, order)
    problem = (packed_cand, packed_units, shift, case.count, case.capacities)
    assert egress_by_cuts(*problem) == egress_by_max_flows(*problem)
