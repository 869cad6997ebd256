"""Nearest-shelter searches on a synthetic city, next to scipy and networkx in the same run.

The city is a jittered two-way street lattice with diagonal lanes and arterials every tenth
street, a few segments removed; four profiles (walk, wheelchair, slow walker, car) give four
weight arrays (length / speed, inf where the profile cannot pass: steps, lanes, one-way
streets). About 1 % of the intersections are shelters. Measured:

- a full recompute of all four profiles (``nearest_shelter_times_by_profile``, both cores);
- the same single-profile search by this solver and by ``scipy.sparse.csgraph.dijkstra``
  (``min_only=True``, with predecessors, on the reversed graph with the same integer weights),
  one core each, distances checked equal;
- networkx ``multi_source_dijkstra_path_length`` on a smaller city (networkx is slow);
- closing the ~100 edges nearest a point (a flooded block) and reopening them, repaired
  incrementally, checked label for label against a full recompute;
- extracting one route; the memory held by the arrays.

Run from the repository root: ``python -m bench.evac [--quick]`` (quick: a smaller city).
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

from evac import solver
from evac.solver import UNREACHED, SearchGraph, ShelterTimes

PROFILES = ("walk", "wheelchair", "slow_walker", "car")
SPACING_M = 80.0
CLOSED_EDGES = 100
MIB = 1 << 20


class City(NamedTuple):
    """A synthetic street graph: forward CSR, (4, m) weights in seconds, shelters, and each
    node's grid position (for choosing a closed area)."""

    indptr: np.ndarray
    indices: np.ndarray
    weights_s: np.ndarray
    sources: np.ndarray
    row: np.ndarray
    col: np.ndarray


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
    """The reversed graph of open edges with quantised weights, built with plain numpy
    (the lattice has no parallel edges, so COO's summing of duplicates never applies)."""
    weights = solver.quantise_times(weights_s)
    n = c.indptr.size - 1
    tails = np.repeat(np.arange(n), np.diff(c.indptr))
    open_ = weights < UNREACHED
    data = weights[open_].astype(np.float64)
    return sp.csr_array((data, (c.indices[open_], tails[open_])), shape=(n, n))


# --- the measurements ---------------------------------------------------------------------


def bench_profiles(
    graph: SearchGraph, c: City, repeat: int
) -> tuple[float, tuple[ShelterTimes, ...]]:
    """Full recompute of the four profiles at once; return p50 ms and the solutions."""
    solve = partial(solver.nearest_shelter_times_by_profile, graph, c.weights_s, c.sources)
    solve()
    ms = timed(solve, repeat)
    threads = numba.get_num_threads()
    print(
        f"4 profiles in parallel ({threads} threads): p50 {p50(ms):.1f} ms, min {ms.min():.1f} ms"
    )
    return p50(ms), solve()


def _scipy_search(rev: sp.csr_array, sources: np.ndarray) -> tuple[np.ndarray, ...]:
    return dijkstra(rev, indices=sources, min_only=True, return_predecessors=True)


def _compare_one(
    graph: SearchGraph, c: City, p: int, solved: ShelterTimes, repeat: int
) -> tuple[float, float]:
    """One profile, ours and scipy on one core; print and return their p50 ms."""
    ours = p50(
        timed(partial(solver.nearest_shelter_times, graph, c.weights_s[p], c.sources), repeat)
    )
    run = partial(_scipy_search, reversed_scipy(c, c.weights_s[p]), c.sources)
    theirs = p50(timed(run, max(3, repeat // 2)))
    dist = run()[0]
    same = np.array_equal(np.where(np.isinf(dist), UNREACHED, dist), units(solved))
    print(
        f"  {PROFILES[p]:12s} ours p50 {ours:6.1f} ms   scipy p50 {theirs:6.1f} ms   "
        f"ratio {theirs / ours:4.2f} x   distances equal: {same}"
    )
    return ours, theirs


def bench_vs_scipy(
    graph: SearchGraph, c: City, solved: tuple[ShelterTimes, ...], repeat: int
) -> tuple[float, float]:
    """The same single-profile searches, one core each; return total p50 ms (ours, scipy)."""
    numba.set_num_threads(1)
    try:
        pairs = [_compare_one(graph, c, p, solved[p], repeat) for p in range(len(PROFILES))]
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    return sum(o for o, _ in pairs), sum(t for _, t in pairs)


def bench_networkx(side: int, repeat: int) -> float:
    """The walk profile on a smaller city, ours against networkx; return the speed ratio."""
    c = city(side, seed=11)
    graph = solver.search_graph(c.indptr, c.indices)
    solve = partial(solver.nearest_shelter_times, graph, c.weights_s[0], c.sources)
    ours = p50(timed(solve, repeat))
    rev = nx.from_scipy_sparse_array(reversed_scipy(c, c.weights_s[0]), create_using=nx.DiGraph)
    run = partial(nx.multi_source_dijkstra_path_length, rev, {int(s) for s in c.sources})
    theirs = p50(timed(run, 3))
    dist = run()
    expected = np.full(c.indptr.size - 1, UNREACHED)
    expected[list(dist)] = list(dist.values())
    same = np.array_equal(expected, units(solve()))
    print(
        f"networkx on {c.indices.size:,} edges: ours p50 {ours:.2f} ms, networkx p50 "
        f"{theirs:.0f} ms, ratio {theirs / ours:.0f} x, distances equal: {same}"
    )
    return theirs / ours


def _areas(c: City, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Return ``count`` sets of the CLOSED_EDGES edges nearest a random point (flooded blocks)."""
    tails = np.repeat(np.arange(c.indptr.size - 1), np.diff(c.indptr))
    mid_row = (c.row[tails] + c.row[c.indices]) / 2
    mid_col = (c.col[tails] + c.col[c.indices]) / 2
    out = []
    for _ in range(count):
        r, q = rng.uniform(5, c.row.max() - 5, 2)
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
        f"close p50 {p50(close):.2f} ms, p99 {np.percentile(close, 99):.2f} ms; reopen p50 "
        f"{p50([r.reopen_ms for r in runs]):.2f} ms; nodes touched p50 {p50(touched):.0f}, "
        f"max {max(touched)}; full recompute p50 {p50([r.full_ms for r in runs]):.1f} ms; "
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
        f"p50 {p50(us):.1f} us, p99 {np.percentile(us, 99):.1f} us"
    )
    return p50(us), float(np.percentile(us, 99))


def memory_mib(graph: SearchGraph, solved: tuple[ShelterTimes, ...]) -> float:
    """Print and return the MiB held by the topology and the profiles' arrays."""
    topology = sum(a.nbytes for a in graph) / MIB
    state = [
        (t.dist_s, t.state.weight_units, t.state.seeds, t.state.records, t.state.labels)
        for t in solved
    ]
    per_profile = [sum(a.nbytes for a in arrays) / MIB for arrays in state]
    rss = psutil.Process().memory_info().rss / MIB
    print(
        f"memory: topology both ways {topology:.1f} MiB; per profile {per_profile[0]:.1f} MiB "
        f"(weights, seeds, records, labels, seconds); process RSS {rss:.0f} MiB"
    )
    return topology + sum(per_profile)


def main(quick: bool) -> None:
    """Run every measurement and print the headline lines."""
    side, nx_side, repeat, areas = (130, 50, 5, 5) if quick else (500, 108, 9, 9)
    c = city(side)
    n, m = c.indptr.size - 1, c.indices.size
    print(f"city: {n:,} nodes, {m:,} directed edges, {c.sources.size:,} shelters, {PROFILES}")
    graph = solver.search_graph(c.indptr, c.indices)
    full4, solved = bench_profiles(graph, c, repeat)
    print("the same search, one core each (ours: validation, quantising, publishing included)")
    ours, theirs = bench_vs_scipy(graph, c, solved, repeat)
    print(
        f"4 profiles: ours {ours:.1f} ms in turn, {full4:.1f} ms in parallel; scipy {theirs:.1f} ms"
    )
    nx_ratio = bench_networkx(nx_side, repeat)
    runs = bench_closures(graph, c, solved, areas)
    close, full = p50([r.close_ms for r in runs]), p50([r.full_ms for r in runs])
    route50, route99 = bench_routes(solved[0], 2000)
    mib = memory_mib(graph, solved)
    for line in (
        f"graph_edges = {m} edges",
        f"full_recompute_4_profiles = {full4:.1f} ms",
        f"single_profile_search = {ours / 4:.1f} ms",
        f"scipy_single_profile = {theirs / 4:.1f} ms",
        f"speedup_vs_scipy = {theirs / ours:.2f} x",
        f"speedup_vs_scipy_4_profiles_parallel = {theirs / full4:.2f} x",
        f"speedup_vs_networkx = {nx_ratio:.0f} x",
        f"incremental_closure = {close:.2f} ms",
        f"incremental_reopen = {p50([r.reopen_ms for r in runs]):.2f} ms",
        f"closure_speedup_vs_full_recompute = {full / close:.0f} x",
        f"route_p50 = {route50:.1f} us",
        f"route_p99 = {route99:.1f} us",
        f"memory_topology_and_4_profiles = {mib:.0f} MiB",
    ):
        print(f"bench: {line}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smaller city, fewer repeats")
    main(parser.parse_args().quick)
