"""Road closures on ``road.closures`` (compacted, keyed by closure id).

A closure is described by geometry (where the road is blocked), not by graph edges: the
evacuation solver maps it onto whichever road graph it has loaded, so a closure survives a
re-import of the city's roads.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime

from disaster.domain.models import GeoPoint, _Record

__all__ = ["RoadClosure", "closure_geometry"]


class RoadClosure(_Record):
    """A blocked (``active``) or reopened road, and why."""

    id: str
    source: Literal["sensor", "incident"]
    source_id: str
    geometry: dict[str, Any]
    reason: str
    active: bool
    changed_at: AwareDatetime


def closure_geometry(point: GeoPoint | None, line: list[GeoPoint] | None) -> dict[str, Any]:
    """Return GeoJSON for what is blocked: the line of road if known, else the point."""
    if line:
        return {"type": "LineString", "coordinates": [[p.lon, p.lat] for p in line]}
    assert point is not None
    return {"type": "Point", "coordinates": [point.lon, point.lat]}
