"""The demo: a small generated riverside town, a rising-river replay, and the API served.

Everything here goes through the real pipeline: readings are produced to ``river.raw`` and the
alerts reach the residents' inboxes the same way a real gauge's would.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import shapely
from aiokafka import AIOKafkaProducer

from disaster import store, topics
from disaster._kafka import encode_json
from disaster.domain import GeoPoint, PolygonArea, Station, SubscriberIn, Thresholds

__all__ = [
    "DemoTown",
    "count_deliveries",
    "generate_town",
    "replay_levels",
    "seed_town",
    "wait_for_deliveries",
]

_DEMO_NAMESPACE = uuid.UUID("c3a1d8e2-9f4b-4c67-8e21-5d0f6a7b9c33")

#: A flood rising through every threshold and receding: metres, one reading per 10 minutes.
RISING_RIVER_M = (1.2, 1.6, 2.1, 2.6, 3.1, 3.4, 3.7, 4.0, 4.3, 4.5, 4.4, 3.9, 3.2, 2.4, 1.8)


@dataclass(frozen=True)
class DemoTown:
    """The generated town: one gauge and residents inside and outside its warning area."""

    station: Station
    residents: list[tuple[uuid.UUID, SubscriberIn]]
    inside: frozenset[uuid.UUID]


def generate_town(*, seed: int = 7, inside: int = 5, outside: int = 3) -> DemoTown:
    """Return a riverside town: a warning area along the river and scattered residents."""
    lon0, lat0 = 139.7000, 35.6600
    ring = [(lon0, lat0), (lon0 + 0.012, lat0), (lon0 + 0.012, lat0 + 0.006),
            (lon0, lat0 + 0.006), (lon0, lat0)]  # fmt: skip
    station = Station(
        id="demo-gauge-1",
        name="みなと川 中央橋",
        thresholds=Thresholds(standby_m=2.0, caution_m=3.0, evacuation_m=3.6, danger_m=4.2),
        gauge_min_m=0.0,
        gauge_max_m=12.0,
        area_name="みなと川沿い 1〜3丁目",
        area=PolygonArea(coordinates=[ring]),
    )
    rng = random.Random(seed)
    shape = shapely.Polygon(ring)
    residents, inside_ids = [], set()
    for i in range(inside + outside):
        is_inside = i < inside
        while True:
            lon = lon0 - 0.01 + rng.random() * 0.032
            lat = lat0 - 0.01 + rng.random() * 0.026
            if shape.contains(shapely.Point(lon, lat)) == is_inside:
                break
        sub_id = uuid.uuid5(_DEMO_NAMESPACE, f"resident-{i}")
        lang = "en" if i % 4 == 3 else "ja"
        residents.append((sub_id, SubscriberIn(location=GeoPoint(lat=lat, lon=lon), language=lang)))
        if is_inside:
            inside_ids.add(sub_id)
    return DemoTown(station, residents, frozenset(inside_ids))


async def seed_town(pool: asyncpg.Pool, town: DemoTown) -> None:
    """Store the town's gauge and residents (again: seeding twice changes nothing)."""
    async with pool.acquire() as conn, conn.transaction():
        await store.upsert_station(conn, town.station)
        for sub_id, sub in town.residents:
            await store.insert_subscriber(conn, sub, sub_id=sub_id)


async def replay_levels(
    producer: AIOKafkaProducer,
    station_id: str,
    levels_m: tuple[float, ...],
    *,
    interval_s: float,
    on_reading: Callable[[datetime, float], None] | None = None,
) -> None:
    """Produce one reading per level to ``river.raw``, 10 observed minutes apart."""
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(
        minutes=10 * len(levels_m)
    )
    for i, level in enumerate(levels_m):
        observed_at = start + timedelta(minutes=10 * i)
        body = {"station_id": station_id, "level_m": level, "observed_at": observed_at.isoformat()}
        await producer.send_and_wait(topics.RIVER_RAW, encode_json(body), key=station_id.encode())
        if on_reading is not None:
            on_reading(observed_at, level)
        if interval_s > 0:
            await asyncio.sleep(interval_s)


async def count_deliveries(
    pool: asyncpg.Pool, subscriber_ids: frozenset[uuid.UUID], since: datetime
) -> int:
    """Return how many deliveries to these subscribers were made after ``since``."""
    async with pool.acquire() as conn:
        return int(
            await conn.fetchval(
                """SELECT count(*) FROM deliveries
                   WHERE created_at >= $1 AND subscriber_id = ANY($2::uuid[])""",
                since,
                list(subscriber_ids),
            )
        )


async def wait_for_deliveries(
    pool: asyncpg.Pool,
    subscriber_ids: frozenset[uuid.UUID],
    since: datetime,
    expected: int,
    *,
    timeout_s: float,
) -> int:
    """Wait until ``expected`` deliveries to these subscribers exist; return the count reached."""
    deadline = time.monotonic() + timeout_s
    count = await count_deliveries(pool, subscriber_ids, since)
    while count < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        count = await count_deliveries(pool, subscriber_ids, since)
    return count
