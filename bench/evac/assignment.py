"""Capacity-aware assignment next to the nearest shelter, the greedy and an exact optimum.

Small cases: generated towns (``evac.generate``, 576 to 3,136 intersections) with 3 to 10 of
their shelters, every generated resident snapped to its street, and places scaled to 0.8
(short) or 1.2 (ample) times the residents; and a town of 9,216 intersections with 30
shelters, where each node may use only its ``DEFAULT_CANDIDATES`` (16) nearest (not in
``--quick``). For each, egress (latest arrival) and mean arrival of:

- the nearest shelter, ignoring capacity (and how many people it puts over capacity);
- the greedy (``assign_greedy``: earliest arrivals first, nearest shelter with room);
- this assignment (``assign_with_capacity``);
- the exact optimum: the most seated (max flow), the least egress seating them (binary search
  over the times, ``scipy.sparse.csgraph.maximum_flow`` at each), then the least total with
  legs up to that egress (``scipy.optimize.linprog``, HiGHS, on every group-shelter pair).

Two timings, each the best of at least five runs and of 0.25 s of runs, same machine, same process:

- solve: ours is ``seat_groups`` given each node's candidate shelters and times (with up to
  16 shelters that is every shelter), the exact one is its max flows and LP given the full
  time matrix: the same information, neither pays for a graph search;
- end to end: ours is ``assign_with_capacity`` from graph and resident nodes (grouping, the
  k-nearest search, seating, handing seats to residents), the exact one adds a search per
  shelter to build its matrix.

Big case: the bench city of ``evac.generate`` (``BENCH_SIZE``: 262,144 intersections, over a
million directed edges) with its shelters and capacities, and 1,000,000 residents at
uniformly random intersections; time, egress, mean, and any shelter over capacity, for this
assignment, the greedy and the nearest shelter.

Run from the repository root: ``python -m bench.evac.assignment [--quick]`` (quick: fewer
small cases and a 65,536-intersection city with 250,000 residents).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import psutil
import scipy.sparse as sp
from scipy.optimize import linprog
from scipy.sparse.csgraph import maximum_flow

from evac.assign import (
    DEFAULT_CANDIDATES,
    Assignment,
    assign_greedy,
    assign_with_capacity,
    k_nearest_shelters,
    seat_groups,
)
from evac.generate import BENCH_SIZE, generate_town
from evac.profiles import PROFILES, travel_time_s
from evac.snap import EdgeIndex
from evac.solver import QUANTUM_S, SearchGraph, nearest_shelter_times, search_graph

MIB = 1 << 20


class Problem(NamedTuple):
    """A road graph, one profile's weights, shelter nodes and places, residents' nodes."""

    graph: SearchGraph
    weights_s: np.ndarray
    shelters: np.ndarray
    capacities: np.ndarray
    residents: np.ndarray


class Outcome(NamedTuple):
    """Seated residents, egress and mean arrival (s), and people over capacity."""

    seated: int
    egress_s: float
    mean_s: float
    over: int


class Exact(NamedTuple):
    seated: int
    egress_units: int
    total_units: float


# --- problems -------------------------------------------------------------------------------


def town_problem(size: int, seed: int, shelters: int, room: float) -> Problem:
    """A generated town with ``shelters`` of its shelters, places for ``room`` times its
    residents, every resident snapped to the nearest street (the node it leads to)."""
    town = generate_town(seed, size=size)
    graph = search_graph(town.graph.indptr, town.graph.indices)
    index = EdgeIndex(town.graph)

    def nodes(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        return town.graph.indices[index.snap_many(lon, lat).edge].astype(np.int64)

    picked = town.shelters[:shelters]
    at = nodes(np.array([s.lon for s in picked]), np.array([s.lat for s in picked]))
    homes = nodes(town.residents_lon, town.residents_lat)
    weight = np.array([s.capacity for s in picked], dtype=np.float64)
    capacities = np.floor(weight / weight.sum() * room * homes.size).astype(np.int64)
    return Problem(graph, travel_time_s(town.graph, PROFILES["walk"]), at, capacities, homes)


def city_problem(size: int, residents: int, seed: int = 0) -> Problem:
    """The generated city with its own shelters and places, residents at random nodes."""
    town = generate_town(seed, size=size)
    graph = search_graph(town.graph.indptr, town.graph.indices)
    lon = np.array([s.lon for s in town.shelters])
    lat = np.array([s.lat for s in town.shelters])
    at = town.graph.indices[EdgeIndex(town.graph).snap_many(lon, lat).edge].astype(np.int64)
    capacities = np.array([s.capacity for s in town.shelters], dtype=np.int64)
    homes = np.random.default_rng(seed).integers(0, graph.n_nodes, residents)
    return Problem(graph, travel_time_s(town.graph, PROFILES["walk"]), at, capacities, homes)


# --- outcomes -------------------------------------------------------------------------------


def outcome(shelter: np.ndarray, time_s: np.ndarray, capacities: np.ndarray) -> Outcome:
    seated = shelter >= 0
    load = np.bincount(shelter[seated], minlength=capacities.size)
    times = time_s[seated]
    over = int(np.maximum(load - capacities, 0).sum())
    mean = float(times.mean()) if times.size else 0.0
    return Outcome(int(seated.sum()), float(times.max(initial=0.0)), mean, over)


def of(result: Assignment, capacities: np.ndarray) -> Outcome:
    return outcome(result.shelter, result.time_s, capacities)


def nearest(problem: Problem) -> Outcome:
    """Everyone to the nearest shelter, capacity ignored."""
    times = nearest_shelter_times(problem.graph, problem.weights_s, problem.shelters)
    return outcome(
        times.source[problem.residents], times.dist_s[problem.residents], problem.capacities
    )


# --- the exact optimum ----------------------------------------------------------------------


def cost_matrix(problem: Problem, nodes: np.ndarray) -> np.ndarray:
    """(S, G) quanta from each group's node to each shelter: one search per shelter."""
    rows = [
        nearest_shelter_times(problem.graph, problem.weights_s, [s]).dist_s[nodes]
        for s in problem.shelters
    ]
    return np.rint(np.array(rows) / QUANTUM_S)


def max_seated(cost: np.ndarray, count: np.ndarray, capacities: np.ndarray, limit: float) -> int:
    """Max flow source -> groups -> shelters (legs up to ``limit``) -> sink."""
    n_shelters, n_groups = cost.shape
    s_idx, g_idx = np.nonzero(cost <= limit)
    source, sink = n_groups + n_shelters, n_groups + n_shelters + 1
    rows = np.concatenate([np.full(n_groups, source), g_idx, n_groups + np.arange(n_shelters)])
    cols = np.concatenate([np.arange(n_groups), n_groups + s_idx, np.full(n_shelters, sink)])
    cap = np.concatenate([count, count[g_idx], capacities]).astype(np.int32)
    graph = sp.csr_array((cap, (rows, cols)), shape=(sink + 1, sink + 1))
    return int(maximum_flow(graph, source, sink).flow_value)


def least_total(
    cost: np.ndarray, count: np.ndarray, capacities: np.ndarray, seated: int, limit: float
) -> float:
    """The least total time seating ``seated`` with legs up to ``limit`` (HiGHS LP; the
    constraint matrix is totally unimodular, so the optimum is integral)."""
    n_shelters, n_groups = cost.shape
    s_idx, g_idx = np.nonzero(cost <= limit)
    pairs = np.arange(s_idx.size)
    per_group = sp.csr_array((np.ones(s_idx.size), (g_idx, pairs)), shape=(n_groups, s_idx.size))
    per_shelter = sp.csr_array(
        (np.ones(s_idx.size), (s_idx, pairs)), shape=(n_shelters, s_idx.size)
    )
    result = linprog(
        cost[s_idx, g_idx],
        A_ub=sp.vstack([per_group, per_shelter]).tocsr(),
        b_ub=np.concatenate([count, capacities]),
        A_eq=np.ones((1, s_idx.size)),
        b_eq=[seated],
        method="highs",
    )
    return float(result.fun)


def exact(cost: np.ndarray, count: np.ndarray, capacities: np.ndarray) -> Exact:
    """Most seated, then least egress (binary search over the times), then least total."""
    times = np.unique(cost[np.isfinite(cost)])
    most = max_seated(cost, count, capacities, np.inf)
    if most == 0:
        return Exact(0, 0, 0.0)
    lo, hi = 0, times.size - 1
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (
            (lo, mid) if max_seated(cost, count, capacities, times[mid]) == most else (mid + 1, hi)
        )
    return Exact(most, int(times[lo]), least_total(cost, count, capacities, most, times[lo]))


# --- timing ---------------------------------------------------------------------------------


MIN_SAMPLE_S = 0.25  # each timing runs until this long has passed, and at least ``repeat`` times


def best_ms(fn: Callable[[], object], repeat: int) -> float:
    """The fastest of at least ``repeat`` calls, and of as many as fit in ``MIN_SAMPLE_S``,
    in ms (the machine is shared: the minimum is the least disturbed run). A 0.3 ms solve
    varied 86-104x against the exact one in best of 5; each side gets the same time to show
    its least disturbed run, as ``timeit``'s autorange does."""
    best, runs, spent = np.inf, 0, 0.0
    while runs < repeat or spent < MIN_SAMPLE_S:
        start = time.perf_counter()
        fn()
        took = time.perf_counter() - start
        best, runs, spent = min(best, took), runs + 1, spent + took
    return best * 1e3


class SmallCase(NamedTuple):
    name: str
    egress_equal: bool
    mean_gap_pct: float
    solve_ratio: float
    end_to_end_ratio: float


def _row(label: str, out: Outcome, extra: str = "") -> str:
    return (
        f"  {label:9s} seated {out.seated:5d}  egress {out.egress_s:7.1f} s  "
        f"mean {out.mean_s:6.1f} s{extra}"
    )


def _solve_times(problem: Problem, repeat: int) -> tuple[float, float, float, float]:
    """Best ms of: our seating given candidates, the exact solve given the matrix, ours end to
    end, the exact matrix build (one search per shelter)."""
    nodes, count = np.unique(problem.residents, return_counts=True)
    shelters = problem.shelters.size
    k = min(shelters, DEFAULT_CANDIDATES)
    near = k_nearest_shelters(problem.graph, problem.weights_s, problem.shelters, nodes, k)
    cost = cost_matrix(problem, nodes)
    return (
        best_ms(lambda: seat_groups(near, count, problem.capacities), repeat),
        best_ms(lambda: exact(cost, count, problem.capacities), repeat),
        best_ms(lambda: assign_with_capacity(*problem), repeat),
        best_ms(lambda: cost_matrix(problem, nodes), repeat),
    )


def bench_small(name: str, problem: Problem, repeat: int) -> SmallCase:
    """Run every method on one small case; print them; return the headline comparisons."""
    nodes, count = np.unique(problem.residents, return_counts=True)
    result = assign_with_capacity(*problem)
    ours = of(result, problem.capacities)
    best = exact(cost_matrix(problem, nodes), count, problem.capacities)
    solve_ours, solve_exact, e2e_ours, matrix = _solve_times(problem, repeat)
    e2e_exact = matrix + solve_exact
    exact_mean_s = best.total_units * QUANTUM_S / max(best.seated, 1)
    ours_units = np.rint(result.time_s[result.shelter >= 0] / QUANTUM_S).sum()
    gap = 100 * (ours_units / round(best.total_units) - 1) if best.seated else 0.0
    unconstrained = nearest(problem)
    print(
        f"{name}: {problem.graph.n_nodes:,} nodes, {problem.graph.n_edges:,} edges, "
        f"{problem.shelters.size} shelters, {problem.residents.size:,} residents at "
        f"{nodes.size:,} nodes, {int(problem.capacities.sum()):,} places"
    )
    print(_row("nearest", unconstrained, f"  over capacity {unconstrained.over} people"))
    print(_row("greedy", of(assign_greedy(*problem), problem.capacities)))
    print(_row("ours", ours, f"  solve {solve_ours:.2f} ms, end to end {e2e_ours:.2f} ms"))
    timing = f"  solve {solve_exact:.1f} ms, end to end {e2e_exact:.1f} ms"
    exact_out = Outcome(best.seated, best.egress_units * QUANTUM_S, exact_mean_s, 0)
    print(_row("exact", exact_out, timing))
    equal = ours.seated == best.seated and round(ours.egress_s / QUANTUM_S) == best.egress_units
    print(
        f"  egress equal: {equal}, mean gap {gap:+.3f} %, faster: solve "
        f"{solve_exact / solve_ours:.0f} x, end to end {e2e_exact / e2e_ours:.0f} x"
    )
    return SmallCase(name, equal, gap, solve_exact / solve_ours, e2e_exact / e2e_ours)


# --- the big case ---------------------------------------------------------------------------


def bench_big(problem: Problem) -> dict[str, float]:
    """One run each on the big city (after the kernels are compiled); return the figures."""
    start = time.perf_counter()
    result = assign_with_capacity(*problem)
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    greedy = of(assign_greedy(*problem), problem.capacities)
    greedy_s = time.perf_counter() - start
    ours, unconstrained = of(result, problem.capacities), nearest(problem)
    shelters_over = int(np.sum(result.load > problem.capacities))
    g = problem.graph
    print(
        f"big: {g.n_nodes:,} nodes, {g.n_edges:,} edges, {problem.shelters.size} shelters, "
        f"{int(problem.capacities.sum()):,} places, {problem.residents.size:,} residents"
    )
    print(_row("nearest", unconstrained, f"  over capacity {unconstrained.over:,} people"))
    print(_row("greedy", greedy, f"  {greedy_s:.2f} s"))
    print(_row("ours", ours, f"  {ours_s:.2f} s, shelters over capacity {shelters_over}"))
    rss = psutil.Process().memory_info().rss / MIB
    print(f"  process RSS {rss:.0f} MiB")
    return {
        "edges": g.n_edges,
        "time": ours_s,
        "egress": ours.egress_s,
        "mean": ours.mean_s,
        "seated": ours.seated,
        "over": shelters_over,
        "greedy_time": greedy_s,
        "greedy_egress": greedy.egress_s,
        "greedy_mean": greedy.mean_s,
        "nearest_over": unconstrained.over,
    }


SMALL = {  # name: size, seed, shelters, room
    "town24-3-short": (24, 1, 3, 0.8),
    "town24-3-ample": (24, 1, 3, 1.2),
    "town32-5-short": (32, 2, 5, 0.8),
    "town32-5-ample": (32, 2, 5, 1.2),
    "town40-5-short": (40, 3, 5, 0.8),
    "town40-5-ample": (40, 3, 5, 1.2),
    "town48-7-short": (48, 4, 7, 0.8),
    "town48-7-ample": (48, 4, 7, 1.2),
    "town56-10-short": (56, 5, 10, 0.8),
    "town56-10-ample": (56, 5, 10, 1.2),
}
MANY = {  # more shelters than candidates: each node may use its 16 nearest
    "town96-30-short": (96, 6, 30, 0.8),
    "town96-30-ample": (96, 6, 30, 1.2),
}
QUICK = ("town24-3-short", "town40-5-ample", "town56-10-short")


def summary(prefix: str, cases: list[SmallCase]) -> list[str]:
    """The headline lines over some small cases."""
    solve = [c.solve_ratio for c in cases]
    e2e = [c.end_to_end_ratio for c in cases]
    equal = sum(c.egress_equal for c in cases)
    return [
        f"{prefix}_cases = {len(cases)} cases",
        f"{prefix}_egress_equal_to_exact = {equal} of {len(cases)}",
        f"{prefix}_worst_mean_gap = {max(c.mean_gap_pct for c in cases):.3f} %",
        f"{prefix}_solve_speedup_min = {min(solve):.0f} x",
        f"{prefix}_solve_speedup_median = {np.median(solve):.0f} x",
        f"{prefix}_end_to_end_speedup_min = {min(e2e):.0f} x",
        f"{prefix}_end_to_end_speedup_median = {np.median(e2e):.0f} x",
    ]


def main(quick: bool) -> None:
    """Run the small cases and the big one; print the headline lines."""
    names = QUICK if quick else tuple(SMALL)
    repeat = 3 if quick else 5
    assign_with_capacity(*town_problem(24, 0, 5, 1.0))  # loads the compiled kernels
    cases = [bench_small(name, town_problem(*SMALL[name]), repeat) for name in names]
    many = [] if quick else [bench_small(n, town_problem(*c), repeat) for n, c in MANY.items()]
    big = bench_big(city_problem(256, 250_000) if quick else city_problem(BENCH_SIZE, 1_000_000))
    lines = summary("small", cases) + (summary("many_shelters", many) if many else [])
    for line in (
        *lines,
        f"big_edges = {big['edges']} edges",
        f"big_time = {big['time']:.2f} s",
        f"big_seated = {big['seated']} residents",
        f"big_egress = {big['egress']:.1f} s",
        f"big_mean = {big['mean']:.1f} s",
        f"big_shelters_over_capacity = {big['over']} shelters",
        f"big_greedy_time = {big['greedy_time']:.2f} s",
        f"big_greedy_egress = {big['greedy_egress']:.1f} s",
        f"big_greedy_mean = {big['greedy_mean']:.1f} s",
        f"big_nearest_over_capacity = {big['nearest_over']} residents",
    ):
        print(f"bench: {line}")
    assert big["over"] == 0, "a shelter is over capacity"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer cases, a smaller city")
    main(parser.parse_args().quick)
