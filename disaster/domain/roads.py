"""Road closures on ``road.closures`` (compacted, keyed by closure id).

A closure is described by geometry (where the road is blocked), not by graph edges: the
evacuation solver maps it onto whichever road graph it has loaded, so a closure survives a
re-import of the city's roads.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import shapely
from pydantic import AwareDatetime

from disaster.domain.models import GeoPoint, PolygonArea, _Record

__all__ = ["RoadClosure", "closure_geometry", "widened"]


class RoadClosure(_Record):
    """A blocked (``active``) or reopened road, and why."""

    id: str
    source: Literal["sensor", "incident"]
    source_id: str
    geometry: dict[str, Any]
    reason: str
    active: bool
    changed_at: AwareDatetime


def closure_geometry(
    point: GeoPoint | None, line: list[GeoPoint] | None, area: PolygonArea | None = None
) -> dict[str, Any]:
    """Return GeoJSON for what is blocked: the area if one is known (every road in it), else
    the line of road, else the point."""
    if area is not None:
        return area.model_dump(mode="json")
    if line:
        return {"type": "LineString", "coordinates": [[p.lon, p.lat] for p in line]}
    assert point is not None
    return {"type": "Point", "coordinates": [point.lon, point.lat]}


def widened(geometry: dict[str, Any], area: PolygonArea) -> dict[str, Any]:
    """Return GeoJSON covering both a closed area and a newly reported one (their union), so a
    flood that spreads closes the new roads without reopening the old."""
    union = shapely.union(shapely.geometry.shape(geometry), area.to_shape())
    return json.loads(shapely.to_geojson(union))
