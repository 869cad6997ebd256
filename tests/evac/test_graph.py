"""RoadGraph: CSR construction, reversal, and the memory-mapped file format."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evac.generate import BENCH_SIZE, generate_town
from evac.graph import (
    CAR,
    FOOT,
    KIND_CODES,
    EdgeArrays,
    RoadGraph,
    check_graph,
    graph_from_edges,
    haversine_m,
    load_graph,
    save_graph,
)

ARRAYS = (
    "node_lon",
    "node_lat",
    "node_elev_m",
    "indptr",
    "indices",
    "length_m",
    "kind",
    "flags",
    "slope",
    "way_id",
)


def _edges(source: list[int], target: list[int], slope: list[float] | None = None) -> EdgeArrays:
    m = len(source)
    return EdgeArrays(
        source=np.array(source, dtype=np.int64),
        target=np.array(target, dtype=np.int64),
        length_m=np.full(m, 100.0),
        kind=np.full(m, KIND_CODES["residential"]),
        flags=np.full(m, CAR | FOOT),
        slope=np.full(m, np.nan) if slope is None else np.array(slope),
        way_id=np.arange(m) + 1000,
    )


def _triangle() -> RoadGraph:
    lon, lat = [139.70, 139.701, 139.70], [35.66, 35.66, 35.661]
    return graph_from_edges(lon, lat, _edges([2, 0, 1, 0], [0, 1, 2, 2]))


def assert_same_graph(a: RoadGraph, b: RoadGraph) -> None:
    for name in ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        np.testing.assert_array_equal(x, y, err_msg=name)


def test_csr_sorted_by_tail_then_head() -> None:
    g = _triangle()
    assert (g.n_nodes, g.n_edges) == (3, 4)
    assert g.indptr.tolist() == [0, 2, 3, 4]
    assert g.indices.tolist() == [1, 2, 2, 0]
    assert g.edge_source().tolist() == [0, 0, 1, 2]
    assert g.way_id.tolist() == [1001, 1003, 1002, 1000]  # attributes follow their edge
    assert g.indices.dtype == np.int32
    assert g.indptr.dtype == np.int64
    assert g.nbytes == sum(getattr(g, name).nbytes for name in ARRAYS)


def test_slope_from_elevation_only_where_unknown() -> None:
    edges = _edges([0, 1, 1], [1, 0, 2], slope=[np.nan, 0.5, np.nan])
    g = graph_from_edges([0, 0, 0], [0, 0, 0], edges, node_elev_m=[10.0, 15.0, np.nan])
    # sorted: 0->1 (from elevation), 1->0 (tag kept), 1->2 (head unknown)
    np.testing.assert_allclose(g.slope[:2], [0.05, 0.5])
    assert np.isnan(g.slope[2])


def test_wrong_shapes_are_rejected() -> None:
    g = _triangle()
    with pytest.raises(ValueError, match="length_m"):
        RoadGraph(**{**{n: getattr(g, n) for n in ARRAYS}, "length_m": np.zeros(3)})
    with pytest.raises(ValueError, match="indptr"):
        RoadGraph(**{**{n: getattr(g, n) for n in ARRAYS}, "indptr": np.array([0, 1, 2, 3])})


def test_haversine_one_degree_of_latitude() -> None:
    assert haversine_m(139.0, 35.0, 139.0, 36.0) == pytest.approx(111_195, rel=1e-4)


@st.composite
def edge_lists(draw: st.DrawFn) -> tuple[int, list[int], list[int]]:
    n = draw(st.integers(1, 12))
    m = draw(st.integers(0, 40))
    src = draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    dst = draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    return n, src, dst


@settings(max_examples=60, deadline=None)
@given(edge_lists())
def test_reverse_maps_every_edge_back(case: tuple[int, list[int], list[int]]) -> None:
    n, src, dst = case
    g = graph_from_edges(np.zeros(n), np.zeros(n), _edges(src, dst))
    check_graph(g)
    rev, edge_map = g.reverse()
    check_graph(rev)
    assert sorted(edge_map.tolist()) == list(range(g.n_edges))
    np.testing.assert_array_equal(rev.indices, g.edge_source()[edge_map])
    np.testing.assert_array_equal(rev.edge_source(), g.indices[edge_map])
    np.testing.assert_array_equal(rev.way_id, g.way_id[edge_map])
    back, back_map = rev.reverse()
    assert_same_graph(back, g)
    np.testing.assert_array_equal(edge_map[back_map], np.arange(g.n_edges))


def test_round_trip(tmp_path: Path) -> None:
    g = generate_town(3).graph
    path = tmp_path / "town.graph"
    save_graph(g, path)
    loaded = load_graph(path)
    assert_same_graph(loaded, g)
    assert not loaded.flags.flags.writeable  # a shared, read-only mapping
    assert all(getattr(loaded, name).ctypes.data % 64 == 0 for name in ARRAYS)
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_round_trip_empty_graph(tmp_path: Path) -> None:
    g = graph_from_edges([], [], _edges([], []))
    save_graph(g, tmp_path / "empty.graph")
    assert load_graph(tmp_path / "empty.graph").n_edges == 0


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read road graph file"):
        load_graph(tmp_path / "nope.graph")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: b"", "bad magic"),
        (lambda b: b"PK\x03\x04" + b[4:], "bad magic"),
        (lambda b: b[:40], "corrupt road graph header"),
        (lambda b: b[: len(b) // 2], "outside the"),
        (lambda b: b.replace(b'"version":1', b'"version":9'), "unsupported road graph version"),
        (lambda b: b.replace(b'"n_edges":', b'"n_edgez":'), "corrupt road graph file"),
    ],
)
def test_damaged_file(tmp_path: Path, damage: Callable[[bytes], bytes], message: str) -> None:
    path = tmp_path / "town.graph"
    save_graph(_triangle(), path)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ValueError, match=message):
        load_graph(path)


def test_out_of_range_node_is_caught_on_load(tmp_path: Path) -> None:
    g = _triangle()
    path = tmp_path / "bad.graph"
    save_graph(g, path)
    raw = bytearray(path.read_bytes())
    needle = g.indices.astype("<i4").tobytes()
    at = raw.find(needle)
    raw[at : at + 4] = np.int32(99).tobytes()
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="outside"):
        load_graph(path)


def test_a_million_edge_graph_round_trips(tmp_path: Path) -> None:
    """Load speed is measured in bench/evac; here, that the big file is read back exactly."""
    g = generate_town(size=BENCH_SIZE).graph
    assert g.n_edges >= 1_000_000
    path = tmp_path / "big.graph"
    save_graph(g, path)
    assert_same_graph(load_graph(path), g)
