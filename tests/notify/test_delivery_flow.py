"""Alerts to phones through the whole notify path: Kafka, targeting, the Postgres outbox, the
delivery workers, Web Push encryption and VAPID, checked by a real push service decrypting."""

from __future__ import annotations

import itertools
import json
import math
import os
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import asyncpg
import pytest
import shapely
from aiokafka import AIOKafkaProducer

from disaster import building_store, outbox_store, store, topics
from disaster._kafka import encode_json
from disaster._pg import connect
from disaster.domain import Alert, AlertLevel, Circle, GeoPoint
from disaster.services import migrate
from disaster.settings import Settings
from evac.buildings import Building, FloodRisk
from tests.notify.push_service import PushService
from tests.support import load_town, projected_flood_alert, run_cli, square, wait_until


@pytest.fixture
def service(push_service: PushService) -> PushService:
    return push_service


async def _resident(
    http: aiohttp.ClientSession, service: PushService, lon: float, lat: float, **extra: object
) -> tuple[str, str]:
    """Register a resident with one browser push subscription; return (id, endpoint)."""
    body = {"locations": {"home": {"lat": lat, "lon": lon}}, **extra}
    async with http.post("/api/v1/subscribers", json=body) as resp:
        created = await resp.json()
    auth = {"Authorization": f"Bearer {created['token']}"}
    subscription = service.subscribe()
    async with http.post(
        f"/api/v1/subscribers/{created['id']}/push", json=subscription, headers=auth
    ) as resp:
        assert resp.status == 201, await resp.text()
    return created["id"], str(subscription["endpoint"])


async def _issue(pool: asyncpg.Pool, producer: AIOKafkaProducer, alert: Alert) -> None:
    async with pool.acquire() as conn:
        await store.insert_alert(conn, alert)
    await producer.send_and_wait(
        topics.ALERTS, encode_json(alert.to_json_dict()), key=str(alert.id).encode()
    )


def _alert(lon: float, lat: float, **extra: object) -> Alert:
    fields = {"id": uuid.uuid4(), "level": AlertLevel.EVACUATE, "hazard": "flood",
              "area_name": "新川流域", "area": square(lon, lat),
              "headline": {"ja": "新川が氾濫危険水位に達しました。避難してください。",
                           "en": "The Shinkawa is at flood danger level. Evacuate."},
              "issued_at": datetime.now(UTC), **extra}  # fmt: skip
    return Alert.model_validate(fields)


async def _statuses(pool: asyncpg.Pool, alert_id: uuid.UUID) -> dict[str, str]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT subscriber_id, status FROM deliveries
               WHERE alert_id = $1 AND channel <> 'inbox'""",
            alert_id,
        )
    return {str(r["subscriber_id"]): r["status"] for r in rows}


_PLACES = itertools.count()


def _area() -> tuple[float, float]:
    """A place of its own for each test, half a degree from any other: the session's residents
    all live in one database, and a test's alert must not reach another test's residents."""
    return 160.0 + 0.5 * next(_PLACES), 20.0


async def test_an_alert_reaches_every_phone_inside_once_decrypted_and_none_outside(
    http: aiohttp.ClientSession, service: PushService, pool: asyncpg.Pool,
    producer: AIOKafkaProducer,
) -> None:  # fmt: skip
    lon, lat = _area()
    inside = [await _resident(http, service, lon + 0.001 * i, lat + 0.005, language=lang)
              for i, lang in enumerate(("ja", "en", "ja-easy"), start=1)]  # fmt: skip
    edge = await _resident(http, service, lon + 0.01, lat + 0.01)  # the corner: inside
    outside = await _resident(http, service, lon + 0.0101, lat + 0.005)
    alert = _alert(lon, lat)
    for _ in range(2):  # a replayed alert adds nothing
        await _issue(pool, producer, alert)

    expected = [*inside, edge]
    await service.wait_until(lambda: all(service.received(e) for _, e in expected))
    await wait_until(lambda: _all_delivered(pool, alert.id, len(expected)))
    for (_, endpoint), lang in zip(expected, ("ja", "en", "ja-easy", "ja"), strict=True):
        (message,) = service.received(endpoint)
        payload = json.loads(message.plaintext)
        assert payload["tag"] == str(alert.id)
        tag = {"ja": "ja-JP", "en": "en-US", "ja-easy": "ja-JP-x-easy"}[lang]
        assert (payload["level"], payload["colour"], payload["language"]) == (4, "#AA00AA", tag)
        assert "4" in payload["title"]
        assert len(payload["body"]) <= 90
        said = {"ja": alert.headline["ja"], "en": alert.headline["en"], "ja-easy": "新川流域"}
        assert said[lang] in payload["full_text"]
        assert message.urgency == "high"
    assert service.received(outside[1]) == []
    assert set(await _statuses(pool, alert.id)) == {s for s, _ in expected}


async def _all_delivered(pool: asyncpg.Pool, alert_id: uuid.UUID, count: int) -> bool:
    statuses = await _statuses(pool, alert_id)
    return len(statuses) == count and set(statuses.values()) == {"delivered"}


async def test_gone_endpoints_are_unsubscribed_and_failing_ones_retried(
    http: aiohttp.ClientSession, service: PushService, pool: asyncpg.Pool,
    producer: AIOKafkaProducer,
) -> None:  # fmt: skip
    lon, lat = _area()
    gone_id, gone = await _resident(http, service, lon + 0.002, lat + 0.002)
    flaky_id, flaky = await _resident(http, service, lon + 0.003, lat + 0.003)
    service.answer(gone, 410)
    service.answer(flaky, 503)
    alert = _alert(lon, lat)
    await _issue(pool, producer, alert)

    await service.wait_until(lambda: (flaky.rsplit("/", 1)[1], 503) in service.answered)
    await wait_until(lambda: _status_is(pool, alert.id, gone_id, "gone"))
    async with pool.acquire() as conn:
        disabled = await conn.fetchval(
            "SELECT disabled_at FROM push_channels WHERE subscriber_id = $1", uuid.UUID(gone_id)
        )
        retry = await conn.fetchrow(
            "SELECT status, attempts, last_error FROM deliveries "
            "WHERE alert_id = $1 AND subscriber_id = $2 AND channel <> 'inbox'",
            alert.id, uuid.UUID(flaky_id),
        )  # fmt: skip
    assert disabled is not None
    assert retry["status"] in ("pending", "delivered")
    service.recover(flaky)
    await service.wait_until(lambda: len(service.received(flaky)) == 1)
    await wait_until(lambda: _status_is(pool, alert.id, flaky_id, "delivered"))

    second = _alert(lon, lat)  # the gone endpoint is not tried again
    await _issue(pool, producer, second)
    await wait_until(lambda: _all_delivered(pool, second.id, 1))
    assert set(await _statuses(pool, second.id)) == {flaky_id}
    assert len(service.received(gone)) == 0


async def _status_is(pool: asyncpg.Pool, alert_id: uuid.UUID, sub_id: str, status: str) -> bool:
    return (await _statuses(pool, alert_id)).get(sub_id) == status


async def test_a_drill_reaches_only_residents_who_opted_in_and_says_so(
    http: aiohttp.ClientSession, service: PushService, pool: asyncpg.Pool,
    producer: AIOKafkaProducer,
) -> None:  # fmt: skip
    lon, lat = _area()
    _, taking = await _resident(http, service, lon + 0.002, lat + 0.002, drills=True)
    _, not_taking = await _resident(http, service, lon + 0.003, lat + 0.003)
    drill = _alert(lon, lat, exercise=True)
    await _issue(pool, producer, drill)
    await service.wait_until(lambda: len(service.received(taking)) == 1)
    assert json.loads(service.received(taking)[0].plaintext)["title"].startswith("【訓練】")
    await wait_until(lambda: _all_delivered(pool, drill.id, 1))
    assert service.received(not_taking) == []


async def test_an_alert_limited_to_profiles_reaches_only_their_phones_inside(
    http: aiohttp.ClientSession, service: PushService, pool: asyncpg.Pool,
    producer: AIOKafkaProducer,
) -> None:  # fmt: skip
    lon, lat = _area()
    wheel_id, wheel = await _resident(http, service, lon + 0.002, lat + 0.002, needs=["wheelchair"])
    slow_id, slow = await _resident(http, service, lon + 0.003, lat + 0.003, needs=["slow_walker"])
    _, plain = await _resident(http, service, lon + 0.004, lat + 0.004, needs=["no_car"])
    _, away = await _resident(http, service, lon + 0.02, lat + 0.02, needs=["wheelchair"])
    alert = _alert(
        lon, lat, level=AlertLevel.ELDERLY_EVACUATE, profiles=["wheelchair", "slow_walk"]
    )
    await _issue(pool, producer, alert)
    await service.wait_until(lambda: all(service.received(e) for e in (wheel, slow)))
    await wait_until(lambda: _all_delivered(pool, alert.id, 2))
    async with pool.acquire() as conn:
        inboxed = await conn.fetch(
            "SELECT subscriber_id FROM deliveries WHERE alert_id = $1 AND channel = 'inbox'",
            alert.id,
        )
    assert {str(r["subscriber_id"]) for r in inboxed} == {wheel_id, slow_id}
    assert set(await _statuses(pool, alert.id)) == {wheel_id, slow_id}
    assert service.received(plain) == service.received(away) == []


async def test_a_circle_reaches_residents_by_exact_distance(
    http: aiohttp.ClientSession, service: PushService, pool: asyncpg.Pool,
    producer: AIOKafkaProducer,
) -> None:  # fmt: skip
    lon, lat = _area()
    centre = (lon + 0.05, lat + 0.05)  # well away from the polygon
    near_id, near = await _resident(http, service, centre[0] + 0.0045, centre[1])  # ~470 m
    _, far = await _resident(http, service, centre[0] + 0.0050, centre[1])  # ~523 m
    circle = Circle(center=GeoPoint(lat=centre[1], lon=centre[0]), radius_m=500)
    alert = _alert(lon, lat, circles=[circle])
    await _issue(pool, producer, alert)
    await wait_until(lambda: _all_delivered(pool, alert.id, 1))
    assert set(await _statuses(pool, alert.id)) == {near_id}
    assert len(service.received(near)) == 1
    assert service.received(far) == []


async def test_higher_levels_are_claimed_first(fresh_database: object) -> None:
    """Level-3 work queued first is overtaken by a level-5 alert queued after it (on a database
    of its own, where no running worker claims first)."""
    url = await fresh_database()  # type: ignore[operator]
    await migrate(url)
    conn = await connect(url)
    try:
        subs = [uuid.uuid4() for _ in range(6)]
        await conn.executemany(
            "INSERT INTO subscribers (id, language) VALUES ($1, 'ja')", [(s,) for s in subs]
        )
        low, high = uuid.uuid4(), uuid.uuid4()
        for alert_id in (low, high):
            await store.insert_alert(conn, _alert(139.0, 35.0, id=alert_id))
        async with conn.transaction():
            await outbox_store.enqueue(conn, low, 3, [], [(s, uuid.uuid4()) for s in subs[:3]])
        async with conn.transaction():
            await outbox_store.enqueue(conn, high, 5, [], [(s, uuid.uuid4()) for s in subs[3:]])
        first = await outbox_store.claim_due(conn, 3, lease_s=3600)
        then = await outbox_store.claim_due(conn, 10, lease_s=3600)
        again = await outbox_store.claim_due(conn, 10, lease_s=3600)
    finally:
        await conn.close()
    assert {c.alert_id for c in first} == {high}
    assert {c.alert_id for c in then} == {low}
    assert again == []  # leased rows are not handed out twice


async def test_pattern_c_gives_each_resident_their_own_route_by_their_needs(
    http: aiohttp.ClientSession, service: PushService, pool: asyncpg.Pool,
    producer: AIOKafkaProducer, settings: Settings,
) -> None:  # fmt: skip
    params = await load_town(settings, http)
    lat, lon = (float(v) for v in params["from"].split(","))
    _, walker = await _resident(http, service, lon, lat, language="en")
    _, rolling = await _resident(http, service, lon, lat, language="en", needs=["wheelchair"])
    alert = _alert(lon - 0.05, lat - 0.05, area=square(lon - 0.05, lat - 0.05, 0.1))
    await _issue(pool, producer, alert)
    await service.wait_until(lambda: bool(service.received(walker) and service.received(rolling)))
    for endpoint, profile in ((walker, "walk"), (rolling, "wheelchair")):
        async with http.get("/api/v1/route", params={**params, "profile": profile}) as resp:
            route = await resp.json()
        payload = json.loads(service.received(endpoint)[0].plaintext)
        assert payload["pattern"] == "C"
        assert route["shelter_name"] in payload["full_text"]
        assert f"profile={profile}" in payload["url"]


def _building(lon: float, lat: float, east_m: float, north_m: float, **fields: object) -> Building:
    """A 10 m square building centred ``east_m``/``north_m`` from (lon, lat)."""
    m_lat = 1 / 111_195.0
    m_lon = m_lat / math.cos(math.radians(lat))
    x, y = lon + east_m * m_lon, lat + north_m * m_lat
    square_ = shapely.box(x - 5 * m_lon, y - 5 * m_lat, x + 5 * m_lon, y + 5 * m_lat)
    return Building(id=f"bldg_{uuid.uuid4().hex[:8]}", footprint=square_, height_m=None,
                    source="test", **fields)  # type: ignore[arg-type]  # fmt: skip


async def test_pattern_c_sends_residents_up_when_the_water_comes_before_the_shelter(
    http: aiohttp.ClientSession, service: PushService, pool: asyncpg.Pool,
    producer: AIOKafkaProducer, settings: Settings,
) -> None:  # fmt: skip
    """The gauge reaches 氾濫危険水位 in a minute and the shelter is further: the push names a
    building to go up in (the one the route API names for the alert) instead of the route.
    With two hours to go the route is given, and since the resident's house is expected to
    flood 1.2 m deep, its full text says so and which floor to go up to."""
    params = await load_town(settings, http)
    lat, lon = (float(v) for v in params["from"].split(","))
    risk = FloodRisk(river="新川", rank=2, depth_m=1.2, scale="L2")
    house = _building(lon, lat, 0, 0, usage="411", storeys=2, flood_risks=(risk,))
    hall = _building(lon, lat, 30, 20, usage="421", storeys=5, name="第三避難ビル")
    async with pool.acquire() as conn:
        await building_store.upsert_buildings(conn, [house, hall])
        soon, later = [await projected_flood_alert(conn, square(lon - 0.01, lat - 0.01, 0.02), m)
                       for m in (1, 120)]  # fmt: skip
    try:
        _, endpoint = await _resident(http, service, lon, lat, language="en")
        for alert in (soon, later):
            await _issue(pool, producer, alert)
        await service.wait_until(lambda: len(service.received(endpoint)) >= 2)
        got = {
            p["alert_id"]: p
            for p in map(json.loads, (r.plaintext for r in service.received(endpoint)))
        }
        async with http.get("/api/v1/route", params={**params, "alert": str(soon.id)}) as resp:
            refuge = (await resp.json())["refuge"]
        up, route = got[str(soon.id)], got[str(later.id)]
        assert up["pattern"] == route["pattern"] == "C"
        floor, name = refuge["safe_floor"], refuge["name"]
        assert (
            up["body"]
            == f"Do not go out: too dangerous. Go up to floor {floor} or higher in {name} nearby."
        )
        assert "Going to a shelter now is more dangerous than staying." in up["full_text"]
        assert up["url"] is None
        assert f"alert={later.id}" in route["url"]  # the map asks the API with the deadline
        assert route["body"].startswith("Leave danger areas now. Go to ")
        assert "Expected flood depth near your home: 1.2 m." in route["full_text"]
        assert "go up to floor 2 or higher" in route["full_text"]
    finally:  # the hall stops being a refuge for the tests after this one at the same start
        async with pool.acquire() as conn:
            await building_store.upsert_buildings(conn, [replace(hall, usage="411")])


async def _report(http: aiohttp.ClientSession, lon: float, lat: float, severity: str) -> None:
    body = {"kind": "fire", "location": {"lat": lat, "lon": lon}, "severity": severity,
            "description": "2階から炎", "reporter": {"role": "resident"}}  # fmt: skip
    async with http.post("/api/v1/incidents", json=body) as resp:
        assert resp.status == 202, await resp.text()


async def test_pattern_d_an_incident_reaches_the_residents_around_it_once_confirmed(
    http: aiohttp.ClientSession, service: PushService, pool: asyncpg.Pool
) -> None:
    lon, lat = _area()
    _, near = await _resident(http, service, lon + 0.003, lat, language="en")  # ~280 m
    _, far = await _resident(http, service, lon + 0.0065, lat)  # ~610 m: outside 500 m
    await _report(http, lon, lat, "high")  # one person's report: HQ sees it, nobody is woken

    async def incident_alert() -> Alert | None:
        async with pool.acquire() as conn:
            row = await conn.fetchval(
                """SELECT a.id FROM alerts a JOIN incidents i ON i.id = a.incident_id
                   WHERE i.lat = $1 AND i.lon = $2""",
                lat, lon,
            )  # fmt: skip
            return None if row is None else await store.alert_by_id(conn, row)

    async with pool.acquire() as conn:
        await wait_until(
            lambda: conn.fetchval(
                "SELECT true FROM incidents WHERE lat = $1 AND lon = $2", lat, lon
            )
        )
    assert await incident_alert() is None
    await _report(http, lon + 0.0002, lat, "high")  # a second report confirms it
    alert = await wait_until(incident_alert)
    async with pool.acquire() as conn:  # issued by the confirming report, not the first one
        cause = await conn.fetchval(
            "SELECT body FROM hazard_events WHERE id = $1", alert.hazard_event_id
        )
    assert cause["report_count"] == 2
    await service.wait_until(lambda: bool(service.received(near)))
    payload = json.loads(service.received(near)[0].plaintext)
    assert (payload["pattern"], payload["tag"]) == ("D", str(alert.id))
    assert "2階から炎" in payload["full_text"]
    await wait_until(lambda: _all_delivered(pool, alert.id, 1))
    assert service.received(far) == []


async def test_an_alert_naming_a_municipality_by_code_reaches_the_residents_inside_it(
    http: aiohttp.ClientSession, service: PushService, pool: asyncpg.Pool,
    producer: AIOKafkaProducer, settings: Settings, tmp_path: Path,
) -> None:  # fmt: skip
    lon, lat = _area()
    town = (lon + 0.2, lat + 0.2, lon + 0.25, lat + 0.25)  # far from the alert's own polygon
    code = f"{uuid.uuid4().int % 90000 + 10000}"
    boundaries = tmp_path / "N03.geojson"
    boundaries.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"N03_004": "テスト町", "N03_007": code},
         "geometry": json.loads(shapely.to_geojson(shapely.box(*town)))}]}))  # fmt: skip
    env = {**os.environ, "DISASTER_DATABASE_URL": settings.database_url or ""}
    status, _, err = await run_cli("city", "import-areas", str(boundaries), env=env)
    assert status == 0, err
    inside_id, inside = await _resident(http, service, lon + 0.22, lat + 0.22)
    _, outside = await _resident(http, service, lon + 0.26, lat + 0.22)
    alert = _alert(lon, lat, area_codes=[code])
    await _issue(pool, producer, alert)
    await wait_until(lambda: _all_delivered(pool, alert.id, 1))
    assert set(await _statuses(pool, alert.id)) == {inside_id}
    assert len(service.received(inside)) == 1
    assert service.received(outside) == []
    async with http.get(f"/api/v1/alerts/{alert.id}/cap") as resp:
        assert f"<value>{code}</value>" in await resp.text()


async def test_pattern_e_says_how_deep_the_water_will_be_at_home_and_which_floor_is_safe(
    http: aiohttp.ClientSession, service: PushService, pool: asyncpg.Pool,
    producer: AIOKafkaProducer,
) -> None:  # fmt: skip
    lon, lat = _area()
    home = (lon + 0.005, lat + 0.005)
    footprint = shapely.box(home[0] - 1e-4, home[1] - 1e-4, home[0] + 1e-4, home[1] + 1e-4)
    risk = FloodRisk(river="新川", rank=3, depth_m=2.4, scale="L2")
    house = Building(id=f"bldg_{uuid.uuid4().hex[:8]}", footprint=footprint, height_m=6.0,
                     storeys=2, usage="411", flood_risks=(risk,), source="test")  # fmt: skip
    async with pool.acquire() as conn:
        await building_store.upsert_buildings(conn, [house])
    _, inside = await _resident(http, service, *home)
    _, dry = await _resident(http, service, lon + 0.002, lat + 0.002)
    alert = _alert(lon, lat)
    await _issue(pool, producer, alert)
    await service.wait_until(lambda: bool(service.received(inside) and service.received(dry)))
    advice = json.loads(service.received(inside)[0].plaintext)
    assert advice["pattern"] == "E"
    assert "2.4" in advice["full_text"]
    assert "3階" in advice["full_text"]
    assert json.loads(service.received(dry)[0].plaintext)["pattern"] == "plain"


async def test_pattern_e_takes_the_depth_of_a_flood_extent_over_the_home(
    http: aiohttp.ClientSession, service: PushService, pool: asyncpg.Pool,
    producer: AIOKafkaProducer,
) -> None:  # fmt: skip
    lon, lat = _area()
    home = (lon + 0.005, lat + 0.005)
    footprint = shapely.box(home[0] - 1e-4, home[1] - 1e-4, home[0] + 1e-4, home[1] + 1e-4)
    shallow = FloodRisk(river="新川", rank=1, depth_m=0.2, scale="L2")  # the model: 0.2 m
    house = Building(id=f"bldg_{uuid.uuid4().hex[:8]}", footprint=footprint, height_m=6.0,
                     storeys=2, usage="411", flood_risks=(shallow,), source="test")  # fmt: skip
    async with pool.acquire() as conn:
        await building_store.upsert_buildings(conn, [house])
    ring = [[lon, lat], [lon + 0.01, lat], [lon + 0.01, lat + 0.01], [lon, lat + 0.01], [lon, lat]]
    extent = {"type": "FeatureCollection", "name": "新川 浸水範囲", "source": f"e-{lon}",
              "features": [{"type": "Feature", "properties": {"depth_rank": 2},
                            "geometry": {"type": "Polygon", "coordinates": [ring]}}]}  # fmt: skip
    async with http.post("/api/v1/flood-extents", json=extent) as resp:
        assert resp.status == 201, await resp.text()
    _, inside = await _resident(http, service, *home)
    await _issue(pool, producer, _alert(lon, lat))
    await service.wait_until(lambda: bool(service.received(inside)))
    advice = json.loads(service.received(inside)[0].plaintext)
    assert advice["pattern"] == "E"
    assert "3.0" in advice["full_text"]  # rank 2 (0.5-3 m) is advised as its upper bound
    assert "3階" in advice["full_text"]
