"""Kafka topic names and their partition counts: the contract between the packages."""

from __future__ import annotations

__all__ = [
    "ALERTS",
    "COMPACTED",
    "DELIVERIES",
    "HAZARD_EVENTS",
    "INCIDENT_DLQ",
    "INCIDENT_RAW",
    "PARTITIONS",
    "RIVER_DLQ",
    "RIVER_RAW",
    "ROAD_CLOSURES",
    "SENSOR_DLQ",
    "SENSOR_RAW",
    "WEATHER_DLQ",
    "WEATHER_RAW",
]

RIVER_RAW = "river.raw"  # key: station id
RIVER_DLQ = "river.dlq"
WEATHER_RAW = "weather.raw"  # key: source (office or sender)
WEATHER_DLQ = "weather.dlq"
SENSOR_RAW = "sensor.raw"  # key: sensor id
SENSOR_DLQ = "sensor.dlq"
INCIDENT_RAW = "incident.raw"  # key: report id
INCIDENT_DLQ = "incident.dlq"
ROAD_CLOSURES = "road.closures"  # key: closure id; compacted
HAZARD_EVENTS = "hazard.events"  # key: area
ALERTS = "alerts"  # key: alert id
DELIVERIES = "deliveries"  # key: subscriber id

#: Partitions per topic: keyed topics get several so a consumer group can share the work.
PARTITIONS: dict[str, int] = {
    RIVER_RAW: 3,
    RIVER_DLQ: 1,
    WEATHER_RAW: 3,
    WEATHER_DLQ: 1,
    SENSOR_RAW: 3,
    SENSOR_DLQ: 1,
    INCIDENT_RAW: 3,
    INCIDENT_DLQ: 1,
    ROAD_CLOSURES: 3,
    HAZARD_EVENTS: 3,
    ALERTS: 3,
    DELIVERIES: 3,
}

#: Topics that keep only the latest record per key.
COMPACTED = frozenset({ROAD_CLOSURES})
