"""HTTP routes over what was ingested: weather reports and hazard events, by time, kind, area."""

from __future__ import annotations

from aiohttp import web

from disaster import store
from disaster._http import POOL, choice_param, json_response, limit_param, time_param

__all__ = ["routes"]

routes = web.RouteTableDef()
_MODES = ("actual", "exercise", "test")
_EVENT_KINDS = (
    "river.stage", "weather.report", "sensor.threshold", "sensor.silent", "incident",
    "flood.extent",
)  # fmt: skip


@routes.get("/api/v1/weather/reports")
async def weather_reports(request: web.Request) -> web.Response:
    """Return JMA and CAP reports: ``since``, ``until``, ``area_code``, ``mode``, ``current``."""
    mode = choice_param(request, "mode", _MODES)
    async with request.app[POOL].acquire() as conn:
        rows = await store.list_weather_reports(
            conn, since=time_param(request, "since"), until=time_param(request, "until"),
            area_code=request.query.get("area_code"), mode=mode,
            current_only=request.query.get("current") == "true", limit=limit_param(request),
        )  # fmt: skip
    return json_response(rows)


@routes.get("/api/v1/events")
async def hazard_events(request: web.Request) -> web.Response:
    """Return hazard events of every stream, newest first: ``kind``, ``since``, ``until``."""
    kind = choice_param(request, "kind", _EVENT_KINDS)
    async with request.app[POOL].acquire() as conn:
        rows = await store.list_hazard_events(
            conn, kind=kind, since=time_param(request, "since"),
            until=time_param(request, "until"), limit=limit_param(request),
        )  # fmt: skip
    return json_response(rows)
