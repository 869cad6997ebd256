"""Per-stream metrics, read back from ``/metrics`` after real traffic."""

from __future__ import annotations

import uuid

import aiohttp
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from disaster import store, topics
from disaster.services import Running
from tests.support import make_station, square, wait_until


async def _samples(http: aiohttp.ClientSession) -> dict[tuple[str, str], float]:
    async with http.get("/metrics") as resp:
        text = await resp.text()
    return {
        (s.name, s.labels.get("topic", "")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_consumed_stored_rejected_latency_and_lag_per_stream(
    running: Running, http: aiohttp.ClientSession, producer: AIOKafkaProducer
) -> None:
    before = await _samples(http)
    station = make_station(square(147.0 + uuid.uuid4().int % 100 / 100, 31.0))
    async with running.pool.acquire() as conn:
        await store.upsert_station(conn, station)
    good = (
        f'{{"station_id": "{station.id}", "level_m": 1.0, "observed_at": "2026-06-03T00:00:00Z"}}'
    )
    await producer.send_and_wait(topics.RIVER_RAW, good.encode(), key=station.id.encode())
    await producer.send_and_wait(topics.RIVER_RAW, b"not json", key=station.id.encode())

    def grew(after: dict, name: str, by: float) -> bool:
        key = (name, topics.RIVER_RAW)
        return after.get(key, 0.0) - before.get(key, 0.0) >= by

    async def counted() -> dict | None:
        after = await _samples(http)
        names = (
            "disaster_records_consumed_total",
            "disaster_records_stored_total",
            "disaster_records_rejected_total",
            "disaster_record_latency_seconds_count",
        )
        need = (2, 1, 1, 1)  # fmt: skip
        lag_known = ("disaster_consumer_lag_records", topics.RIVER_RAW) in after
        grown = all(grew(after, n, b) for n, b in zip(names, need, strict=True))
        return after if grown and lag_known else None

    after = await wait_until(counted)
    assert after[("disaster_consumer_lag_records", topics.RIVER_RAW)] >= 0
