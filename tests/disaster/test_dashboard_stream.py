"""The dashboard's data routes over real HTTP: the state, the roads, and the live stream.

Each event type is caused through the real pipeline where there is one (the API, the broker
and the ingest consumers), and the stream must then send it: Postgres triggers announce every
change on commit, so a second web process on the same database sees the same events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiokafka import AIOKafkaProducer

from disaster import topics
from disaster._kafka import encode_json
from disaster.app import create_app
from disaster.domain import GeoPoint
from disaster.services import Running
from disaster.settings import Settings
from tests.support import load_town, make_station, operator_token, square, wait_until

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
VXWW = DATA / "jma_xml" / "17_01_01_190529_VXWW50.xml"
WAIT_S = 30.0
Event = tuple[str, dict[str, Any]]


class EventReader:
    """Reads a dashboard stream in the background; ``next`` waits for a matching event."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.events: list[Event] = []
        self._arrived = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        kind, data = "message", []
        async for raw in self._response.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data.append(line.removeprefix("data: "))
            elif not line and data:
                self.events.append((kind, json.loads("\n".join(data))))
                self._arrived.set()
                kind, data = "message", []

    async def next(self, kind: str, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """Return the first ``kind`` event (seen or to come) for which ``match`` holds."""

        async def found() -> dict[str, Any] | None:
            for seen, data in self.events:
                if seen == kind and match(data):
                    return data
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), 0.5)
            return None

        return await wait_until(found, timeout_s=WAIT_S, interval_s=0)  # type: ignore[no-any-return]

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError):
            await self._task
        self._response.close()


@contextlib.asynccontextmanager
async def open_stream(
    session: aiohttp.ClientSession, url: str = "/api/v1/dashboard/stream"
) -> AsyncIterator[EventReader]:
    """Open the stream, wait until it is connected, and read it until the block ends."""
    response = await session.get(url, timeout=aiohttp.ClientTimeout(total=None))
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert await response.content.readline() == b"retry: 2000\n"
    assert await response.content.readline() == b": connected\n"
    reader = EventReader(response)
    try:
        yield reader
    finally:
        await reader.close()


@pytest.fixture
async def stream(http: aiohttp.ClientSession) -> AsyncIterator[EventReader]:
    async with open_stream(http) as reader:
        yield reader


async def _report(http: aiohttp.ClientSession, body: dict[str, Any]) -> str:
    async with http.post("/api/v1/incidents", json=body) as resp:
        assert resp.status == 202, await resp.text()
        report_id = (await resp.json())["report_id"]
    return str(uuid.uuid5(uuid.UUID(report_id), "incident"))


# --- access and the first load ------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/v1/dashboard/state", "/api/v1/dashboard/stream", "/api/v1/roads.geojson"]
)
async def test_the_data_needs_a_logged_in_viewer(
    anonymous: aiohttp.ClientSession, path: str
) -> None:
    async with anonymous.get(path) as resp:
        assert resp.status == 401
        assert "log in" in (await resp.json())["reason"]


async def test_a_viewer_gets_the_state_the_roads_and_the_stream(
    running: Running, settings: Settings, http: aiohttp.ClientSession
) -> None:
    await load_town(settings, http)
    _, viewer = await operator_token(http, "viewer")
    async with aiohttp.ClientSession(base_url=running.base_url, headers=viewer) as session:
        async with session.get("/api/v1/dashboard/state") as resp:
            assert resp.status == 200
            state = await resp.json()
        async with session.get("/api/v1/roads.geojson") as resp:
            assert resp.status == 200
            assert resp.content_type == "application/geo+json"
            roads = await resp.json()
        async with open_stream(session):
            pass
    assert set(state) == {"alerts", "stations", "sensors", "weather", "incidents", "closures",
                          "shelters", "areas", "has_buildings"}  # fmt: skip
    assert state["shelters"], "the town's shelters are part of the picture"
    assert roads["type"] == "FeatureCollection"
    kinds = {f["properties"]["kind"] for f in roads["features"]}
    assert "residential" in kinds
    assert all(f["geometry"]["type"] == "MultiLineString" for f in roads["features"])
    lon0, lat0, lon1, lat1 = roads["bbox"]
    assert lon0 < lon1
    assert lat0 < lat1


# --- each event type after its cause ---------------------------------------------------------


async def test_an_incident_reported_through_the_api_arrives(
    stream: EventReader, http: aiohttp.ClientSession
) -> None:
    body = {"kind": "fire", "severity": "high", "location": {"lat": 33.5, "lon": 152.1},
            "reporter": {"role": "resident"}, "description": "試験の火災"}  # fmt: skip
    incident_id = await _report(http, body)
    event = await stream.next("incident", lambda d: d["id"] == incident_id)
    assert (event["kind"], event["status"], event["report_count"]) == ("fire", "open", 1)


async def test_a_blocked_road_arrives_as_a_closure_on_the_road(
    stream: EventReader, http: aiohttp.ClientSession
) -> None:
    lon, lat = 152.5 + uuid.uuid4().int % 1000 / 1000, 31.0
    line = [{"lat": lat, "lon": lon}, {"lat": lat + 0.001, "lon": lon + 0.001}]
    incident_id = await _report(http, {"kind": "blocked_road", "line": line,
                                       "reporter": {"role": "staff"}})  # fmt: skip
    closure = await stream.next("closure", lambda d: d["id"] == f"incident:{incident_id}")
    assert closure["active"] is True
    assert closure["geometry"]["type"] == "LineString"


async def test_a_gauge_reading_arrives_with_level_trend_and_stage(
    stream: EventReader, http: aiohttp.ClientSession, producer: AIOKafkaProducer
) -> None:
    station = make_station(square(153.0, 32.0)).model_copy(
        update={"location": GeoPoint(lat=32.005, lon=153.005)}
    )
    async with http.put(f"/api/v1/stations/{station.id}", json=station.model_dump(mode="json")):
        pass
    await stream.next("station", lambda d: d["id"] == station.id)
    now = datetime.now(UTC).replace(microsecond=0)
    for minutes_ago, level in ((30, 2.5), (0, 3.1)):
        at = now.timestamp() - minutes_ago * 60
        body = {"station_id": station.id, "level_m": level,
                "observed_at": datetime.fromtimestamp(at, UTC).isoformat()}  # fmt: skip
        await producer.send_and_wait(topics.RIVER_RAW, encode_json(body), key=station.id.encode())
    event = await stream.next(
        "station", lambda d: d["id"] == station.id and len(d["readings"]) == 2
    )
    assert [r["level_m"] for r in event["readings"]] == [2.5, 3.1]
    assert event["trend_m_per_h"] == pytest.approx(1.2)
    assert event["thresholds"]["caution_m"] == 3.0
    await stream.next("station", lambda d: d["id"] == station.id and d["stage"] == 2)


async def test_a_sensor_arrives_and_again_when_it_falls_silent(
    stream: EventReader, http: aiohttp.ClientSession
) -> None:
    sensor_id = f"rain-{uuid.uuid4().hex[:8]}"
    body = {"expected_interval_s": 1.0, "location": {"lat": 34.0, "lon": 154.0}}
    async with http.put(f"/api/v1/sensors/{sensor_id}", json=body) as resp:
        assert resp.status == 201
    first = await stream.next("sensor", lambda d: d["id"] == sensor_id)
    assert (first["lat"], first["lon"]) == (34.0, 154.0)
    silent = await stream.next("sensor", lambda d: d["id"] == sensor_id and d["silent"])
    assert silent["expected_interval_s"] == 1.0


async def test_a_jma_warning_arrives_with_its_areas(
    stream: EventReader, producer: AIOKafkaProducer
) -> None:
    office = f"試験気象台{uuid.uuid4().hex[:6]}"
    raw = VXWW.read_bytes().replace("福岡管区気象台".encode(), office.encode())
    await producer.send_and_wait(topics.WEATHER_RAW, raw, key=office.encode())
    event = await stream.next("weather", lambda d: office in d["series"])
    assert event["source"] == "jma"
    assert any(item["areas"] for item in event["items"])


async def test_a_shelter_change_arrives(
    stream: EventReader, settings: Settings, http: aiohttp.ClientSession
) -> None:
    await load_town(settings, http)
    async with http.get("/api/v1/shelters") as resp:
        shelter = (await resp.json())[0]
    body = {"open": shelter["open"], "occupancy": shelter["occupancy"] + 7}
    async with http.patch(f"/api/v1/shelters/{shelter['id']}", json=body) as resp:
        assert resp.status == 200
    event = await stream.next(
        "shelter", lambda d: d["id"] == shelter["id"] and d["occupancy"] == body["occupancy"]
    )
    assert event["name"] == shelter["name"]


async def test_an_alerts_states_and_its_delivery_arrive(
    stream: EventReader, http: aiohttp.ClientSession
) -> None:
    lon, lat = 155.0 + uuid.uuid4().int % 1000 / 1000, 35.0
    resident = {"location": {"lat": lat + 0.002, "lon": lon + 0.002}, "language": "ja",
                "needs": ["wheelchair"]}  # fmt: skip
    async with http.post("/api/v1/subscribers", json=resident) as resp:
        sub = await resp.json()
    draft = {
        "level": 4,
        "hazard": "flood",
        "area_name": "試験区",
        "area": square(lon, lat).model_dump(mode="json"),
        "headline": {"ja": "避難指示"},
    }
    async with http.post("/api/v1/alerts/drafts", json=draft) as resp:
        alert_id = (await resp.json())["id"]
    await stream.next("alert", lambda d: d["id"] == alert_id and d["status"] == "draft")
    async with http.post(f"/api/v1/alerts/{alert_id}/approve") as resp:
        assert resp.status == 200
    approved = await stream.next(
        "alert", lambda d: d["id"] == alert_id and d["status"] == "approved"
    )
    assert (len(approved["approved_by"]), approved["approvals_needed"]) == (1, 1)
    async with http.post(f"/api/v1/alerts/{alert_id}/issue") as resp:
        assert resp.status == 200
    await stream.next("alert", lambda d: d["id"] == alert_id and d["status"] == "issued")
    progress = await stream.next(
        "delivery", lambda d: d["alert_id"] == alert_id and d["delivered"] >= 1
    )
    assert progress["targeted"] >= 1
    assert progress["vulnerable_unanswered"] >= 1
    auth = {"Authorization": f"Bearer {sub['token']}"}
    answer = {"status": "safe", "alert_id": alert_id}
    async with http.post(f"/api/v1/subscribers/{sub['id']}/answers", json=answer,
                         headers=auth) as resp:  # fmt: skip
        assert resp.status == 201, await resp.text()
    answered = await stream.next("delivery", lambda d: d["alert_id"] == alert_id and d["safe"] == 1)
    assert answered["answered"] == 1
    async with http.post(f"/api/v1/alerts/{alert_id}/cancel", json={"all_clear": False}) as resp:
        cancel_id = (await resp.json())["id"]
    await stream.next("alert", lambda d: d["id"] == alert_id and d["status"] == "cancelled")
    cancel = await stream.next("alert", lambda d: d["id"] == cancel_id)
    assert (cancel["msg_type"], cancel["status"]) == ("Cancel", "issued")


async def test_another_web_process_streams_the_same_changes(
    running: Running, settings: Settings, http: aiohttp.ClientSession
) -> None:
    """A change made through one process reaches the streams of another on the same database."""
    app = create_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        async with (
            aiohttp.ClientSession(
                base_url=f"http://{host}:{port}", headers=dict(http.headers)
            ) as other,
            open_stream(other) as reader,
        ):
            body = {"kind": "collapse", "location": {"lat": 36.0, "lon": 156.0},
                    "reporter": {"role": "staff"}}  # fmt: skip
            incident_id = await _report(http, body)  # through the first process
            event = await reader.next("incident", lambda d: d["id"] == incident_id)
        assert event["kind"] == "collapse"
    finally:
        await runner.cleanup()


async def test_closing_a_shelter_on_the_dashboard_reroutes_those_sent_to_it(
    stream: EventReader, settings: Settings, http: aiohttp.ClientSession
) -> None:
    """The dashboard closes a shelter with PATCH; every web process's router takes the change
    in before its next answer (it compares the shelters' newest change time), so the residents
    who were sent there get another shelter at once."""
    query = await load_town(settings, http)
    before = await _route(http, query)
    assert before["shelter_id"], before
    url = f"/api/v1/shelters/{before['shelter_id']}"
    async with http.get(url) as resp:
        shelter = await resp.json()
    try:
        async with http.patch(url, json={"open": False, "occupancy": 0}) as resp:
            assert resp.status == 200
        await stream.next("shelter", lambda d: d["id"] == shelter["id"] and not d["open"])
        after = await _route(http, query)
        assert after["shelter_id"] not in (None, before["shelter_id"]), after
    finally:
        body = {"open": shelter["open"], "occupancy": shelter["occupancy"]}
        async with http.patch(url, json=body) as resp:
            assert resp.status == 200
    assert (await _route(http, query))["shelter_id"] == before["shelter_id"]


async def _route(http: aiohttp.ClientSession, query: dict[str, str]) -> dict[str, Any]:
    async with http.get("/api/v1/route", params=query) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()  # type: ignore[no-any-return]
