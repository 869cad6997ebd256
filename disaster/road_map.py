"""The road graph as GeoJSON: the base map of HQ's dashboard, drawn from the city's own data.

The dashboard uses no tile server (nothing outside may be reached during a stressed night), so
the roads the router knows are the map. Each road class is one MultiLineString feature, and a
two-way road is drawn once: a city of a hundred thousand edges stays a few megabytes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from evac.graph import KIND_NAMES, RoadGraph

__all__ = ["roads_geojson"]

_DECIMALS = 6  # about 0.1 m: finer than any road is drawn


def roads_geojson(graph: RoadGraph) -> dict[str, Any]:
    """Return a FeatureCollection with one MultiLineString per road class (``kind``)."""
    tail = graph.edge_source().astype(np.int64)
    head = graph.indices.astype(np.int64)
    lo, hi = np.minimum(tail, head), np.maximum(tail, head)
    _, first = np.unique(lo * graph.n_nodes + hi, return_index=True)  # each road once
    lon = np.round(graph.node_lon, _DECIMALS)
    lat = np.round(graph.node_lat, _DECIMALS)
    features = []
    for code in np.unique(graph.kind[first]):
        edges = first[graph.kind[first] == code]
        lines = np.stack(
            [lon[tail[edges]], lat[tail[edges]], lon[head[edges]], lat[head[edges]]], axis=1
        )
        features.append({
            "type": "Feature",
            "properties": {"kind": KIND_NAMES[int(code)] if code < len(KIND_NAMES) else "road"},
            "geometry": {"type": "MultiLineString",
                         "coordinates": lines.reshape(-1, 2, 2).tolist()},
        })  # fmt: skip
    bounds = [float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())]
    return {"type": "FeatureCollection", "bbox": bounds if graph.n_nodes else None,
            "features": features}  # fmt: skip
