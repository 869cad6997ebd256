"""End to end on the real broker and Postgres: a rising river reaches exactly the right people."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg
from aiokafka import AIOKafkaProducer

from disaster import store, topics
from disaster._kafka import encode_json
from disaster.services import Running
from tests.support import make_station, square, wait_for_readings, wait_until

START = datetime(2026, 6, 3, 0, 0, tzinfo=UTC)


_TOKENS: dict[str, str] = {}


async def _register(http: aiohttp.ClientSession, lon: float, lat: float) -> str:
    body = {"location": {"lat": lat, "lon": lon}, "language": "ja"}
    async with http.post("/api/v1/subscribers", json=body) as resp:
        assert resp.status == 201, await resp.text()
        created = await resp.json()
    _TOKENS[created["id"]] = created["token"]
    return created["id"]


def _auth(sub_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {_TOKENS[sub_id]}"}


async def _inbox_levels(http: aiohttp.ClientSession, sub_id: str) -> list[int]:
    async with http.get(f"/api/v1/subscribers/{sub_id}/inbox", headers=_auth(sub_id)) as resp:
        assert resp.status == 200
        return [item["alert"]["level"] for item in await resp.json()]


async def _send(producer: AIOKafkaProducer, station_id: str, minute: int, level_m: float) -> None:
    at = START + timedelta(minutes=minute)
    body = {"station_id": station_id, "level_m": level_m, "observed_at": at.isoformat()}
    await producer.send_and_wait(topics.RIVER_RAW, encode_json(body), key=station_id.encode())


async def test_rising_river_alerts_the_two_inside_once_per_level_and_not_the_one_outside(
    running: Running, http: aiohttp.ClientSession, producer: AIOKafkaProducer
) -> None:
    lon, lat = 140.0 + uuid.uuid4().int % 1000 / 1000, 36.0  # an area no other test uses
    station = make_station(square(lon, lat, 0.01))
    async with running.pool.acquire() as conn:
        await store.upsert_station(conn, station)
    inside = [
        await _register(http, lon + 0.002, lat + 0.003),
        await _register(http, lon + 0.01, lat + 0.005),
    ]  # on the boundary counts as in
    outside = await _register(http, lon + 0.0101, lat + 0.005)  # fmt: skip

    readings = [1.0, 2.2, 3.1, 3.1, 3.05, 3.7, 4.3, 4.35, 4.25]
    for minute, level in enumerate(readings):
        await _send(producer, station.id, 10 * minute, level)
    await _send(producer, station.id, 10 * 5, 3.7)  # a duplicate delivery of the 3.7 reading

    await wait_for_readings(running.pool, station.id, len(readings))
    for sub_id in inside:
        await wait_until(lambda s=sub_id: _has_alerts(http, s, 3))
    assert [await _inbox_levels(http, s) for s in inside] == [[4, 3, 2], [4, 3, 2]]
    assert await _inbox_levels(http, outside) == []
    await _assert_one_event_per_stage(running.pool, station.id)


async def _has_alerts(http: aiohttp.ClientSession, sub_id: str, count: int) -> list[int] | None:
    levels = await _inbox_levels(http, sub_id)
    return levels if len(levels) >= count else None


async def _assert_one_event_per_stage(pool: asyncpg.Pool, station_id: str) -> None:
    """Events are written with their reading, so once all readings are stored none can follow."""
    async with pool.acquire() as conn:
        stages = await conn.fetch(
            """SELECT (body->>'stage')::int AS stage FROM hazard_events
               WHERE station_id = $1 ORDER BY observed_at""",
            station_id,
        )
        alert_levels = await conn.fetch(
            """SELECT a.level FROM alerts a JOIN hazard_events h ON h.id = a.hazard_event_id
               WHERE h.station_id = $1 ORDER BY a.level""",
            station_id,
        )
    assert [r["stage"] for r in stages] == [1, 2, 3, 4]
    assert [r["level"] for r in alert_levels] == [2, 3, 4]


async def test_a_steady_rise_alerts_before_the_water_arrives_and_not_again_after(
    running: Running, http: aiohttp.ClientSession, producer: AIOKafkaProducer
) -> None:
    lon, lat = 145.0 + uuid.uuid4().int % 1000 / 1000, 36.0
    station = make_station(square(lon, lat, 0.01), horizon_min=60)
    async with running.pool.acquire() as conn:
        await store.upsert_station(conn, station)
    resident = await _register(http, lon + 0.005, lat + 0.005)
    readings = [1.2, 1.4, 1.6, 1.9, 2.2, 2.5, 2.8, 3.05, 3.25, 3.45, 3.7, 3.95, 4.2, 4.4]
    for minute, level in enumerate(readings):
        await _send(producer, station.id, 10 * minute, level)

    await wait_for_readings(running.pool, station.id, len(readings))
    await wait_until(lambda: _has_alerts(http, resident, 2))
    async with http.get(f"/api/v1/subscribers/{resident}/inbox", headers=_auth(resident)) as resp:
        inbox = [item["alert"] for item in await resp.json()]
    assert [a["level"] for a in inbox] == [4, 3]
    assert all("見込み" in a["headline"]["ja"] for a in inbox)
    async with http.get(f"/api/v1/stations/{station.id}") as resp:
        status = await resp.json()
    assert (status["stage"], status["projected_stage"]) == (4, 4)
