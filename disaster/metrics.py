"""Prometheus metrics shared by every role, served at ``/metrics``."""

from prometheus_client import Counter

__all__ = ["RECORDS_HANDLED", "RECORDS_REJECTED"]

RECORDS_HANDLED = Counter(
    "disaster_records_handled_total", "Kafka records handled, by topic", ["topic"]
)
RECORDS_REJECTED = Counter(
    "disaster_records_rejected_total", "Kafka records sent to a DLQ, by topic", ["topic"]
)
