"""Incidents through HTTP, Kafka and Postgres: merging, road closures, resolution, bad input."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
import shapely
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from disaster import topics
from disaster.domain import GeoPoint
from disaster.domain.incident import IncidentReport, OpenIncident, Reporter, merge_target
from disaster.exercise import exercise_headers
from disaster.services import Running
from tests.support import wait_until


def _report(lon: float, lat: float, kind: str = "fire", **extra: object) -> dict:
    return {"kind": kind, "location": {"lat": lat, "lon": lon}, "severity": "high",
            "description": "煙が見える", "reporter": {"role": "resident"}, **extra}  # fmt: skip


async def _post(http: aiohttp.ClientSession, body: dict) -> str:
    async with http.post("/api/v1/incidents", json=body) as resp:
        assert resp.status == 202, await resp.text()
        return (await resp.json())["report_id"]


async def _incident_of(running: Running, report_id: str) -> str | None:
    async with running.pool.acquire() as conn:
        found = await conn.fetchval(
            "SELECT incident_id FROM incident_reports WHERE id = $1", uuid.UUID(report_id)
        )
    return None if found is None else str(found)


async def test_reports_of_one_fire_merge_and_a_far_one_does_not(
    running: Running, http: aiohttp.ClientSession
) -> None:
    lon, lat = 150.0 + uuid.uuid4().int % 1000 / 1000, 30.0
    first = await _post(http, _report(lon, lat))
    near = await _post(http, _report(lon + 0.0005, lat + 0.0005, severity="critical"))  # ~70 m
    far = await _post(http, _report(lon + 0.01, lat))  # ~960 m
    other_kind = await _post(http, _report(lon, lat, kind="collapse"))
    retried_id = str(uuid.uuid4())
    for _ in range(2):  # a client retrying the same report
        await _post(http, _report(lon, lat, report_id=retried_id))

    ids = [await wait_until(lambda r=r: _incident_of(running, r)) for r in
           (first, near, far, other_kind, retried_id)]  # fmt: skip
    assert ids[0] == ids[1] == ids[4]
    assert len({ids[0], ids[2], ids[3]}) == 3
    async with http.get(f"/api/v1/incidents/{ids[0]}") as resp:
        merged = await resp.json()
    assert (merged["report_count"], merged["severity"], merged["status"]) == (3, "critical", "open")


async def test_drill_reports_merge_only_with_their_own_runs_incidents(
    running: Running, http: aiohttp.ClientSession, producer: AIOKafkaProducer
) -> None:
    lon, lat = 150.0 + uuid.uuid4().int % 1000 / 1000, 29.0
    real = await _post(http, _report(lon, lat))
    drills = []
    for run in (str(uuid.uuid4()), str(uuid.uuid4())):  # two runs of one scenario, at once
        for dlon in (0.0, 0.0002):
            body = {**_report(lon + dlon, lat), "action": "report",
                    "report_id": str(uuid.uuid4())}  # fmt: skip
            await producer.send_and_wait(
                topics.INCIDENT_RAW, json.dumps(body).encode(), headers=exercise_headers(run)
            )
            drills.append(body["report_id"])
    real_again = await _post(http, _report(lon + 0.0001, lat))

    ids = [await wait_until(lambda r=r: _incident_of(running, r)) for r in
           (real, real_again, *drills)]  # fmt: skip
    assert ids[0] == ids[1]  # the real incident, confirmed by a real report only
    assert ids[2] == ids[3]
    assert ids[4] == ids[5]
    assert len({ids[0], ids[2], ids[4]}) == 3


async def test_a_blocked_road_closes_it_and_resolving_reopens_it(
    running: Running, http: aiohttp.ClientSession, bootstrap: str
) -> None:
    lon, lat = 151.0 + uuid.uuid4().int % 1000 / 1000, 30.0
    line = [{"lat": lat, "lon": lon}, {"lat": lat + 0.001, "lon": lon + 0.001}]
    body = {"kind": "blocked_road", "line": line, "reporter": {"role": "staff", "id": "s-12"},
            "description": "倒木で通行止め"}  # fmt: skip
    report_id = await _post(http, body)
    incident_id = await wait_until(lambda: _incident_of(running, report_id))
    async with http.post(
        f"/api/v1/incidents/{incident_id}/resolve", json={"resolved_by": {"role": "staff"}}
    ) as resp:
        assert resp.status == 202
    states = await _closure_states(bootstrap, f"incident:{incident_id}", 2)
    assert [s["active"] for s in states] == [True, False]
    assert states[0]["geometry"] == {
        "type": "LineString", "coordinates": [[p["lon"], p["lat"]] for p in line],
    }  # fmt: skip
    async with http.get(f"/api/v1/incidents/{incident_id}") as resp:
        assert (await resp.json())["status"] == "resolved"
    async with http.post(
        f"/api/v1/incidents/{incident_id}/resolve", json={"resolved_by": {"role": "staff"}}
    ) as resp:
        assert resp.status == 409


def _square(lon: float, lat: float, half: float) -> dict:
    ring = [[lon - half, lat - half], [lon + half, lat - half], [lon + half, lat + half],
            [lon - half, lat + half], [lon - half, lat - half]]  # fmt: skip
    return {"type": "Polygon", "coordinates": [ring]}


async def test_a_flooded_area_closes_its_roads_widens_with_reports_and_reopens(
    running: Running, http: aiohttp.ClientSession, bootstrap: str
) -> None:
    lon, lat = 152.0 + uuid.uuid4().int % 1000 / 1000, 30.0
    first_area, second_area = _square(lon, lat, 0.004), _square(lon + 0.0035, lat, 0.004)
    flooding = {"kind": "flooding", "reporter": {"role": "staff"}, "description": "冠水"}
    first = await _post(http, {**flooding, "area": first_area})
    incident_id = await wait_until(lambda: _incident_of(running, first))
    # ~330 m east: too far for the point rule, but this outline holds the first report's place
    second = await _post(http, {**flooding, "area": second_area})
    assert await wait_until(lambda: _incident_of(running, second)) == incident_id
    async with http.post(
        f"/api/v1/incidents/{incident_id}/resolve", json={"resolved_by": {"role": "staff"}}
    ) as resp:
        assert resp.status == 202

    states = await _closure_states(bootstrap, f"incident:{incident_id}:area", 3)
    assert [s["active"] for s in states] == [True, True, False]
    union = shapely.union(shapely.geometry.shape(first_area), shapely.geometry.shape(second_area))
    assert shapely.geometry.shape(states[0]["geometry"]).equals(shapely.geometry.shape(first_area))
    assert shapely.geometry.shape(states[1]["geometry"]).equals(union)
    async with http.get(f"/api/v1/incidents/{incident_id}") as resp:
        shown = await resp.json()
    assert (shown["report_count"], shown["status"]) == (2, "resolved")
    assert shapely.geometry.shape(shown["area"]).equals(union)


def test_an_area_report_merges_with_an_open_incident_inside_it() -> None:
    now = datetime.now(UTC)
    report = IncidentReport.model_validate({
        "kind": "flooding", "area": _square(139.0, 35.0, 0.01), "reporter": {"role": "staff"},
        "reported_at": now.isoformat(),
    })  # fmt: skip
    inside = OpenIncident(id=uuid.uuid4(), kind="flooding", last_reported_at=now,
                          position=GeoPoint(lat=35.009, lon=139.009))  # fmt: skip
    outside = inside.model_copy(update={"position": GeoPoint(lat=35.02, lon=139.0)})
    assert merge_target(report, [outside, inside]) == inside
    assert merge_target(report, [outside]) is None


async def _closure_states(bootstrap: str, closure_id: str, expected: int) -> list[dict]:
    consumer = AIOKafkaConsumer(
        topics.ROAD_CLOSURES, bootstrap_servers=bootstrap, group_id=f"c-{uuid.uuid4()}",
        auto_offset_reset="earliest",
    )  # fmt: skip
    states: list[dict] = []
    await consumer.start()
    try:

        async def collect() -> bool:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                states.extend(json.loads(r.value) for r in records if r.key == closure_id.encode())
            return len(states) >= expected

        await wait_until(collect)
    finally:
        await consumer.stop()
    return states


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"kind": "fire", "reporter": {"role": "resident"}}, "needs a location"),
        ({"kind": "meteor", "location": {"lat": 35, "lon": 139},
          "reporter": {"role": "resident"}}, "kind"),
        ({"kind": "fire", "location": {"lat": 35, "lon": 139}}, "reporter: Field required"),
        ({"kind": "fire", "location": {"lat": 35, "lon": 139}, "reporter": {"role": "mayor"}},
         "reporter.role"),
        ({"action": "resolve", "incident_id": str(uuid.uuid4())}, "only reports"),
        ({"kind": "flooding", "reporter": {"role": "staff"}, "area": {"type": "Polygon",
          "coordinates": [[[139, 35], [139.01, 35.01], [139.01, 35], [139, 35.01], [139, 35]]]}},
         "Self-intersection"),
        ({"kind": "flooding", "reporter": {"role": "staff"}, "area": _square(139, 35, 0.1)},
         "more than the 50 km²"),
    ],
)  # fmt: skip
async def test_bad_reports_get_422(http: aiohttp.ClientSession, body: dict, reason: str) -> None:
    async with http.post("/api/v1/incidents", json=body) as resp:
        assert resp.status == 422
        assert reason in (await resp.json())["reason"]


async def test_resolving_an_unknown_incident_is_404(http: aiohttp.ClientSession) -> None:
    url = f"/api/v1/incidents/{uuid.uuid4()}/resolve"
    async with http.post(url, json={"resolved_by": {"role": "staff"}}) as resp:
        assert resp.status == 404


def test_merge_prefers_the_nearest_open_incident_of_the_same_kind() -> None:
    now = datetime(2026, 6, 3, tzinfo=UTC)
    report = IncidentReport(
        kind="fire", location=GeoPoint(lat=35.0, lon=139.0),
        reporter=Reporter(role="resident"), reported_at=now,
    )  # fmt: skip

    def open_at(lat: float, kind: str = "fire", age_h: float = 0) -> OpenIncident:
        return OpenIncident(
            id=uuid.uuid4(), kind=kind, position=GeoPoint(lat=lat, lon=139.0),
            last_reported_at=now - timedelta(hours=age_h),
        )  # fmt: skip

    nearest, further = open_at(35.0005), open_at(35.001)
    assert merge_target(report, [further, nearest]) is nearest
    assert merge_target(report, [open_at(35.0, kind="collapse")]) is None
    assert merge_target(report, [open_at(35.0, age_h=4)]) is None
    assert merge_target(report, [open_at(35.002)]) is None  # 222 m
