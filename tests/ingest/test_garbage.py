"""Hypothesis-generated garbage on every raw topic: each record reaches the DLQ with a reason,
no consumer stops, and a good record sent after it is still processed."""

from __future__ import annotations

import json
import uuid

import asyncpg
from aiokafka import AIOKafkaProducer
from hypothesis import given, settings
from hypothesis import strategies as st

from disaster import store, topics
from disaster.services import Running
from tests.support import make_station, square, wait_for_readings, wait_until

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=4),
    max_leaves=10,
)  # fmt: skip
_GARBAGE = (
    st.binary(max_size=300)
    | _JSON.map(lambda v: json.dumps(v).encode())
    | st.text(max_size=200).map(lambda t: f"<alert>{t}</alert>".encode())
)


def _garbage(count: int) -> list[bytes]:
    """Draw ``count`` garbage records with hypothesis (deterministically, for a stable test)."""
    found: list[bytes] = []

    @settings(max_examples=count, database=None, derandomize=True)
    @given(_GARBAGE)
    def collect(raw: bytes) -> None:
        found.append(raw)

    collect()
    return found[:count]


async def _rejected(pool: asyncpg.Pool, key: bytes) -> int:
    async with pool.acquire() as conn:
        return int(
            await conn.fetchval("SELECT count(*) FROM rejected_inputs WHERE record_key = $1", key)
        )


async def test_garbage_on_every_stream_is_dead_lettered_and_the_streams_go_on(
    running: Running, producer: AIOKafkaProducer
) -> None:
    garbage = _garbage(40)
    station = make_station(square(148.0 + uuid.uuid4().int % 100 / 100, 32.0))
    async with running.pool.acquire() as conn:
        await store.upsert_station(conn, station)
    streams = (topics.RIVER_RAW, topics.WEATHER_RAW, topics.SENSOR_RAW, topics.INCIDENT_RAW)
    keys = {topic: f"{topic}-{uuid.uuid4().hex}".encode() for topic in streams}
    keys[topics.RIVER_RAW] = station.id.encode()  # the good reading must share the partition
    for topic in streams:
        for raw in garbage:
            await producer.send(topic, raw, key=keys[topic])
    good = {"station_id": station.id, "level_m": 1.5, "observed_at": "2026-06-03T02:00:00Z"}
    await producer.send_and_wait(
        topics.RIVER_RAW, json.dumps(good).encode(), key=keys[topics.RIVER_RAW]
    )

    for topic in streams:

        async def all_rejected(key: bytes = keys[topic]) -> bool:
            return await _rejected(running.pool, key) == len(garbage)

        await wait_until(all_rejected, timeout_s=90)

    await wait_for_readings(running.pool, station.id, 1)
