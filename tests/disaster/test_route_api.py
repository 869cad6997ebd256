"""GET /api/v1/route on the generated town, catching up with closures written to Postgres."""

from __future__ import annotations

import json
import math
import os
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import shapely

from disaster import building_store, incident_store, store
from disaster.domain import Alert
from disaster.domain.roads import RoadClosure
from disaster.services import Running
from disaster.settings import Settings
from evac.buildings import Building
from tests.support import load_town, projected_flood_alert, run_cli, square, wait_until

M_LAT = 1 / 111_195.0  # degrees of latitude per metre


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


def _block(params: dict[str, str], east_m: float, north_m: float, **kw: object) -> Building:
    """A 10 m square public building centred ``east_m``/``north_m`` from the query's start."""
    lat, lon = (float(v) for v in params["from"].split(","))
    m_lon = M_LAT / math.cos(math.radians(lat))
    x, y = lon + east_m * m_lon, lat + north_m * M_LAT
    square = shapely.box(x - 5 * m_lon, y - 5 * M_LAT, x + 5 * m_lon, y + 5 * M_LAT)
    fields = {"height_m": None, "usage": "422", "source": "test", **kw}
    return Building(id=f"bldg_{uuid.uuid4().hex[:10]}", footprint=square, **fields)  # type: ignore[arg-type]


async def _refuge(http: aiohttp.ClientSession, params: dict[str, str]) -> dict | None:
    async with http.get("/api/v1/route", params=params) as resp:
        assert resp.status == 200, await resp.text()
        answer = await resp.json()
    assert answer["reason"] is not None  # cut off: the refuge is the advice
    return answer["refuge"]  # type: ignore[no-any-return]


async def test_a_burning_refuge_is_dropped_and_stays_dropped_after_the_fire_is_out(
    running: Running, settings: Settings, http: aiohttp.ClientSession
) -> None:
    """A cut-off resident is sent up the nearest public building; a fire reported at it through
    the API takes it out of the router's refuges, and resolving the fire does not bring it
    back: a burnt building stays out for the damage window (72 h)."""
    params = await load_town(settings, http)
    near = _block(params, -35, -45, storeys=5, name="第一避難ビル")  # 57 m from the start
    far = _block(params, 45, -70, storeys=4, name="第二避難ビル")  # 83 m, inside the moat too
    async with running.pool.acquire() as conn:
        await building_store.upsert_buildings(conn, [near, far])
    moat = RoadClosure(id=f"moat-{uuid.uuid4().hex[:6]}", source="incident", source_id="t",
                       reason="flooded", geometry=shapely.geometry.mapping(_moat(params)),
                       active=True, changed_at=datetime.now(UTC))  # fmt: skip
    async with running.pool.acquire() as conn:
        await incident_store.upsert_road_closure(conn, moat)
    try:
        first = await wait_until(lambda: _refuge_id_is(http, params, near.id), timeout_s=30)
        assert (first["name"], first["safe_floor"]) == ("第一避難ビル", 2)
        incident_id = await _report_fire(http, running, near)
        after = await wait_until(lambda: _refuge_not(http, params, near.id), timeout_s=30)
        assert after["building_id"] == far.id

        resolve = {"resolved_by": {"role": "staff"}}
        async with http.post(f"/api/v1/incidents/{incident_id}/resolve", json=resolve) as resp:
            assert resp.status == 202
        await wait_until(lambda: _resolved(running, incident_id), timeout_s=30)
        renamed = replace(far, name="第二避難ビル（本部確認済）")
        async with running.pool.acquire() as conn:  # any building change reloads the refuges
            await building_store.set_refuge_designated(conn, near.id, designated=True)
            await building_store.upsert_buildings(conn, [renamed])
        reloaded = await wait_until(
            lambda: _refuge_named(http, params, "第二避難ビル（本部確認済）"), timeout_s=30
        )
        assert reloaded["building_id"] == far.id  # the burnt one, even designated, stays out
    finally:
        async with running.pool.acquire() as conn:
            await incident_store.upsert_road_closure(
                conn, moat.model_copy(update={"active": False})
            )


async def _refuge_id_is(
    http: aiohttp.ClientSession, params: dict[str, str], bid: str
) -> dict | None:
    refuge = await _refuge(http, params)
    return refuge if refuge is not None and refuge["building_id"] == bid else None


async def _refuge_not(http: aiohttp.ClientSession, params: dict[str, str], bid: str) -> dict | None:
    refuge = await _refuge(http, params)
    return refuge if refuge is not None and refuge["building_id"] != bid else None


async def _refuge_named(
    http: aiohttp.ClientSession, params: dict[str, str], name: str
) -> dict | None:
    refuge = await _refuge(http, params)
    return refuge if refuge is not None and refuge["name"] == name else None


async def _report_fire(http: aiohttp.ClientSession, running: Running, building: Building) -> str:
    """Report a critical fire inside the building; return its incident's id once stored."""
    at = building.footprint.centroid
    body = {"kind": "fire", "severity": "critical", "location": {"lat": at.y, "lon": at.x},
            "reporter": {"role": "staff"}, "description": "避難ビル火災（試験）"}  # fmt: skip
    async with http.post("/api/v1/incidents", json=body) as resp:
        assert resp.status == 202, await resp.text()
        report_id = uuid.UUID((await resp.json())["report_id"])

    async def stored() -> str | None:
        async with running.pool.acquire() as conn:
            found = await incident_store.incident_of_report(conn, report_id)
        return None if found is None else str(found)

    return await wait_until(stored, timeout_s=30)  # type: ignore[no-any-return]


async def _resolved(running: Running, incident_id: str) -> bool:
    async with running.pool.acquire() as conn:
        found = await incident_store.incident_by_id(conn, uuid.UUID(incident_id))
    return found is not None and found["status"] == "resolved"


async def _answer(http: aiohttp.ClientSession, params: dict[str, str]) -> dict:
    async with http.get("/api/v1/route", params=params) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()  # type: ignore[no-any-return]


async def _alerts_and_refuge(
    running: Running, params: dict[str, str]
) -> tuple[Alert, Alert, Building]:
    """Two issued flood alerts over the query's start, from gauges projected to reach
    氾濫危険水位 in 1 and in 120 minutes, and a public building 36 m from the start."""
    lat, lon = (float(v) for v in params["from"].split(","))
    refuge = _block(params, 30, 20, storeys=5, name="第三避難ビル")
    alerts = []
    async with running.pool.acquire() as conn:
        await building_store.upsert_buildings(conn, [refuge])
        for minutes in (1, 120):
            alert = await projected_flood_alert(conn, square(lon - 0.01, lat - 0.01, 0.02), minutes)
            await store.insert_alert(conn, alert)
            alerts.append(alert)
    return alerts[0], alerts[1], refuge


async def _retire(running: Running, building: Building) -> None:
    """Make a test's refuge an ordinary house again, so later tests at the same start find
    the refuges they placed (a re-import is how a building changes; none is ever deleted)."""
    async with running.pool.acquire() as conn:
        await building_store.upsert_buildings(conn, [replace(building, usage="411")])


async def test_an_alert_expecting_the_water_before_the_shelter_adds_a_building_to_go_up_in(
    running: Running, settings: Settings, http: aiohttp.ClientSession
) -> None:
    """``alert=`` (as a pattern C link carries it) applies the alert's deadline: the gauge
    reaches 氾濫危険水位 in a minute, the shelter is further, so a building to go up in comes
    with the route; with two hours to go, the answer is the plain route."""
    params = await load_town(settings, http)
    soon, later, refuge = await _alerts_and_refuge(running, params)
    try:
        plain = await _answer(http, params)
        assert plain["reason"] is None
        assert plain["refuge"] is None
        assert plain["minutes"] > 2  # more than the minute the gauge leaves
        hurried = await _answer(http, {**params, "alert": str(soon.id)})
        assert hurried["shelter_id"] == plain["shelter_id"]  # still named ...
        assert hurried["refuge"] is not None  # ... with the building that is in reach
        assert hurried["refuge"]["minutes"] < hurried["minutes"]
        no_hazard = {k: v for k, v in params.items() if k != "hazard"}
        assert await _answer(http, {**no_hazard, "alert": str(soon.id)}) == hurried  # its hazard
        assert await _answer(http, {**params, "alert": str(later.id)}) == plain
    finally:
        await _retire(running, refuge)


async def test_bad_alerts_on_a_route_request_are_refused(
    running: Running, http: aiohttp.ClientSession
) -> None:
    params = {"from": "35.5,140.0"}
    async with running.pool.acquire() as conn:
        alert = await projected_flood_alert(conn, square(139.99, 35.49, 0.02), 1)
        await store.insert_alert(conn, alert)
    for query, status, reason in (
        ({"alert": "soon"}, 400, "alert must be an alert id (a UUID)"),
        ({"alert": str(uuid.uuid4())}, 404, "no alert"),
        ({"alert": str(alert.id), "hazard": "tsunami"}, 400, "is not the alert's (flood)"),
    ):
        async with http.get("/api/v1/route", params={**params, **query}) as resp:
            assert resp.status == status
            assert reason in (await resp.json())["reason"]


async def test_the_route_command_answers_as_the_api_does(
    running: Running, settings: Settings, http: aiohttp.ClientSession
) -> None:
    """Same city, shelters, closures and refuges, same deadline from ``--alert``: the same
    answer, refuge included (the command once left the refuges out)."""
    params = await load_town(settings, http)
    soon, _, refuge = await _alerts_and_refuge(running, params)
    env = {**os.environ, "DISASTER_DATABASE_URL": settings.database_url or "",
           "DISASTER_STATE_DIR": str(settings.state_dir)}  # fmt: skip
    try:
        for cli, api in (([], {}), (["--alert", str(soon.id)], {"alert": str(soon.id)})):
            code, out, err = await run_cli("route", "--from", params["from"], *cli, env=env)
            assert code == 0, err
            assert json.loads(out) == await _answer(http, {**params, **api})
        assert json.loads(out)["refuge"] is not None
        code, _, err = await run_cli("route", "--from", params["from"], "--alert", "x", env=env)
        assert (code, err.strip()) == (2, "disaster: --alert must be an alert id (a UUID)")
        code, _, err = await run_cli(
            "route", "--from", params["from"], "--alert", str(soon.id), "--hazard", "tsunami",
            env=env,
        )  # fmt: skip
        assert code == 2
        assert "is not the alert's (flood)" in err
    finally:
        await _retire(running, refuge)
