"""Flood extents over real HTTP and Postgres: validation, depths, replacement, withdrawal,
the hazard event, and the refuges and imports that follow the water."""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import math
import uuid
from typing import Any

import aiohttp
import asyncpg
import pytest
import shapely

from disaster import building_store, flood_extent_store, topics
from disaster.flood_extents_api import MAX_BODY_BYTES
from disaster.settings import Settings
from evac.buildings import Building, FloodRisk
from tests.disaster.test_hostile_http import _chunks, _head, _raw_request
from tests.support import operator_token, records_with_key

_PLACES = itertools.count()


def _place() -> tuple[float, float]:
    """A spot of its own per test: the session shares one database."""
    return 150.0 + 0.2 * next(_PLACES), 10.0


def _house(lon: float, lat: float, *, storeys: int = 2, usage: str = "411",
           depth_m: float | None = None) -> Building:  # fmt: skip
    risks = () if depth_m is None else (FloodRisk("1", None, depth_m, "L2"),)
    return Building(id=f"bldg_{uuid.uuid4().hex[:10]}", source="test", usage=usage,
                    footprint=shapely.box(lon, lat, lon + 1e-4, lat + 1e-4), height_m=None,
                    storeys=storeys, flood_risks=risks)  # fmt: skip


def _extent(source: str, lon: float, lat: float, size: float, props: dict[str, Any],
            **extra: Any) -> dict[str, Any]:  # fmt: skip
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    feature = {"type": "Feature", "properties": props,
               "geometry": {"type": "Polygon", "coordinates": [ring]}}  # fmt: skip
    return {"type": "FeatureCollection", "name": f"{source} 浸水想定", "source": source,
            "features": [feature], **extra}  # fmt: skip


async def _depths(pool: asyncpg.Pool, *buildings: Building) -> list[float | None]:
    async with pool.acquire() as conn:
        found = await building_store.buildings_by_ids(conn, [b.id for b in buildings])
    stored = {b.id: b for b in found}
    return [stored[b.id].depth_m for b in buildings]


async def _refuge_floor(pool: asyncpg.Pool, building: Building) -> int | None:
    async with pool.acquire() as conn:
        (refuge,) = [r for r in await building_store.refuges(conn) if r.id == building.id]
    return refuge.floor_for("flood")


async def test_extents_deepen_buildings_replace_by_version_and_withdraw(
    http: aiohttp.ClientSession, pool: asyncpg.Pool
) -> None:
    lon, lat = _place()
    school = _house(lon + 0.001, lat + 0.001, storeys=4, usage="422", depth_m=0.3)
    house = _house(lon + 0.003, lat + 0.001, depth_m=3.2)
    dry = _house(lon + 0.05, lat + 0.05)
    async with pool.acquire() as conn:
        await building_store.upsert_buildings(conn, [school, house, dry])
    assert await _refuge_floor(pool, school) == 2
    source = f"river-{uuid.uuid4().hex[:6]}"

    deep = _extent(source, lon, lat, 0.01, {"depth_rank": 4})
    async with http.post("/api/v1/flood-extents", json=deep) as resp:
        assert resp.status == 201, await resp.text()
        first = await resp.json()
    assert (first["version"], first["replaced"], first["buildings_changed"]) == (1, None, 2)
    assert first["features"][0]["properties"] == {"depth_rank": 4, "depth_m": 10.0}
    assert await _depths(pool, school, house, dry) == [10.0, 10.0, None]  # rank 4: up to 10 m
    assert await _refuge_floor(pool, school) is None  # 5th floor needed; it has 4

    second_body = _extent(source, lon, lat, 0.002, {"depth_m": 0.4})  # the school only
    async with http.post("/api/v1/flood-extents", json=second_body) as resp:
        assert resp.status == 201, await resp.text()
        second = await resp.json()
    assert (second["version"], second["replaced"]) == (2, first["id"])
    assert await _depths(pool, school, house, dry) == [0.4, 3.2, None]  # the model's, deeper
    assert await _refuge_floor(pool, school) == 2

    async with http.post("/api/v1/flood-extents", json={**second_body, "version": 2}) as resp:
        assert resp.status == 409
        assert "not newer than version 2" in (await resp.json())["reason"]
    async with http.get("/api/v1/flood-extents") as resp:
        active = [e for e in await resp.json() if e["source"] == source]
    assert [e["id"] for e in active] == [second["id"]]

    async with http.post(f"/api/v1/flood-extents/{second['id']}/withdraw") as resp:
        assert resp.status == 200
        assert (await resp.json())["active"] is False
    assert await _depths(pool, school, house, dry) == [0.3, 3.2, None]
    async with http.post(f"/api/v1/flood-extents/{second['id']}/withdraw") as resp:
        assert resp.status == 404
    async with pool.acquire() as conn:
        events = await conn.fetch(
            "SELECT body FROM hazard_events WHERE source_id = $1 ORDER BY created_at, id",
            f"flood-extent:{source}",
        )
    statuses = sorted((e["body"]["version"], e["body"]["status"]) for e in events)
    assert statuses == [(1, "active"), (2, "active"), (2, "withdrawn")]


async def test_the_event_reaches_hazard_events_and_an_exercise_changes_no_depth(
    http: aiohttp.ClientSession, pool: asyncpg.Pool, bootstrap: str
) -> None:
    lon, lat = _place()
    house = _house(lon + 0.001, lat + 0.001)
    async with pool.acquire() as conn:
        await building_store.upsert_buildings(conn, [house])
    body = _extent(f"drill-{uuid.uuid4().hex[:6]}", lon, lat, 0.01, {"depth_rank": 3},
                   exercise=True)  # fmt: skip
    async with http.post("/api/v1/flood-extents", json=body) as resp:
        assert resp.status == 201
        extent_id = (await resp.json())["id"]
    (event,) = await records_with_key(bootstrap, topics.HAZARD_EVENTS, body["name"].encode(), 1)
    assert event["kind"] == "flood.extent"
    assert (event["extent_id"], event["status"], event["exercise"]) == (extent_id, "active", True)
    assert (event["max_rank"], event["max_depth_m"], event["buildings_covered"]) == (3, 5.0, 0)
    assert event["area"]["coordinates"][0][0] == [lon, lat]
    assert await _depths(pool, house) == [None]  # a drill does not change real advice
    async with http.get("/api/v1/events", params={"kind": "flood.extent"}) as resp:
        assert extent_id in [e["extent_id"] for e in await resp.json()]


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (_extent("s", 150, 10, 0.01, {"depth_rank": 9}), 422, "unknown depth rank 9"),
        ({**_extent("s", 150, 10, 0.01, {"depth_rank": 2}), "features": [{
            "type": "Feature", "properties": {"depth_rank": 2}, "geometry": {
                "type": "Polygon", "coordinates": [[[150, 10], [150.01, 10.01], [150.01, 10],
                                                    [150, 10.01], [150, 10]]]}}]},
         422, "Self-intersection"),
        (_extent("s", 35.5, 139.7, 0.01, {"depth_rank": 2}), 422, "positions must be lon, lat"),
        (_extent("s", 100, 10, 30, {"depth_rank": 2}), 422, "spans 30.00 degrees"),
        ({"type": "Feature"}, 422, "type"),
    ],
)  # fmt: skip
async def test_bad_extents_get_4xx_with_a_reason(
    http: aiohttp.ClientSession, body: dict[str, Any], status: int, reason: str
) -> None:
    async with http.post("/api/v1/flood-extents", json=body) as resp:
        assert resp.status == status
        assert reason in (await resp.json())["reason"]


async def test_only_operators_post_extents(http: aiohttp.ClientSession) -> None:
    _, viewer = await operator_token(http, "viewer")
    body = _extent("viewer-try", 150, 10, 0.01, {"depth_rank": 2})
    async with http.post("/api/v1/flood-extents", json=body, headers=viewer) as resp:
        assert resp.status == 403
    async with http.get("/api/v1/flood-extents", headers=viewer) as resp:
        assert resp.status == 200
    async with http.post("/api/v1/flood-extents", data=b"{no", headers=viewer) as resp:
        assert resp.status == 403  # access is checked before the body is read


async def test_buildings_imported_later_get_the_active_extents_depth(
    http: aiohttp.ClientSession, pool: asyncpg.Pool, settings: Settings
) -> None:
    lon, lat = _place()
    body = _extent(f"later-{uuid.uuid4().hex[:6]}", lon, lat, 0.01, {"depth_rank": 2})
    async with http.post("/api/v1/flood-extents", json=body) as resp:
        assert resp.status == 201
    late = _house(lon + 0.002, lat + 0.002)
    async with pool.acquire() as conn:
        await building_store.upsert_buildings(conn, [late])
        assert await _depths(pool, late) == [None]
        async with conn.transaction():  # what the import does after its batches
            result = await flood_extent_store.refresh_extent_depths(conn)
    assert result.changed >= 1
    assert await _depths(pool, late) == [3.0]


def _river_survey(source: str, lon: float, lat: float) -> dict[str, Any]:
    """A polygon set the size of a real river office's: 500 depth-ranked ponds of 100 vertices
    (about 2 MB of JSON)."""
    features = []
    for i in range(500):
        x, y = lon + 0.002 * (i % 25), lat + 0.002 * (i // 25)
        ring = [[x + 0.0008 * math.cos(a), y + 0.0008 * math.sin(a)]
                for a in (2 * math.pi * k / 100 for k in range(100))]  # fmt: skip
        polygon = {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}
        features.append({"type": "Feature", "properties": {"depth_rank": 1 + i % 4},
                         "geometry": polygon})  # fmt: skip
    return {"type": "FeatureCollection", "name": f"{source} 浸水想定", "source": source,
            "features": features}  # fmt: skip


async def test_a_2_mb_extent_is_accepted_and_audited_by_its_digest(
    http: aiohttp.ClientSession, pool: asyncpg.Pool
) -> None:
    """Real polygon sets pass the app-wide 64 KiB limit; this route takes up to 16 MiB, and
    the audit log keeps their size and SHA-256, not megabytes of coordinates."""
    lon, lat = _place()
    source = f"survey-{uuid.uuid4().hex[:6]}"
    raw = json.dumps(_river_survey(source, lon, lat)).encode()
    assert 2_000_000 < len(raw) < 3_000_000
    headers = {"Content-Type": "application/json"}
    async with http.post("/api/v1/flood-extents", data=io.BytesIO(raw), headers=headers) as resp:
        assert resp.status == 201, (await resp.text())[:500]
        stored = await resp.json()
    assert (stored["source"], len(stored["features"])) == (source, 500)
    async with pool.acquire() as conn:
        details = await conn.fetchval(
            """SELECT details FROM audit_log WHERE action = 'POST /api/v1/flood-extents'
               AND details->>'body_sha256' = $1""",
            hashlib.sha256(raw).hexdigest(),
        )
    assert details == {"body_bytes": len(raw), "body_sha256": hashlib.sha256(raw).hexdigest()}


async def test_20_mb_is_refused_before_it_is_read_and_other_routes_keep_64_kib(
    http: aiohttp.ClientSession, admin_token: str
) -> None:
    base, auth = str(http._base_url), f"Authorization: Bearer {admin_token}\r\n"
    too_large = f"the body is larger than the {MAX_BODY_BYTES} bytes allowed"
    twenty_mb = 20 * 1024 * 1024
    head = _head("POST", "/api/v1/flood-extents", f"{auth}Content-Length: {twenty_mb}\r\n")
    status, body, sent = await _raw_request(base, head, timeout_s=5)
    assert (status, body["reason"], sent) == (413, too_large, 0)  # the headers alone decide

    head = _head("POST", "/api/v1/flood-extents", f"{auth}Transfer-Encoding: chunked\r\n")
    status, body, sent = await _raw_request(base, head, _chunks(twenty_mb), timeout_s=30)
    assert (status, body["reason"]) == (413, too_large)
    assert sent < twenty_mb  # answered once past 16 MiB, before the rest was sent

    head = _head("POST", "/api/v1/alerts/drafts", f"{auth}Content-Length: {200 * 1024}\r\n")
    status, body, sent = await _raw_request(base, head, timeout_s=5)
    assert (status, body["reason"]) == (413, "the body is larger than the 65536 bytes allowed")
