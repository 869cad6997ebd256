"""``drill record`` captures what is produced on the raw topics, as a replayable scenario."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from aiokafka import AIOKafkaProducer

from disaster import topics
from disaster._kafka import encode_json
from disaster.drill.record import record_scenario
from disaster.drill.scenario import load_scenario


async def test_record_captures_what_was_produced(
    bootstrap: str, producer: AIOKafkaProducer, tmp_path: Path
) -> None:
    out = tmp_path / "rec.jsonl"
    recording = asyncio.create_task(record_scenario(bootstrap, out, 3.0, "rec"))
    await asyncio.sleep(1.0)  # the recorder takes the topics' current ends first
    station = f"rec-{uuid.uuid4().hex[:8]}"
    body = {"station_id": station, "level_m": 1.5, "observed_at": "2024-06-01T00:00:00+09:00"}
    await producer.send_and_wait(topics.RIVER_RAW, encode_json(body), key=station.encode())
    xml = "<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'/>"
    await producer.send_and_wait(topics.WEATHER_RAW, xml.encode(), key=station.encode())
    await recording
    mine = [e for e in load_scenario(out).events if e.key == station]
    assert [(e.topic, e.payload) for e in mine] == [
        (topics.RIVER_RAW, body),
        (topics.WEATHER_RAW, xml),
    ]
