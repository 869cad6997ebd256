"""Malformed readings land on ``river.dlq`` with their reason; the readings after them go on."""

from __future__ import annotations

import json

from aiokafka import AIOKafkaProducer

from disaster import store, topics
from disaster.services import Running
from tests.support import make_station, records_with_key, square, wait_for_readings

BAD = {
    b"{oops": "not JSON",
    b'{"station_id": "nowhere-1", "level_m": 1.0, "observed_at": "2026-06-03T01:00:00Z"}':
        "unknown station 'nowhere-1'",
    b'{"station_id": "@", "level_m": -2.5, "observed_at": "2026-06-03T01:00:00Z"}':
        "outside the gauge range",
    b'{"station_id": "@", "level_m": 1e9, "observed_at": "2026-06-03T01:00:00Z"}':
        "outside the gauge range",
    b'{"station_id": "@", "level_m": 1.0}': "observed_at: Field required",
}  # fmt: skip


async def test_bad_readings_go_to_the_dlq_with_reasons_and_do_not_block_good_ones(
    running: Running, producer: AIOKafkaProducer, bootstrap: str
) -> None:
    station = make_station(square(141.0, 37.0))
    async with running.pool.acquire() as conn:
        await store.upsert_station(conn, station)
    key = station.id.encode()  # one key: the same partition, so order is kept
    for raw in BAD:
        await producer.send_and_wait(topics.RIVER_RAW, raw.replace(b"@", key), key=key)
    good = {"station_id": station.id, "level_m": 1.5, "observed_at": "2026-06-03T02:00:00Z"}
    await producer.send_and_wait(topics.RIVER_RAW, json.dumps(good).encode(), key=key)

    await wait_for_readings(running.pool, station.id, 1)
    dead = await records_with_key(bootstrap, topics.RIVER_DLQ, key, len(BAD))
    for letter, reason in zip(dead, BAD.values(), strict=True):
        assert reason in letter["reason"]
        assert letter["topic"] == topics.RIVER_RAW
    assert [d["value"] for d in dead] == [raw.replace(b"@", key).decode() for raw in BAD]
    async with running.pool.acquire() as conn:
        kept = await conn.fetchval(
            "SELECT count(*) FROM rejected_inputs WHERE record_key = $1", key
        )
    assert kept == len(BAD)
