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
from zoneinfo import ZoneInfo

import asyncpg
import shapely
from aiokafka import AIOKafkaProducer

from disaster import resident_store, store, topics
from disaster._kafka import encode_json
from disaster.domain import Alert, GeoPoint, PolygonArea, Station, SubscriberIn, Thresholds
from disaster.rules import alert_for_event

__all__ = [
    "DemoTown",
    "count_deliveries",
    "expected_alerts",
    "generate_town",
    "replay_levels",
    "run_demo",
    "seed_town",
    "wait_for_deliveries",
]

_JST = ZoneInfo("Asia/Tokyo")
_DEMO_NAMESPACE = uuid.UUID("c3a1d8e2-9f4b-4c67-8e21-5d0f6a7b9c33")

#: A flood rising through every threshold and receding: metres, one reading per 10 minutes.
#: The rise is steady enough that 避難判断 and 氾濫危険 are announced before the water arrives.
RISING_RIVER_M = (
    1.2,
    1.4,
    1.6,
    1.9,
    2.2,
    2.5,
    2.8,
    3.05,
    3.25,
    3.45,
    3.7,
    3.95,
    4.2,
    4.4,
    4.5,
    4.3,
    3.8,
    3.1,
    2.4,
    1.8,
)


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
        location=GeoPoint(lat=lat0 + 0.003, lon=lon0 + 0.006),
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


async def seed_town(pool: asyncpg.Pool, town: DemoTown) -> dict[uuid.UUID, str]:
    """Store the town's gauge and residents (again: seeding twice changes nothing but the
    residents' tokens); return each resident's token."""
    tokens = {}
    async with pool.acquire() as conn, conn.transaction():
        await store.upsert_station(conn, town.station)
        await store.reset_station(conn, town.station.id)
        for sub_id, sub in town.residents:
            _, tokens[sub_id] = await resident_store.register(conn, sub, sub_id=sub_id)
    return tokens


async def replay_levels(
    producer: AIOKafkaProducer,
    station_id: str,
    levels_m: tuple[float, ...],
    *,
    interval_s: float,
    on_reading: Callable[[datetime, float], None] | None = None,
) -> datetime:
    """Produce one reading per level to ``river.raw``, 10 observed minutes apart.

    Return the observation time of the first reading.
    """
    # To the second, so a replay started again soon after never reuses an observation time.
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10 * len(levels_m))
    for i, level in enumerate(levels_m):
        observed_at = start + timedelta(minutes=10 * i)
        body = {"station_id": station_id, "level_m": level, "observed_at": observed_at.isoformat()}
        await producer.send_and_wait(topics.RIVER_RAW, encode_json(body), key=station_id.encode())
        if on_reading is not None:
            on_reading(observed_at, level)
        if interval_s > 0:
            await asyncio.sleep(interval_s)
    return start


async def count_deliveries(
    pool: asyncpg.Pool, subscriber_ids: frozenset[uuid.UUID], alert_ids: list[uuid.UUID]
) -> int:
    """Return how many of these alerts were delivered to these subscribers."""
    async with pool.acquire() as conn:
        return int(
            await conn.fetchval(
                """SELECT count(*) FROM deliveries
                   WHERE alert_id = ANY($1::uuid[]) AND subscriber_id = ANY($2::uuid[])
                     AND channel = 'inbox'""",
                alert_ids,
                list(subscriber_ids),
            )
        )


async def expected_alerts(
    pool: asyncpg.Pool,
    station_id: str,
    since: datetime,
    readings: int,
    *,
    stored_since: datetime,
    timeout_s: float,
) -> list[Alert]:
    """Wait until the replayed readings are stored; return the alerts their events call for."""
    deadline = time.monotonic() + timeout_s
    while True:
        async with pool.acquire() as conn:
            stored = await conn.fetchval(
                "SELECT count(*) FROM river_readings WHERE station_id = $1 AND observed_at >= $2",
                station_id,
                since,
            )
            if stored >= readings or time.monotonic() > deadline:
                events = await store.hazard_events_of(conn, station_id, stored_since=stored_since)
                break
        await asyncio.sleep(0.2)
    drafts = (alert_for_event(e, issued_at=since) for e in events)
    return [a for a in drafts if a is not None]


async def wait_for_deliveries(
    pool: asyncpg.Pool,
    subscriber_ids: frozenset[uuid.UUID],
    alert_ids: list[uuid.UUID],
    *,
    timeout_s: float,
) -> int:
    """Wait until every alert reached every subscriber; return the deliveries counted."""
    expected = len(alert_ids) * len(subscriber_ids)
    deadline = time.monotonic() + timeout_s
    count = await count_deliveries(pool, subscriber_ids, alert_ids)
    while count < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        count = await count_deliveries(pool, subscriber_ids, alert_ids)
    return count


async def run_demo(
    pool: asyncpg.Pool,
    producer: AIOKafkaProducer,
    say: Callable[[str], None],
    *,
    base_url: str,
    interval_s: float,
    timeout_s: float = 60.0,
) -> bool:
    """Seed the town, replay the flood, and report what reached whom; return True if exact."""
    town = generate_town()
    tokens = await seed_town(pool, town)
    async with pool.acquire() as conn:
        stored_since = await conn.fetchval("SELECT now()")
    for sub_id, _sub in town.residents[:1] + town.residents[-1:]:
        where = "inside" if sub_id in town.inside else "outside"
        inbox = f"{base_url}/api/v1/subscribers/{sub_id}/inbox"
        say(f"  a resident {where} the area: curl -H 'Authorization: Bearer {tokens[sub_id]}' "
            f"{inbox}")  # fmt: skip
    say(f"replaying {len(RISING_RIVER_M)} readings of {town.station.name} ...")
    start = await replay_levels(
        producer, town.station.id, RISING_RIVER_M, interval_s=interval_s,
        on_reading=lambda at, level: say(f"  {at.astimezone(_JST):%H:%M} JST  {level:.2f} m"),
    )  # fmt: skip
    alerts = await expected_alerts(
        pool, town.station.id, start, len(RISING_RIVER_M),
        stored_since=stored_since, timeout_s=timeout_s,
    )  # fmt: skip
    ids = [a.id for a in alerts]
    got = await wait_for_deliveries(pool, town.inside, ids, timeout_s=timeout_s)
    outside = frozenset(sub_id for sub_id, _ in town.residents) - town.inside
    stray = await count_deliveries(pool, outside, ids)
    for alert in alerts:
        say(f"  alert: {alert.headline['ja']}")
    say(f"delivered {got} of {len(ids) * len(town.inside)} alert messages "
        f"({len(ids)} alerts) to the {len(town.inside)} residents inside; "
        f"{stray} to the {len(outside)} outside")  # fmt: skip
    return bool(ids) and got == len(ids) * len(town.inside) and stray == 0
