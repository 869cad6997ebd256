"""HTTP routes for shelters: the list HQ and the solver see, and opening/closing them.

Closing an open shelter (PATCH, or a PUT that replaces it closed) re-routes the residents an
alert in force sent there (:mod:`disaster.reroute`); the answer says how many in the
``X-Residents-Rerouted`` header.
"""

from __future__ import annotations

import asyncpg
from aiohttp import web
from pydantic import BaseModel, Field, ValidationError

from disaster import outbox_store, reroute, shelter_store
from disaster._http import POOL, choice_param, error, json_body, json_response, validated
from disaster.domain.shelter import HAZARDS, Shelter
from disaster.outbox_store import RoutedDelivery
from disaster.route_api import ROUTES_STATE

__all__ = ["ShelterStatusIn", "routes"]

routes = web.RouteTableDef()


class ShelterStatusIn(BaseModel):
    """What a shelter's staff report: open or closed, and how many people are inside."""

    open: bool
    occupancy: int = Field(default=0, ge=0)


@routes.get("/api/v1/shelters")
async def list_shelters(request: web.Request) -> web.Response:
    """Return shelters, optionally only those designated for a ``hazard`` or ``open=true``."""
    hazard = choice_param(request, "hazard", HAZARDS)
    only_open = choice_param(request, "open", ("true", "false"))
    async with request.app[POOL].acquire() as conn:
        shelters = await shelter_store.all_shelters(conn)
    chosen = [
        s.model_dump(mode="json")
        for s in shelters
        if (hazard is None or hazard in s.hazards)
        and (only_open is None or s.open == (only_open == "true"))
    ]
    return json_response(chosen)


@routes.get("/api/v1/shelters/{id}")
async def get_shelter(request: web.Request) -> web.Response:
    """Return one shelter."""
    async with request.app[POOL].acquire() as conn:
        shelter = await shelter_store.shelter_by_id(conn, request.match_info["id"])
    if shelter is None:
        raise error(web.HTTPNotFound, f"no shelter {request.match_info['id']}")
    return json_response(shelter.model_dump(mode="json"))


@routes.put("/api/v1/shelters/{id}")
async def put_shelter(request: web.Request) -> web.Response:
    """Create or replace a shelter (the same record the importers produce)."""
    body = await json_body(request)
    if not isinstance(body, dict):
        raise error(web.HTTPUnprocessableEntity, "body: a shelter must be a JSON object")
    if body.setdefault("id", request.match_info["id"]) != request.match_info["id"]:
        raise error(web.HTTPUnprocessableEntity, "id: differs from the id in the path")
    shelter = validated(Shelter, body)
    sent_there = await _sent_there_if_closing(request, shelter.id, shelter.open)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        await shelter_store.upsert_shelters(conn, [shelter])
        rerouted = await _reroute(conn, shelter.id, sent_there)
    return _answer(shelter, rerouted)


@routes.patch("/api/v1/shelters/{id}")
async def set_status(request: web.Request) -> web.Response:
    """Open or close a shelter and report its occupancy (routes stop at a full one)."""
    status = validated(ShelterStatusIn, await json_body(request))
    shelter_id = request.match_info["id"]
    sent_there = await _sent_there_if_closing(request, shelter_id, status.open)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        try:
            shelter = await shelter_store.set_shelter_status(
                conn, shelter_id, open_=status.open, occupancy=status.occupancy
            )
        except ValidationError as exc:
            raise error(web.HTTPUnprocessableEntity, exc.errors()[0]["msg"]) from None
        if shelter is None:
            raise error(web.HTTPNotFound, f"no shelter {shelter_id}")
        rerouted = await _reroute(conn, shelter_id, sent_there)
    return _answer(shelter, rerouted)


async def _sent_there_if_closing(
    request: web.Request, shelter_id: str, will_be_open: bool
) -> list[RoutedDelivery]:
    """The pushes that sent their resident to a shelter about to close (worked out while it
    is still open); none when it stays open or was closed already."""
    if will_be_open:
        return []
    pool = request.app[POOL]
    async with pool.acquire() as conn:
        current = await shelter_store.shelter_by_id(conn, shelter_id)
    if current is None or not current.open:
        return []
    return await reroute.sent_to_shelter(pool, request.app[ROUTES_STATE], shelter_id)


async def _reroute(
    conn: asyncpg.Connection, shelter_id: str, sent_there: list[RoutedDelivery]
) -> int:
    return await outbox_store.resend(conn, sent_there, f"re-routed: shelter {shelter_id} closed")


def _answer(shelter: Shelter, rerouted: int) -> web.Response:
    response = json_response(shelter.model_dump(mode="json"))
    response.headers["X-Residents-Rerouted"] = str(rerouted)
    return response
