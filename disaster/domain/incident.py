"""Incident reports from staff and residents, and the rule that merges reports of one thing.

Several people reporting the same fire must not become five fires on HQ's map: a report joins
an open incident of the same kind close by and recent, and raises its count.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

import shapely
from pydantic import AwareDatetime, Field, TypeAdapter, model_validator

from disaster.domain.geo import degrees_box, distance_m
from disaster.domain.models import GeoPoint, PolygonArea, _Record

__all__ = [
    "AREA_CLOSES_ROADS",
    "MAX_AREA_KM2",
    "MERGE_RADIUS_M",
    "MERGE_WINDOW",
    "IncidentKind",
    "IncidentMessage",
    "IncidentReport",
    "IncidentResolution",
    "OpenIncident",
    "Reporter",
    "Severity",
    "incident_message_adapter",
    "merge_search_box",
    "merge_target",
]

IncidentKind = Literal[
    "fire", "collapse", "flooding", "landslide", "blocked_road", "people_trapped", "other"
]
Severity = Literal["low", "medium", "high", "critical"]
SEVERITY_ORDER: dict[str, int] = {"low": 0, "medium": 1, "high": 2, "critical": 3}

#: Reports of the same kind within this distance and time are taken as the same incident.
MERGE_RADIUS_M = 150.0
MERGE_WINDOW = timedelta(hours=3)

#: Kinds whose reported area closes every road in it: water or earth over the road.
AREA_CLOSES_ROADS = frozenset({"flooding", "landslide", "blocked_road"})
#: A report describes a place someone saw; an area wider than this is a hazard forecast,
#: which HQ issues as an alert, not an observation that should close every road in it.
MAX_AREA_KM2 = 50.0
_M_PER_DEG = 111_320.0


class Reporter(_Record):
    """Who reported: a staff member or a resident (an id, never required to be a name)."""

    role: Literal["staff", "resident"]
    id: str | None = Field(default=None, max_length=200)


class IncidentReport(_Record):
    """One report of something that happened somewhere, as posted and as on ``incident.raw``.

    ``report_id`` may be chosen by the client so a retried POST is stored once.
    """

    action: Literal["report"] = "report"
    report_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    kind: IncidentKind
    severity: Severity = "medium"
    location: GeoPoint | None = None
    line: list[GeoPoint] | None = Field(default=None, min_length=2, max_length=500)
    area: PolygonArea | None = None
    description: str = Field(default="", max_length=2000)
    reporter: Reporter
    reported_at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))

    @model_validator(mode="after")
    def _has_a_place(self) -> IncidentReport:
        if self.location is None and self.line is None and self.area is None:
            msg = "a report needs a location (a point), a line (for a road) or an area"
            raise ValueError(msg)
        if self.area is not None and (km2 := area_km2(self.area)) > MAX_AREA_KM2:
            msg = f"area is {km2:.0f} km², more than the {MAX_AREA_KM2:.0f} km² a report may cover"
            raise ValueError(msg)
        return self

    @property
    def position(self) -> GeoPoint:
        """Return the point that stands for the report: the location, else the line's middle,
        else a point inside the area."""
        if self.location is not None:
            return self.location
        if self.line is not None:
            return self.line[len(self.line) // 2]
        assert self.area is not None
        inside = self.area.to_shape().representative_point()
        return GeoPoint(lat=inside.y, lon=inside.x)


def area_km2(area: PolygonArea) -> float:
    """Return a polygon's area in km², on a local equirectangular scale (ample for a bound)."""
    shape = area.to_shape()
    scale = _M_PER_DEG**2 * math.cos(math.radians(shape.centroid.y))
    return shapely.area(shape) * scale / 1e6


class IncidentResolution(_Record):
    """HQ closes an incident (and reopens the roads it closed)."""

    action: Literal["resolve"] = "resolve"
    incident_id: uuid.UUID
    resolved_by: Reporter
    resolved_at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))


IncidentMessage = Annotated[IncidentReport | IncidentResolution, Field(discriminator="action")]


def incident_message_adapter() -> TypeAdapter[IncidentMessage]:
    """Return the validator for ``incident.raw`` values."""
    return _ADAPTER


_ADAPTER: TypeAdapter[IncidentMessage] = TypeAdapter(IncidentMessage)


class OpenIncident(_Record):
    """What the merge rule needs to know of an open incident."""

    id: uuid.UUID
    kind: IncidentKind
    position: GeoPoint
    last_reported_at: AwareDatetime


def merge_target(report: IncidentReport, candidates: list[OpenIncident]) -> OpenIncident | None:
    """Return the open incident this report is about, the nearest if several, or None.

    An incident is the same one when it lies within :data:`MERGE_RADIUS_M` of the report, or
    inside the report's area (two people outlining one flood do not outline the same polygon).
    """
    area = None if report.area is None else report.area.to_shape()
    near = [
        (distance_m(report.position, c.position), c)
        for c in candidates
        if c.kind == report.kind and abs(report.reported_at - c.last_reported_at) <= MERGE_WINDOW
    ]
    near = [
        (d, c)
        for d, c in near
        if d <= MERGE_RADIUS_M
        or (area is not None and shapely.intersects_xy(area, c.position.lon, c.position.lat))
    ]
    return min(near, key=lambda dc: dc[0])[1] if near else None


def merge_search_box(report: IncidentReport) -> tuple[float, float, float, float]:
    """Return the (min lon, min lat, max lon, max lat) box holding every incident the report
    could merge with: around its position, and over its area."""
    lon0, lat0, lon1, lat1 = degrees_box(report.position, MERGE_RADIUS_M)
    if report.area is None:
        return lon0, lat0, lon1, lat1
    a0, b0, a1, b1 = report.area.to_shape().bounds
    return min(lon0, a0), min(lat0, b0), max(lon1, a1), max(lat1, b1)
