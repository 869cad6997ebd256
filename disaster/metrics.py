"""Prometheus metrics shared by every role, served at ``/metrics``."""

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "CONSUMER_LAG",
    "RECORDS_CONSUMED",
    "RECORDS_REJECTED",
    "RECORDS_STORED",
    "RECORD_LATENCY",
]

RECORDS_CONSUMED = Counter(
    "disaster_records_consumed_total", "Kafka records read, by topic", ["topic"]
)
RECORDS_STORED = Counter(
    "disaster_records_stored_total", "Kafka records whose effect is stored, by topic", ["topic"]
)
RECORDS_REJECTED = Counter(
    "disaster_records_rejected_total", "Kafka records sent to a DLQ, by topic", ["topic"]
)
CONSUMER_LAG = Gauge(
    "disaster_consumer_lag_records", "Records not yet read on the assigned partitions", ["topic"]
)
RECORD_LATENCY = Histogram(
    "disaster_record_latency_seconds",
    "From produce (the record's timestamp) to its effect stored, by topic",
    ["topic"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
