"""GET /api/v1/route on the generated town, catching up with closures written to Postgres."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import shapely

from disaster import incident_store
from disaster.domain.roads import RoadClosure
from disaster.services import Running
from disaster.settings import Settings
from tests.support import load_town, run_cli, wait_until


def _moat(params: dict[str, str]) -> shapely.Polygon:
    """A ring of water around the query's start: every way out crosses it."""
    lat, lon = (float(v) for v in params["from"].split(","))
    start = shapely.Point(lon, lat)
    return start.buffer(0.0015).difference(start.buffer(0.0012))


async def test_route_answers_and_follows_a_closure(
    running: Running, settings: Settings, http: aiohttp.ClientSession
) -> None:
    params = await load_town(settings, http)
    async with http.get("/api/v1/route", params=params) as resp:
        assert resp.status == 200, await resp.text()
        first = await resp.json()
    assert first["reason"] is None
    assert first["waypoints"]["type"] == "LineString"

    moat = RoadClosure(id="moat-api", source="incident", source_id="t", reason="flooded",
                       geometry=shapely.geometry.mapping(_moat(params)), active=True,
                       changed_at=datetime.now(UTC))  # fmt: skip
    async with running.pool.acquire() as conn:
        await incident_store.upsert_road_closure(conn, moat)

    async def cut_off() -> bool:
        async with http.get("/api/v1/route", params=params) as resp:
            return (await resp.json())["reason"] is not None

    await wait_until(cut_off, timeout_s=30)
    async with running.pool.acquire() as conn:
        await incident_store.upsert_road_closure(conn, moat.model_copy(update={"active": False}))

    async def restored() -> bool:
        async with http.get("/api/v1/route", params=params) as resp:
            return await resp.json() == first

    await wait_until(restored, timeout_s=30)


async def test_bad_route_requests_get_400(http: aiohttp.ClientSession) -> None:
    for params in ({"from": "north"}, {"from": "35.5,140.0", "profile": "jetpack"},
                   {"from": "35.5,140.0", "hazard": "zombies"}):  # fmt: skip
        async with http.get("/api/v1/route", params=params) as resp:
            assert resp.status == 400


async def test_the_route_command_prints_the_answer(settings: Settings, tmp_path: Path) -> None:
    env = {**os.environ, "DISASTER_DATABASE_URL": settings.database_url or "",
           "DISASTER_STATE_DIR": str(tmp_path)}  # fmt: skip
    code, out, err = await run_cli("city", "generate", env=env)
    assert code == 0, err
    code, out, err = await run_cli(
        "route", "--from", "35.545,140.06", "--profile", "wheelchair", "--hazard", "flood", env=env
    )
    assert code == 0, err
    answer = json.loads(out)
    assert answer["profile"] == "wheelchair"
    assert answer["shelter_id"].startswith("town0-")
    code, _, err = await run_cli("route", "--from", "north", env=env)
    assert code == 2
    assert "LAT,LON" in err


async def test_a_reported_flooded_area_closes_the_roads_in_it_until_resolved(
    running: Running, settings: Settings, http: aiohttp.ClientSession
) -> None:
    """The whole path: a flooding report with an area, through incident.raw and the ingestor,
    becomes a polygon closure that the live router applies; resolving it reopens the roads."""
    params = await load_town(settings, http)
    async with http.get("/api/v1/route", params=params) as resp:
        first = await resp.json()
    assert first["reason"] is None
    area = json.loads(shapely.to_geojson(_moat(params)))
    report = {"kind": "flooding", "area": area, "severity": "high",
              "description": "周囲が冠水", "reporter": {"role": "staff", "id": "s-3"}}  # fmt: skip
    async with http.post("/api/v1/incidents", json=report) as resp:
        assert resp.status == 202, await resp.text()
        report_id = uuid.UUID((await resp.json())["report_id"])

    async def cut_off() -> bool:
        async with http.get("/api/v1/route", params=params) as resp:
            return (await resp.json())["reason"] is not None

    await wait_until(cut_off, timeout_s=30)
    async with running.pool.acquire() as conn:
        incident_id = await conn.fetchval(
            "SELECT incident_id FROM incident_reports WHERE id = $1", report_id
        )
    resolve = {"resolved_by": {"role": "staff"}}
    async with http.post(f"/api/v1/incidents/{incident_id}/resolve", json=resolve) as resp:
        assert resp.status == 202

    async def restored() -> bool:
        async with http.get("/api/v1/route", params=params) as resp:
            return await resp.json() == first

    await wait_until(restored, timeout_s=30)
