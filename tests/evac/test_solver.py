"""The typed solver API against scipy and networkx, on random graphs and small fixed ones.

Both references run on the same integer weights (quanta of 0.1 s) as the solver, so distances
must agree exactly; parallel edges are reduced to their minimum for the references, which
must not matter.
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.sparse import csgraph

from evac import solver
from evac.solver import QUANTUM_S, UNREACHED, ShelterTimes
from tests.evac.test_kernels import WEIGHTS_S, Case, cases

EXAMPLES = settings(max_examples=120, deadline=None)
FIELDS = ("dist_s", "next_node", "next_edge", "source", "hops")


def solve(case: Case, weights_s: np.ndarray | None = None, **options: object) -> ShelterTimes:
    graph = solver.search_graph(case.indptr, case.indices)
    weights = case.weights_s if weights_s is None else weights_s
    return solver.nearest_shelter_times(
        graph, weights, case.sources, offsets_s=case.offsets_s, **options
    )


def reversed_dense(case: Case) -> np.ndarray:
    """(n, n) reversed graph of quantised weights, inf where no open edge, parallel edges
    reduced to their minimum: the scipy and networkx input."""
    units = solver.quantise_times(case.weights_s).astype(np.float64)
    units[units == UNREACHED] = np.inf
    dense = np.full((case.n, case.n), np.inf)
    np.minimum.at(dense, (case.indices, case.tails), units)
    return dense


def reference_units(case: Case) -> np.ndarray:
    """(s, n) float: offset of source i plus the time from each node to it, in quanta."""
    graph = csgraph.csgraph_from_dense(reversed_dense(case), null_value=np.inf)
    if case.sources.size == 0:
        return np.full((0, case.n), np.inf)
    times = csgraph.dijkstra(graph, directed=True, indices=case.sources)
    offsets = np.rint(case.offsets_s / QUANTUM_S)
    return times.reshape(case.sources.size, case.n) + offsets[:, None]


def assert_same(a: ShelterTimes, b: ShelterTimes) -> None:
    for field in FIELDS:
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)


def units(times: ShelterTimes) -> np.ndarray:
    return times.state.labels[0]


# --- against scipy -----------------------------------------------------------------------------


@EXAMPLES
@given(cases())
def test_distances_equal_scipy_min_only(case: Case) -> None:
    case = case._replace(offsets_s=np.zeros(case.sources.size))
    times = solve(case)
    graph = csgraph.csgraph_from_dense(reversed_dense(case), null_value=np.inf)
    if case.sources.size:
        expected = csgraph.dijkstra(graph, directed=True, indices=case.sources, min_only=True)
    else:
        expected = np.full(case.n, np.inf)
    np.testing.assert_array_equal(np.where(np.isinf(expected), UNREACHED, expected), units(times))
    np.testing.assert_array_equal(np.isinf(expected), np.isinf(times.dist_s))


@EXAMPLES
@given(cases())
def test_source_is_a_nearest_source_with_offsets(case: Case) -> None:
    times = solve(case)
    totals = reference_units(case)
    best = totals.min(axis=0, initial=np.inf)
    reached = np.isfinite(best)
    np.testing.assert_array_equal(units(times)[reached], best[reached])
    np.testing.assert_array_equal(times.source[~reached], -1)
    own = totals[times.source[reached], np.flatnonzero(reached)]
    np.testing.assert_array_equal(own, best[reached])


@EXAMPLES
@given(cases())
def test_routes_add_up_to_the_distance(case: Case) -> None:
    times = solve(case)
    weights = solver.quantise_times(case.weights_s)
    for v in range(case.n):
        way = solver.route(times, v)
        assert way.nodes[0] == v
        assert way.time_s == times.dist_s[v]
        if math.isinf(way.time_s):
            assert (way.nodes.size, way.edges.size, way.source) == (1, 0, -1)
            continue
        np.testing.assert_array_equal(case.tails[way.edges], way.nodes[:-1])
        np.testing.assert_array_equal(case.indices[way.edges], way.nodes[1:])
        assert case.sources[way.source] == way.nodes[-1]
        offset = round(case.offsets_s[way.source] / QUANTUM_S)
        assert weights[way.edges].sum() + offset == units(times)[v]


@EXAMPLES
@given(cases())
def test_unreachable_nodes_have_no_next_hop(case: Case) -> None:
    times = solve(case)
    lost = np.isinf(times.dist_s)
    assert (times.next_node[lost] == -1).all()
    assert (times.next_edge[lost] == -1).all()
    assert (times.source[lost] == -1).all()
    assert ((times.next_node == -1) == (times.next_edge == -1)).all()


@EXAMPLES
@given(cases())
def test_both_queues_agree(case: Case) -> None:
    assert_same(solve(case, queue="bucket"), solve(case, queue="heap"))


@settings(max_examples=60, deadline=None)
@given(cases(), st.integers(1, 4), st.data())
def test_profiles_equal_single_runs(case: Case, k: int, data: st.DataObject) -> None:
    m = case.indices.size
    weight = st.sampled_from(WEIGHTS_S)
    weights = data.draw(arrays(np.float64, (k, m), elements=weight))
    offsets = np.stack([case.offsets_s] * k)
    graph = solver.search_graph(case.indptr, case.indices)
    got = solver.nearest_shelter_times_by_profile(graph, weights, case.sources, offsets_s=offsets)
    assert len(got) == k
    for profile, times in enumerate(got):
        assert_same(times, solve(case, weights[profile]))


@settings(max_examples=60, deadline=None)
@given(cases(), st.integers(1, 3), st.data())
def test_prepared_weights_give_the_same_labels(case: Case, k: int, data: st.DataObject) -> None:
    """Prepared once, closed on some edges, solved one profile and several at a time: the
    labels of the float weights with those edges closed; and a solution's repairs leave the
    prepared weights as they were."""
    weights = data.draw(
        arrays(np.float64, (k, case.indices.size), elements=st.sampled_from(WEIGHTS_S))
    )
    graph = solver.search_graph(case.indptr, case.indices)
    closed = some_edges(data, case.indices.size)
    prepared = solver.prepare_weights(graph, weights).closing(graph, closed)
    kept = prepared.units.copy()
    shut = weights.copy()
    shut[:, closed] = np.inf
    offsets = np.stack([case.offsets_s] * k)
    many = solver.nearest_shelter_times_by_profile(graph, prepared, case.sources, offsets_s=offsets)
    for profile, times in enumerate(many):
        assert_same(times, solve(case, shut[profile]))
    one = solver.nearest_shelter_times(
        graph, solver.prepare_weights(graph, shut[0]), case.sources, offsets_s=case.offsets_s
    )
    assert_same(one, solve(case, shut[0]))
    solver.close_edges(many[0], np.arange(case.indices.size))
    np.testing.assert_array_equal(prepared.units, kept)


def test_prepared_weights_reject_what_the_solvers_reject() -> None:
    graph = solver.search_graph([0, 1, 1], [1])
    with pytest.raises(ValueError, match="non-negative"):
        solver.prepare_weights(graph, [np.nan])
    with pytest.raises(ValueError, match="edges last"):
        solver.prepare_weights(graph, [1.0, 2.0])
    two = solver.prepare_weights(graph, [[1.0], [2.0]])
    with pytest.raises(ValueError, match="do not fit"):
        solver.nearest_shelter_times(graph, two, [1])


# --- repairs ---------------------------------------------------------------------------------


def some_edges(data: st.DataObject, m: int) -> np.ndarray:
    if m == 0:
        return np.array([], np.int64)
    return data.draw(arrays(np.int64, st.integers(0, m), elements=st.integers(0, m - 1)))


@EXAMPLES
@given(cases(), st.data())
def test_close_equals_recompute_and_reopen_restores(case: Case, data: st.DataObject) -> None:
    times = solve(case)
    before = [getattr(times, f).copy() for f in FIELDS]
    closed = some_edges(data, case.indices.size)
    touched = solver.close_edges(times, closed)
    weights = case.weights_s.copy()
    weights[closed] = np.inf
    full = solve(case, weights)
    np.testing.assert_array_equal(times.dist_s, full.dist_s)
    assert_same(times, full)
    assert 0 <= touched <= case.n
    solver.reopen_edges(times, closed, case.weights_s[closed])
    for field, old in zip(FIELDS, before, strict=True):
        np.testing.assert_array_equal(getattr(times, field), old, err_msg=field)


@EXAMPLES
@given(cases(), st.data())
def test_any_weight_change_equals_recompute(case: Case, data: st.DataObject) -> None:
    times = solve(case)
    edges = np.unique(some_edges(data, case.indices.size))
    new = data.draw(arrays(np.float64, edges.size, elements=st.sampled_from(WEIGHTS_S)))
    solver.update_edge_times(times, edges, new)
    weights = case.weights_s.copy()
    weights[edges] = new
    assert_same(times, solve(case, weights))


def test_close_far_from_the_tree_touches_nothing() -> None:
    case = Case(
        np.array([0, 1, 2, 2]),
        np.array([2, 2], np.int32),
        np.array([1.0, 5.0]),
        np.array([2]),
        np.array([0.0]),
    )
    times = solve(case)
    assert solver.close_edges(times, []) == 0
    assert solver.reopen_edges(times, [1], 5.0) == 0  # unchanged time: nothing to do


# --- networkx ----------------------------------------------------------------------------------


def lattice_case(side: int, seed: int) -> Case:
    """A small two-way lattice with diagonals, random times and a few closed edges."""
    rng = np.random.default_rng(seed)
    ids = np.arange(side * side).reshape(side, side)
    pairs = [(ids[:, :-1], ids[:, 1:]), (ids[:-1, :], ids[1:, :]), (ids[:-1, :-1], ids[1:, 1:])]
    a = np.concatenate([p.ravel() for p, _ in pairs])
    b = np.concatenate([q.ravel() for _, q in pairs])
    tails, heads = np.concatenate([a, b]), np.concatenate([b, a])
    order = np.argsort(tails, kind="stable")
    tails, heads = tails[order], heads[order]
    weights = rng.uniform(5, 90, tails.size).round(1)
    weights[rng.random(tails.size) < 0.1] = np.inf
    indptr = np.concatenate(([0], np.cumsum(np.bincount(tails, minlength=side * side))))
    sources = rng.choice(side * side, 3, replace=False)
    return Case(indptr, heads.astype(np.int32), weights, sources, np.zeros(3))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_networkx_multi_source_dijkstra_agrees(seed: int) -> None:
    case = lattice_case(7, seed)
    times = solve(case)
    reverse = nx.DiGraph()
    reverse.add_nodes_from(range(case.n))
    dense = reversed_dense(case)
    for head, tail in zip(*np.nonzero(np.isfinite(dense)), strict=True):
        reverse.add_edge(int(head), int(tail), weight=int(dense[head, tail]))
    dist, paths = nx.multi_source_dijkstra(reverse, {int(s) for s in case.sources})
    for v in range(case.n):
        if v not in dist:
            assert np.isinf(times.dist_s[v])
            continue
        assert units(times)[v] == dist[v]
        assert times.hops[v] <= len(paths[v]) - 1  # fewest hops among the shortest ways
        assert case.sources[times.source[v]] == solver.route(times, v).nodes[-1]


def test_a_hand_checked_grid() -> None:
    # 0 - 1 - 2   two-way 10 s edges; shelter at 2 (offset 0) and at 3 (offset 25 s)
    # |       |
    # 3 ----- 4   (3 <-> 4 is 30 s, 2 <-> 4 is 10 s)
    edges = [(0, 1, 10), (1, 2, 10), (0, 3, 10), (3, 4, 30), (2, 4, 10)]
    pairs = [(a, b, w) for a, b, w in edges] + [(b, a, w) for a, b, w in edges]
    pairs.sort()
    tails, heads, weights = (np.array(c) for c in zip(*pairs, strict=True))
    indptr = np.concatenate(([0], np.cumsum(np.bincount(tails, minlength=5))))
    case = Case(
        indptr,
        heads.astype(np.int32),
        weights.astype(float),
        np.array([2, 3]),
        np.array([0.0, 25.0]),
    )
    times = solve(case)
    np.testing.assert_allclose(times.dist_s, [20.0, 10.0, 0.0, 25.0, 10.0])
    assert list(times.source) == [0, 0, 0, 1, 0]
    assert list(solver.route(times, 0).nodes) == [0, 1, 2]
    assert list(solver.route(times, 3).nodes) == [3]  # its own shelter: 25 s beats 30 s
    solver.close_edges(times, [int(np.flatnonzero((tails == 1) & (heads == 2))[0])])
    np.testing.assert_allclose(times.dist_s, [35.0, 45.0, 0.0, 25.0, 10.0])
    assert list(solver.route(times, 1).nodes) == [1, 0, 3]


# --- validation and shapes -------------------------------------------------------------------


def test_outputs_are_contiguous_with_documented_dtypes() -> None:
    times = solve(lattice_case(4, 0))
    for field, dtype in zip(FIELDS, [np.float64] + [np.int32] * 4, strict=True):
        array = getattr(times, field)
        assert array.dtype == dtype
        assert array.flags.c_contiguous


def test_auto_queue_falls_back_to_the_heap_for_very_long_edges() -> None:
    case = Case(
        np.array([0, 1, 1]),
        np.array([1], np.int32),
        np.array([200_000.0]),
        np.array([1]),
        np.array([0.0]),
    )
    times = solve(case)
    assert times.dist_s[0] == 200_000.0
    assert_same(times, solve(case, queue="heap"))


def test_quantise_times_rounds_to_the_nearest_tenth() -> None:
    got = solver.quantise_times([0.0, 0.04, 0.06, 1.25, 2.0, np.inf])
    assert got.tolist() == [0, 0, 1, 12, 20, UNREACHED]


GRAPH = (np.array([0, 1, 1]), np.array([1]))


@pytest.mark.parametrize(
    ("indptr", "indices", "error"),
    [
        (np.array([0, 2, 1]), np.array([1]), ValueError),  # does not end at len(indices)
        (np.array([0, 1, 0, 1]), np.array([1]), ValueError),  # decreasing
        (np.array([0, 1, 1]), np.array([2]), ValueError),  # head out of range
        (np.array([0.0, 1.0, 1.0]), np.array([1]), TypeError),  # not integers
        (np.array([[0, 1, 1]]), np.array([1]), TypeError),  # not 1-D
    ],
)
def test_search_graph_rejects_bad_csr(indptr: np.ndarray, indices: np.ndarray, error: type) -> None:
    with pytest.raises(error):
        solver.search_graph(indptr, indices)


@pytest.mark.parametrize(
    ("weights", "sources", "options", "match"),
    [
        ([np.nan], [1], {}, "non-negative"),
        ([-1.0], [1], {}, "non-negative"),
        ([1e12], [1], {}, "quanta"),
        ([1.0, 2.0], [1], {}, "weights_s must be"),
        ([[1.0]], [1], {}, "weights_s must be"),
        ([1.0], [2], {}, "sources must lie"),
        ([1.0], [-1], {}, "sources must lie"),
        ([1.0], [1], {"offsets_s": [-1.0]}, "non-negative"),
        ([1.0], [1], {"offsets_s": [0.0, 0.0]}, "broadcast"),
        ([1.0], [1], {"queue": "fibonacci"}, "queue must be"),
    ],
)
def test_nearest_shelter_times_rejects_bad_input(
    weights: list, sources: list, options: dict, match: str
) -> None:
    graph = solver.search_graph(*GRAPH)
    with pytest.raises(ValueError, match=match):
        solver.nearest_shelter_times(graph, weights, sources, **options)


def test_repairs_and_routes_reject_bad_ids() -> None:
    times = solver.nearest_shelter_times(solver.search_graph(*GRAPH), [1.0], [1])
    with pytest.raises(ValueError, match="edge_ids"):
        solver.close_edges(times, [1])
    with pytest.raises(ValueError, match="twice"):
        solver.reopen_edges(times, [0, 0], [1.0, 2.0])
    with pytest.raises(ValueError, match="start_node"):
        solver.route(times, 2)
