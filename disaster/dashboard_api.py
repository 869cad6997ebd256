"""HQ's dashboard data over HTTP: the whole picture, its live stream, and the roads to draw.

``GET /api/v1/dashboard/state`` answers everything the map and panels show; the stream then
sends each change as a typed server-sent event whose data is the changed entity's current state
(see :mod:`disaster.dashboard_store`). A client opens the stream first and loads the state once
it is connected, so nothing that changes in between is missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web

from disaster import dashboard_store
from disaster._http import POOL, error, json_response
from disaster._streams import serve_events
from disaster.dashboard_feed import DashboardFeed
from disaster.health import HEALTH
from disaster.road_map import roads_geojson
from disaster.settings import Settings
from evac.graph import load_graph

__all__ = ["DASHBOARD_FEED", "add_dashboard_routes"]

DASHBOARD_FEED = web.AppKey("dashboard_feed", DashboardFeed)
_SETTINGS = web.AppKey("dashboard_settings", Settings)
_ROADS = web.AppKey("dashboard_roads", dict)  # graph file state -> GeoJSON bytes

routes = web.RouteTableDef()


@routes.get("/api/v1/dashboard/state")
async def dashboard_state(request: web.Request) -> web.Response:
    """Return the whole current picture: alerts with delivery, gauges, sensors, weather,
    incidents, closures, shelters and municipality areas."""
    async with request.app[POOL].acquire() as conn:
        return json_response(await dashboard_store.snapshot(conn))


@routes.get("/api/v1/dashboard/stream")
async def dashboard_stream(request: web.Request) -> web.StreamResponse:
    """Stream every change as a server-sent event named by its type (``alert``, ``delivery``,
    ``incident``, ``station``, ``sensor``, ``weather``, ``closure``, ``shelter``)."""
    return await serve_events(request, request.app[DASHBOARD_FEED], lambda event: event)


@routes.get("/api/v1/roads.geojson")
async def roads(request: web.Request) -> web.Response:
    """Return the loaded city's roads, one MultiLineString per road class (the base map)."""
    path: Path = request.app[_SETTINGS].graph_path
    try:
        stat = await asyncio.to_thread(path.stat)
    except FileNotFoundError:
        raise error(web.HTTPNotFound, f"no city loaded ({path.name} missing)") from None
    cache: dict[Any, bytes] = request.app[_ROADS]
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in cache:
        body = await asyncio.to_thread(_roads_bytes, path)
        cache.clear()
        cache[key] = body
    return web.Response(body=cache[key], content_type="application/geo+json", charset="utf-8")


def _roads_bytes(path: Path) -> bytes:
    return json.dumps(roads_geojson(load_graph(path)), separators=(",", ":")).encode()


async def _feed_ctx(app: web.Application) -> AsyncIterator[None]:
    feed = DashboardFeed(app[POOL])
    await feed.start()
    app[DASHBOARD_FEED] = feed
    if HEALTH in app:
        app[HEALTH].watch("dashboard listener", feed.problem)
    yield
    with contextlib.suppress(Exception):
        await feed.stop()


async def _close_streams(app: web.Application) -> None:
    app[DASHBOARD_FEED].close_streams()


def add_dashboard_routes(app: web.Application, settings: Settings) -> None:
    """Serve the dashboard's data routes; the feed opens after the pool (add this after it)."""
    app[_SETTINGS] = settings
    app[_ROADS] = {}
    app.cleanup_ctx.append(_feed_ctx)
    app.on_shutdown.append(_close_streams)
    app.add_routes(routes)
