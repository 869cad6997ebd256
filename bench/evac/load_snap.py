"""Opening the road graph file and snapping points to it, next to peers in the same run.

Issue 4 claims the graph file "loads in milliseconds" (memory-mapped numpy) and that any point
snaps to its nearest edge "in microseconds". Measured on the largest real extract in
``../shared/data/osm`` (by directed edges) and on the generated city of over a million
directed edges (``evac.generate``, ``BENCH_SIZE``):

- load: ``load_graph`` of the file, p50/p99 over repeated loads (with its O(m) check, as the
  service opens it; also without the check, and followed by one read of every array, since a
  mapped page is read only when touched). Peers: ``numpy.load`` of the same arrays from an
  uncompressed ``.npz`` (every array read, no mmap), and for the real extract reading the
  OSM file again (``graph_from_osm``). The file is in the page cache for all of them.
- snap: ``EdgeIndex.snap`` one point at a time (and ``snap_many`` over all points, per
  point), for uniformly random points in the city's bounds. Peers on the same points, in the
  same local metres and over the same segments (one per street, either direction): a shapely
  ``STRtree`` of the segments with ``query_nearest``, and a brute-force numpy nearest segment
  over all of them. Distances are checked to agree.

Run from the repository root: ``python -m bench.evac.load_snap [--quick]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import NamedTuple

import numpy as np
import shapely

from bench.evac.extract import largest_extract, to_metres
from evac.generate import BENCH_SIZE, generate_town
from evac.graph import RoadGraph, load_graph, save_graph
from evac.osm import graph_from_osm
from evac.snap import EdgeIndex

AGREE_M = 1e-6  # GEOS and numpy measure the same distance to within rounding


class Segments(NamedTuple):
    """One segment per street (lowest edge id of either direction), ends in local metres."""

    ax: np.ndarray
    ay: np.ndarray
    bx: np.ndarray
    by: np.ndarray


class Points(NamedTuple):
    """Query points: degrees for the project, local metres for the peers."""

    lon: np.ndarray
    lat: np.ndarray
    x: np.ndarray
    y: np.ndarray


def _times_ms(call: Callable[[], object], repeat: int) -> np.ndarray:
    """Return the wall time of each of ``repeat`` calls, milliseconds."""
    out = np.empty(repeat)
    for i in range(repeat):
        started = time.perf_counter()
        call()
        out[i] = time.perf_counter() - started
    return out * 1e3


def _report(key: str, ms: np.ndarray, unit: str = "ms") -> float:
    """Print p50 and p99 of ``ms`` in ``unit`` (ms or µs); return the p50 in ms."""
    scale = 1e3 if unit == "µs" else 1.0
    p50, p99 = np.percentile(ms, 50), np.percentile(ms, 99)
    print(f"bench: {key}_p50 = {p50 * scale:.3f} {unit}")
    print(f"bench: {key}_p99 = {p99 * scale:.3f} {unit}")
    return float(p50)


def _ratio(peer_ms: float, ours_ms: float) -> str:
    """Return the peer's time over ours (above 1: ours is faster)."""
    ratio = peer_ms / ours_ms
    return f"{ratio:.2f} x" if ratio < 10 else f"{ratio:,.0f} x"


def _read_npz(path: Path) -> int:
    """Read every array of an ``.npz`` into memory; return the bytes read."""
    with np.load(path) as data:
        return sum(data[name].nbytes for name in data.files)


def _touch(graph: RoadGraph) -> int:
    """Read every byte of every array once (faults in all mapped pages)."""
    arrays = (getattr(graph, f.name) for f in fields(RoadGraph))
    return sum(int(a.view(np.uint8).sum(dtype=np.uint64)) for a in arrays)


def bench_load(name: str, graph: RoadGraph, osm: Path | None, repeat: int) -> None:
    """Print load times of the graph file and of its peers."""
    with tempfile.TemporaryDirectory() as tmp:
        path, npz = Path(tmp) / "city.graph", Path(tmp) / "city.npz"
        save_graph(graph, path)
        np.savez(npz, **{f.name: getattr(graph, f.name) for f in fields(RoadGraph)})
        mib = path.stat().st_size / 2**20, npz.stat().st_size / 2**20
        print(f"  graph file {mib[0]:.1f} MiB, npz {mib[1]:.1f} MiB")
        ours = _report(f"load_{name}", _times_ms(lambda: load_graph(path), repeat))
        _report(f"load_{name}_nocheck", _times_ms(lambda: load_graph(path, check=False), repeat))
        _report(f"load_{name}_touch_all", _times_ms(lambda: _touch(load_graph(path)), repeat))
        npz_p50 = _report(f"load_{name}_npz", _times_ms(lambda: _read_npz(npz), repeat))
        print(f"bench: load_{name}_npz_ratio = {_ratio(npz_p50, ours)}")
    if osm is not None:
        osm_p50 = _report(f"load_{name}_osm", _times_ms(lambda: graph_from_osm(osm), 20))
        print(f"bench: load_{name}_osm_ratio = {_ratio(osm_p50, ours)}")


def _segments(graph: RoadGraph) -> Segments:
    """Return the streets in local metres."""
    x, y = to_metres(graph, graph.node_lon, graph.node_lat)
    src, dst = graph.edge_source().astype(np.int64), graph.indices.astype(np.int64)
    lo, hi = np.minimum(src, dst), np.maximum(src, dst)
    _, first = np.unique(lo * graph.n_nodes + hi, return_index=True)
    a, b = src[first], dst[first]
    return Segments(x[a], y[a], x[b], y[b])


def _points(graph: RoadGraph, count: int) -> Points:
    """Uniformly random points in the graph's bounds, in degrees and local metres."""
    rng = np.random.default_rng(5)
    lon = rng.uniform(graph.node_lon.min(), graph.node_lon.max(), count)
    lat = rng.uniform(graph.node_lat.min(), graph.node_lat.max(), count)
    return Points(lon, lat, *to_metres(graph, lon, lat))


def _snap_ours(index: EdgeIndex, pts: Points) -> tuple[np.ndarray, np.ndarray]:
    """Snap one point at a time; return per-point times (ms) and distances (m)."""
    n = pts.lon.shape[0]
    ms, dist = np.empty(n), np.empty(n)
    for i in range(n):
        lon, lat = float(pts.lon[i]), float(pts.lat[i])
        started = time.perf_counter()
        snap = index.snap(lon, lat)
        ms[i] = time.perf_counter() - started
        dist[i] = snap.distance_m
    return ms * 1e3, dist


def _snap_strtree(seg: Segments, pts: Points) -> tuple[np.ndarray, np.ndarray, float]:
    """Nearest segment by a shapely STRtree: per-point times (ms) and distances (m) one point
    at a time, and the time per point of one batched query (µs)."""
    lines = shapely.linestrings(np.stack([np.column_stack([seg.ax, seg.ay]),
                                          np.column_stack([seg.bx, seg.by])], axis=1))  # fmt: skip
    started = time.perf_counter()
    tree = shapely.STRtree(lines)
    print(f"  STRtree build {(time.perf_counter() - started) * 1e3:.0f} ms")
    n = pts.x.shape[0]
    ms, dist = np.empty(n), np.empty(n)
    for i in range(n):
        x, y = float(pts.x[i]), float(pts.y[i])
        started = time.perf_counter()
        _, found = tree.query_nearest(shapely.Point(x, y), return_distance=True)
        ms[i] = time.perf_counter() - started
        dist[i] = found[0]
    started = time.perf_counter()
    tree.query_nearest(shapely.points(pts.x, pts.y), return_distance=True)
    batched_us = (time.perf_counter() - started) * 1e6 / n
    return ms * 1e3, dist, batched_us


def _snap_brute(seg: Segments, pts: Points) -> tuple[np.ndarray, np.ndarray]:
    """Nearest segment by measuring every segment (numpy); times (ms), distances (m)."""
    dx, dy = seg.bx - seg.ax, seg.by - seg.ay
    seg2 = dx * dx + dy * dy
    inv = np.divide(1.0, seg2, out=np.zeros_like(seg2), where=seg2 > 0)
    n = pts.x.shape[0]
    ms, dist = np.empty(n), np.empty(n)
    for i in range(n):
        px, py = float(pts.x[i]), float(pts.y[i])
        started = time.perf_counter()
        t = np.clip(((px - seg.ax) * dx + (py - seg.ay) * dy) * inv, 0.0, 1.0)
        d = np.hypot(px - (seg.ax + t * dx), py - (seg.ay + t * dy))
        k = int(np.argmin(d))
        ms[i] = time.perf_counter() - started
        dist[i] = d[k]
    return ms * 1e3, dist


def _report_near_and_far(name: str, radius_m: float, ms: np.ndarray, dist: np.ndarray) -> None:
    """Print p50/p99 apart for points within ``radius_m`` of a road and for the rest (these
    take ``EdgeIndex``'s second, wider search)."""
    far = dist > radius_m
    print(f"  {int(far.sum())} of {far.size} points farther than {radius_m:.0f} m from a road")
    for key, part in (("near", ~far), ("far", far)):
        if part.any():
            p50, p99 = (np.percentile(ms[part], q) * 1e3 for q in (50, 99))
            print(f"bench: snap_{name}_{key}_p50_p99 = {p50:.1f} / {p99:.1f} µs")


def bench_snap(name: str, graph: RoadGraph, count: int, brute_count: int) -> None:
    """Print per-point snap times of ``EdgeIndex`` and of its peers, and their agreement."""
    started = time.perf_counter()
    index = EdgeIndex(graph)
    print(f"  EdgeIndex build {(time.perf_counter() - started) * 1e3:.0f} ms, "
          f"{index.size} segments")  # fmt: skip
    pts = _points(graph, count)
    ours_ms, ours_d = _snap_ours(index, pts)
    ours = _report(f"snap_{name}", ours_ms, "µs")
    _report_near_and_far(name, index.search_radius_m, ours_ms, ours_d)
    started = time.perf_counter()
    index.snap_many(pts.lon, pts.lat)
    batched_us = (time.perf_counter() - started) * 1e6 / count
    seg = _segments(graph)
    tree_ms, tree_d, tree_batched_us = _snap_strtree(seg, pts)
    print(f"bench: snap_{name}_batched_per_point = {batched_us:.2f} µs "
          f"(STRtree batched {tree_batched_us:.2f} µs)")  # fmt: skip
    tree = _report(f"snap_{name}_strtree", tree_ms, "µs")
    p99 = np.percentile(tree_ms, 99) / np.percentile(ours_ms, 99)
    print(f"bench: snap_{name}_strtree_ratio = {_ratio(tree, ours)} (p99 {p99:.2f} x)")
    brute_ms, brute_d = _snap_brute(seg, pts._replace(x=pts.x[:brute_count], y=pts.y[:brute_count]))
    brute = _report(f"snap_{name}_brute", brute_ms, "µs")
    print(f"bench: snap_{name}_brute_ratio = {_ratio(brute, ours)}")
    off_tree = int(np.sum(np.abs(ours_d - tree_d) > AGREE_M))
    off_brute = int(np.sum(np.abs(ours_d[:brute_count] - brute_d) > AGREE_M))
    print(f"bench: snap_{name}_disagree = {off_tree} of {count} (STRtree), "
          f"{off_brute} of {brute_count} (brute force)")  # fmt: skip


def main(quick: bool) -> None:
    count, brute = (2_000, 50) if quick else (20_000, 500)
    path, real = largest_extract()
    print(f"real: {path.name}, {real.n_nodes} nodes, {real.n_edges} directed edges")
    bench_load("real", real, path, 200)
    bench_snap("real", real, count, brute * 4)
    started = time.perf_counter()
    town = generate_town(0, size=128 if quick else BENCH_SIZE)
    print(f"generated: {town.graph.n_nodes} nodes, {town.graph.n_edges} directed edges "
          f"(built in {time.perf_counter() - started:.1f} s)")  # fmt: skip
    bench_load("generated", town.graph, None, 50 if quick else 200)
    bench_snap("generated", town.graph, count, brute)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer points, a smaller city")
    main(parser.parse_args().quick)
