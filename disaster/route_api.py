"""``GET /api/v1/route``: a resident's way to a shelter on the roads as they are now.

The router is built on first use from the city's graph file, the shelters and the active road
closures in Postgres; before each answer it takes in what changed since (closures by their
change time, shelters by theirs, refuges by the buildings' and the damage incidents'), so every
web process routes on the same live picture.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import asyncpg
from aiohttp import web

from disaster import building_store, damage_store, incident_store, shelter_store, store
from disaster._http import POOL, choice_param, error, json_response
from disaster.domain import GeoPoint
from disaster.domain.shelter import HAZARDS
from disaster.settings import Settings
from disaster.water_deadline import alert_water_expected_at, seconds_left
from evac.graph import load_graph
from evac.profiles import PROFILES
from evac.router import LiveRouter

__all__ = ["ROUTES_STATE", "LiveRoutes", "NoCityError", "hazard_and_deadline", "routes"]

routes = web.RouteTableDef()
T = TypeVar("T")
#: Re-read closures written this long before the newest seen: commits land out of time order.
_COMMIT_SLACK = timedelta(seconds=10)


class NoCityError(LookupError):
    """No road graph is loaded, so there are no routes to give."""


class LiveRoutes:
    """One process's router and the change times it has caught up to."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._router: LiveRouter | None = None
        self._closures_seen: datetime | None = None
        self._shelters_seen: datetime | None = None
        self._refuges_seen: tuple[object, ...] | None = None
        self._lock = asyncio.Lock()

    async def route(
        self, pool: asyncpg.Pool, origin: GeoPoint, profile: str, hazard: str,
        *, deadline_s: float | None = None,
    ) -> dict:  # fmt: skip
        """Return the route answer as JSON, catching up with closures and shelters first;
        ``deadline_s`` is the time until the water arrives, when known."""
        async with self._lock:
            async with pool.acquire() as conn:
                router = await self._current(conn)
            answer = await asyncio.to_thread(
                router.route, origin, profile, hazard, deadline_s=deadline_s,  # type: ignore[arg-type]
            )  # fmt: skip
        return answer.model_dump(mode="json")

    async def with_router(self, pool: asyncpg.Pool, work: Callable[[LiveRouter], T]) -> T:
        """Run ``work`` on the caught-up router in a thread, alone (the router's caches are
        not shared between threads); raises :class:`NoCityError` when no city is loaded."""
        async with self._lock:
            async with pool.acquire() as conn:
                router = await self._current(conn)
            return await asyncio.to_thread(work, router)

    async def router(self, pool: asyncpg.Pool) -> LiveRouter:
        """Return the router caught up with closures and shelters, for many answers at once
        (the notifier's pattern C); raises :class:`NoCityError` when no city is loaded."""
        async with self._lock, pool.acquire() as conn:
            return await self._current(conn)

    async def caught_up(self, conn: asyncpg.Connection) -> LiveRouter:
        """Return the router caught up on ``conn``, for a caller holding its own connection
        (the ``disaster route`` command, which must answer as this API does); raises
        :class:`NoCityError` when no city is loaded. Not for concurrent callers: use
        :meth:`route` or :meth:`with_router` there."""
        return await self._current(conn)

    async def _current(self, conn: asyncpg.Connection) -> LiveRouter:
        shelters_at = await conn.fetchval("SELECT max(updated_at) FROM shelters")
        if self._router is None:
            path = self._settings.graph_path
            if not path.exists():
                msg = f"no city loaded ({path} missing): run `disaster city import` or `generate`"
                raise NoCityError(msg)
            graph = await asyncio.to_thread(load_graph, path)
            shelters = await shelter_store.all_shelters(conn)
            self._router = await asyncio.to_thread(LiveRouter, graph, shelters)
            self._shelters_seen = shelters_at
        elif shelters_at != self._shelters_seen:
            self._router.set_shelters(await shelter_store.all_shelters(conn))
            self._shelters_seen = shelters_at
        # Incidents do not touch buildings.updated_at: a fire reported at a refuge (or one
        # ageing out of the damage window) moves the damage mark instead.
        buildings_at = await conn.fetchval("SELECT max(updated_at) FROM buildings")
        refuges_at = (buildings_at, *await damage_store.damage_mark(conn))
        if refuges_at != self._refuges_seen:
            self._router.set_refuges(await building_store.refuges(conn))
            self._refuges_seen = refuges_at
        since = None if self._closures_seen is None else self._closures_seen - _COMMIT_SLACK
        closures, newest = await incident_store.closures_written_since(conn, since)
        for closure in closures:
            self._router.apply(closure)
        self._closures_seen = newest or self._closures_seen
        return self._router


ROUTES_STATE = web.AppKey("live_routes", LiveRoutes)


@routes.get("/api/v1/route")
async def get_route(request: web.Request) -> web.Response:
    """``from=LAT,LON``, ``profile`` (walk, slow_walk, wheelchair, car), ``hazard``, and
    optionally ``alert`` (an alert id, as a pattern C link carries): when the alert says when
    the water is expected (``disaster.water_deadline``), a shelter too far to reach before it
    also brings a building to go up in, as in the push the resident got."""
    origin = _origin(request.query.get("from", ""))
    profile = choice_param(request, "profile", PROFILES) or "walk"
    hazard, deadline_s = await _hazard_and_deadline(request)
    try:
        answer = await request.app[ROUTES_STATE].route(
            request.app[POOL], origin, profile, hazard, deadline_s=deadline_s
        )
    except NoCityError as exc:
        raise error(web.HTTPServiceUnavailable, str(exc)) from None
    return json_response(answer)


async def _hazard_and_deadline(request: web.Request) -> tuple[str, float | None]:
    hazard = choice_param(request, "hazard", HAZARDS)
    alert_id = _alert_id(request.query["alert"]) if "alert" in request.query else None
    try:
        async with request.app[POOL].acquire() as conn:
            return await hazard_and_deadline(conn, alert_id, hazard, datetime.now(UTC))
    except LookupError as exc:
        raise error(web.HTTPNotFound, str(exc)) from None
    except ValueError as exc:
        raise error(web.HTTPBadRequest, str(exc)) from None


async def hazard_and_deadline(
    conn: asyncpg.Connection, alert_id: uuid.UUID | None, hazard: str | None, now: datetime
) -> tuple[str, float | None]:
    """Return the hazard to route for (as given, else the alert's, else flood) and the seconds
    left at ``now`` until the alert's water is expected (None: not known, or no alert).

    Raises LookupError for an unknown alert and ValueError for a hazard other than the
    alert's: its deadline says nothing about another hazard.
    """
    if alert_id is None:
        return hazard or "flood", None
    alert = await store.alert_by_id(conn, alert_id)
    if alert is None:
        msg = f"no alert {alert_id}"
        raise LookupError(msg)
    if hazard not in (None, alert.hazard):
        msg = f"hazard {hazard} is not the alert's ({alert.hazard}): match it or leave it out"
        raise ValueError(msg)
    return alert.hazard, seconds_left(await alert_water_expected_at(conn, alert), now)


def _alert_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise error(web.HTTPBadRequest, "alert must be an alert id (a UUID)") from None


def _origin(raw: str) -> GeoPoint:
    try:
        lat, lon = (float(v) for v in raw.split(","))
        return GeoPoint(lat=lat, lon=lon)
    except ValueError:
        raise error(web.HTTPBadRequest, "from must be LAT,LON in degrees") from None
