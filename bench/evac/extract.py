"""The largest real extract, its shelters and its reversed scipy graph, shared by the benches.

One way of loading the real city for every ``bench.evac`` script: the OSM file in
``../shared/data/osm`` with the most directed edges, read with evac's own import; shelters at
about 1 % of the intersections; for the peers, the reversed graph of the open edges with the
solver's quantised weights (parallel edges keep the quickest, as a search would).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from evac import solver
from evac.graph import EARTH_RADIUS_M, RoadGraph
from evac.osm import graph_from_osm
from evac.solver import UNREACHED

OSM_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "osm"
SHELTER_SHARE = 0.01


def largest_extract() -> tuple[Path, RoadGraph]:
    """Return the real extract with the most directed edges, and its graph."""
    graphs = {path: graph_from_osm(path) for path in sorted(OSM_DIR.glob("*.osm*"))}
    path = max(graphs, key=lambda p: graphs[p].n_edges)
    return path, graphs[path]


def shelter_nodes(n_nodes: int, rng: np.random.Generator) -> np.ndarray:
    """About 1 % of the nodes (at least 3), drawn without repeats: the shelters' nodes."""
    return rng.choice(n_nodes, max(3, int(n_nodes * SHELTER_SHARE)), replace=False)


def to_metres(graph: RoadGraph, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, ...]:
    """Return the local metres ``EdgeIndex`` uses (same centre, same scale) for degrees."""
    lon0, lat0 = float(np.mean(graph.node_lon)), float(np.mean(graph.node_lat))
    kx = EARTH_RADIUS_M * math.cos(math.radians(lat0)) * math.pi / 180.0
    ky = EARTH_RADIUS_M * math.pi / 180.0
    return (lon - lon0) * kx, (lat - lat0) * ky


def reversed_csr(
    n: int, tails: np.ndarray, heads: np.ndarray, weights_s: np.ndarray
) -> sp.csr_array:
    """The reversed graph (head to tail) of the ``n`` nodes' open edges, with the solver's quantised
    weights as float64; of parallel edges only the quickest is kept (COO would sum them)."""
    units = solver.quantise_times(weights_s)
    ok = units < UNREACHED
    heads, tails, units = heads[ok].astype(np.int64), tails[ok].astype(np.int64), units[ok]
    order = np.lexsort((units, tails, heads))
    heads, tails, data = heads[order], tails[order], units[order].astype(np.float64)
    first = np.ones(heads.size, dtype=bool)
    first[1:] = (heads[1:] != heads[:-1]) | (tails[1:] != tails[:-1])
    return sp.csr_array((data[first], (heads[first], tails[first])), shape=(n, n))
