"""The domain model: pydantic records and pure rules, free of any I/O library."""

from disaster.domain.errors import InvalidInputError, NotFoundError, SettingsError
from disaster.domain.events import (
    HazardEvent,
    IncidentEvent,
    RiverStageEvent,
    SensorEvent,
    WeatherEvent,
    hazard_event_adapter,
)
from disaster.domain.levels import AlertLevel, RiverStage, alert_level_for_stage
from disaster.domain.models import (
    Alert,
    Circle,
    GeoPoint,
    PolygonArea,
    RiverReading,
    Station,
    Thresholds,
)
from disaster.domain.resident import Subscriber, SubscriberIn

__all__ = [
    "Alert",
    "AlertLevel",
    "Circle",
    "GeoPoint",
    "HazardEvent",
    "IncidentEvent",
    "InvalidInputError",
    "NotFoundError",
    "PolygonArea",
    "RiverReading",
    "RiverStage",
    "RiverStageEvent",
    "SensorEvent",
    "SettingsError",
    "Station",
    "Subscriber",
    "SubscriberIn",
    "Thresholds",
    "WeatherEvent",
    "alert_level_for_stage",
    "hazard_event_adapter",
]
