"""Closure geometry to edges: a spot closes its segment, a line its stretch, an area all in it."""

from __future__ import annotations

import numpy as np
import shapely

from evac.closures import ClosureIndex
from evac.generate import generate_town
from evac.graph import BRIDGE

TOWN = generate_town(3)
INDEX = ClosureIndex(TOWN.graph)
TAILS = TOWN.graph.edge_source()


def _midpoint(edge: int) -> tuple[float, float]:
    g = TOWN.graph
    tail, head = TAILS[edge], g.indices[edge]
    return (float(g.node_lon[tail] + g.node_lon[head]) / 2,
            float(g.node_lat[tail] + g.node_lat[head]) / 2)  # fmt: skip


def _same_segment(edges: np.ndarray) -> set[frozenset[int]]:
    return {frozenset((int(TAILS[e]), int(TOWN.graph.indices[e]))) for e in edges}


def test_a_point_on_a_bridge_closes_that_bridge_both_ways() -> None:
    bridge = int(TOWN.bridges[0])
    lon, lat = _midpoint(bridge)
    closed = INDEX.edges_for({"type": "Point", "coordinates": [lon, lat]})
    assert bridge in closed
    assert len(_same_segment(closed)) == 1
    assert np.all(TOWN.graph.flags[closed] & BRIDGE)


def test_a_point_far_from_any_road_closes_nothing() -> None:
    lon, lat = float(TOWN.graph.node_lon.max()) + 0.05, float(TOWN.graph.node_lat.max()) + 0.05
    assert INDEX.edges_for({"type": "Point", "coordinates": [lon, lat]}).size == 0


def test_a_line_closes_the_road_along_it_not_the_streets_across() -> None:
    g = TOWN.graph
    edge = int(np.flatnonzero(g.length_m > 50)[0])
    tail, head = TAILS[edge], g.indices[edge]
    ends = [[g.node_lon[tail], g.node_lat[tail]], [g.node_lon[head], g.node_lat[head]]]
    line = {"type": "LineString", "coordinates": ends}
    closed = INDEX.edges_for(line)
    assert _same_segment(closed) == {frozenset((int(tail), int(head)))}


def test_a_flooded_area_closes_every_segment_it_touches() -> None:
    area = TOWN.river.buffer(0.0005)
    closed = INDEX.edges_for(shapely.geometry.mapping(area))
    assert set(TOWN.bridges.tolist()) <= set(closed.tolist())
    segments = shapely.linestrings(
        np.stack([np.column_stack([TOWN.graph.node_lon[TAILS], TOWN.graph.node_lat[TAILS]]),
                  np.column_stack([TOWN.graph.node_lon[TOWN.graph.indices],
                                   TOWN.graph.node_lat[TOWN.graph.indices]])], axis=1)
    )  # fmt: skip
    expected = np.flatnonzero(shapely.intersects(segments, area))
    assert np.array_equal(closed, expected)
