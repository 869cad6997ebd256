"""Which edges a closure closes: road closures carry geometry, the graph has edges.

- a Point (a blocked spot, a flooded underpass): the nearest road segment, both directions;
- a LineString (a stretch of road): the segments lying along it, not the streets crossing it;
- a Polygon (a flooded district): every segment it touches.

Geometry is matched here rather than stored as edge ids upstream, so a closure outlives a
re-import of the roads.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import shapely

from evac.graph import RoadGraph

__all__ = ["ClosureIndex"]

_M_PER_DEG_LAT = 111_320.0
#: A line closure takes a segment that runs along it for half its length or this far.
_ALONG_SHARE = 0.5
_ALONG_M = 20.0


class ClosureIndex:
    """An STRtree over the graph's edge segments, built once per graph."""

    def __init__(self, graph: RoadGraph) -> None:
        tails = graph.edge_source()
        heads = graph.indices
        coords = np.stack(
            [
                np.column_stack([graph.node_lon[tails], graph.node_lat[tails]]),
                np.column_stack([graph.node_lon[heads], graph.node_lat[heads]]),
            ],
            axis=1,
        )
        self._segments = shapely.linestrings(coords)
        self._tree = shapely.STRtree(self._segments)

    def edges_for(
        self, geometry: dict[str, Any], *, reach_m: float = 30.0
    ) -> npt.NDArray[np.int64]:
        """Return the ids of the edges a GeoJSON closure geometry closes (sorted, unique).

        ``reach_m`` bounds how far from a point or line a road may be and still be the one meant.
        """
        shape = shapely.geometry.shape(geometry)
        reach_deg = reach_m / _M_PER_DEG_LAT
        if shape.geom_type == "Point":
            found = self._tree.query_nearest(shape, max_distance=reach_deg, all_matches=True)
        elif shape.geom_type in ("LineString", "MultiLineString"):
            found = self._along(shape, reach_deg)
        else:
            found = self._tree.query(shape, predicate="intersects")
        return np.unique(np.asarray(found, dtype=np.int64))

    def _along(self, line: shapely.Geometry, reach_deg: float) -> npt.NDArray[np.int64]:
        band = line.buffer(reach_deg / 2)
        candidates = self._tree.query(band, predicate="intersects")
        segments = self._segments[candidates]
        inside = shapely.length(shapely.intersection(segments, band))
        total = np.maximum(shapely.length(segments), 1e-12)
        keep = (inside / total >= _ALONG_SHARE) | (inside * _M_PER_DEG_LAT >= _ALONG_M)
        return candidates[keep]
