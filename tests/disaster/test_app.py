"""The HTTP API over real HTTP: validation errors, documents, health, and the event stream."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import UTC, datetime

import aiohttp
import pytest

from disaster import store
from disaster.domain import Alert, AlertLevel
from disaster.services import Running
from tests.support import make_station, square


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"{not json", 400, "not JSON"),
        (b'{"language": "ja"}', 422, "needs at least one location"),
        (b'{"location": {"lat": 95, "lon": 139}}', 422, "location.lat"),
        (b'{"location": {"lat": 35, "lon": 139}, "language": "fr"}', 422, "language"),
        (b'{"location": {"lat": 35, "lon": 139}, "role": "admin"}', 422, "role"),
        (b"[]", 422, "Input should be"),
    ],
)
async def test_bad_registrations_get_4xx_with_a_reason(
    http: aiohttp.ClientSession, body: bytes, status: int, reason: str
) -> None:
    headers = {"Content-Type": "application/json"}
    async with http.post("/api/v1/subscribers", data=body, headers=headers) as resp:
        assert resp.status == status
        assert reason in (await resp.json())["reason"]


async def test_a_registration_is_stored_and_its_inbox_starts_empty(
    http: aiohttp.ClientSession,
) -> None:
    body = {"location": {"lat": 35.6595, "lon": 139.7005}, "language": "en"}
    async with http.post("/api/v1/subscribers", json=body) as resp:
        assert resp.status == 201
        created = await resp.json()
    assert created["location"] == body["location"]
    assert created["language"] == "en"
    inbox = f"/api/v1/subscribers/{created['id']}/inbox"
    async with http.get(inbox, headers={"Authorization": f"Bearer {created['token']}"}) as resp:
        assert resp.status == 200
        assert await resp.json() == []
    async with http.get(inbox) as resp:
        assert resp.status == 401


@pytest.mark.parametrize(
    ("path", "status", "reason"),
    [
        ("/api/v1/subscribers/not-a-uuid/inbox", 400, "UUID"),
        (f"/api/v1/subscribers/{uuid.UUID(int=0)}/inbox", 404, "no subscriber"),
        ("/api/v1/alerts?limit=abc", 400, "limit"),
        ("/api/v1/alerts?limit=0", 400, "limit"),
        ("/api/v1/nothing-here", 404, "Not Found"),
    ],
)
async def test_bad_lookups_get_4xx_with_a_reason(
    http: aiohttp.ClientSession, path: str, status: int, reason: str
) -> None:
    async with http.get(path) as resp:
        assert resp.status == status
        assert reason in (await resp.json())["reason"]


async def test_openapi_document_lists_every_route(http: aiohttp.ClientSession) -> None:
    async with http.get("/api/v1/openapi.json") as resp:
        doc = await resp.json()
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {
        "/healthz",
        "/api/v1/events",
        "/api/v1/incidents",
        "/api/v1/incidents/{id}",
        "/api/v1/incidents/{id}/resolve",
        "/api/v1/sensors/{id}",
        "/api/v1/sensors/readings",
        "/api/v1/route",
        "/api/v1/shelters",
        "/api/v1/shelters/{id}",
        "/api/v1/weather/reports",
        "/api/v1/stations",
        "/api/v1/stations/{id}",
        "/api/v1/subscribers",
        "/api/v1/subscribers/{id}",
        "/api/v1/subscribers/{id}/inbox",
        "/api/v1/subscribers/{id}/push",
        "/api/v1/subscribers/{id}/answers",
        "/api/v1/push/key",
        "/api/v1/alerts/{id}/answers",
        "/api/v1/alerts/{id}/cap",
        "/api/v1/alerts.atom",
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/auth/me",
        "/api/v1/auth/tokens",
        "/api/v1/operators",
        "/api/v1/audit",
        "/api/v1/alerts/drafts",
        "/api/v1/alerts/{id}/approve",
        "/api/v1/alerts/{id}/issue",
        "/api/v1/alerts/{id}/update",
        "/api/v1/alerts/{id}/cancel",
        "/api/v1/alerts/{id}/versions",
        "/api/v1/alerts/{id}/preview",
        "/api/v1/alerts",
        "/api/v1/stream",
        "/api/v1/dashboard/state",
        "/api/v1/dashboard/stream",
        "/api/v1/roads.geojson",
        "/api/v1/flood-extents",
        "/api/v1/flood-extents/{id}/withdraw",
        "/api/v1/buildings.geojson",
        "/api/v1/damage",
    }
    assert {"Alert", "Subscriber", "SubscriberIn", "Error"} <= set(doc["components"]["schemas"])


async def test_health_and_metrics(http: aiohttp.ClientSession) -> None:
    async with http.get("/healthz") as resp:
        assert resp.status == 200
        body = await resp.json()
    assert (body["status"], body["failing"]) == ("ok", [])
    assert {"database", "broker", "broker watch", "consumer river.raw", "alert stream listener",
            "dashboard listener"} <= set(body["components"])  # fmt: skip
    async with http.get("/metrics") as resp:
        assert resp.status == 200
        assert "disaster_records_stored_total" in await resp.text()


async def test_the_stream_sends_each_new_alert_and_the_list_shows_it(
    running: Running, http: aiohttp.ClientSession
) -> None:
    alert = Alert(
        id=uuid.uuid4(),
        level=AlertLevel.EVACUATE,
        hazard="flood",
        area_name="試験地区",
        area=square(142.0, 38.0),
        headline={"ja": "【警戒レベル4】試験", "en": "[Alert level 4] test"},
        issued_at=datetime.now(UTC),
    )
    async with http.get("/api/v1/stream") as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        assert await stream.content.readline() == b"retry: 2000\n"
        assert await stream.content.readline() == b": connected\n"
        async with running.pool.acquire() as conn, conn.transaction():
            await store.insert_alert(conn, alert)
        event = await asyncio.wait_for(_next_event(stream), timeout=10)
    assert event["event"] == "alert"
    assert json.loads(event["data"])["id"] == str(alert.id)
    async with http.get("/api/v1/alerts?limit=500") as resp:
        assert str(alert.id) in [a["id"] for a in await resp.json()]


async def _next_event(stream: aiohttp.ClientResponse) -> dict[str, str]:
    fields: dict[str, str] = {}
    async for raw in stream.content:
        line = raw.decode().rstrip("\n")
        if not line:
            if fields:
                return fields
            continue
        if not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value
    msg = "stream ended"
    raise AssertionError(msg)


async def test_stations_are_created_updated_and_listed(http: aiohttp.ClientSession) -> None:
    station = make_station(square(143.0, 39.0), horizon_min=45)
    body = station.model_dump(mode="json", exclude={"id"})
    async with http.put(f"/api/v1/stations/{station.id}", json=body) as resp:
        assert resp.status == 201, await resp.text()
        created = await resp.json()
    assert created["thresholds"] == station.thresholds.model_dump()
    assert (created["stage"], created["projection_horizon_min"]) == (0, 45)
    async with http.put(f"/api/v1/stations/{station.id}", json={**body, "name": "改名"}) as resp:
        assert resp.status == 200
    async with http.get(f"/api/v1/stations/{station.id}") as resp:
        assert (await resp.json())["name"] == "改名"
    async with http.get("/api/v1/stations") as resp:
        assert station.id in [s["id"] for s in await resp.json()]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"thresholds": {"standby_m": 3, "caution_m": 2, "evacuation_m": 4, "danger_m": 5}},
         "thresholds must rise"),
        ({"gauge_max_m": 4.0}, "enclose"),
        ({"id": "another"}, "differs"),
        ({"area": {"type": "Polygon", "coordinates": [[[139, 35], [139.1, 35], [139, 35]]]}},
         "at least 4"),
        ({"projection_horizon_min": -1}, "projection_horizon_min"),
    ],
)  # fmt: skip
async def test_bad_stations_get_422_with_a_reason(
    http: aiohttp.ClientSession, change: dict, reason: str
) -> None:
    station = make_station(square(143.0, 39.0))
    body = {**station.model_dump(mode="json"), **change}
    async with http.put(f"/api/v1/stations/{station.id}", json=body) as resp:
        assert resp.status == 422
        assert reason in (await resp.json())["reason"]
    async with http.get(f"/api/v1/stations/{station.id}") as resp:
        assert resp.status == 404


async def test_the_access_log_never_holds_a_residents_position(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="aiohttp.access"):
        async with http.get("/api/v1/route", params={"from": "35.123456,139.654321"}) as resp:
            await resp.read()
        body = {"locations": {"home": {"lat": 35.987654, "lon": 139.876543}}}
        async with http.post("/api/v1/subscribers", json=body) as resp:
            assert resp.status == 201
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert any("/api/v1/route" in line for line in lines)
    assert not any(s in line for line in lines for s in ("35.12", "139.65", "35.98", "139.87"))
