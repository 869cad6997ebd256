"""``disaster drill record``: what passes on the raw topics, written as a scenario.

Records are read from the end of each raw topic for the given duration; each becomes one event
line with its offset from the first record (Kafka timestamps), its key and its value as the
source sent it (JSON parsed, XML kept as text). The header names a generated town by default;
edit it to describe the real starting state and the outcomes expected.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from disaster import topics
from disaster.drill.scenario import CitySpec, Scenario, ScenarioEvent, ScenarioHeader, dump_scenario

__all__ = ["RECORDED_TOPICS", "record_scenario", "scenario_from_records"]

RECORDED_TOPICS = (topics.RIVER_RAW, topics.WEATHER_RAW, topics.SENSOR_RAW, topics.INCIDENT_RAW)


def _payload(value: bytes | None) -> Any:
    text = (value or b"").decode(errors="replace")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def scenario_from_records(records: list[ConsumerRecord], name: str) -> Scenario:
    """Return the scenario of consumed records, in timestamp order. Pure."""
    ordered = sorted(records, key=lambda r: (r.timestamp, r.topic, r.partition, r.offset))
    t0 = ordered[0].timestamp if ordered else int(time.time() * 1000)
    events = [
        ScenarioEvent(
            offset_s=(r.timestamp - t0) / 1000,
            topic=r.topic,
            key=None if r.key is None else r.key.decode(errors="replace"),
            payload=_payload(r.value),
        )
        for r in ordered
    ]
    header = ScenarioHeader(name=name, title="recorded", city=CitySpec(kind="generated"),
                            start=datetime.fromtimestamp(t0 / 1000, UTC))  # fmt: skip
    return Scenario(header=header, events=events)


async def record_scenario(bootstrap: str, out: Path, duration_s: float, name: str) -> int:
    """Record the raw topics for ``duration_s`` seconds into ``out``; return the event count."""
    consumer = AIOKafkaConsumer(*RECORDED_TOPICS, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="latest")  # fmt: skip
    got: list[ConsumerRecord] = []
    await consumer.start()
    try:
        await consumer.getmany(timeout_ms=100)  # take the partitions at their current end
        deadline = time.monotonic() + duration_s
        while (left := deadline - time.monotonic()) > 0:
            batches = await consumer.getmany(timeout_ms=int(min(left, 0.5) * 1000))
            got += [r for rs in batches.values() for r in rs]
    finally:
        await consumer.stop()
    dump_scenario(scenario_from_records(got, name), out)
    return len(got)
