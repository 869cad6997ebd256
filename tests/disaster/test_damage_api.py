"""The damage picture over real HTTP and Postgres: the 3D layer's buildings and the counts."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import aiohttp
import asyncpg
import pytest
import shapely

from disaster import area_store, building_store
from evac.buildings import Building, FloodRisk
from tests.support import operator_token, wait_until

_PLACES = itertools.count()
M = 1 / 111_195.0  # degrees of latitude per metre


def _place() -> tuple[float, float]:
    """A spot of its own per test (the session shares one database)."""
    return 152.0 + 0.2 * next(_PLACES), 12.0


def _building(lon: float, lat: float, *, size_m: float = 20, **kw: Any) -> Building:
    fields: dict[str, Any] = {"height_m": 9.5, "storeys": 3, "usage": "411", "source": "t"}
    footprint = shapely.box(lon, lat, lon + size_m * M, lat + size_m * M)
    return Building(id=f"bldg_{uuid.uuid4().hex[:10]}", footprint=footprint, **{**fields, **kw})


async def _report(http: aiohttp.ClientSession, pool: asyncpg.Pool, kind: str, lon: float,
                  lat: float) -> None:  # fmt: skip
    """Report an incident through the API and wait until the pipeline has stored it."""
    body = {"kind": kind, "severity": "high", "location": {"lat": lat, "lon": lon},
            "reporter": {"role": "staff"}}  # fmt: skip
    async with http.post("/api/v1/incidents", json=body) as resp:
        assert resp.status == 202

    async def stored() -> bool:
        async with pool.acquire() as conn:
            return bool(await conn.fetchval(
                "SELECT count(*) FROM incidents WHERE kind = $1 AND lon = $2 AND lat = $3",
                kind, lon, lat))  # fmt: skip

    await wait_until(stored, timeout_s=30)


async def test_the_layer_shows_height_depth_damage_and_refuges(
    http: aiohttp.ClientSession, pool: asyncpg.Pool
) -> None:
    lon, lat = _place()
    school = _building(lon, lat, usage="422", storeys=4, height_m=15.0,
                       flood_risks=(FloodRisk("1", 2, 2.4, "L2"),))  # fmt: skip
    burning = _building(lon + 100 * M, lat, usage="421", storeys=6, height_m=None)
    fallen = _building(lon + 200 * M, lat)
    far = _building(lon + 0.5, lat)
    async with pool.acquire() as conn:
        await building_store.upsert_buildings(conn, [school, burning, fallen, far])
    await _report(http, pool, "fire", lon + 110 * M, lat + 10 * M)  # inside "burning"
    await _report(http, pool, "collapse", lon + 230 * M, lat + 10 * M)  # 10 m east of "fallen"
    await _report(http, pool, "fire", lon + 400 * M, lat + 10 * M)  # an open square: no building
    bbox = f"{lon - 0.001},{lat - 0.001},{lon + 0.01},{lat + 0.01}"
    async with http.get("/api/v1/buildings.geojson", params={"bbox": bbox}) as resp:
        assert resp.status == 200, await resp.text()
        layer = await resp.json()
    assert (layer["type"], layer["truncated"]) == ("FeatureCollection", False)
    props = {f["properties"]["id"]: f["properties"] for f in layer["features"]}
    assert set(props) == {school.id, burning.id, fallen.id}
    assert props[school.id] == {"id": school.id, "height_m": 15.0, "storeys": 4, "usage": "422",
                                "depth_m": 2.4, "damage": None, "refuge": True}  # fmt: skip
    assert props[burning.id] == {"id": burning.id, "height_m": 18.0, "storeys": 6,
                                 "usage": "421", "depth_m": None, "damage": "fire",
                                 "refuge": False}  # fmt: skip
    assert (props[fallen.id]["damage"], props[fallen.id]["refuge"]) == ("collapse", False)
    feature = next(f for f in layer["features"] if f["properties"]["id"] == school.id)
    assert shapely.geometry.shape(feature["geometry"]).equals(school.footprint)
    heights = [f["properties"]["height_m"] for f in layer["features"]]
    assert heights == sorted(heights, reverse=True)  # tallest first

    async with http.get("/api/v1/buildings.geojson", params={"bbox": bbox, "limit": "2"}) as resp:
        truncated = await resp.json()
    assert truncated["truncated"] is True
    assert [f["properties"]["id"] for f in truncated["features"]] == [burning.id, school.id]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("", "bbox is required"),
        ("?bbox=1,2,3", "bbox must be"),
        ("?bbox=140,35,139,36", "min below max"),
        ("?bbox=140,35,140.5,35.1", "at most 0.1 degrees"),
        ("?bbox=140,35,140.01,nan", "min below max"),
        ("?bbox=140,35,140.01,35.01&limit=20001", "limit"),
        ("?bbox=140,35,140.01,35.01&since=yesterday", "since"),
    ],
)
async def test_bad_viewports_get_400(http: aiohttp.ClientSession, query: str, reason: str) -> None:
    async with http.get(f"/api/v1/buildings.geojson{query}") as resp:
        assert resp.status == 400
        assert reason in (await resp.json())["reason"]


async def test_viewers_may_look_and_the_public_may_not(
    http: aiohttp.ClientSession, anonymous: aiohttp.ClientSession
) -> None:
    _, viewer = await operator_token(http, "viewer")
    query = {"bbox": "140,35,140.01,35.01"}
    async with http.get("/api/v1/buildings.geojson", params=query, headers=viewer) as resp:
        assert resp.status == 200
    for path in ("/api/v1/buildings.geojson", "/api/v1/damage"):
        async with anonymous.get(path, params=query) as resp:
            assert resp.status == 401


async def test_damage_counts_per_area(http: aiohttp.ClientSession, pool: asyncpg.Pool) -> None:
    lon, lat = _place()
    code = f"{90000 + next(_PLACES) % 10000:05d}"
    ward = shapely.box(lon, lat, lon + 0.01, lat + 0.01)
    async with pool.acquire() as conn:
        await area_store.upsert_areas(conn, [(code, "試験区", shapely.geometry.mapping(ward))], "t")
        await building_store.upsert_buildings(conn, [
            _building(lon + 100 * M, lat + 100 * M, flood_risks=(FloodRisk("1", 3, 3.4, "L2"),)),
            _building(lon + 200 * M, lat + 100 * M, flood_risks=(FloodRisk("1", 2, 0.6, "L2"),)),
            _building(lon + 300 * M, lat + 100 * M, flood_risks=(FloodRisk("1", 1, 0.3, "L2"),)),
            _building(lon + 400 * M, lat + 100 * M),
        ])  # fmt: skip
    await _report(http, pool, "fire", lon + 410 * M, lat + 110 * M)
    await _report(http, pool, "collapse", lon + 800 * M, lat + 800 * M)  # no building near
    async with http.get("/api/v1/damage") as resp:
        assert resp.status == 200
        damage = await resp.json()
    (mine,) = [a for a in damage["areas"] if a["code"] == code]
    assert mine == {"code": code, "name": "試験区", "fires": 1, "collapses": 1,
                    "buildings_damaged": 1, "buildings_depth_0_5m": 2,
                    "buildings_depth_3m": 1}  # fmt: skip
    assert damage["total"]["fires"] >= 1
    assert damage["total"]["buildings_depth_3m"] >= 1
