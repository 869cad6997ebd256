"""One resident's route, end to end: snap the point, look up the search tree, walk the path.

This is what a resident's tap and every pattern-C message costs once the live router has its
per-profile trees (a full recompute and closure repairs are measured in ``bench.evac``). Run on
the largest real extract in ``../shared/data/osm`` (Helsinki centre, PBF) and on the generated
city of over a million directed edges, for the four profiles, with origins drawn at random
inside each city's bounds (residents' homes). The same run checks, on the real extract, that
the solver's times agree with scipy's Dijkstra on the same weights.

Run from the repository root: ``python -m bench.evac.query [--quick]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.sparse.csgraph import dijkstra

from bench.evac.extract import largest_extract, reversed_csr, shelter_nodes
from disaster.domain import GeoPoint
from disaster.domain.shelter import Shelter
from evac.generate import BENCH_SIZE, generate_town
from evac.graph import RoadGraph
from evac.profiles import PROFILES, travel_time_s
from evac.router import LiveRouter
from evac.solver import UNREACHED


def _shelters(graph: RoadGraph, rng: np.random.Generator) -> list[Shelter]:
    """About 1 % of the intersections as open shelters for every hazard (ample capacity)."""
    picks = shelter_nodes(graph.n_nodes, rng)
    return [
        Shelter(id=f"b{i}", name=f"shelter {i}", kind="both", open=True, capacity=10_000,
                hazards=frozenset({"flood", "earthquake"}), source="bench",
                location=GeoPoint(lat=float(graph.node_lat[n]), lon=float(graph.node_lon[n])))
        for i, n in enumerate(picks)
    ]  # fmt: skip


def _origins(graph: RoadGraph, count: int, rng: np.random.Generator) -> list[GeoPoint]:
    lon0, lon1 = float(graph.node_lon.min()), float(graph.node_lon.max())
    lat0, lat1 = float(graph.node_lat.min()), float(graph.node_lat.max())
    return [GeoPoint(lat=float(rng.uniform(lat0, lat1)), lon=float(rng.uniform(lon0, lon1)))
            for _ in range(count)]  # fmt: skip


def bench_queries(name: str, graph: RoadGraph, count: int) -> None:
    """Print p50/p99 of single queries per profile, trees warm, on one graph."""
    rng = np.random.default_rng(3)
    router = LiveRouter(graph, _shelters(graph, rng))
    origins = _origins(graph, count, rng)
    print(f"{name}: {graph.n_nodes} nodes, {graph.n_edges} directed edges")
    for profile in PROFILES:
        started = time.perf_counter()
        router.route(origins[0], profile, "flood")  # builds the profile's tree once
        build_ms = (time.perf_counter() - started) * 1e3
        times, routed = [], 0
        for origin in origins:
            t0 = time.perf_counter()
            answer = router.route(origin, profile, "flood")
            times.append(time.perf_counter() - t0)
            routed += answer.reason is None
        ms = np.asarray(times) * 1e3
        print(f"bench: query_{name}_{profile}_p50 = {np.percentile(ms, 50):.3f} ms")
        print(f"bench: query_{name}_{profile}_p99 = {np.percentile(ms, 99):.3f} ms")
        print(f"  ({routed}/{count} routed; first query with the tree build {build_ms:.0f} ms)")


def check_against_scipy(graph: RoadGraph) -> None:
    """On the real extract: the walking tree's times equal scipy's multi-source Dijkstra."""
    rng = np.random.default_rng(3)
    router = LiveRouter(graph, _shelters(graph, rng))
    router.route(GeoPoint(lat=float(graph.node_lat[0]), lon=float(graph.node_lon[0])),
                 "walk", "flood")  # fmt: skip
    times = router._times("walk", "flood")
    weights_s = travel_time_s(graph, PROFILES["walk"])
    reverse = reversed_csr(graph.n_nodes, graph.edge_source(), graph.indices, weights_s)
    sources = np.unique([n for n in router._shelter_nodes if n >= 0])
    started = time.perf_counter()
    expected = dijkstra(reverse, indices=sources, min_only=True)
    scipy_ms = (time.perf_counter() - started) * 1e3
    got = times.state.labels[0]
    agree = np.array_equal(np.where(np.isinf(expected), UNREACHED, expected), got)
    print(f"bench: real_extract_scipy_agrees = {int(agree)}")
    print(f"bench: real_extract_scipy_walk_ms = {scipy_ms:.1f} ms")


def main(quick: bool) -> None:
    count = 2_000 if quick else 20_000
    _, real = largest_extract()
    bench_queries("helsinki", real, count)
    check_against_scipy(real)
    town = generate_town(0, size=128 if quick else BENCH_SIZE)
    bench_queries("generated", town.graph, count)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer queries, a smaller city")
    main(parser.parse_args().quick)
