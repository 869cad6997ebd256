"""Kafka topic names and their partition counts: the contract between the packages."""

from __future__ import annotations

__all__ = ["ALERTS", "DELIVERIES", "HAZARD_EVENTS", "PARTITIONS", "RIVER_DLQ", "RIVER_RAW"]

RIVER_RAW = "river.raw"  # key: station id
RIVER_DLQ = "river.dlq"
HAZARD_EVENTS = "hazard.events"  # key: area
ALERTS = "alerts"  # key: alert id
DELIVERIES = "deliveries"  # key: subscriber id

#: Partitions per topic: keyed topics get several so a consumer group can share the work.
PARTITIONS: dict[str, int] = {
    RIVER_RAW: 3,
    RIVER_DLQ: 1,
    HAZARD_EVENTS: 3,
    ALERTS: 3,
    DELIVERIES: 3,
}
