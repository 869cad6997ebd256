"""Snap points to the nearest road edge (not merely the nearest node).

A resident's home is usually beside a street, between intersections; routing from the nearest
node can start on the wrong side of a river or a railway. ``EdgeIndex`` finds the nearest edge
segment, where along it the point projects, and how far away it is.

Distances are in metres in a local equirectangular projection centred on the graph (x = R cos
lat0 dlon, y = R dlat): within a city (tens of kilometres) its error is far below GPS error, and
it makes every distance a cheap planar one. The R-tree holds one bounding box per street
segment in the same metres, bulk-loaded from arrays. A query measures exactly every segment
whose box meets a square of ``search_radius_m`` around the point; the best of them is the
nearest edge whenever it lies within that radius (any nearer segment's box would meet the
square). Points farther from every road first take the distance to the segment of their
nearest box as the radius, then do the same. So the answer is exact, never heuristic. Both
directions of a street are the same segment; the lower edge id is returned.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt
from numba import njit
from rtree import index

from evac.graph import EARTH_RADIUS_M, RoadGraph

__all__ = ["EdgeIndex", "Snap", "SnapArrays"]

T = TypeVar("T", float, np.ndarray)

_NODE_CAPACITY = 16  # R-tree fan-out: measured fastest for street networks (default 100)


class Snap(NamedTuple):
    """One snapped point.

    Attributes
    ----------
    edge
        The nearest edge id.
    fraction
        Where the projection lies along the edge, 0 at its tail, 1 at its head.
    lon, lat
        The projected point, degrees.
    distance_m
        Distance from the query point to the projected point, metres.
    """

    edge: int
    fraction: float
    lon: float
    lat: float
    distance_m: float


class SnapArrays(NamedTuple):
    """Many snapped points, one entry per query (see ``Snap``)."""

    edge: npt.NDArray[np.int64]
    fraction: npt.NDArray[np.float64]
    lon: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]
    distance_m: npt.NDArray[np.float64]


class EdgeIndex:
    """An R-tree over a graph's edges for nearest-edge queries.

    Parameters
    ----------
    graph
        The road graph.
    allowed
        Optional boolean mask (n_edges,) of the edges a point may snap to, e.g.
        ``np.isfinite(travel_time_s(graph, wheelchair))``. One index per profile is cheap
        (bulk loading) and keeps queries exact and fast.
    """

    def __init__(
        self,
        graph: RoadGraph,
        *,
        allowed: npt.ArrayLike | None = None,
        search_radius_m: float = 50.0,
    ) -> None:
        self.search_radius_m = float(search_radius_m)
        self._lon0 = float(np.mean(graph.node_lon)) if graph.n_nodes else 0.0
        self._lat0 = float(np.mean(graph.node_lat)) if graph.n_nodes else 0.0
        self._kx = EARTH_RADIUS_M * math.cos(math.radians(self._lat0)) * math.pi / 180.0
        self._ky = EARTH_RADIUS_M * math.pi / 180.0
        self._x, self._y = self._project(graph.node_lon, graph.node_lat)
        self._src = graph.edge_source().astype(np.int64)
        self._dst = graph.indices.astype(np.int64)
        ids = _one_edge_per_segment(self._src, self._dst, _edge_ids(graph.n_edges, allowed))
        self.size = int(ids.shape[0])
        self._tree = self._bulk_load(ids) if self.size else None

    def _project(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Return local metres east and north of the graph's centre."""
        x = (np.asarray(lon, dtype=np.float64) - self._lon0) * self._kx
        return x, (np.asarray(lat, dtype=np.float64) - self._lat0) * self._ky

    def _bulk_load(self, ids: npt.NDArray[np.int64]) -> index.Index:
        """Build the R-tree from the edges' bounding boxes in one call."""
        xs = np.stack([self._x[self._src[ids]], self._x[self._dst[ids]]])
        ys = np.stack([self._y[self._src[ids]], self._y[self._dst[ids]]])
        mins = np.column_stack([xs.min(axis=0), ys.min(axis=0)])
        maxs = np.column_stack([xs.max(axis=0), ys.max(axis=0)])
        props = index.Property()
        props.leaf_capacity = props.index_capacity = _NODE_CAPACITY
        return index.Index((ids, mins, maxs), properties=props)

    def snap(self, lon: float, lat: float) -> Snap:
        """Return the nearest allowed edge to one point (same answer as ``snap_many``).

        One R-tree query of the square of ``search_radius_m`` and one compiled pass over its
        candidates; a point farther from every road first asks the tree for its nearest box,
        whose segment's distance becomes the radius. A few tens of microseconds, most of them
        in the ``rtree`` call: small numpy operations per candidate cost more than the search.
        """
        tree = self._checked_tree()
        x, y = (lon - self._lon0) * self._kx, (lat - self._lat0) * self._ky
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError(_NOT_FINITE)
        r = self.search_radius_m
        best = self._nearest(tree.intersection((x - r, y - r, x + r, y + r)), x, y)
        if best[0] < 0 or best[4] > r:  # nothing that close: search as far as needed
            r = _just_past(self._nearest(tree.nearest((x, y, x, y), 1), x, y)[4])
            best = self._nearest(tree.intersection((x - r, y - r, x + r, y + r)), x, y)
        edge, fraction, qx, qy, dist = best
        out_lon, out_lat = self._unproject(qx, qy)
        return Snap(edge, fraction, float(out_lon), float(out_lat), dist)

    def _checked_tree(self) -> index.Index:
        if self._tree is None:
            msg = "cannot snap: the edge index is empty (no allowed edge)"
            raise ValueError(msg)
        return self._tree

    def _nearest(
        self, ids: Iterable[int], x: float, y: float
    ) -> tuple[int, float, float, float, float]:
        """Return (edge, fraction, projected x, projected y, distance) of the nearest of
        ``ids`` to (x, y); edge -1 and an infinite distance when there is none."""
        candidates = np.fromiter(ids, dtype=np.int64)
        return _nearest_segment(candidates, x, y, self._x, self._y, self._src, self._dst)

    def snap_many(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> SnapArrays:
        """Return the nearest allowed edge to each point, vectorised.

        Raises
        ------
        ValueError
            The index holds no edge, or coordinates are not finite.
        """
        tree = self._checked_tree()
        px, py = self._project(np.atleast_1d(lon), np.atleast_1d(lat))
        if not (np.all(np.isfinite(px)) and np.all(np.isfinite(py))):
            raise ValueError(_NOT_FINITE)
        radius = np.full(px.shape[0], self.search_radius_m)
        edge, fraction, qx, qy, dist = self._within(tree, px, py, radius)
        far = np.flatnonzero(dist > radius)  # nothing that close: search as far as needed
        if far.shape[0]:
            guess = _just_past(self._first_guess(tree, px[far], py[far]))
            found = self._within(tree, px[far], py[far], guess)
            for out, value in zip((edge, fraction, qx, qy, dist), found, strict=True):
                out[far] = value
        lon_out, lat_out = self._unproject(qx, qy)
        return SnapArrays(edge, fraction, lon_out, lat_out, dist)

    def _within(
        self, tree: index.Index, px: np.ndarray, py: np.ndarray, radius: np.ndarray
    ) -> tuple[np.ndarray, ...]:
        """Return the nearest edge among those whose box meets a square of ``radius``.

        Exact wherever the returned distance is <= radius; a query with no candidate gets
        edge -1 and an infinite distance.
        """
        lo = np.column_stack([px - radius, py - radius])
        hi = np.column_stack([px + radius, py + radius])
        return self._nearest_many(*tree.intersection_v(lo, hi), px, py)

    def _first_guess(self, tree: index.Index, px: np.ndarray, py: np.ndarray) -> np.ndarray:
        """Return, per point, the exact distance to the segment of its nearest bounding box."""
        pts = np.column_stack([px, py])
        return self._nearest_many(*tree.nearest_v(pts, pts, num_results=1), px, py)[4]

    def _nearest_many(
        self, ids: np.ndarray, counts: np.ndarray, px: np.ndarray, py: np.ndarray
    ) -> tuple[np.ndarray, ...]:
        """``_nearest`` per point, point i's candidates being the next ``counts[i]`` ids."""
        starts = np.concatenate(([0], np.cumsum(counts, dtype=np.int64)))
        out = (np.empty(px.shape[0], np.int64), *(np.empty(px.shape[0]) for _ in range(4)))
        _nearest_per_query(ids, starts, px, py, self._x, self._y, self._src, self._dst, *out)
        return out

    def _unproject(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return degrees for local metres."""
        return self._lon0 + x / self._kx, self._lat0 + y / self._ky


_NOT_FINITE = "cannot snap: coordinates must be finite"


def _just_past(distance_m: T) -> T:
    """A search radius just past an exact distance, so that rounding cannot leave out the
    segment it was measured to."""
    return distance_m * (1 + 1e-9) + 1e-6


def _edge_ids(n_edges: int, allowed: npt.ArrayLike | None) -> npt.NDArray[np.int64]:
    """Return the ids of the edges to index."""
    if allowed is None:
        return np.arange(n_edges, dtype=np.int64)
    mask = np.asarray(allowed, dtype=bool)
    if mask.shape != (n_edges,):
        msg = f"allowed must be a boolean mask of shape ({n_edges},), got {mask.shape}"
        raise ValueError(msg)
    return np.flatnonzero(mask).astype(np.int64)


def _one_edge_per_segment(
    src: np.ndarray, dst: np.ndarray, ids: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Return the lowest edge id of each distinct segment among ``ids``.

    Both directions of a street (and parallel ways between the same nodes) are one segment;
    indexing it once halves the tree, and the lowest id is the one a tie would pick anyway.
    """
    lo, hi = np.minimum(src[ids], dst[ids]), np.maximum(src[ids], dst[ids])
    _, first = np.unique(lo * (int(hi.max(initial=0)) + 1) + hi, return_index=True)
    return np.sort(ids[first])


@njit(cache=True)
def _nearest_segment(edges, px, py, x, y, src, dst):
    """Return (edge, fraction, qx, qy, distance) of the edge nearest to (px, py) among
    ``edges`` (their segments in local metres x, y); ties (distances equal to the µm) go to
    the lower edge id. Edge -1 and inf when ``edges`` is empty."""
    best, best_key = -1, np.inf
    out = (0.0, 0.0, 0.0, np.inf)
    for edge in edges:
        ax, ay = x[src[edge]], y[src[edge]]
        dx, dy = x[dst[edge]] - ax, y[dst[edge]] - ay
        seg2 = dx * dx + dy * dy
        t = ((px - ax) * dx + (py - ay) * dy) / seg2 if seg2 > 0 else 0.0
        t = min(max(t, 0.0), 1.0)
        qx, qy = ax + t * dx, ay + t * dy
        dist = np.hypot(px - qx, py - qy)
        key = np.round(dist, 6)
        if key < best_key or (key == best_key and edge < best):
            best, best_key, out = edge, key, (t, qx, qy, dist)
    return best, out[0], out[1], out[2], out[3]


@njit(cache=True)
def _nearest_per_query(  # noqa: PLR0913, PLR0917 - candidates, points, graph, outputs
    edges, starts, px, py, x, y, src, dst, edge, fraction, qx, qy, dist
):
    """``_nearest_segment`` for many points: point i's candidates are
    ``edges[starts[i]:starts[i + 1]]``; the answers go to the five output arrays."""
    for i in range(px.size):
        found = _nearest_segment(edges[starts[i] : starts[i + 1]], px[i], py[i], x, y, src, dst)
        edge[i], fraction[i], qx[i], qy[i], dist[i] = found
