"""Nearest-shelter travel times, next hops and routes on a CSR road graph.

The typed face of ``evac._kernels``: it validates and coerces the caller's arrays, quantises
travel times to integer units of ``QUANTUM_S`` (0.1 s, so the kernels can use a bucket queue and
compare times exactly), allocates every output and returns namedtuples.

The graph is forward CSR: edge ``e`` runs from the row it sits in to ``indices[e]``. The search
runs backwards from the shelters, so each node learns the time to its nearest shelter and its
next hop toward it. ``search_graph`` builds the reversed arrays once per topology; the solvers
take its result and one weight array per profile. A solution carries what a repair needs:
``close_edges`` and ``reopen_edges`` update it in place, touching only the affected nodes.

Times are the quantised ones: each edge is rounded to the nearest 0.1 s, so a path of h edges
may differ from the float sum by up to 0.05 s x h. A node whose nearest shelter is 2**31 - 1
quanta (6.8 years) or more away counts as unreachable.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from evac import _kernels

__all__ = [
    "QUANTUM_S",
    "UNREACHED",
    "PreparedWeights",
    "Route",
    "SearchGraph",
    "SearchState",
    "ShelterTimes",
    "close_edges",
    "nearest_shelter_times",
    "nearest_shelter_times_by_profile",
    "prepare_weights",
    "quantise_times",
    "reopen_edges",
    "route",
    "search_graph",
    "update_edge_times",
]

QUANTUM_S = 0.1
UNREACHED = int(_kernels.UNREACHED)
MAX_BUCKET_SPAN = 1 << 20  # longest edge (in quanta) for the bucket ring: 29 h, 8 MiB of ring

Queue = Literal["auto", "bucket", "heap"]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


class SearchGraph(NamedTuple):
    """A road graph's topology both ways; shared by every profile and every solution.

    indptr (n + 1,) int64 and indices (m,) int32 are the forward CSR; rev_indptr (n + 1,) int64
    and rev_indices (m,) int32 list, per node, the tails of the edges into it; rev_edge (m,)
    int32 is the forward edge id of each reversed slot and rev_slot (m,) int32 its inverse.
    """

    indptr: I64
    indices: I32
    rev_indptr: I64
    rev_indices: I32
    rev_edge: I32
    rev_slot: I32

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return self.indptr.size - 1

    @property
    def n_edges(self) -> int:
        """Number of directed edges."""
        return self.indices.size


class SearchState(NamedTuple):
    """What a repair needs besides the arrays the caller reads.

    weight_units (m,) int32 are the current edge times in quanta in reversed slot order
    (``UNREACHED`` = closed); seeds (2, n) int32 the sources' start offsets and indices per
    node; records (n, 8) int32 the kernels' working labels (see ``evac._kernels``); labels
    (5, n) int32 their published copy, of which ``ShelterTimes`` fields are views.
    """

    graph: SearchGraph
    weight_units: I32
    seeds: I32
    records: I32
    labels: I32


class ShelterTimes(NamedTuple):
    """Per node: time to the nearest shelter and the first step toward it.

    dist_s (n,) float64 seconds, inf where no shelter is reachable; next_node and next_edge
    (n,) int32, the next node and the forward edge taken (-1 at a shelter or when unreachable);
    source (n,) int32, the index in ``sources`` of the shelter reached (-1 when unreachable);
    hops (n,) int32, edges on the way. Repairs update these arrays in place.
    """

    dist_s: F64
    next_node: I32
    next_edge: I32
    source: I32
    hops: I32
    state: SearchState


class PreparedWeights(NamedTuple):
    """K profiles' edge times quantised and laid out for the search, once: units (K, m) int32
    in reversed slot order (``UNREACHED`` = closed). What a recompute over new shelters needs
    when the roads have not changed (see ``prepare_weights``); never changed by a solve."""

    units: I32

    def closing(self, graph: SearchGraph, edge_ids: npt.ArrayLike) -> PreparedWeights:
        """Return a copy with ``edge_ids`` (forward ids) closed in every profile."""
        units = self.units.copy()
        units[:, graph.rev_slot[_as_int_array(edge_ids, "edge_ids", np.int64)]] = UNREACHED
        return PreparedWeights(units)


class Route(NamedTuple):
    """One way to a shelter: nodes (h + 1,) int32 from start to shelter, edges (h,) int32
    forward edge ids, time_s the travel time including the shelter's start offset (inf and
    no edges when no shelter is reachable), source the shelter's index (-1 if none)."""

    nodes: I32
    edges: I32
    time_s: float
    source: int


# --- validation -----------------------------------------------------------------------------


def _as_int_array(values: npt.ArrayLike, name: str, dtype: type[np.integer]) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or not (np.issubdtype(array.dtype, np.integer) or array.size == 0):
        msg = f"{name} must be a 1-D integer array, got {array.dtype} with shape {array.shape}"
        raise TypeError(msg)
    return np.ascontiguousarray(array, dtype=dtype)


def _check_range(values: np.ndarray, name: str, upper: int) -> None:
    if values.size and (values.min() < 0 or values.max() >= upper):
        msg = f"{name} must lie in [0, {upper}), got [{values.min()}, {values.max()}]"
        raise ValueError(msg)


def _check_csr(indptr: I64, indices: I32) -> None:
    if indptr.size == 0 or indptr[0] != 0 or indptr[-1] != indices.size:
        msg = f"indptr must start at 0 and end at len(indices) = {indices.size}"
        raise ValueError(msg)
    if np.any(np.diff(indptr) < 0):
        msg = "indptr must be non-decreasing"
        raise ValueError(msg)


def quantise_times(values_s: npt.ArrayLike) -> I32:
    """Return times in seconds as int32 quanta of ``QUANTUM_S``, ``UNREACHED`` for inf.

    Rounds to the nearest quantum. Raises ValueError on NaN, negative or absurdly long times.
    """
    values = np.asarray(values_s, dtype=np.float64)
    if np.isnan(values).any() or (values < 0).any():
        msg = "times must be non-negative numbers (inf for closed)"
        raise ValueError(msg)
    units = np.rint(values / QUANTUM_S)
    finite = np.isfinite(units)
    if (units[finite] >= UNREACHED).any():
        msg = f"a finite time is {UNREACHED} quanta of {QUANTUM_S} s or more"
        raise ValueError(msg)
    return np.where(finite, units, UNREACHED).astype(np.int32)


def _profile_weights(graph: SearchGraph, weights_s: npt.ArrayLike, ndim: int) -> F64:
    """Return (K, m) or (m,) weights in seconds as a (K, m) float64 array, shape checked."""
    weights = np.asarray(weights_s, dtype=np.float64)
    if weights.ndim != ndim or weights.shape[-1] != graph.n_edges:
        msg = f"weights_s must be {ndim}-D with {graph.n_edges} edges last, got {weights.shape}"
        raise ValueError(msg)
    return np.ascontiguousarray(weights if ndim == 2 else weights[None, :])


def _given_weights(
    graph: SearchGraph, weights_s: npt.ArrayLike | PreparedWeights, ndim: int
) -> F64 | PreparedWeights:
    """Check prepared weights against the graph (one profile for ``ndim`` 1), or return
    seconds as (K, m) float64."""
    if not isinstance(weights_s, PreparedWeights):
        return _profile_weights(graph, weights_s, ndim)
    shape = weights_s.units.shape
    if shape[1:] != (graph.n_edges,) or (ndim == 1 and shape[0] != 1):
        msg = f"prepared weights of shape {shape} do not fit {graph.n_edges} edges"
        raise ValueError(msg)
    return weights_s


def _seeds(graph: SearchGraph, sources: npt.ArrayLike, offsets_s: npt.ArrayLike, k: int) -> I32:
    """Return (k, 2, n) int32 seeds: per node the smallest offset of its sources and which.

    Several sources on one node keep the one with the smaller offset, then the smaller index;
    an inf offset disables a source (for example a shelter not suited to a profile).
    """
    nodes = _as_int_array(sources, "sources", np.int64)
    _check_range(nodes, "sources", graph.n_nodes)
    offsets = quantise_times(np.broadcast_to(offsets_s, (k, nodes.size)))
    seeds = np.empty((k, 2, graph.n_nodes), dtype=np.int32)
    _kernels.fill_seeds(nodes, offsets, seeds)
    return seeds


_QUEUES = {
    "auto": _kernels.QUEUE_AUTO,
    "bucket": _kernels.QUEUE_BUCKET,
    "heap": _kernels.QUEUE_HEAP,
}


def _queue_code(queue: Queue) -> int:
    if queue not in _QUEUES:
        msg = f"queue must be 'auto', 'bucket' or 'heap', got {queue!r}"
        raise ValueError(msg)
    return _QUEUES[queue]


# --- building and solving -------------------------------------------------------------------


def search_graph(indptr: npt.ArrayLike, indices: npt.ArrayLike) -> SearchGraph:
    """Validate a forward CSR graph and build its reversed arrays, once per topology.

    indptr (n + 1,) and indices (m,) integers; edge e runs from its row to ``indices[e]``.
    Parallel edges and self-loops are allowed.
    """
    ptr = _as_int_array(indptr, "indptr", np.int64)
    idx = _as_int_array(indices, "indices", np.int32)
    _check_csr(ptr, idx)
    n = ptr.size - 1
    _check_range(idx, "indices", n)
    rev_indptr = np.empty(n + 1, dtype=np.int64)
    rev_indices = np.empty(idx.size, dtype=np.int32)
    rev_edge = np.empty(idx.size, dtype=np.int32)
    rev_slot = np.empty(idx.size, dtype=np.int32)
    _kernels.reverse_csr(ptr, idx, rev_indptr, rev_indices, rev_edge, rev_slot)
    return SearchGraph(ptr, idx, rev_indptr, rev_indices, rev_edge, rev_slot)


def _empty_records(*leading: int) -> I32:
    """Return (..., 8) int32 work records aligned to 64 bytes: each 32-byte record then sits in
    one cache line, which is the point of keeping a node's label together."""
    shape = (*leading, _kernels.RECORD_WIDTH)
    count = int(np.prod(shape))
    raw = np.empty(count + 16, dtype=np.int32)
    offset = (-raw.ctypes.data % 64) // raw.itemsize
    return raw[offset : offset + count].reshape(shape)


def _times(
    graph: SearchGraph, rev_weight: I32, seeds: I32, records: I32, labels: I32, dist_s: F64
) -> ShelterTimes:
    state = SearchState(graph, rev_weight, seeds, records, labels)
    hops, next_node, next_edge, source = (labels[row] for row in (1, 2, 3, 4))
    return ShelterTimes(dist_s, next_node, next_edge, source, hops, state)


def prepare_weights(graph: SearchGraph, weights_s: npt.ArrayLike) -> PreparedWeights:
    """Quantise (m,) or (K, m) edge times in seconds (inf: closed) for ``graph``'s searches.

    A recompute for new shelters on unchanged roads then skips converting every edge's time,
    about a fifth of a search on a city of a million edges, and finds the search's data still
    in the cache. Raises ValueError as the solvers do on a bad weight.
    """
    weights = np.asarray(weights_s, dtype=np.float64)
    weights = _profile_weights(graph, weights, ndim=1 if weights.ndim == 1 else 2)
    units = np.empty(weights.shape, dtype=np.int32)
    for row, out in zip(weights, units, strict=True):
        invalid, _ = _kernels.quantise_reversed(row, graph.rev_slot, QUANTUM_S, out)
        if invalid:
            quantise_times(row)  # raises with the reason
    return PreparedWeights(units)


def _solve(
    graph: SearchGraph, weights: F64 | PreparedWeights, seeds: I32, queue: Queue
) -> tuple[ShelterTimes, ...]:
    """Run the kernels on (K, m) weights or prepared ones and (K, 2, n) seeds: one profile on
    the calling thread, several in parallel; raise ValueError on an invalid weight."""
    code = _queue_code(queue)
    prepared = isinstance(weights, PreparedWeights)
    if prepared:
        units = weights.units.copy()  # a solution's repairs change its own copy
        weights = np.empty((units.shape[0], 0))
    else:
        units = np.empty(weights.shape, dtype=np.int32)
    k, n = units.shape[0], graph.n_nodes
    records = _empty_records(k, n)
    labels = np.empty((k, 5, n), dtype=np.int32)
    dist_s = np.empty((k, n), dtype=np.float64)
    g = graph
    topology = (g.rev_indptr, g.rev_indices, g.rev_edge, g.rev_slot)
    options = (QUANTUM_S, code, MAX_BUCKET_SPAN, prepared)
    if k == 1:
        outputs = (units[0], records[0], labels[0], dist_s[0])
        invalid = _kernels.solve_profile(topology, weights[0], seeds[0], outputs, options)
    else:
        outputs = (units, records, labels, dist_s)
        invalid = _kernels.search_profiles(topology, weights, seeds, outputs, options)
    if invalid:
        quantise_times(weights)  # raises with the reason
    return tuple(
        _times(graph, units[i], seeds[i], records[i], labels[i], dist_s[i]) for i in range(k)
    )


def nearest_shelter_times(
    graph: SearchGraph,
    weights_s: npt.ArrayLike | PreparedWeights,
    sources: npt.ArrayLike,
    *,
    offsets_s: npt.ArrayLike = 0.0,
    queue: Queue = "auto",
) -> ShelterTimes:
    """Return every node's time to its nearest source, next hop and source, for one profile.

    Parameters
    ----------
    graph : from ``search_graph``.
    weights_s : (m,) edge travel times in seconds, inf for an edge this profile cannot use;
        or ``prepare_weights`` of them.
    sources : (s,) node ids of the shelters (repeats allowed).
    offsets_s : scalar or (s,) seconds added at each shelter (0: none; inf: shelter unusable).
    queue : "bucket" (Dial's algorithm, fast for road times), "heap" (binary heap, any
        range), or "auto": bucket unless one edge is longer than ``MAX_BUCKET_SPAN`` quanta.
    """
    weights = _given_weights(graph, weights_s, ndim=1)
    (times,) = _solve(graph, weights, _seeds(graph, sources, offsets_s, k=1), queue)
    return times


def nearest_shelter_times_by_profile(
    graph: SearchGraph,
    weights_s: npt.ArrayLike | PreparedWeights,
    sources: npt.ArrayLike,
    *,
    offsets_s: npt.ArrayLike = 0.0,
    queue: Queue = "auto",
) -> tuple[ShelterTimes, ...]:
    """Solve K profiles over one topology in parallel (one per core); one result per profile.

    weights_s is (K, m) seconds (or ``prepare_weights`` of them); offsets_s a scalar, (s,) or
    (K, s) seconds. Same results as K calls of ``nearest_shelter_times``, in about K / cores of
    the time.
    """
    weights = _given_weights(graph, weights_s, ndim=2)
    k = len(weights.units) if isinstance(weights, PreparedWeights) else weights.shape[0]
    return _solve(graph, weights, _seeds(graph, sources, offsets_s, k=k), queue)


# --- routes and repairs -----------------------------------------------------------------------


def route(times: ShelterTimes, start_node: int) -> Route:
    """Return the way from ``start_node`` to its nearest shelter along the next hops."""
    n = times.dist_s.size
    if not 0 <= start_node < n:
        msg = f"start_node must lie in [0, {n}), got {start_node}"
        raise ValueError(msg)
    hops = int(times.hops[start_node]) if np.isfinite(times.dist_s[start_node]) else 0
    nodes = np.empty(hops + 1, dtype=np.int32)
    edges = np.empty(hops, dtype=np.int32)
    taken = _kernels.follow_next(times.next_node, times.next_edge, start_node, nodes, edges)
    time_s = float(times.dist_s[start_node])
    return Route(nodes[: taken + 1], edges[:taken], time_s, int(times.source[start_node]))


def _edge_ids(times: ShelterTimes, edge_ids: npt.ArrayLike) -> I64:
    edges = _as_int_array(np.atleast_1d(edge_ids), "edge_ids", np.int64)
    _check_range(edges, "edge_ids", times.state.graph.n_edges)
    return edges


def _distinct_updates(edges: I64, units: I32) -> tuple[I64, I32]:
    """Return each edge once with its new time; a repeated edge must repeat its time."""
    new = np.broadcast_to(units, edges.shape)
    order = np.argsort(edges, kind="stable")
    edges, new = edges[order], new[order]
    repeat = edges[1:] == edges[:-1]
    if (new[1:][repeat] != new[:-1][repeat]).any():
        msg = "an edge is given twice with different times"
        raise ValueError(msg)
    keep = np.concatenate((np.ones(min(edges.size, 1), dtype=bool), ~repeat))
    return edges[keep], new[keep]


def _raise(times: ShelterTimes, edges: I64, units: I32, touched: I32) -> int:
    """Set higher times on edges and repair by detaching and re-settling what used them."""
    g, state = times.state.graph, times.state
    state.weight_units[g.rev_slot[edges]] = units
    count = _kernels.repair_raised(
        g.indptr, g.indices, g.rev_indptr, g.rev_indices, g.rev_edge, g.rev_slot,
        state.weight_units, state.seeds, state.records, edges, touched,
    )  # fmt: skip
    _kernels.publish_nodes(state.records, touched[:count], QUANTUM_S, state.labels, times.dist_s)
    return int(count)


def _lower(times: ShelterTimes, edges: I64, units: I32, touched: I32) -> int:
    """Set lower times on edges and repair by a decrease-only search from them."""
    g, state = times.state.graph, times.state
    state.weight_units[g.rev_slot[edges]] = units
    count = _kernels.repair_lowered(
        g.indptr, g.indices, g.rev_indptr, g.rev_indices, g.rev_edge, g.rev_slot,
        state.weight_units, state.records, edges, touched,
    )  # fmt: skip
    if count > touched.size:  # only the first n settled nodes were logged: publish them all
        _kernels.publish(state.records, QUANTUM_S, state.labels, times.dist_s)
    else:
        _kernels.publish_nodes(
            state.records, touched[:count], QUANTUM_S, state.labels, times.dist_s
        )
    return int(count)


def update_edge_times(
    times: ShelterTimes, edge_ids: npt.ArrayLike, weights_s: npt.ArrayLike
) -> int:
    """Set new travel times on some edges and repair ``times`` in place; return nodes touched.

    Rises (inf closes an edge) are repaired first by detaching and re-settling the affected
    subtrees; then falls by a decrease-only search from the lowered edges. The result equals
    a full recompute on the new weights, label for label. Touched counts the nodes
    recomputed, a node settled twice counting twice.
    """
    edges, new = _distinct_updates(_edge_ids(times, edge_ids), quantise_times(weights_s))
    old = times.state.weight_units[times.state.graph.rev_slot[edges]]
    rising, falling = new > old, new < old
    touched = np.empty(times.dist_s.size, dtype=np.int32)
    count = _raise(times, edges[rising], new[rising], touched)
    return count + _lower(times, edges[falling], new[falling], touched)


def close_edges(times: ShelterTimes, edge_ids: npt.ArrayLike) -> int:
    """Close edges (a blocked or flooded road) and repair ``times`` in place; return nodes
    touched."""
    return update_edge_times(times, edge_ids, np.inf)


def reopen_edges(times: ShelterTimes, edge_ids: npt.ArrayLike, weights_s: npt.ArrayLike) -> int:
    """Reopen edges with their travel times (scalar or one per edge) and repair ``times`` in
    place; return nodes touched."""
    return update_edge_times(times, edge_ids, weights_s)
