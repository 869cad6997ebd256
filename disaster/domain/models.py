"""Pydantic records exchanged between the packages, on Kafka and over HTTP.

Geometry follows GeoJSON (longitude first) everywhere inside the system; CAP's latitude-first
order is a matter for the CAP writer alone.
"""

from __future__ import annotations

import itertools
import math
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import shapely
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from disaster.domain.levels import AlertLevel

__all__ = [
    "MAX_ALERT_AREA_KM2",
    "TARGET_PROFILES",
    "Alert",
    "AlertArea",
    "Circle",
    "GeoPoint",
    "PolygonArea",
    "RiverReading",
    "Station",
    "TargetProfile",
    "Thresholds",
]

#: ja-easy: やさしい日本語, short sentences with readings, for residents still learning Japanese.
Language = Literal["ja", "ja-easy", "en"]
#: The most an alert drawn by hand may cover: more than any prefecture (Hokkaido is 83,424 km²),
#: so a larger area is a slip of the hand or an attack, and would reach the whole country.
MAX_ALERT_AREA_KM2 = 100_000.0
_M_PER_DEG = 111_320.0
#: The routing profiles residents get from their needs (``resident.profile_for``); an alert may be
#: limited to some of them, e.g. a level 3 (高齢者等避難) to those who need time to evacuate.
TargetProfile = Literal["walk", "slow_walk", "wheelchair"]
TARGET_PROFILES: tuple[TargetProfile, ...] = ("walk", "slow_walk", "wheelchair")
StationId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:-]+$")]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GeoPoint(_Record):
    """A WGS84 position in degrees."""

    lat: float = Field(ge=-90.0, le=90.0, allow_inf_nan=False)
    lon: float = Field(ge=-180.0, le=180.0, allow_inf_nan=False)


class PolygonArea(_Record):
    """A GeoJSON Polygon (lon, lat rings), checked to be closed and valid.

    Invalid rings (self-intersecting, open) would make targeting silently wrong, so they are
    refused at the door rather than repaired.
    """

    type: Literal["Polygon"] = "Polygon"
    coordinates: list[list[tuple[float, float]]] = Field(min_length=1)

    @field_validator("coordinates")
    @classmethod
    def _check_rings(
        cls, rings: list[list[tuple[float, float]]]
    ) -> list[list[tuple[float, float]]]:
        for ring in rings:
            if len(ring) < 4 or ring[0] != ring[-1]:
                msg = "each polygon ring needs at least 4 positions, the first equal to the last"
                raise ValueError(msg)
            for lon, lat in ring:
                if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                    msg = f"position ({lon}, {lat}) is not lon, lat in degrees"
                    raise ValueError(msg)
        polygon = shapely.Polygon(rings[0], rings[1:])
        if not polygon.is_valid:
            msg = f"polygon is not valid: {shapely.is_valid_reason(polygon)}"
            raise ValueError(msg)
        return rings

    def to_shape(self) -> shapely.Polygon:
        """Return the area as a shapely polygon for geometric tests."""
        return shapely.Polygon(self.coordinates[0], self.coordinates[1:])

    def area_km2(self) -> float:
        """Return the area in km², on a local equirectangular scale (ample for a bound)."""
        shape = self.to_shape()
        scale = _M_PER_DEG**2 * math.cos(math.radians(shape.centroid.y))
        return float(shapely.area(shape)) * scale / 1e6


def _alert_sized(area: PolygonArea) -> PolygonArea:
    if (km2 := area.area_km2()) > MAX_ALERT_AREA_KM2:
        msg = f"area is {km2:,.0f} km², more than the {MAX_ALERT_AREA_KM2:,.0f} km² an alert covers"
        raise ValueError(msg)
    return area


#: An area HQ draws an alert over: no larger than :data:`MAX_ALERT_AREA_KM2`.
AlertArea = Annotated[PolygonArea, AfterValidator(_alert_sized)]


def _canonical_profiles(profiles: list[TargetProfile]) -> list[TargetProfile]:
    """Return the profiles once each, in :data:`TARGET_PROFILES` order; all of them is none."""
    kept = [p for p in TARGET_PROFILES if p in profiles]
    return [] if len(kept) == len(TARGET_PROFILES) else kept


class Thresholds(_Record):
    """A gauge's four standard water levels in metres, on the gauge's own datum."""

    standby_m: float = Field(allow_inf_nan=False, description="水防団待機水位")
    caution_m: float = Field(allow_inf_nan=False, description="氾濫注意水位")
    evacuation_m: float = Field(allow_inf_nan=False, description="避難判断水位")
    danger_m: float = Field(allow_inf_nan=False, description="氾濫危険水位")

    @model_validator(mode="after")
    def _check_rising(self) -> Thresholds:
        levels = self.as_tuple()
        if any(low >= high for low, high in itertools.pairwise(levels)):
            msg = "thresholds must rise: 水防団待機 < 氾濫注意 < 避難判断 < 氾濫危険"
            raise ValueError(msg)
        return self

    def as_tuple(self) -> tuple[float, float, float, float]:
        """Return the levels in rising order (stage 1 to 4)."""
        return (self.standby_m, self.caution_m, self.evacuation_m, self.danger_m)


class Station(_Record):
    """A river gauge with its thresholds and the area its alerts cover.

    ``gauge_min_m``/``gauge_max_m`` bound what the instrument can physically report. Real gauges
    read below zero (tidal reaches) or hundreds of metres (elevation datums), so plausibility is
    a property of the station, not a global rule.
    """

    id: StationId
    name: str = Field(min_length=1, max_length=200)
    thresholds: Thresholds
    gauge_min_m: float = Field(default=0.0, allow_inf_nan=False)
    gauge_max_m: float = Field(allow_inf_nan=False)
    area_name: str = Field(min_length=1, max_length=200)
    area: PolygonArea
    location: GeoPoint | None = Field(default=None, description="where the gauge stands")
    projection_horizon_min: float = Field(
        default=60.0, ge=0.0, le=1440.0,
        description="warn when 避難判断/氾濫危険水位 is projected within this many minutes (0 off)",
    )  # fmt: skip

    @model_validator(mode="after")
    def _check_range(self) -> Station:
        if (
            not self.gauge_min_m
            < self.thresholds.standby_m
            < self.thresholds.danger_m
            < self.gauge_max_m
        ):
            msg = "gauge_min_m and gauge_max_m must enclose the four thresholds"
            raise ValueError(msg)
        return self


class RiverReading(_Record):
    """One gauge observation as produced to ``river.raw``."""

    station_id: StationId
    level_m: float
    observed_at: AwareDatetime

    @field_validator("level_m")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            msg = "level_m must be a finite number of metres"
            raise ValueError(msg)
        return value


Hazard = Literal["flood", "landslide", "earthquake", "tsunami", "fire", "storm_surge", "other"]


class Circle(_Record):
    """A CAP circle: everyone within ``radius_m`` of the centre (exact distance, no polygon)."""

    center: GeoPoint
    radius_m: float = Field(gt=0, le=100_000, allow_inf_nan=False)


class Alert(_Record):
    """An issued alert: what residents inside ``area`` are told, at which 警戒レベル."""

    id: uuid.UUID
    hazard_event_id: uuid.UUID | None = None
    level: AlertLevel
    hazard: Hazard
    status: Literal["draft", "approved", "issued", "superseded", "cancelled"] = "issued"
    area_name: str
    area: PolygonArea
    circles: list[Circle] = Field(default_factory=list, max_length=100)
    area_codes: list[Annotated[str, Field(pattern=r"^[0-9]{5,6}$")]] = Field(
        default_factory=list, max_length=200, description="JIS X 0402 municipality codes"
    )
    headline: dict[Language, str]
    issued_at: datetime
    exercise: bool = False
    incident_id: uuid.UUID | None = None
    series_id: uuid.UUID | None = Field(
        default=None, description="the same for every version of one alert; the first's id"
    )
    version: int = Field(default=1, ge=1)
    msg_type: Literal["Alert", "Update", "Cancel"] = "Alert"
    created_by: str = Field(default="system", max_length=100)
    profiles: Annotated[list[TargetProfile], AfterValidator(_canonical_profiles)] = Field(
        default_factory=list,
        max_length=len(TARGET_PROFILES),
        description="only residents of these routing profiles (from their needs); empty: everyone",
    )

    @property
    def series(self) -> uuid.UUID:
        """Return the id shared by every version (a phone's notification tag)."""
        return self.series_id or self.id

    def to_json_dict(self) -> dict[str, Any]:
        """Return the JSON form used on the ``alerts`` topic, the API and the event stream."""
        return self.model_dump(mode="json")
