"""The aiohttp application: the public API under ``/api/v1``, health and metrics.

Each resource (the pool, the alert broadcaster) is opened by one ``cleanup_ctx`` generator and
reached through a typed :class:`web.AppKey`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from aiohttp import web
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from disaster import store
from disaster._http import (
    POOL,
    PRODUCER,
    body_too_large,
    error,
    json_body,
    json_response,
    limit_param,
    validated,
)
from disaster._kafka import new_producer
from disaster._pg import DATABASE_DOWN, create_pool
from disaster._streams import serve_events
from disaster.access import LIMITER, RateLimiter, access_middleware
from disaster.alerts_api import routes as alert_routes
from disaster.auth_api import SECURE_COOKIES
from disaster.auth_api import routes as auth_routes
from disaster.broadcast import AlertBroadcaster
from disaster.cap_api import add_cap_routes
from disaster.damage_api import routes as damage_routes
from disaster.dashboard_api import add_dashboard_routes
from disaster.dashboard_page import routes as dashboard_page_routes
from disaster.domain import Station
from disaster.flood_extents_api import MAX_BODY_BYTES as FLOOD_EXTENT_MAX_BYTES
from disaster.flood_extents_api import routes as flood_extent_routes
from disaster.health import HEALTH, HealthBoard
from disaster.incidents_api import routes as incident_routes
from disaster.observations_api import routes as observation_routes
from disaster.openapi import openapi_document
from disaster.resident_page import routes as resident_page_routes
from disaster.residents_api import PUSH_POLICY, VAPID_KEY
from disaster.residents_api import routes as resident_routes
from disaster.route_api import ROUTES_STATE, LiveRoutes
from disaster.route_api import routes as route_routes
from disaster.sensors_api import routes as sensor_routes
from disaster.settings import Settings
from disaster.shelters_api import routes as shelter_routes
from notify.ssrf import EndpointPolicy
from notify.vapid import load_or_create_vapid_key

__all__ = ["BROADCASTER", "HEALTH", "create_app"]

BROADCASTER = web.AppKey("broadcaster", AlertBroadcaster)
_SETTINGS = web.AppKey("settings", Settings)
_MAX_BODY_BYTES = 64 * 1024
#: The routes whose bodies may be larger than ``_MAX_BODY_BYTES``, each with its own bound.
_BODY_LIMITS = {("POST", "/api/v1/flood-extents"): FLOOD_EXTENT_MAX_BYTES}
_PROBE_TIMEOUT_S = 1.5

routes = web.RouteTableDef()


@routes.get("/api/v1/stations")
async def list_stations(request: web.Request) -> web.Response:
    """Return every river gauge with its thresholds, area and current stage."""
    async with request.app[POOL].acquire() as conn:
        return json_response(await store.station_statuses(conn))


@routes.get("/api/v1/stations/{id}")
async def get_station(request: web.Request) -> web.Response:
    """Return one gauge with its current stage."""
    station_id = request.match_info["id"]
    async with request.app[POOL].acquire() as conn:
        status = await store.station_status(conn, station_id)
    if status is None:
        raise error(web.HTTPNotFound, f"no station {station_id}")
    return json_response(status)


@routes.put("/api/v1/stations/{id}")
async def put_station(request: web.Request) -> web.Response:
    """Create or update a gauge; changing its thresholds resets its stage."""
    body = await json_body(request)
    station_id = request.match_info["id"]
    if not isinstance(body, dict):
        raise error(web.HTTPUnprocessableEntity, "body: a station must be a JSON object")
    if body.setdefault("id", station_id) != station_id:
        raise error(web.HTTPUnprocessableEntity, "id: differs from the id in the path")
    station = validated(Station, body)
    async with request.app[POOL].acquire() as conn:
        created = await store.upsert_station(conn, station)
        status = await store.station_status(conn, station_id)
    return json_response(status, status=201 if created else 200)


@routes.get("/api/v1/alerts")
async def list_alerts(request: web.Request) -> web.Response:
    """Return the newest alerts."""
    limit = limit_param(request)
    async with request.app[POOL].acquire() as conn:
        alerts = await store.latest_alerts(conn, limit=limit)
    return json_response([a.to_json_dict() for a in alerts])


@routes.get("/api/v1/stream")
async def alert_stream(request: web.Request) -> web.StreamResponse:
    """Stream each newly issued alert as a server-sent ``alert`` event."""
    return await serve_events(
        request, request.app[BROADCASTER], lambda alert: (alert["id"], "alert", alert)
    )


@routes.get("/api/v1/openapi.json")
async def openapi(_request: web.Request) -> web.Response:
    """Return the OpenAPI document."""
    return json_response(openapi_document())


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """Report each component of this process: 200 ``ok``, or 503 ``degraded`` naming what
    is wrong (database or broker unreachable, a consumer retrying, a listener lost)."""
    report = await request.app[HEALTH].report()
    return json_response(report, status=200 if report["status"] == "ok" else 503)


@routes.get("/metrics")
async def metrics(_request: web.Request) -> web.Response:
    """Prometheus text format."""
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


@web.middleware
async def _json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Give unmatched routes, wrong methods and oversized bodies the same JSON error body as
    the handlers. A body declared larger than the route's limit (``_BODY_LIMITS``, else the
    app's) is refused before anything reads it."""
    limit = _body_limit(request)
    if (request.content_length or 0) > limit:
        raise body_too_large(limit)
    if limit != request.client_max_size:
        request = request.clone(client_max_size=limit)
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:  # a chunked body grew past the limit while read
        raise body_too_large(limit) from None
    except web.HTTPException as exc:
        if exc.content_type == "application/json" or exc.status < 400:
            raise
        reason = exc.reason
        if isinstance(exc, web.HTTPMethodNotAllowed):
            allowed = ", ".join(sorted(exc.allowed_methods))
            reason = f"{exc.method} is not allowed here; allowed: {allowed}"
        exc.text = json.dumps({"reason": reason}, ensure_ascii=False)
        exc.content_type = "application/json"
        raise


def _body_limit(request: web.Request) -> int:
    resource = request.match_info.route.resource
    if resource is None:
        return request.client_max_size
    return _BODY_LIMITS.get((request.method, resource.canonical), request.client_max_size)


async def _pool_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[_SETTINGS]
    assert settings.database_url is not None, "resolve embedded settings first"
    pool = await create_pool(settings.database_url)
    app[POOL] = pool
    app[HEALTH].add("database", functools.partial(_database_problem, pool))
    yield
    await asyncio.shield(pool.close())


async def _producer_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[_SETTINGS]
    assert settings.kafka is not None, "resolve embedded settings first"
    producer = new_producer(settings.kafka)
    await producer.start()
    app[PRODUCER] = producer
    app[HEALTH].add("broker", functools.partial(_broker_problem, producer))
    yield
    await asyncio.shield(producer.stop())


async def _broadcaster_ctx(app: web.Application) -> AsyncIterator[None]:
    broadcaster = AlertBroadcaster(app[POOL])
    await broadcaster.start()
    app[BROADCASTER] = broadcaster
    app[HEALTH].watch("alert stream listener", broadcaster.problem)
    yield
    with contextlib.suppress(Exception):
        await broadcaster.stop()


async def _close_streams(app: web.Application) -> None:
    app[BROADCASTER].close_streams()


async def _database_problem(pool: asyncpg.Pool) -> str | None:
    try:
        async with pool.acquire(timeout=_PROBE_TIMEOUT_S) as conn:
            await conn.fetchval("SELECT 1", timeout=_PROBE_TIMEOUT_S)
    except DATABASE_DOWN as exc:
        return f"database unreachable: {exc!r}"
    return None


async def _broker_problem(producer: AIOKafkaProducer) -> str | None:
    """A metadata round trip: cheap, and it fails at once when no broker answers."""
    try:
        async with asyncio.timeout(_PROBE_TIMEOUT_S):
            await producer.client.fetch_all_metadata()
    except (KafkaError, OSError, TimeoutError) as exc:
        return f"broker unreachable: {exc!r}"
    return None


def create_app(settings: Settings, *, health: HealthBoard | None = None) -> web.Application:
    """Build the application; resources open when it starts and close when it stops.

    ``health`` holds the checks of the rest of the process (consumers, the broker watch);
    the app adds its own database, broker and listener checks to it.
    """
    app = web.Application(
        middlewares=[_json_errors, access_middleware], client_max_size=_MAX_BODY_BYTES
    )
    app[HEALTH] = health or HealthBoard()
    if settings.rate_limits:
        app[LIMITER] = RateLimiter()
    app[SECURE_COOKIES] = settings.public_url.startswith("https://")
    app[_SETTINGS] = settings
    app.cleanup_ctx.append(_pool_ctx)
    app.cleanup_ctx.append(_producer_ctx)
    app.cleanup_ctx.append(_broadcaster_ctx)
    app.on_shutdown.append(_close_streams)
    app[VAPID_KEY] = load_or_create_vapid_key(settings.vapid_path)
    app[PUSH_POLICY] = EndpointPolicy(allow_insecure_loopback=settings.push_allow_loopback)
    app.add_routes(routes)
    app.add_routes(resident_routes)
    app.add_routes(auth_routes)
    app.add_routes(alert_routes)
    app.add_routes(resident_page_routes)
    add_cap_routes(app, settings)
    app.add_routes(incident_routes)
    app.add_routes(sensor_routes)
    app.add_routes(observation_routes)
    app.add_routes(shelter_routes)
    app.add_routes(flood_extent_routes)
    app.add_routes(damage_routes)
    app[ROUTES_STATE] = LiveRoutes(settings)
    app.add_routes(route_routes)
    add_dashboard_routes(app, settings)
    app.add_routes(dashboard_page_routes)
    return app
