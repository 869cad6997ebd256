"""HTTP routes for sensors: registering the interval they report at, and listing readings."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from disaster import sensor_store
from disaster._http import (
    POOL,
    bbox_param,
    choice_param,
    json_body,
    json_response,
    limit_param,
    time_param,
    validated,
)
from disaster.domain import GeoPoint
from disaster.domain.models import StationId
from disaster.domain.sensor import SENSOR_UNITS

__all__ = ["routes"]

routes = web.RouteTableDef()


class SensorIn(BaseModel):
    """What HQ says of a sensor: how often it must report (else it is silent), and where it is."""

    expected_interval_s: float = Field(gt=0, le=7 * 24 * 3600)
    location: GeoPoint | None = None


class _SensorPath(BaseModel):
    id: StationId


@routes.put("/api/v1/sensors/{id}")
async def put_sensor(request: web.Request) -> web.Response:
    """Register a sensor or change its expected interval (201 created, 200 updated)."""
    sensor_id = validated(_SensorPath, {"id": request.match_info["id"]}).id
    body = validated(SensorIn, await json_body(request))
    loc = body.location
    async with request.app[POOL].acquire() as conn:
        created = await sensor_store.upsert_sensor(
            conn, sensor_id, expected_interval_s=body.expected_interval_s,
            lat=loc.lat if loc else None, lon=loc.lon if loc else None,
        )  # fmt: skip
    return json_response({"id": sensor_id, **body.model_dump(mode="json")}, 201 if created else 200)


@routes.get("/api/v1/sensors/readings")
async def list_readings(request: web.Request) -> web.Response:
    """Return readings newest first, filtered by ``kind``, ``since``/``until`` and ``bbox``."""
    kind = choice_param(request, "kind", SENSOR_UNITS)
    async with request.app[POOL].acquire() as conn:
        rows = await sensor_store.list_readings(
            conn, kind=kind, since=time_param(request, "since"), until=time_param(request, "until"),
            bbox=bbox_param(request), limit=limit_param(request),
        )  # fmt: skip
    return json_response(rows)
