"""HTTP routes for incidents: reports from staff and residents, and HQ resolving them.

A report is not written to the database here: it is produced to ``incident.raw`` and processed
like every other stream, so the web role stays thin and a burst of reports queues in Kafka.
"""

from __future__ import annotations

import uuid

from aiohttp import web
from pydantic import BaseModel

from disaster import incident_store, ingress, topics
from disaster._http import (
    POOL,
    choice_param,
    error,
    json_body,
    json_response,
    limit_param,
    uuid_param,
    validated,
)
from disaster._kafka import encode_json
from disaster.domain.incident import IncidentReport, IncidentResolution, Reporter

__all__ = ["routes"]

routes = web.RouteTableDef()
_STATUSES = ("open", "resolved")


class ResolutionIn(BaseModel):
    """The body of a resolve request."""

    resolved_by: Reporter


async def _produce(request: web.Request, key: uuid.UUID, body: BaseModel) -> None:
    """Accept the record in Postgres (the 202 promises it is kept); it reaches Kafka next."""
    async with request.app[POOL].acquire() as conn:
        await ingress.accept(
            conn, topics.INCIDENT_RAW, str(key).encode(), encode_json(body.model_dump(mode="json"))
        )


@routes.post("/api/v1/incidents")
async def report_incident(request: web.Request) -> web.Response:
    """Accept a report (202): it is merged or opened as an incident within moments."""
    body = await json_body(request)
    if isinstance(body, dict) and body.get("action", "report") != "report":
        raise error(web.HTTPUnprocessableEntity, "action: only reports are posted here")
    report = validated(IncidentReport, body)
    await _produce(request, report.report_id, report)
    return json_response({"report_id": str(report.report_id)}, status=202)


@routes.post("/api/v1/incidents/{id}/resolve")
async def resolve_incident(request: web.Request) -> web.Response:
    """Accept HQ's resolution of an open incident (202); blocked roads reopen with it."""
    incident_id = uuid_param(request, "id")
    body = validated(ResolutionIn, await json_body(request))
    async with request.app[POOL].acquire() as conn:
        incident = await incident_store.incident_by_id(conn, incident_id)
    if incident is None:
        raise error(web.HTTPNotFound, f"no incident {incident_id}")
    if incident["status"] != "open":
        raise error(web.HTTPConflict, f"incident {incident_id} is already {incident['status']}")
    resolution = IncidentResolution(incident_id=incident_id, resolved_by=body.resolved_by)
    await _produce(request, incident_id, resolution)
    return json_response({"incident_id": str(incident_id)}, status=202)


@routes.get("/api/v1/incidents")
async def list_incidents(request: web.Request) -> web.Response:
    """Return incidents, newest first (``status`` and ``kind`` filter them)."""
    status = choice_param(request, "status", _STATUSES)
    limit = limit_param(request)
    async with request.app[POOL].acquire() as conn:
        rows = await incident_store.list_incidents(
            conn, status=status, kind=request.query.get("kind"), limit=limit
        )
    return json_response(rows)


@routes.get("/api/v1/incidents/{id}")
async def get_incident(request: web.Request) -> web.Response:
    """Return one incident with its report count."""
    incident_id = uuid_param(request, "id")
    async with request.app[POOL].acquire() as conn:
        incident = await incident_store.incident_by_id(conn, incident_id)
    if incident is None:
        raise error(web.HTTPNotFound, f"no incident {incident_id}")
    return json_response(incident)
