"""Sensors on the real broker, Postgres and Mosquitto: NGSI, thresholds, closures, silence."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg
import paho.mqtt.client as mqtt
from aiokafka import AIOKafkaProducer

from disaster import topics
from disaster.services import Running
from disaster.settings import Settings, parse_mqtt_url
from tests.support import records_with_key, wait_until

FIWARE = Path(__file__).resolve().parents[3] / "shared" / "data" / "fiware"
T0 = datetime(2026, 6, 3, 1, 0, tzinfo=UTC)


def _reading(sensor_id: str, kind: str, value: float, minute: int, lon: float = 139.7) -> bytes:
    at = (T0 + timedelta(minutes=minute)).isoformat()
    return json.dumps({"sensor_id": sensor_id, "kind": kind, "value": value, "observed_at": at,
                       "location": {"lat": 35.66, "lon": lon}}).encode()  # fmt: skip


async def _count(pool: asyncpg.Pool, sql: str, *args: object) -> int:
    async with pool.acquire() as conn:
        return int(await conn.fetchval(sql, *args))


async def test_an_ngsi_ld_entity_is_stored_as_a_reading(
    running: Running, producer: AIOKafkaProducer
) -> None:
    entity = json.loads((FIWARE / "WaterObserved" / "example.jsonld").read_text())
    entity["id"] = f"urn:ngsi-ld:WaterObserved:{uuid.uuid4().hex}"
    await producer.send_and_wait(topics.SENSOR_RAW, json.dumps(entity).encode(), key=b"ngsi")

    async def stored() -> asyncpg.Record | None:
        async with running.pool.acquire() as conn:
            return await conn.fetchrow(
                "SELECT kind, value, source FROM sensor_readings WHERE sensor_id = $1",
                entity["id"],
            )

    row = await wait_until(stored)
    assert (row["kind"], row["value"], row["source"]) == ("water_level", 3.52, "ngsi-ld")


async def test_deep_water_closes_the_road_once_and_reopens_it_below_warning(
    running: Running, producer: AIOKafkaProducer, bootstrap: str
) -> None:
    sensor = f"underpass-{uuid.uuid4().hex[:8]}"
    depths = [0.05, 0.35, 0.40, 0.20, 0.05]  # danger at 0.35; still over warning at 0.20
    for minute, depth in enumerate(depths):
        raw = _reading(sensor, "water_depth", depth, minute)
        await producer.send_and_wait(topics.SENSOR_RAW, raw, key=sensor.encode())
    states = await records_with_key(bootstrap, topics.ROAD_CLOSURES, f"sensor:{sensor}".encode(), 2)
    assert [s["active"] for s in states[:2]] == [True, False]
    assert states[1]["changed_at"] == (T0 + timedelta(minutes=4)).isoformat().replace("+00:00", "Z")
    severities = await _count(
        running.pool,
        "SELECT count(*) FROM hazard_events WHERE source_id = $1 AND kind = 'sensor.threshold'",
        sensor,
    )
    assert severities == 1  # none -> danger once; 0.40 and 0.20 announce nothing new


async def test_a_sensor_that_misses_its_interval_is_reported_silent(
    running: Running, http: aiohttp.ClientSession, producer: AIOKafkaProducer
) -> None:
    sensor = f"rain-{uuid.uuid4().hex[:8]}"
    async with http.put(f"/api/v1/sensors/{sensor}", json={"expected_interval_s": 1}) as resp:
        assert resp.status == 201
    await producer.send_and_wait(
        topics.SENSOR_RAW, _reading(sensor, "rain_rate", 12.0, 0), key=sensor.encode()
    )
    sql = "SELECT count(*) FROM hazard_events WHERE source_id = $1 AND kind = 'sensor.silent'"
    await wait_until(lambda: _count(running.pool, sql, sensor), timeout_s=30)
    assert await _count(running.pool, sql, sensor) == 1


async def test_mqtt_messages_are_bridged_into_the_sensor_stream(
    running: Running, settings: Settings
) -> None:
    target = parse_mqtt_url(settings.mqtt_url or "")
    sensor = f"tilt-{uuid.uuid4().hex[:8]}"
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect(target.host, target.port)
    client.loop_start()
    try:
        topic = target.topic_filter.replace("#", sensor)
        client.publish(topic, _reading(sensor, "tilt", 0.4, 0), qos=1).wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()
    sql = "SELECT count(*) FROM sensor_readings WHERE sensor_id = $1"
    await wait_until(lambda: _count(running.pool, sql, sensor), timeout_s=30)


async def test_bad_sensor_input_goes_to_the_dlq(
    running: Running, producer: AIOKafkaProducer, bootstrap: str
) -> None:
    key = f"bad-{uuid.uuid4().hex}".encode()
    bad = json.dumps({"sensor_id": "x", "kind": "radiation", "value": 1,
                      "observed_at": T0.isoformat()}).encode()  # fmt: skip
    await producer.send_and_wait(topics.SENSOR_RAW, bad, key=key)
    [dead] = await records_with_key(bootstrap, topics.SENSOR_DLQ, key, 1)
    assert "kind" in dead["reason"]


async def test_readings_are_queryable_by_kind_time_and_box(
    running: Running, http: aiohttp.ClientSession, producer: AIOKafkaProducer
) -> None:
    sensor = f"quake-{uuid.uuid4().hex[:8]}"
    for minute, lon in ((0, 139.70), (1, 139.80)):
        raw = _reading(sensor, "seismic_intensity", 3.0, minute, lon=lon)
        await producer.send_and_wait(topics.SENSOR_RAW, raw, key=sensor.encode())
    sql = "SELECT count(*) FROM sensor_readings WHERE sensor_id = $1"

    async def query(**params: str) -> list[dict]:
        async with http.get("/api/v1/sensors/readings", params=params) as resp:
            assert resp.status == 200
            return [r for r in await resp.json() if r["sensor_id"] == sensor]

    async def both_stored() -> bool:
        return await _count(running.pool, sql, sensor) == 2

    await wait_until(both_stored)
    assert len(await query(kind="seismic_intensity", limit="500")) == 2
    assert len(await query(kind="seismic_intensity", bbox="139.75,35,139.9,36", limit="500")) == 1
    since = (T0 + timedelta(seconds=30)).isoformat()
    assert len(await query(kind="seismic_intensity", since=since, limit="500")) == 1
    async with http.get("/api/v1/sensors/readings", params={"since": "yesterday"}) as resp:
        assert resp.status == 400
