"""Normalised sensor readings: rain, water depth, seismic intensity, tilt, water level.

Whatever the wire format (a plain JSON reading, an NGSI-LD or NGSI v2 entity, an MQTT message),
a sensor observation becomes one :class:`SensorReading` per measured quantity.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import AwareDatetime, Field, field_validator

from disaster.domain.models import GeoPoint, StationId, _Record

__all__ = ["SENSOR_UNITS", "SensorKind", "SensorReading"]

SensorKind = Literal[
    "rain_rate",  # mm/h
    "rain_accumulated",  # mm since the start of the event
    "water_depth",  # m of water over a road, underpass or low ground
    "water_level",  # m on the gauge's datum (river or pond level from a sensor platform)
    "seismic_intensity",  # JMA instrumental intensity (計測震度), 0.0 to 7.0
    "tilt",  # degrees of slope or structure tilt from the installed position
]

#: The one unit each kind is stored in; parsers convert to it.
SENSOR_UNITS: dict[str, str] = {
    "rain_rate": "mm/h",
    "rain_accumulated": "mm",
    "water_depth": "m",
    "water_level": "m",
    "seismic_intensity": "JMA",
    "tilt": "deg",
}


class SensorReading(_Record):
    """One measured quantity of one sensor at one time."""

    sensor_id: StationId
    kind: SensorKind
    value: float
    observed_at: AwareDatetime
    location: GeoPoint | None = None
    source: str = Field(default="json", description="json, ngsi-ld, ngsi-v2 or mqtt")

    @field_validator("value")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            msg = "value must be a finite number"
            raise ValueError(msg)
        return value

    @property
    def unit(self) -> str:
        """Return the unit ``value`` is in."""
        return SENSOR_UNITS[self.kind]
