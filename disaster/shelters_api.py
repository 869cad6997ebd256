"""HTTP routes for shelters: the list HQ and the solver see, and opening/closing them."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field, ValidationError

from disaster import shelter_store
from disaster._http import POOL, choice_param, error, json_body, json_response, validated
from disaster.domain.shelter import HAZARDS, Shelter

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
    async with request.app[POOL].acquire() as conn:
        await shelter_store.upsert_shelters(conn, [shelter])
    return json_response(shelter.model_dump(mode="json"))


@routes.patch("/api/v1/shelters/{id}")
async def set_status(request: web.Request) -> web.Response:
    """Open or close a shelter and report its occupancy (routes stop at a full one)."""
    status = validated(ShelterStatusIn, await json_body(request))
    async with request.app[POOL].acquire() as conn:
        try:
            shelter = await shelter_store.set_shelter_status(
                conn, request.match_info["id"], open_=status.open, occupancy=status.occupancy
            )
        except ValidationError as exc:
            raise error(web.HTTPUnprocessableEntity, exc.errors()[0]["msg"]) from None
    if shelter is None:
        raise error(web.HTTPNotFound, f"no shelter {request.match_info['id']}")
    return json_response(shelter.model_dump(mode="json"))
