"""The domain model: pydantic records and pure rules, free of any I/O library."""

from disaster.domain.errors import InvalidInputError, NotFoundError, SettingsError
from disaster.domain.levels import AlertLevel, RiverStage, alert_level_for_stage
from disaster.domain.models import (
    Alert,
    GeoPoint,
    HazardEvent,
    PolygonArea,
    RiverReading,
    Station,
    Subscriber,
    SubscriberIn,
    Thresholds,
)

__all__ = [
    "Alert",
    "AlertLevel",
    "GeoPoint",
    "HazardEvent",
    "InvalidInputError",
    "NotFoundError",
    "PolygonArea",
    "RiverReading",
    "RiverStage",
    "SettingsError",
    "Station",
    "Subscriber",
    "SubscriberIn",
    "Thresholds",
    "alert_level_for_stage",
]
