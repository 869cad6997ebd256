"""HTTP routes for the damage picture: buildings for HQ's 3D layer, and counts per area.

``/api/v1/buildings.geojson`` is a contract with the dashboard's 3D layer (extruded by
``height_m``, coloured by ``depth_m`` and ``damage``): each feature's properties are exactly
``id, height_m, storeys, usage, depth_m, damage, refuge``. A viewport is required and bounded,
so one request never drags a whole city's model over the wire; when more buildings meet it
than ``limit``, the tallest are sent and ``truncated`` says so.
"""

from __future__ import annotations

import math
from datetime import datetime

import asyncpg
from aiohttp import web

from disaster import damage_store
from disaster._http import POOL, bbox_param, error, json_response, limit_param, time_param
from disaster.damage import (
    DAMAGE_WINDOW,
    LINK_RADIUS_M,
    building_damage,
    building_feature,
    count_by_area,
)

__all__ = ["DAMAGE_WINDOW", "MAX_BBOX_SPAN_DEG", "routes"]

routes = web.RouteTableDef()
#: About 11 km north-south: a district on screen, not a prefecture.
MAX_BBOX_SPAN_DEG = 0.1
_DEFAULT_FEATURES = 5_000
_MAX_FEATURES = 20_000


@routes.get("/api/v1/buildings.geojson")
async def buildings_geojson(request: web.Request) -> web.Response:
    """``bbox=min_lon,min_lat,max_lon,max_lat`` (required), ``limit``, ``since``."""
    box = _viewport(request)
    limit = limit_param(request, default=_DEFAULT_FEATURES, maximum=_MAX_FEATURES)
    async with request.app[POOL].acquire() as conn:
        since = await _since(request, conn)
        rows, truncated = await damage_store.buildings_for_layer(conn, box, limit=limit)
        damage = await damage_store.damage_in_box(conn, box, since)
    features = [building_feature(r, damage.get(r.id)) for r in rows]
    layer = {"type": "FeatureCollection", "features": features, "truncated": truncated,
             "limit": limit, "bbox": list(box)}  # fmt: skip
    return json_response(layer)


@routes.get("/api/v1/damage")
async def damage_counts(request: web.Request) -> web.Response:
    """Counts per municipal area and in total: fires, collapses, damaged buildings, buildings
    expected under 0.5 m and 3 m of water or more. ``since`` bounds the incidents."""
    async with request.app[POOL].acquire() as conn:
        since = await _since(request, conn)
        incidents = await damage_store.damage_incidents(conn, since)
        linked = await damage_store.linked_buildings(conn, incidents)
        damaged = sorted(building_damage(incidents, linked))
        damaged_at = await damage_store.building_points(conn, damaged)
        flooded = await damage_store.flooded_points(conn)
        areas = await damage_store.all_areas(conn)
    per_area, total = count_by_area(areas, incidents, damaged_at, flooded)
    names = {code: name for code, name, _ in areas}
    return json_response({
        "since": since.isoformat(), "link_radius_m": LINK_RADIUS_M,
        "total": total.as_json(),
        "areas": [{"code": code, "name": names[code], **counts.as_json()}
                  for code, counts in sorted(per_area.items())],
    })  # fmt: skip


def _viewport(request: web.Request) -> tuple[float, float, float, float]:
    box = bbox_param(request)
    if box is None:
        raise error(web.HTTPBadRequest, "bbox is required: min_lon,min_lat,max_lon,max_lat")
    min_lon, min_lat, max_lon, max_lat = box
    if not all(math.isfinite(v) for v in box) or not (
        -180 <= min_lon < max_lon <= 180 and -90 <= min_lat < max_lat <= 90
    ):
        raise error(web.HTTPBadRequest, "bbox must be lon/lat degrees with min below max")
    if max(max_lon - min_lon, max_lat - min_lat) > MAX_BBOX_SPAN_DEG:
        raise error(web.HTTPBadRequest, f"bbox may span at most {MAX_BBOX_SPAN_DEG} degrees; "
                    "zoom in")  # fmt: skip
    return box


async def _since(request: web.Request, conn: asyncpg.Connection) -> datetime:
    """Return ``since``, else the database's now minus ``DAMAGE_WINDOW``."""
    given = time_param(request, "since")
    if given is not None:
        return given
    now: datetime = await conn.fetchval("SELECT now()")
    return now - DAMAGE_WINDOW
