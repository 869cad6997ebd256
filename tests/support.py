"""Helpers shared by the tests: condition waits, database URLs, sample stations."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import numpy as np
import shapely
from aiohttp import web
from aiokafka import AIOKafkaConsumer
from hypothesis import strategies as st

from disaster import store
from disaster.domain import Alert, PolygonArea, RiverStage, RiverStageEvent, Station, Thresholds
from disaster.rules import alert_for_event
from disaster.settings import Settings
from evac.city import make_town, town_shelters


async def wait_until(
    probe: Callable[[], Awaitable[Any]], *, timeout_s: float = 60.0, interval_s: float = 0.1
) -> Any:
    """Return the first truthy result of ``probe``; fail with the last result after the timeout."""
    deadline = time.monotonic() + timeout_s
    result = await probe()
    while not result:
        if time.monotonic() > deadline:
            msg = f"condition not met within {timeout_s} s; last result: {result!r}"
            raise AssertionError(msg)
        await asyncio.sleep(interval_s)
        result = await probe()
    return result


def with_database(url: str, database: str) -> str:
    """Return ``url`` pointing at another database on the same server."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def square(lon: float, lat: float, size_deg: float = 0.01) -> PolygonArea:
    """Return a square area with its south-west corner at (lon, lat)."""
    ring = [(lon, lat), (lon + size_deg, lat), (lon + size_deg, lat + size_deg),
            (lon, lat + size_deg), (lon, lat)]  # fmt: skip
    return PolygonArea(coordinates=[ring])


def make_station(
    area: PolygonArea, *, station_id: str | None = None, horizon_min: float = 0.0
) -> Station:
    """Return a gauge with thresholds 2.0 / 3.0 / 3.6 / 4.2 m watching ``area``.

    Projection is off unless ``horizon_min`` is given, so threshold tests see thresholds alone.
    """
    return Station(
        id=station_id or f"test-{uuid.uuid4().hex[:12]}",
        name="試験川 観測所",
        thresholds=Thresholds(standby_m=2.0, caution_m=3.0, evacuation_m=3.6, danger_m=4.2),
        gauge_min_m=0.0,
        gauge_max_m=15.0,
        area_name="試験地区",
        area=area,
        projection_horizon_min=horizon_min,
    )


async def projected_flood_alert(
    conn: asyncpg.Connection, area: PolygonArea, minutes: float
) -> Alert:
    """Store a gauge watching ``area`` and its reading, just taken, projected to reach
    氾濫危険水位 in ``minutes``; return the alert the packaged rules issue for it (not stored:
    the caller issues it). Its deadline is what ``disaster.water_deadline`` reads."""
    station = make_station(area)
    await store.upsert_station(conn, station)
    now = datetime.now(UTC)
    event = RiverStageEvent(
        id=uuid.uuid4(), observed_at=now, area_name=station.area_name, area=area,
        station_id=station.id, station_name=station.name, level_m=3.9, stage=RiverStage.DANGER,
        previous_stage=RiverStage.EVACUATION, projected_minutes=minutes,
    )  # fmt: skip
    await store.insert_hazard_event(conn, event)
    alert = alert_for_event(event, issued_at=now)
    assert alert is not None
    assert alert.status == "issued"
    return alert


async def run_cli(*args: str, env: dict[str, str], timeout_s: float = 60.0) -> tuple[int, str, str]:
    """Run ``python -m disaster ARGS`` as a newcomer would; return (status, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "disaster", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = bytearray(), bytearray()

    async def pump(stream: asyncio.StreamReader | None, into: bytearray) -> None:
        assert stream is not None
        while data := await stream.read(65536):
            into.extend(data)

    try:
        await asyncio.wait_for(
            asyncio.gather(pump(proc.stdout, out), pump(proc.stderr, err), proc.wait()), timeout_s
        )
    except TimeoutError:  # say what it was doing: the output so far is kept
        proc.kill()
        await proc.wait()
        tail = (out[-2000:] + b"\n" + err[-6000:]).decode(errors="replace")
        msg = f"disaster {' '.join(args)} ran past {timeout_s} s; its last output:\n{tail}"
        raise AssertionError(msg) from None
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def records_with_key(bootstrap: str, topic: str, key: bytes, expected: int) -> list[dict]:
    """Read ``topic`` from the start until ``expected`` JSON records with ``key`` are found."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"dlq-check-{uuid.uuid4()}",
        auto_offset_reset="earliest",
    )  # fmt: skip
    found: list[dict] = []
    await consumer.start()
    try:

        async def collect() -> bool:
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                found.extend(json.loads(r.value) for r in records if r.key == key)
            return len(found) >= expected

        await wait_until(collect, timeout_s=60)
    finally:
        await consumer.stop()
    return found


async def wait_for_readings(pool: asyncpg.Pool, station_id: str, count: int) -> None:
    """Wait until ``count`` readings of a station are stored (and fail if more are)."""

    async def stored() -> int:
        async with pool.acquire() as conn:
            return int(
                await conn.fetchval(
                    "SELECT count(*) FROM river_readings WHERE station_id = $1", station_id
                )
            )

    await wait_until(lambda: _at_least(stored, count))
    assert await stored() == count


async def _at_least(probe: Callable[[], Awaitable[int]], count: int) -> bool:
    return await probe() >= count


@st.composite
def byte_mutations(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A real sample with up to four stretches overwritten by random bytes: malformed input
    that still looks like the format, to reach past the first check of a parser."""
    raw = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        start = draw(st.integers(0, len(raw)))
        end = draw(st.integers(start, min(len(raw), start + 64)))
        raw[start:end] = draw(st.binary(max_size=16))
    return bytes(raw)


async def load_town(settings: Settings, http: aiohttp.ClientSession) -> dict[str, str]:
    """Make the generated town the service's city and load its shelters through the API;
    return a route query (``from``, ``profile``, ``hazard``) starting south of its river."""
    town = make_town(settings.graph_path, seed=0)
    for shelter in town_shelters(town):
        body = shelter.model_dump(mode="json")
        async with http.put(f"/api/v1/shelters/{shelter.id}", json=body) as resp:
            assert resp.status == 200
    lat = float(shapely.get_coordinates(town.river.exterior)[:, 1].min()) - 0.002
    lon = float(np.median(town.graph.node_lon))
    return {"from": f"{lat},{lon}", "profile": "walk", "hazard": "flood"}


def browser_session(base: str) -> aiohttp.ClientSession:
    """A client keeping cookies as a browser does (also for an IP address host)."""
    return aiohttp.ClientSession(base_url=base, cookie_jar=aiohttp.CookieJar(unsafe=True))


async def new_operator(http: aiohttp.ClientSession, role: str) -> tuple[str, str]:
    """Create an HQ account with ``role`` through the admin API; return (username, password)."""
    name, password = f"{role}-{uuid.uuid4().hex[:6]}", "a long enough passphrase"
    body = {"username": name, "password": password, "role": role}
    async with http.post("/api/v1/operators", json=body) as resp:
        assert resp.status == 201, await resp.text()
    return name, password


async def operator_token(http: aiohttp.ClientSession, role: str) -> tuple[str, dict[str, str]]:
    """Create an HQ account, log in as it and get an API token; return (name, auth headers)."""
    name, password = await new_operator(http, role)
    async with browser_session(str(http._base_url)) as browser:
        login = {"username": name, "password": password}
        async with browser.post("/api/v1/auth/login", json=login) as resp:
            csrf = (await resp.json())["csrf_token"]
        async with browser.post("/api/v1/auth/tokens", json={"name": "test"},
                                headers={"X-CSRF-Token": csrf}) as resp:  # fmt: skip
            token = (await resp.json())["token"]
    return name, {"Authorization": f"Bearer {token}"}


async def seed_push_residents(
    pool: asyncpg.Pool, service: Any, homes: list[tuple[float, float]]
) -> list[str]:
    """COPY one resident per ``(lat, lon)`` home, each with a push subscription of the test
    push ``service`` (tests/notify/push_service.py); return their endpoints, in order."""
    subs = [uuid.uuid4() for _ in homes]
    browsers = [service.subscribe() for _ in homes]
    async with pool.acquire() as conn, conn.transaction():
        await conn.copy_records_to_table(
            "subscribers", records=[(s, "ja") for s in subs], columns=["id", "language"]
        )
        await conn.copy_records_to_table(
            "subscriber_locations", columns=["subscriber_id", "kind", "lat", "lon"],
            records=[(s, "home", lat, lon) for s, (lat, lon) in zip(subs, homes, strict=True)],
        )  # fmt: skip
        await conn.copy_records_to_table(
            "push_channels", columns=["id", "subscriber_id", "endpoint", "p256dh", "auth"],
            records=[(uuid.uuid4(), s, b["endpoint"], b["keys"]["p256dh"], b["keys"]["auth"])
                     for s, b in zip(subs, browsers, strict=True)],
        )  # fmt: skip
    return [str(b["endpoint"]) for b in browsers]


@contextlib.asynccontextmanager
async def served(app: web.Application) -> AsyncIterator[str]:
    """Serve ``app`` on a free port of 127.0.0.1; yield its base URL."""
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def sensor_outcome(pool: asyncpg.Pool, sensor_id: str) -> dict[str, Any]:
    """What a sensor's readings caused, as Postgres holds it: its threshold events
    (``announced``: severity, time, oldest first), its road closure (``closure``: active,
    changed_at) and its evaluation state (``state``: severity, time of the newest reading)."""
    async with pool.acquire() as conn:
        announced = await conn.fetch(
            """SELECT body->>'severity' AS severity, observed_at FROM hazard_events
               WHERE source_id = $1 AND kind = 'sensor.threshold' ORDER BY observed_at""",
            sensor_id,
        )
        closure = await conn.fetchrow(
            "SELECT active, changed_at FROM road_closures WHERE source_id = $1", sensor_id
        )
        state = await conn.fetchrow(
            "SELECT severity, observed_at FROM sensor_states WHERE sensor_id = $1", sensor_id
        )
    return {
        "announced": [(r["severity"], r["observed_at"]) for r in announced],
        "closure": None if closure is None else (closure["active"], closure["changed_at"]),
        "state": None if state is None else (state["severity"], state["observed_at"]),
    }
