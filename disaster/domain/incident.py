"""Incident reports from staff and residents, and the rule that merges reports of one thing.

Several people reporting the same fire must not become five fires on HQ's map: a report joins
an open incident of the same kind close by and recent, and raises its count.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, TypeAdapter, model_validator

from disaster.domain.geo import distance_m
from disaster.domain.models import GeoPoint, _Record

__all__ = [
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
    description: str = Field(default="", max_length=2000)
    reporter: Reporter
    reported_at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))

    @model_validator(mode="after")
    def _has_a_place(self) -> IncidentReport:
        if self.location is None and self.line is None:
            msg = "a report needs a location (a point) or a line (for a road)"
            raise ValueError(msg)
        return self

    @property
    def position(self) -> GeoPoint:
        """Return the point that stands for the report: the location, else the line's middle."""
        if self.location is not None:
            return self.location
        assert self.line is not None
        return self.line[len(self.line) // 2]


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
    """Return the open incident this report is about, the nearest if several, or None."""
    near = [
        (distance_m(report.position, c.position), c)
        for c in candidates
        if c.kind == report.kind and abs(report.reported_at - c.last_reported_at) <= MERGE_WINDOW
    ]
    near = [(d, c) for d, c in near if d <= MERGE_RADIUS_M]
    return min(near, key=lambda dc: dc[0])[1] if near else None
