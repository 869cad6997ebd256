"""Hazard events: what the ingestors observed, in one discriminated union.

Every stream reduces its input to one of these records on ``hazard.events`` (keyed by area);
the rules decide which become alerts, and HQ's picture shows them all.
"""

from __future__ import annotations

import uuid
from functools import cache
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, TypeAdapter

from disaster.domain.levels import AlertLevel, RiverStage
from disaster.domain.models import GeoPoint, PolygonArea, StationId, _Record

__all__ = [
    "FloodExtentEvent",
    "HazardEvent",
    "IncidentEvent",
    "RiverStageEvent",
    "SensorEvent",
    "WeatherEvent",
    "hazard_event_adapter",
]


class _Event(_Record):
    id: uuid.UUID
    observed_at: AwareDatetime
    area_name: str
    area: PolygonArea | None = None
    location: GeoPoint | None = None
    area_codes: list[str] = Field(default_factory=list)
    alert_level: AlertLevel | None = Field(
        default=None, description="the level the source implies; the rules decide"
    )
    exercise_run: str | None = Field(
        default=None,
        max_length=100,
        description="the drill run whose replayed input caused this event; None when real",
    )


class RiverStageEvent(_Event):
    """A gauge reached (or is projected to reach) a higher stage."""

    kind: Literal["river.stage"] = "river.stage"
    station_id: StationId
    station_name: str
    level_m: float
    stage: RiverStage
    previous_stage: RiverStage
    projected_minutes: float | None = Field(
        default=None, description="None when observed; else minutes until `stage` is expected"
    )


class WeatherEvent(_Event):
    """A real (not 訓練/試験) JMA or CAP report became the latest of its series."""

    kind: Literal["weather.report"] = "weather.report"
    report_id: str
    series: str
    title: str
    info_type: str
    headline: str = ""


class SensorEvent(_Event):
    """A sensor crossed its kind's threshold, or fell silent past its expected interval."""

    kind: Literal["sensor.threshold", "sensor.silent"]
    sensor_id: StationId
    sensor_kind: str
    severity: Literal["warning", "danger", "silent"]
    value: float | None = None
    threshold: float | None = None


class IncidentEvent(_Event):
    """An incident was reported, confirmed by more reports, or resolved."""

    kind: Literal["incident"] = "incident"
    incident_id: uuid.UUID
    incident_kind: str
    severity: str
    status: Literal["open", "resolved"]
    report_count: int = Field(ge=1)


class FloodExtentEvent(_Event):
    """A flood-extent polygon set became active (new, or a newer version from its source) or
    was withdrawn. ``area`` is the set's bounding box; the polygons are at
    ``/api/v1/flood-extents``. HQ's picture shows it; no alert follows by itself."""

    kind: Literal["flood.extent"] = "flood.extent"
    extent_id: uuid.UUID
    source: str
    version: int = Field(ge=1)
    status: Literal["active", "withdrawn"]
    exercise: bool = False
    max_depth_m: float
    max_rank: int = Field(ge=1, le=6)
    feature_count: int = Field(ge=1)
    buildings_covered: int = Field(
        ge=0, description="buildings in its box now under an active real (non-exercise) extent"
    )


HazardEvent = Annotated[
    RiverStageEvent | WeatherEvent | SensorEvent | IncidentEvent | FloodExtentEvent,
    Field(discriminator="kind"),
]


@cache
def hazard_event_adapter() -> TypeAdapter[HazardEvent]:
    """Return the validator for any hazard event (built once)."""
    return TypeAdapter(HazardEvent)
