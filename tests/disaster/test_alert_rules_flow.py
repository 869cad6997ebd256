"""Rules through the running service: a real JMA warning becomes a draft for the city's
municipality (not an issued alert), which reaches residents only once operators issue it; and
the preview of a draft says which shelters its residents would be sent to."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import asyncpg
import shapely
from aiokafka import AIOKafkaProducer

from disaster import area_store, topics
from disaster.settings import Settings
from tests.support import load_town, operator_token, square, wait_until

JMA = Path(__file__).parents[3] / "shared" / "data" / "jma_xml"
#: 大雨警報 and 洪水警報 newly issued (発表) for 千代田区 (1310100) among others, level 3.
WARNING = JMA / "15_12_02_161130_VPWW53.xml"


async def _resident(http: aiohttp.ClientSession, lon: float, lat: float, **extra: object) -> str:
    body = {"locations": {"home": {"lat": lat, "lon": lon}}, **extra}
    async with http.post("/api/v1/subscribers", json=body) as resp:
        assert resp.status == 201, await resp.text()
        return (await resp.json())["id"]


async def _drafts_for(pool: asyncpg.Pool, code: str) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        return await conn.fetch(
            "SELECT id, status, level, hazard, created_by FROM alerts WHERE $1 = ANY(area_codes)",
            code,
        )


async def _inbox(pool: asyncpg.Pool, alert_id: uuid.UUID) -> set[str]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT subscriber_id FROM deliveries WHERE alert_id = $1", alert_id
        )
    return {str(r["subscriber_id"]) for r in rows}


async def test_a_jma_warning_is_drafted_for_the_city_and_reaches_residents_once_issued(
    http: aiohttp.ClientSession, pool: asyncpg.Pool, producer: AIOKafkaProducer
) -> None:
    # The city is a made-up municipality standing where the report says 千代田区: a fresh code
    # and a fresh report time, so this test's report and area are its own.
    code = f"{random.randrange(10000, 99999)}"
    lon, lat = 170.0 + random.random(), -45.0 + random.random()
    town = shapely.box(lon, lat, lon + 0.05, lat + 0.05)
    async with pool.acquire() as conn:
        await area_store.upsert_areas(
            conn, [(code, "試験市", json.loads(shapely.to_geojson(town)))], "test"
        )
    inside = await _resident(http, lon + 0.01, lat + 0.01)
    outside = await _resident(http, lon + 0.10, lat + 0.01)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    raw = WARNING.read_text(encoding="utf-8").replace("1310100", f"{code}00")
    raw = raw.replace("2016-02-12T14:22:00+09:00", stamp)
    await producer.send_and_wait(topics.WEATHER_RAW, raw.encode(), key=b"test-office")

    await wait_until(lambda: _drafts_for(pool, code), timeout_s=30)
    (draft,) = await _drafts_for(pool, code)
    assert (draft["status"], draft["level"], draft["created_by"]) == (
        "draft", 3, "rule:jma-warnings")  # fmt: skip
    assert draft["hazard"] == "flood"
    assert await _inbox(pool, draft["id"]) == set()  # nobody is told before HQ decides

    _, operator = await operator_token(http, "operator")
    async with http.get(f"/api/v1/alerts/{draft['id']}/preview", headers=operator) as resp:
        assert (await resp.json())["residents"] == 1
    for step in ("approve", "issue"):
        async with http.post(f"/api/v1/alerts/{draft['id']}/{step}", headers=operator) as resp:
            assert resp.status == 200, await resp.text()

    async def told() -> bool:
        return inside in await _inbox(pool, draft["id"])

    await wait_until(told, timeout_s=30)
    assert outside not in await _inbox(pool, draft["id"])


async def test_the_preview_names_the_shelters_its_residents_would_be_sent_to(
    http: aiohttp.ClientSession, settings: Settings
) -> None:
    params = await load_town(settings, http)
    lat, lon = (float(v) for v in params["from"].split(","))
    await _resident(http, lon, lat)
    await _resident(http, lon + 0.0005, lat, needs=["wheelchair"])
    draft_in = {"level": 4, "hazard": "flood", "area_name": "南地区",
                "area": square(lon - 0.001, lat - 0.001, 0.002).model_dump(mode="json"),
                "headline": {"ja": "避難してください。"}}  # fmt: skip
    _, operator = await operator_token(http, "operator")
    async with http.post("/api/v1/alerts/drafts", json=draft_in, headers=operator) as resp:
        draft = await resp.json()
    async with http.get(f"/api/v1/alerts/{draft['id']}/preview", headers=operator) as resp:
        preview = await resp.json()
    assert preview["residents"] >= 2
    assert preview["vulnerable"] >= 1
    shelters = preview["shelters"]
    assert shelters, preview
    assert sum(s["residents"] for s in shelters) + preview["no_shelter"] == preview["residents"]
    async with http.get("/api/v1/shelters") as resp:
        known = {s["id"]: s["name"] for s in await resp.json()}
    assert all(known[s["id"]] == s["name"] for s in shelters)
    async with http.get("/api/v1/route", params=params) as resp:
        walked_to = (await resp.json())["shelter_id"]
    assert walked_to in {s["id"] for s in shelters}
