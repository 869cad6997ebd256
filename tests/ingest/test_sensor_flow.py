"""Sensors on the real broker, Postgres and Mosquitto: NGSI, thresholds, closures, silence."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg
import paho.mqtt.client as mqtt
from aiokafka import AIOKafkaProducer

from disaster import topics
from disaster.services import Running
from disaster.settings import Settings, parse_mqtt_url
from tests.support import records_with_key, sensor_outcome, wait_until

FIWARE = Path(__file__).resolve().parents[3] / "shared" / "data" / "fiware"
T0 = datetime(2026, 6, 3, 1, 0, tzinfo=UTC)


def _reading(sensor_id: str, kind: str, value: float, minute: float, lon: float = 139.7) -> bytes:
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


#: An underpass's water depth (m) minute by minute: warning at 1 and 3, danger at 4 (closing the
#: road), back to warning at 5 (still closed), danger again at 6, reopened at 7, warning at 8.
_DEPTHS = [0.05, 0.15, 0.05, 0.12, 0.35, 0.20, 0.40, 0.05, 0.20, 0.05]
#: What those depths announce when evaluated in order: (severity, minute).
_CROSSINGS = [("warning", 1), ("warning", 3), ("danger", 4), ("danger", 6), ("warning", 8)]
#: The out-of-order feed, a record each: minutes 0 to 5, then the newest reading (9), then 8, 7
#: and 6, all late: their danger crossing at 6 and warning at 8 are found by re-evaluation.
_OUT_OF_ORDER = [[0, 1, 2, 3, 4, 5], [9], [8, 7, 6]]


def _at(minute: float) -> datetime:
    return T0 + timedelta(minutes=minute)


def _depth(sensor_id: str, minute: float, value: float | None = None) -> bytes:
    """The sensor's reading at ``minute``: the depth ``_DEPTHS`` gives, or ``value``."""
    return _reading(sensor_id, "water_depth", _DEPTHS[int(minute)] if value is None else value,
                    minute)  # fmt: skip


def _record(readings: list[bytes]) -> bytes:
    """One ``sensor.raw`` record holding several readings, in the order given."""
    return b"[" + b",".join(readings) + b"]"


async def _send_one_by_one(
    pool: asyncpg.Pool, producer: AIOKafkaProducer, sensor_id: str, records: list[bytes]
) -> None:
    """Send records of a sensor's readings, each once the one before is stored (and so
    evaluated: both happen in one transaction), so that each is a batch of its own."""
    sql = "SELECT count(*) FROM sensor_readings WHERE sensor_id = $1"
    for record in records:
        before = await _count(pool, sql, sensor_id)
        await producer.send_and_wait(topics.SENSOR_RAW, record, key=sensor_id.encode())

        async def stored(before: int = before) -> bool:
            return await _count(pool, sql, sensor_id) > before

        await wait_until(stored, timeout_s=30)


async def test_readings_arriving_out_of_order_are_evaluated_in_event_time_order(
    running: Running, producer: AIOKafkaProducer, bootstrap: str
) -> None:
    uid = uuid.uuid4().hex[:8]
    in_order, out_of_order = f"underpass-{uid}-a", f"underpass-{uid}-b"
    pool = running.pool
    records = [_record([_depth(in_order, m)]) for m in range(10)]
    await _send_one_by_one(pool, producer, in_order, records)
    records = [_record([_depth(out_of_order, m) for m in ms]) for ms in _OUT_OF_ORDER]
    await _send_one_by_one(pool, producer, out_of_order, records)

    expected = {
        "announced": [(severity, _at(m)) for severity, m in _CROSSINGS],
        "closure": (False, _at(7)),  # closed at 4, reopened at 7 (8 is only a warning)
        "state": ("none", _at(9)),
    }
    assert await sensor_outcome(pool, in_order) == expected
    assert await sensor_outcome(pool, out_of_order) == expected
    # Published in the order decided: the newest reading reopened the road at 9 (the readings
    # of 6 to 8 were not in yet), and re-evaluating from 6 moved the reopening back to 7.
    key = f"sensor:{out_of_order}".encode()
    closures = await records_with_key(bootstrap, topics.ROAD_CLOSURES, key, 3)
    published = [(c["active"], datetime.fromisoformat(c["changed_at"])) for c in closures]
    assert published == [(True, _at(4)), (False, _at(9)), (False, _at(7))]


async def test_a_late_batch_delivered_again_announces_nothing_twice(
    running: Running, producer: AIOKafkaProducer, bootstrap: str
) -> None:
    sensor = f"underpass-{uuid.uuid4().hex[:8]}"
    pool = running.pool
    records = [_record([_depth(sensor, m) for m in ms]) for ms in _OUT_OF_ORDER]
    await _send_one_by_one(pool, producer, sensor, records)
    evaluated = await sensor_outcome(pool, sensor)
    assert evaluated["announced"] == [(severity, _at(m)) for severity, m in _CROSSINGS]
    # The late record again, with one more late reading (5:30, a warning depth): 6, 7 and 8
    # are redeliveries (what they caused is published again, once), and the reading at 5:30
    # re-evaluates from its time over the crossings at 6 and 8, already announced.
    again = _record([*(_depth(sensor, m) for m in (8, 7, 6)), _depth(sensor, 5.5, 0.25)])
    await _send_one_by_one(pool, producer, sensor, [again])
    assert await sensor_outcome(pool, sensor) == evaluated

    # A new danger reading at 10 is announced after all the above: read the topic up to it.
    await _send_one_by_one(pool, producer, sensor, [_record([_depth(sensor, 10, 0.5)])])
    key = f"sensor {sensor}".encode()
    published = await records_with_key(bootstrap, topics.HAZARD_EVENTS, key, 8)
    times = [datetime.fromisoformat(e["observed_at"]) for e in published]
    assert times[-1] == _at(10)
    assert Counter(times) == {_at(1): 1, _at(3): 1, _at(4): 1, _at(6): 2, _at(8): 2, _at(10): 1}


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


async def test_a_late_crossing_no_higher_than_the_severity_told_is_not_announced_after_it(
    running: Running, producer: AIOKafkaProducer
) -> None:
    """Danger is announced at minute 5; a late warning reading of minute 3 is stored and
    re-evaluated, but a warning after the danger in force would read as easing: not announced.
    A late danger at minute 2 while the sensor reads only a warning now is announced."""
    sensor = f"underpass-{uuid.uuid4().hex[:8]}"
    pool = running.pool
    first = [_record([_depth(sensor, 0, 0.05), _depth(sensor, 5, 0.40)])]
    await _send_one_by_one(pool, producer, sensor, first)
    await _send_one_by_one(pool, producer, sensor, [_record([_depth(sensor, 3, 0.15)])])
    evaluated = await sensor_outcome(pool, sensor)
    assert evaluated["announced"] == [("danger", _at(5))]
    assert evaluated["state"] == ("danger", _at(5))

    await _send_one_by_one(pool, producer, sensor, [_record([_depth(sensor, 6, 0.20)])])
    await _send_one_by_one(pool, producer, sensor, [_record([_depth(sensor, 2, 0.45)])])
    evaluated = await sensor_outcome(pool, sensor)
    assert evaluated["announced"] == [("danger", _at(2)), ("danger", _at(5))]
    assert evaluated["state"] == ("warning", _at(6))
