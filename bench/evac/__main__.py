"""Nearest-shelter searches on a synthetic city and on the largest real extract, next to scipy
and networkx in the same run.

The generated city is a jittered two-way street lattice with diagonal lanes and arterials
every tenth street, a few segments removed; four profiles (walk, wheelchair, slow walker, car)
give four weight arrays (length / speed, inf where the profile cannot pass: steps, lanes,
one-way streets). The real extract is the OSM file in ``../shared/data/osm`` with the most
directed edges (``bench.evac.extract``, evac's own OSM import) with evac's four profiles (walk,
slow walk, wheelchair, car: ``evac.profiles.travel_time_s``). In both, about 1 % of the
intersections are shelters. Measured on each:

- a full recompute of all four profiles (``nearest_shelter_times_by_profile``, both cores);
- the same single-profile search by this solver and by ``scipy.sparse.csgraph.dijkstra``
  (``min_only=True``, with predecessors, on the reversed graph with the same integer weights),
  one core each, distances checked equal; ours both from float seconds and on weights
  prepared beforehand (``solver.prepare_weights``), as scipy's matrix is built beforehand;
- networkx ``multi_source_dijkstra_path_length`` on a smaller generated city (networkx is
  slow) and on the whole real extract;
- closing the ~100 edges nearest a point (a flooded block) and reopening them, repaired
  incrementally, checked label for label against a full recompute;
- extracting one route; the memory held by the arrays.

Lines starting ``bench:`` are the headline figures; the real extract's carry ``real_extract_``.
Run from the repository root: ``python -m bench.evac [--quick]`` (quick: a smaller city, fewer
repeats).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import networkx as nx
import numba
import numpy as np
import psutil
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from bench.evac.extract import largest_extract, reversed_csr, shelter_nodes, to_metres
from evac import profiles, solver
from evac.solver import UNREACHED, SearchGraph, ShelterTimes

PROFILES = ("walk", "wheelchair", "slow_walker", "car")
REAL_PROFILES = ("walk", "slow_walk", "wheelchair", "car")
SPACING_M = 80.0
CLOSED_EDGES = 100
MIB = 1 << 20


class City(NamedTuple):
    """A street graph: forward CSR, (4, m) weights in seconds, shelters, each node's position
    (grid steps, or metres for the real extract) and the margin kept from the edge of the
    bounds when choosing a closed area, and the profiles' names."""

    indptr: np.ndarray
    indices: np.ndarray
    weights_s: np.ndarray
    sources: np.ndarray
    row: np.ndarray
    col: np.ndarray
    margin: float = 5.0
    names: tuple[str, ...] = PROFILES

    @property
    def tails(self) -> np.ndarray:
        return np.repeat(np.arange(self.indptr.size - 1), np.diff(self.indptr))


# --- the city -------------------------------------------------------------------------------


def _segments(side: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return undirected segments (a, b, kind): 0 local street, 1 arterial, 2 diagonal lane.

    Diagonal lanes run along every 7th diagonal and every 11th anti-diagonal; 4 % of the
    segments are removed (dead ends, blocks without a through street).
    """
    ids = np.arange(side * side).reshape(side, side)
    rows, cols = np.indices((side, side))
    lanes = [
        (ids[:, :-1], ids[:, 1:], np.where(rows[:, :-1] % 10 == 0, 1, 0)),
        (ids[:-1, :], ids[1:, :], np.where(cols[:-1, :] % 10 == 0, 1, 0)),
        (ids[:-1, :-1], ids[1:, 1:], np.where((rows - cols)[:-1, :-1] % 7 == 0, 2, -1)),
        (ids[:-1, 1:], ids[1:, :-1], np.where((rows + cols)[:-1, 1:] % 11 == 0, 2, -1)),
    ]
    a, b, kind = (np.concatenate([part[i].ravel() for part in lanes]) for i in range(3))
    keep = (kind >= 0) & (rng.random(kind.size) > 0.04)
    return a[keep], b[keep], kind[keep]


def _profile_weights(
    length_m: np.ndarray, kind: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Return (4, m) seconds for directed edges: walk, wheelchair, slow walker, car."""
    steps = rng.random(kind.size) < 0.05  # stairs on slopes: no wheelchair, slow for the frail
    walk = length_m / 1.25
    wheelchair = np.where(
        steps | ((kind == 2) & (rng.random(kind.size) < 0.3)), np.inf, length_m / 0.9
    )
    slow = np.where(steps, 2.0, 1.0) * length_m / 0.8
    one_way = (kind == 0) & (rng.random(kind.size) < 0.2)
    car = np.where(kind == 1, length_m / 11.0, length_m / 7.0)
    car = np.where((kind == 2) | one_way, np.inf, car)
    return np.stack([walk, wheelchair, slow, car])


def city(side: int, seed: int = 7) -> City:
    """Build a side x side lattice city (about 4.3 side**2 directed edges)."""
    rng = np.random.default_rng(seed)
    a, b, kind = _segments(side, rng)
    xy = np.indices((side, side)).reshape(2, -1).T * SPACING_M
    xy = xy + rng.normal(0, SPACING_M / 8, xy.shape)
    length_m = np.hypot(*(xy[a] - xy[b]).T)
    tails, heads = np.concatenate([a, b]), np.concatenate([b, a])
    weights = np.concatenate(
        [_profile_weights(length_m, kind, rng), _profile_weights(length_m, kind, rng)], axis=1
    )
    order = np.argsort(tails, kind="stable")
    indptr = np.concatenate(([0], np.cumsum(np.bincount(tails, minlength=side * side))))
    sources = rng.choice(side * side, side * side // 100, replace=False)
    row, col = np.divmod(np.arange(side * side), side)
    return City(indptr, heads[order].astype(np.int32), weights[:, order], sources, row, col)


def real_city() -> tuple[str, City]:
    """The largest real extract with evac's four profiles and shelters at 1 % of its nodes
    (the same nodes as ``bench.evac.query``'s shelters); return its file name and city."""
    path, graph = largest_extract()
    weights = np.stack([profiles.travel_time_s(graph, profiles.PROFILES[p]) for p in REAL_PROFILES])
    sources = shelter_nodes(graph.n_nodes, np.random.default_rng(3))
    x, y = to_metres(graph, graph.node_lon, graph.node_lat)
    return path.name, City(
        graph.indptr, graph.indices, weights.astype(np.float64), sources, y, x,
        margin=100.0, names=REAL_PROFILES,  # closed areas centred 100 m inside the bounds
    )  # fmt: skip


# --- timing helpers -------------------------------------------------------------------------

FIELDS = ("dist_s", "next_node", "next_edge", "source", "hops")


def timed(fn: Callable[[], object], repeat: int) -> np.ndarray:
    """Return the wall times of ``repeat`` calls, in ms."""
    out = np.empty(repeat)
    for i in range(repeat):
        start = time.perf_counter()
        fn()
        out[i] = (time.perf_counter() - start) * 1e3
    return out


def p50(values: np.ndarray | list[float]) -> float:
    return float(np.percentile(values, 50))


def units(times: ShelterTimes) -> np.ndarray:
    """Distances in quanta, ``UNREACHED`` where none."""
    return times.state.labels[0]


def snapshot(times: ShelterTimes) -> list[np.ndarray]:
    return [getattr(times, f).copy() for f in FIELDS]


def same_labels(times: ShelterTimes, arrays: list[np.ndarray]) -> bool:
    return all(np.array_equal(getattr(times, f), a) for f, a in zip(FIELDS, arrays, strict=True))


def reversed_scipy(c: City, weights_s: np.ndarray) -> sp.csr_array:
    """The reversed graph of the open edges with the solver's quantised weights (of parallel
    edges the quickest: the real extract has some, the lattice none)."""
    return reversed_csr(c.indptr.size - 1, c.tails, c.indices, weights_s)


def p99(values: np.ndarray | list[float]) -> float:
    return float(np.percentile(values, 99))


# --- the measurements ---------------------------------------------------------------------


def bench_profiles(
    graph: SearchGraph, c: City, repeat: int
) -> tuple[np.ndarray, tuple[ShelterTimes, ...]]:
    """Full recompute of the four profiles at once; return the times (ms) and the solutions."""
    solve = partial(solver.nearest_shelter_times_by_profile, graph, c.weights_s, c.sources)
    solve()
    ms = timed(solve, repeat)
    threads = numba.get_num_threads()
    print(
        f"4 profiles in parallel ({threads} threads): p50 {p50(ms):.2f} ms, "
        f"p99 {p99(ms):.2f} ms, min {ms.min():.2f} ms"
    )
    return ms, solve()


def _scipy_search(rev: sp.csr_array, sources: np.ndarray) -> tuple[np.ndarray, ...]:
    return dijkstra(rev, indices=sources, min_only=True, return_predecessors=True)


class OneProfile(NamedTuple):
    """One profile's single-core search times (ms): ours from float seconds, ours on prepared
    weights (quantised beforehand, as scipy's matrix is built beforehand), scipy's; and
    whether the distances agree."""

    ours: np.ndarray
    prepared: np.ndarray
    scipy: np.ndarray
    equal: bool


def _compare_one(
    graph: SearchGraph, c: City, p: int, solved: ShelterTimes, repeat: int
) -> OneProfile:
    """One profile, ours and scipy on one core; print and return their times."""
    solve = partial(solver.nearest_shelter_times, graph, c.weights_s[p], c.sources)
    solve()
    ours = timed(solve, repeat)
    weights = solver.prepare_weights(graph, c.weights_s[p])
    on_prepared = partial(solver.nearest_shelter_times, graph, weights, c.sources)
    same = np.array_equal(units(on_prepared()), units(solved))
    prepared = timed(on_prepared, repeat)
    run = partial(_scipy_search, reversed_scipy(c, c.weights_s[p]), c.sources)
    theirs = timed(run, max(3, repeat // 2))
    dist = run()[0]
    same &= np.array_equal(np.where(np.isinf(dist), UNREACHED, dist), units(solved))
    print(
        f"  {c.names[p]:12s} ours p50 {p50(ours):7.2f} ms, p99 {p99(ours):7.2f} ms, "
        f"prepared {p50(prepared):7.2f} ms   scipy p50 {p50(theirs):7.2f} ms   ratio "
        f"{p50(theirs) / p50(ours):4.2f} x, prepared {p50(theirs) / p50(prepared):4.2f} x   "
        f"distances equal: {same}"
    )
    return OneProfile(ours, prepared, theirs, same)


def bench_vs_scipy(
    graph: SearchGraph, c: City, solved: tuple[ShelterTimes, ...], repeat: int
) -> list[OneProfile]:
    """The same single-profile searches, one core each."""
    numba.set_num_threads(1)
    try:
        return [_compare_one(graph, c, p, solved[p], repeat) for p in range(len(c.names))]
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


def bench_networkx(c: City, repeat: int, nx_repeat: int) -> tuple[float, float, bool]:
    """The walk profile, ours against networkx; return both p50 (ms) and their agreement."""
    graph = solver.search_graph(c.indptr, c.indices)
    solve = partial(solver.nearest_shelter_times, graph, c.weights_s[0], c.sources)
    ours = p50(timed(solve, repeat))
    rev = nx.from_scipy_sparse_array(reversed_scipy(c, c.weights_s[0]), create_using=nx.DiGraph)
    run = partial(nx.multi_source_dijkstra_path_length, rev, {int(s) for s in c.sources})
    theirs = p50(timed(run, nx_repeat))
    dist = run()
    expected = np.full(c.indptr.size - 1, UNREACHED)
    expected[list(dist)] = list(dist.values())
    same = np.array_equal(expected, units(solve()))
    print(
        f"networkx on {c.indices.size:,} edges: ours p50 {ours:.2f} ms, networkx p50 "
        f"{theirs:.1f} ms, ratio {theirs / ours:.0f} x, distances equal: {same}"
    )
    return ours, theirs, same


def _areas(c: City, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Return ``count`` sets of the CLOSED_EDGES edges nearest a random point (flooded blocks)."""
    tails = c.tails
    mid_row = (c.row[tails] + c.row[c.indices]) / 2
    mid_col = (c.col[tails] + c.col[c.indices]) / 2
    low = np.array([c.row.min(), c.col.min()]) + c.margin
    high = np.array([c.row.max(), c.col.max()]) - c.margin
    out = []
    for _ in range(count):
        r, q = rng.uniform(low, high)
        near = np.argpartition(np.hypot(mid_row - r, mid_col - q), CLOSED_EDGES)[:CLOSED_EDGES]
        out.append(np.sort(near))
    return out


class Closure(NamedTuple):
    close_ms: float
    full_ms: float
    reopen_ms: float
    touched: int
    equal: bool


def _close_and_reopen(
    graph: SearchGraph, c: City, p: int, times: ShelterTimes, edges: np.ndarray
) -> Closure:
    """Close edges and check against a full recompute; reopen and check against the original."""
    before = snapshot(times)
    start = time.perf_counter()
    touched = solver.close_edges(times, edges)
    closed = time.perf_counter()
    weights = c.weights_s[p].copy()
    weights[edges] = np.inf
    full = solver.nearest_shelter_times(graph, weights, c.sources)
    recomputed = time.perf_counter()
    equal = same_labels(times, snapshot(full))
    reopen_start = time.perf_counter()
    solver.reopen_edges(times, edges, c.weights_s[p][edges])
    reopened = time.perf_counter()
    equal &= same_labels(times, before)
    ms = [
        (b - a) * 1e3 for a, b in ((start, closed), (closed, recomputed), (reopen_start, reopened))
    ]
    return Closure(*ms, touched, equal)


def bench_closures(
    graph: SearchGraph, c: City, solved: tuple[ShelterTimes, ...], areas: int
) -> list[Closure]:
    """Close and reopen blocks in every profile (after one warm-up cycle); print a summary."""
    blocks = _areas(c, areas + 1, np.random.default_rng(3))
    _close_and_reopen(graph, c, 0, solved[0], blocks[0])  # loads the repair kernels
    runs = [
        _close_and_reopen(graph, c, p, times, edges)
        for edges in blocks[1:]
        for p, times in enumerate(solved)
    ]
    close = [r.close_ms for r in runs]
    touched = [r.touched for r in runs]
    print(
        f"closing the {CLOSED_EDGES} edges nearest a point ({areas} places x 4 profiles): "
        f"close p50 {p50(close):.2f} ms, p99 {p99(close):.2f} ms; reopen p50 "
        f"{p50([r.reopen_ms for r in runs]):.2f} ms; nodes touched p50 {p50(touched):.0f}, "
        f"max {max(touched)}; full recompute p50 {p50([r.full_ms for r in runs]):.2f} ms; "
        f"labels equal to the full recompute and, reopened, to the original: "
        f"{all(r.equal for r in runs)}"
    )
    return runs


def bench_routes(times: ShelterTimes, count: int) -> tuple[float, float]:
    """Extract single routes from random reachable nodes; return p50 and p99 in us."""
    rng = np.random.default_rng(5)
    starts = rng.choice(np.flatnonzero(np.isfinite(times.dist_s)), count)
    us = np.empty(count)
    hops = np.empty(count)
    for i, v in enumerate(starts):
        start = time.perf_counter_ns()
        way = solver.route(times, int(v))
        us[i] = (time.perf_counter_ns() - start) / 1e3
        hops[i] = way.edges.size
    print(
        f"route extraction ({count} starts, mean {hops.mean():.0f} edges): "
        f"p50 {p50(us):.1f} us, p99 {p99(us):.1f} us"
    )
    return p50(us), p99(us)


def memory_mib(graph: SearchGraph, solved: tuple[ShelterTimes, ...]) -> tuple[float, float]:
    """Print and return the MiB held by the topology and by one profile's arrays."""
    topology = sum(a.nbytes for a in graph) / MIB
    state = [
        (t.dist_s, t.state.weight_units, t.state.seeds, t.state.records, t.state.labels)
        for t in solved
    ]
    per_profile = [sum(a.nbytes for a in arrays) / MIB for arrays in state]
    rss = psutil.Process().memory_info().rss / MIB
    print(
        f"memory: topology both ways {topology:.2f} MiB; per profile {per_profile[0]:.2f} MiB "
        f"(weights, seeds, records, labels, seconds); process RSS {rss:.0f} MiB"
    )
    return topology, per_profile[0]


class Plan(NamedTuple):
    """How much to repeat on one city, and the city networkx searches (None: the same)."""

    repeat: int
    areas: int
    nx_city: City | None
    nx_repeat: int


def measure(c: City, plan: Plan, key: str) -> None:
    """Run every measurement on one city and print its headline lines, keys led by ``key``."""
    n, m = c.indptr.size - 1, c.indices.size
    print(f"{n:,} nodes, {m:,} directed edges, {c.sources.size:,} shelters, {c.names}")
    graph = solver.search_graph(c.indptr, c.indices)
    full4, solved = bench_profiles(graph, c, plan.repeat)
    print("the same search, one core each (ours: validation, quantising, publishing included)")
    one = bench_vs_scipy(graph, c, solved, plan.repeat)
    ours, theirs = sum(p50(o.ours) for o in one), sum(p50(o.scipy) for o in one)
    prepared = sum(p50(o.prepared) for o in one)
    print(
        f"4 profiles: ours {ours:.2f} ms in turn, {p50(full4):.2f} ms in parallel; "
        f"scipy {theirs:.2f} ms"
    )
    nx_ours, nx_theirs, nx_same = bench_networkx(plan.nx_city or c, plan.repeat, plan.nx_repeat)
    runs = bench_closures(graph, c, solved, plan.areas)
    close = [r.close_ms for r in runs]
    full = p50([r.full_ms for r in runs])
    route50, route99 = bench_routes(solved[0], 2000)
    topology, per_profile = memory_mib(graph, solved)
    k = len(c.names)
    for line in (
        f"{key}graph_edges = {m} edges",
        f"{key}full_recompute_4_profiles = {p50(full4):.2f} ms",
        f"{key}full_recompute_4_profiles_p99 = {p99(full4):.2f} ms",
        f"{key}single_profile_search = {ours / k:.2f} ms",
        f"{key}single_profile_search_p99 = {np.mean([p99(o.ours) for o in one]):.2f} ms",
        f"{key}scipy_single_profile = {theirs / k:.2f} ms",
        f"{key}scipy_distances_equal = {int(all(o.equal for o in one))}",
        f"{key}speedup_vs_scipy = {theirs / ours:.2f} x",
        f"{key}speedup_vs_scipy_per_profile = "
        + ", ".join(f"{p50(o.scipy) / p50(o.ours):.2f}" for o in one)
        + " x",
        f"{key}speedup_vs_scipy_4_profiles_parallel = {theirs / p50(full4):.2f} x",
        f"{key}single_profile_search_prepared = {prepared / k:.2f} ms",
        f"{key}speedup_vs_scipy_prepared = {theirs / prepared:.2f} x",
        f"{key}speedup_vs_scipy_prepared_per_profile = "
        + ", ".join(f"{p50(o.scipy) / p50(o.prepared):.2f}" for o in one)
        + " x",
        f"{key}networkx_edges = {(plan.nx_city or c).indices.size} edges",
        f"{key}networkx = {nx_theirs:.2f} ms (ours {nx_ours:.3f} ms)",
        f"{key}speedup_vs_networkx = {nx_theirs / nx_ours:.0f} x",
        f"{key}networkx_distances_equal = {int(nx_same)}",
        f"{key}incremental_closure = {p50(close):.3f} ms",
        f"{key}incremental_closure_p99 = {p99(close):.3f} ms",
        f"{key}incremental_reopen = {p50([r.reopen_ms for r in runs]):.3f} ms",
        f"{key}closure_full_recompute = {full:.2f} ms",
        f"{key}closure_speedup_vs_full_recompute = {full / p50(close):.0f} x",
        f"{key}closure_equal_to_full_recompute = {int(all(r.equal for r in runs))}",
        f"{key}route_p50 = {route50:.1f} us",
        f"{key}route_p99 = {route99:.1f} us",
        f"{key}memory_topology = {topology:.2f} MiB",
        f"{key}memory_per_profile = {per_profile:.2f} MiB",
        f"{key}memory_topology_and_4_profiles = {topology + k * per_profile:.1f} MiB",
    ):
        print(f"bench: {line}")


def main(quick: bool) -> None:
    """Run every measurement on the generated city, then on the real extract."""
    side, nx_side, repeat, areas = (130, 50, 5, 5) if quick else (500, 108, 9, 9)
    print("generated city: ", end="")
    measure(city(side), Plan(repeat, areas, city(nx_side, seed=11), 3), "")
    name, real = real_city()
    print(f"\nreal extract {name}: ", end="")
    # ~1 ms a search: many more repeats, 50 closed places, networkx on the whole graph
    real_plan = Plan(repeat=300, areas=50, nx_city=None, nx_repeat=30)
    if quick:
        real_plan = Plan(repeat=50, areas=10, nx_city=None, nx_repeat=10)
    measure(real, real_plan, "real_extract_")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smaller city, fewer repeats")
    main(parser.parse_args().quick)
