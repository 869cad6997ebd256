"""The search kernels on raw arrays: reversal, both queues, canonical ties, routes, repairs.

Random graphs come from ``cases`` (also used by ``test_solver``): few nodes and many edges, so
parallel edges, self-loops, zero-weight edges, closed (inf) edges and disconnected parts are all
common. Distances are compared exactly, in integer quanta.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from evac import _kernels as k

QUANTUM_S = 0.1
WEIGHTS_S = [0.0, 0.04, 0.1, 0.25, 1.0, 2.5, 7.0, 60.0, math.inf]
OFFSETS_S = [0.0, 0.3, 5.0, 1000.0, math.inf]
EXAMPLES = settings(max_examples=150, deadline=None)


class Case(NamedTuple):
    """A random forward CSR graph with weights and sources."""

    indptr: np.ndarray  # (n + 1,) int64
    indices: np.ndarray  # (m,) int32
    weights_s: np.ndarray  # (m,) float64, inf = closed
    sources: np.ndarray  # (s,) int64 node ids
    offsets_s: np.ndarray  # (s,) float64, inf = disabled

    @property
    def n(self) -> int:
        return self.indptr.size - 1

    @property
    def tails(self) -> np.ndarray:
        return np.repeat(np.arange(self.n), np.diff(self.indptr))


@st.composite
def cases(draw: st.DrawFn, max_nodes: int = 25, max_edges: int = 100) -> Case:
    """Draw a small graph where ties, zero weights, repeats and unreachable parts abound."""
    n = draw(st.integers(1, max_nodes))
    m = draw(st.integers(0, max_edges))
    node = st.integers(0, n - 1)
    tails = np.sort(draw(arrays(np.int64, m, elements=node)))
    heads = draw(arrays(np.int32, m, elements=node))
    weight = st.sampled_from(WEIGHTS_S) | st.floats(0, 120)
    weights = draw(arrays(np.float64, m, elements=weight))
    count = draw(st.integers(0, min(n, 4)))
    sources = draw(arrays(np.int64, count, elements=node))
    offsets = draw(arrays(np.float64, count, elements=st.sampled_from(OFFSETS_S)))
    indptr = np.concatenate(([0], np.cumsum(np.bincount(tails, minlength=n)))).astype(np.int64)
    return Case(indptr, heads, weights, sources, offsets)


class Reversed(NamedTuple):
    indptr: np.ndarray
    indices: np.ndarray
    edge: np.ndarray
    slot: np.ndarray


def reverse(case: Case) -> Reversed:
    m = case.indices.size
    out = Reversed(
        np.empty(case.n + 1, np.int64),
        np.empty(m, np.int32),
        np.empty(m, np.int32),
        np.empty(m, np.int32),
    )
    k.reverse_csr(case.indptr, case.indices, *out)
    return out


def units_of(weights_s: np.ndarray, rev: Reversed) -> np.ndarray:
    """Quantised weights in reversed slot order, (m,) int32."""
    out = np.empty(rev.edge.size, np.int32)
    invalid, _ = k.quantise_reversed(weights_s, rev.slot, QUANTUM_S, out)
    assert invalid == 0
    return out


def seeds_of(case: Case) -> np.ndarray:
    """(2, n) seeds: the smallest offset per node, ties to the smaller source index."""
    seeds = np.full((2, case.n), -1, np.int32)
    seeds[0] = k.UNREACHED
    for i in np.lexsort((np.arange(case.sources.size), case.offsets_s))[::-1]:
        if np.isfinite(case.offsets_s[i]):
            seeds[:, case.sources[i]] = (round(case.offsets_s[i] / QUANTUM_S), i)
    return seeds


def search(case: Case, kernel=k.dial_search, weights_s: np.ndarray | None = None) -> np.ndarray:
    """Run a full search kernel; return (n, 8) records."""
    rev = reverse(case)
    w = units_of(case.weights_s if weights_s is None else weights_s, rev)
    records = np.empty((case.n, k.RECORD_WIDTH), np.int32)
    kernel(rev.indptr, rev.indices, rev.edge, w, seeds_of(case), records)
    return records


def labels_of(records: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(records[:, :5].T)


# --- reversal and quantisation --------------------------------------------------------------


@EXAMPLES
@given(cases())
def test_reverse_csr_is_the_transpose_with_edge_maps(case: Case) -> None:
    rev = reverse(case)
    heads = np.repeat(np.arange(case.n), np.diff(rev.indptr))
    np.testing.assert_array_equal(case.indices[rev.edge], heads)
    np.testing.assert_array_equal(case.tails[rev.edge], rev.indices)
    np.testing.assert_array_equal(rev.slot[rev.edge], np.arange(case.indices.size))
    for x in range(case.n):  # each reversed row lists its edges in increasing id
        assert np.all(np.diff(rev.edge[rev.indptr[x] : rev.indptr[x + 1]]) > 0)


@EXAMPLES
@given(cases())
def test_quantise_reversed_rounds_like_numpy(case: Case) -> None:
    rev = reverse(case)
    got = units_of(case.weights_s, rev)
    w = case.weights_s[rev.edge]
    expected = np.where(np.isinf(w), k.UNREACHED, np.rint(w / QUANTUM_S)).astype(np.int32)
    np.testing.assert_array_equal(got, expected)


def test_quantise_reversed_counts_invalid_weights() -> None:
    weights = np.array([1.0, np.nan, -0.5, 1e12, np.inf])
    out = np.empty(5, np.int32)
    invalid, top = k.quantise_reversed(weights, np.arange(5, dtype=np.int32), QUANTUM_S, out)
    assert (invalid, top) == (3, 10)


# --- full searches ----------------------------------------------------------------------------


@EXAMPLES
@given(cases())
def test_bucket_and_heap_queues_give_identical_labels(case: Case) -> None:
    np.testing.assert_array_equal(
        search(case, k.dial_search)[:, :5], search(case, k.heap_search)[:, :5]
    )


@EXAMPLES
@given(cases())
def test_buckets_say_when_their_entries_run_out(case: Case) -> None:
    """dial_search falls back to the heap on -1; what matters is that -1 is said, never a
    partial result passed off as complete."""
    rev = reverse(case)
    units = units_of(case.weights_s, rev)
    seeds = seeds_of(case)
    records = np.empty((case.n, k.RECORD_WIDTH), np.int32)
    roomy = k._dial(rev.indptr, rev.indices, rev.edge, units, seeds, records, 100_000)
    assert roomy >= 0
    pops = k._dial(rev.indptr, rev.indices, rev.edge, units, seeds, records, 1)
    assert pops == (-1 if roomy > 1 else roomy)


@EXAMPLES
@given(cases())
def test_next_hops_form_a_forest_that_adds_up(case: Case) -> None:
    records = search(case)
    seeds = seeds_of(case)
    w = np.where(np.isinf(case.weights_s), -1, np.rint(case.weights_s / QUANTUM_S))
    for v in range(case.n):
        dist, hops, parent, edge, source = records[v, :5]
        if dist == k.UNREACHED:
            assert (hops, parent, edge, source) == (0, -1, -1, -1)
        elif parent == -1:  # a root: a source at its own offset
            assert (dist, hops, edge, source) == (seeds[0, v], 0, -1, seeds[1, v])
        else:
            assert case.tails[edge] == v
            assert case.indices[edge] == parent
            assert dist == records[parent, 0] + w[edge]
            assert hops == records[parent, 1] + 1
            assert source == records[parent, 4]


def test_ties_prefer_fewer_hops_then_the_smaller_edge() -> None:
    # rows: 0 -> {3 (edge 0, 2 s), 1 (edge 1, 1 s)}; 1 -> {3 (edge 2, 1 s)};
    # 4 -> {0 (edge 3, 0 s), 3 (edges 4 and 5, parallel, 2 s)}; the shelter is node 3.
    indptr = np.array([0, 2, 3, 3, 3, 6], np.int64)
    indices = np.array([3, 1, 3, 0, 3, 3], np.int32)
    weights = np.array([2.0, 1.0, 1.0, 0.0, 2.0, 2.0])
    case = Case(indptr, indices, weights, np.array([3]), np.array([0.0]))
    records = search(case)
    assert tuple(records[0, :5]) == (20, 1, 3, 0, 0)  # 2 s in one hop beats 2 s in two
    assert tuple(records[4, :5]) == (20, 1, 3, 4, 0)  # equal parallel edges: the smaller id
    records = search(case._replace(weights_s=np.array([2.0, 1.0, 1.0, 0.0, 3.0, 3.0])))
    assert tuple(records[4, :5]) == (20, 2, 0, 3, 0)  # now the 0 s edge to node 0 is faster


def test_zero_weight_cycles_keep_the_pointers_acyclic() -> None:
    # a <-> b at zero cost, a -> c -> shelter: the pointers must not cycle between a and b.
    indptr = np.array([0, 2, 3, 4, 4], np.int64)  # a=0: {1, 2}; b=1: {0}; c=2: {3}
    indices = np.array([1, 2, 0, 3], np.int32)
    weights = np.array([0.0, 0.0, 0.0, 1.0])
    records = search(Case(indptr, indices, weights, np.array([3]), np.array([0.0])))
    assert records[0, 2] == 2  # a goes to c
    assert records[1, 2] == 0  # b goes to a
    assert records[1, 1] == records[0, 1] + 1


def test_offsets_beyond_the_bucket_ring_are_seeded_in_order() -> None:
    # one 1 s edge (a ring of 11 buckets) and sources whose offsets differ by far more
    indptr = np.array([0, 1, 1, 1], np.int64)
    case = Case(
        indptr,
        np.array([1], np.int32),
        np.array([1.0]),
        np.array([1, 0, 2]),
        np.array([500.0, 3.0, 40.0]),
    )
    records = search(case)
    assert list(records[:, 0]) == [30, 5000, 400]
    assert list(records[:, 4]) == [1, 0, 2]


def test_no_sources_reaches_nothing() -> None:
    case = Case(
        np.array([0, 1, 1], np.int64),
        np.array([1], np.int32),
        np.array([1.0]),
        np.array([], np.int64),
        np.array([]),
    )
    records = search(case)
    assert (records[:, 0] == k.UNREACHED).all()
    assert (records[:, 2:5] == -1).all()


@settings(max_examples=40, deadline=None)
@given(cases(), st.integers(1, 3))
def test_profiles_in_parallel_equal_one_at_a_time(case: Case, count: int) -> None:
    rev = reverse(case)
    weights = np.stack([case.weights_s * (1 + p) for p in range(count)])
    seeds = np.stack([seeds_of(case)] * count)
    units = np.empty(weights.shape, np.int32)
    records = np.empty((count, case.n, k.RECORD_WIDTH), np.int32)
    labels = np.empty((count, 5, case.n), np.int32)
    dist_s = np.empty((count, case.n))
    for queue in (k.QUEUE_BUCKET, k.QUEUE_HEAP):
        invalid = k.search_profiles(
            tuple(rev), weights, seeds, (units, records, labels, dist_s),
            (QUANTUM_S, queue, 1 << 20, False),
        )  # fmt: skip
        assert invalid == 0
        for p in range(count):
            np.testing.assert_array_equal(labels[p], labels_of(search(case, weights_s=weights[p])))


def test_an_invalid_weight_in_one_profile_is_counted() -> None:
    indptr, indices = np.array([0, 1, 1], np.int64), np.array([1], np.int32)
    weights = np.array([[1.0], [np.nan]])
    seeds = np.array([[[k.UNREACHED, 0], [-1, 0]]] * 2, np.int32)
    outputs = (
        np.empty((2, 1), np.int32),
        np.empty((2, 2, k.RECORD_WIDTH), np.int32),
        np.empty((2, 5, 2), np.int32),
        np.empty((2, 2)),
    )
    rev = reverse(Case(indptr, indices, weights[0], np.array([1]), np.array([0.0])))
    invalid = k.search_profiles(
        tuple(rev), weights, seeds, outputs, (QUANTUM_S, k.QUEUE_AUTO, 1 << 20, False)
    )
    assert invalid == 1


@EXAMPLES
@given(cases(), st.integers(1, 3))
def test_fill_seeds_keeps_the_smallest_offset_then_the_smallest_index(
    case: Case, count: int
) -> None:
    offsets = np.rint(case.offsets_s / QUANTUM_S)
    offsets = np.where(np.isinf(case.offsets_s), k.UNREACHED, offsets).astype(np.int32)
    seeds = np.empty((count, 2, case.n), np.int32)
    k.fill_seeds(case.sources, np.stack([offsets] * count), seeds)
    for row in seeds:
        np.testing.assert_array_equal(row, seeds_of(case))


# --- publishing and routes --------------------------------------------------------------------


@EXAMPLES
@given(cases())
def test_publish_copies_labels_and_seconds(case: Case) -> None:
    records = search(case)
    labels = np.empty((5, case.n), np.int32)
    dist_s = np.empty(case.n)
    k.publish(records, QUANTUM_S, labels, dist_s)
    np.testing.assert_array_equal(labels, labels_of(records))
    reached = labels[0] < k.UNREACHED
    np.testing.assert_array_equal(dist_s[reached], labels[0, reached] * QUANTUM_S)
    assert np.isinf(dist_s[~reached]).all()


@EXAMPLES
@given(cases())
def test_follow_next_walks_hops_edges_to_a_root(case: Case) -> None:
    records = search(case)
    for v in range(case.n):
        hops = records[v, 1]
        nodes = np.empty(hops + 1, np.int32)
        edges = np.empty(hops, np.int32)
        assert k.follow_next(records[:, 2].copy(), records[:, 3].copy(), v, nodes, edges) == hops
        assert nodes[0] == v
        assert records[nodes[-1], 2] == -1
        np.testing.assert_array_equal(case.indices[edges], nodes[1:])


# --- repairs ----------------------------------------------------------------------------------


def _repair(case: Case, edges: np.ndarray, new_weights_s: np.ndarray) -> tuple[np.ndarray, int]:
    """Search on ``case``, change ``edges`` to ``new_weights_s`` and repair; (records, touched)."""
    rev = reverse(case)
    w = units_of(case.weights_s, rev)
    seeds = seeds_of(case)
    records = search(case)
    new = np.where(np.isinf(new_weights_s), k.UNREACHED, np.rint(new_weights_s / QUANTUM_S))
    old = w[rev.slot[edges]]
    up, down = new > old, new < old
    touched = np.empty(case.n, np.int32)
    w[rev.slot[edges[up]]] = new[up]
    count = k.repair_raised(
        case.indptr,
        case.indices,
        rev.indptr,
        rev.indices,
        rev.edge,
        rev.slot,
        w,
        seeds,
        records,
        edges[up],
        touched,
    )
    w[rev.slot[edges[down]]] = new[down]
    count += k.repair_lowered(
        case.indptr,
        case.indices,
        rev.indptr,
        rev.indices,
        rev.edge,
        rev.slot,
        w,
        records,
        edges[down],
        touched,
    )
    return records, count


@EXAMPLES
@given(cases(), st.data())
def test_repairs_equal_a_full_recompute(case: Case, data: st.DataObject) -> None:
    m = case.indices.size
    edges = (
        np.unique(
            data.draw(arrays(np.int64, st.integers(0, m), elements=st.integers(0, max(m - 1, 0))))
        )
        if m
        else np.array([], np.int64)
    )
    new = data.draw(arrays(np.float64, edges.size, elements=st.sampled_from(WEIGHTS_S)))
    weights = case.weights_s.copy()
    weights[edges] = new
    records, _ = _repair(case, edges, new)
    np.testing.assert_array_equal(records[:, :5], search(case, weights_s=weights)[:, :5])


def test_closing_a_tree_edge_touches_only_its_subtree() -> None:
    # a path 0 -> 1 -> 2 -> 3 (shelter) with a slow bypass 0 -> 3; close 1 -> 2
    indptr = np.array([0, 2, 3, 4, 4], np.int64)
    indices = np.array([1, 3, 2, 3], np.int32)
    weights = np.array([1.0, 10.0, 1.0, 1.0])
    case = Case(indptr, indices, weights, np.array([3]), np.array([0.0]))
    records, touched = _repair(case, np.array([2]), np.array([np.inf]))
    assert touched == 2  # nodes 1 and 0; node 2 keeps its way
    assert list(records[:, 0]) == [100, k.UNREACHED, 10, 0]
    assert records[0, 3] == 1  # node 0 now takes the bypass
