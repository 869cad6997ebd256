"""HTTP routes for flood extents: HQ receives, lists and withdraws flood polygon sets.

An extent is written straight to Postgres (not through a raw topic): the operator needs to
know at once whether the polygons were accepted, and the buildings' depths are recomputed in
the same transaction. Once committed, a ``flood.extent`` hazard event goes to
``hazard.events`` (and ``hazard_events``) so HQ's picture shows it.

A river office's polygon set for a whole river runs to megabytes of coordinates, far past the
app-wide body limit, so this route has its own (``MAX_BODY_BYTES``, checked in ``disaster.app``
before the body is read).
"""

from __future__ import annotations

import uuid

from aiohttp import web

from disaster import flood_extent_store, store, topics
from disaster._http import POOL, PRODUCER, error, json_body, json_response, uuid_param, validated
from disaster._kafka import encode_json
from disaster.access import OPERATOR
from disaster.domain import PolygonArea
from disaster.domain.events import FloodExtentEvent
from disaster.domain.flood_extent import FloodExtentIn
from disaster.flood_extent_store import RefreshResult, StoredExtent

__all__ = ["MAX_BODY_BYTES", "extent_event", "routes"]

routes = web.RouteTableDef()
_EVENT_NAMESPACE = uuid.UUID("5f1c2a8e-0b7d-4e53-9a61-2c4d8e7f9b10")
#: The largest extent body accepted: a prefecture's rivers at full detail, not a whole survey.
MAX_BODY_BYTES = 16 * 1024 * 1024


@routes.post("/api/v1/flood-extents")
async def post_flood_extent(request: web.Request) -> web.Response:
    """Store an extent as its source's active version (201); buildings' depths follow."""
    extent = validated(FloodExtentIn, await json_body(request))
    who = request[OPERATOR].username if OPERATOR in request else None
    async with request.app[POOL].acquire() as conn, conn.transaction():
        try:
            stored, replaced = await flood_extent_store.insert_extent(conn, extent, received_by=who)
        except flood_extent_store.StaleVersionError as exc:
            raise error(web.HTTPConflict, str(exc)) from None
        box = _union(stored.box, replaced.box if replaced else stored.box)
        refreshed = await flood_extent_store.refresh_extent_depths(conn, box)
        event = extent_event(stored, refreshed)
        await store.insert_hazard_event(conn, event)
    await _announce(request, event)
    body = {**stored.to_json(), "replaced": str(replaced.id) if replaced else None,
            "buildings_changed": refreshed.changed}  # fmt: skip
    return json_response(body, status=201)


@routes.get("/api/v1/flood-extents")
async def list_flood_extents(request: web.Request) -> web.Response:
    """Return the active extents (exercises included, flagged), newest first."""
    async with request.app[POOL].acquire() as conn:
        extents = await flood_extent_store.active_extents(conn)
    return json_response([e.to_json() for e in extents])


@routes.post("/api/v1/flood-extents/{id}/withdraw")
async def withdraw_flood_extent(request: web.Request) -> web.Response:
    """Withdraw an active extent: the buildings under it lose its depth."""
    extent_id = uuid_param(request, "id")
    async with request.app[POOL].acquire() as conn, conn.transaction():
        withdrawn = await flood_extent_store.withdraw_extent(conn, extent_id)
        if withdrawn is None:
            raise error(web.HTTPNotFound, f"no active flood extent {extent_id}")
        refreshed = await flood_extent_store.refresh_extent_depths(conn, withdrawn.box)
        event = extent_event(withdrawn, refreshed)
        await store.insert_hazard_event(conn, event)
    await _announce(request, event)
    return json_response({**withdrawn.to_json(), "buildings_changed": refreshed.changed})


def extent_event(extent: StoredExtent, refreshed: RefreshResult) -> FloodExtentEvent:
    """Return the hazard event announcing an extent's arrival or withdrawal."""
    status = "active" if extent.active else "withdrawn"
    at = extent.received_at if extent.active else (extent.withdrawn_at or extent.received_at)
    min_lon, min_lat, max_lon, max_lat = extent.box
    ring = [(min_lon, min_lat), (max_lon, min_lat), (max_lon, max_lat), (min_lon, max_lat),
            (min_lon, min_lat)]  # fmt: skip
    return FloodExtentEvent(
        id=uuid.uuid5(_EVENT_NAMESPACE, f"{extent.id}:{status}"),
        observed_at=at, area_name=extent.name, area=PolygonArea(coordinates=[ring]),
        extent_id=extent.id, source=extent.source, version=extent.version, status=status,
        exercise=extent.exercise, max_depth_m=max(f["depth_m"] for f in extent.features),
        max_rank=max(f["depth_rank"] for f in extent.features),
        feature_count=len(extent.features), buildings_covered=refreshed.covered,
    )  # fmt: skip


async def _announce(request: web.Request, event: FloodExtentEvent) -> None:
    body = encode_json(event.model_dump(mode="json"))
    await request.app[PRODUCER].send_and_wait(
        topics.HAZARD_EVENTS, body, key=event.area_name.encode()
    )


def _union(
    a: tuple[float, float, float, float], b: tuple[float, float, float, float]
) -> tuple[float, float, float, float]:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
