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
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from rtree import index

from evac.graph import EARTH_RADIUS_M, RoadGraph

__all__ = ["EdgeIndex", "Snap", "SnapArrays"]

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

        The common case, a road within ``search_radius_m``, takes one R-tree query and a few
        small array operations; anything else goes through ``snap_many``.
        """
        tree = self._tree
        x, y = (lon - self._lon0) * self._kx, (lat - self._lat0) * self._ky
        r = self.search_radius_m
        if tree is None or not (math.isfinite(x) and math.isfinite(y)):
            return self._snap_via_many(lon, lat)
        ids = np.fromiter(tree.intersection((x - r, y - r, x + r, y + r)), dtype=np.int64)
        fraction, qx, qy, dist = self._measure(ids, x, y)
        if ids.shape[0] == 0 or dist.min() > r:
            return self._snap_via_many(lon, lat)
        k = int(np.lexsort((ids, np.round(dist, 6)))[0])
        out_lon, out_lat = self._unproject(qx[k], qy[k])
        return Snap(int(ids[k]), float(fraction[k]), float(out_lon), float(out_lat), float(dist[k]))

    def _snap_via_many(self, lon: float, lat: float) -> Snap:
        """Snap one point with the vectorised path."""
        out = self.snap_many(np.array([lon]), np.array([lat]))
        return Snap(int(out.edge[0]), *(float(a[0]) for a in out[1:]))

    def snap_many(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> SnapArrays:
        """Return the nearest allowed edge to each point, vectorised.

        Raises
        ------
        ValueError
            The index holds no edge, or coordinates are not finite.
        """
        tree = self._tree
        if tree is None:
            msg = "cannot snap: the edge index is empty (no allowed edge)"
            raise ValueError(msg)
        px, py = self._project(np.atleast_1d(lon), np.atleast_1d(lat))
        if not (np.all(np.isfinite(px)) and np.all(np.isfinite(py))):
            msg = "cannot snap: coordinates must be finite"
            raise ValueError(msg)
        radius = np.full(px.shape[0], self.search_radius_m)
        edge, fraction, qx, qy, dist = self._within(tree, px, py, radius)
        far = np.flatnonzero(dist > radius)  # nothing that close: search as far as needed
        if far.shape[0]:
            guess = self._first_guess(tree, px[far], py[far]) * (1 + 1e-9) + 1e-6
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
        n = px.shape[0]
        lo = np.column_stack([px - radius, py - radius])
        hi = np.column_stack([px + radius, py + radius])
        ids, counts = tree.intersection_v(lo, hi)
        query = np.repeat(np.arange(n), counts.astype(np.int64))
        fraction, qx, qy, dist = self._measure(ids, px[query], py[query])
        best = _best_per_query(query, dist, ids)
        hit = query[best]
        out = (np.full(n, -1, np.int64), np.zeros(n), np.zeros(n), np.zeros(n), np.full(n, np.inf))
        for arr, value in zip(out, (ids, fraction, qx, qy, dist), strict=True):
            arr[hit] = value[best]
        return out

    def _first_guess(self, tree: index.Index, px: np.ndarray, py: np.ndarray) -> np.ndarray:
        """Return, per point, the exact distance to the segment of its nearest bounding box."""
        pts = np.column_stack([px, py])
        ids, counts = tree.nearest_v(pts, pts, num_results=1)
        query = np.repeat(np.arange(px.shape[0]), counts.astype(np.int64))
        dist = self._measure(ids, px[query], py[query])[3]
        return np.minimum.reduceat(dist, np.r_[0, np.cumsum(counts.astype(np.int64))[:-1]])

    def _measure(
        self, edges: np.ndarray, px: np.ndarray | float, py: np.ndarray | float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Return (fraction, projected x, projected y, distance) of points onto edges."""
        ax, ay = self._x[self._src[edges]], self._y[self._src[edges]]
        dx, dy = self._x[self._dst[edges]] - ax, self._y[self._dst[edges]] - ay
        seg2 = dx * dx + dy * dy
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.where(seg2 > 0, ((px - ax) * dx + (py - ay) * dy) / seg2, 0.0)
        t = np.clip(t, 0.0, 1.0)
        qx, qy = ax + t * dx, ay + t * dy
        return t, qx, qy, np.hypot(px - qx, py - qy)

    def _unproject(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return degrees for local metres."""
        return self._lon0 + x / self._kx, self._lat0 + y / self._ky


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


def _best_per_query(query: np.ndarray, dist: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Return the position of each query's nearest candidate (ties: lower edge id)."""
    order = np.lexsort((ids, np.round(dist, 6), query))
    first = np.r_[True, query[order][1:] != query[order][:-1]] if order.shape[0] else order
    return order[first.astype(bool)]
