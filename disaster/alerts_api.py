"""HQ's alert lifecycle over HTTP: draft by hand, preview, approve, issue, update, cancel.

Issued versions go to the ``alerts`` topic, where the notifier delivers them; the CAP and Atom
routes show every issued version with its ``msgType`` and references.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import numpy as np
import shapely
from aiohttp import web
from pydantic import Field

from disaster import area_store, lifecycle, store, topics
from disaster._http import POOL, PRODUCER, error, json_body, json_response, uuid_param, validated
from disaster._kafka import encode_json
from disaster.access import OPERATOR
from disaster.domain import Alert, AlertLevel, Circle, PolygonArea
from disaster.domain.models import Hazard, Language, _Record
from disaster.domain.resident import VULNERABLE_NEEDS
from disaster.lifecycle import LifecycleError
from notify.residents import target_area
from notify.targeting import ResidentIndex

__all__ = ["AlertDraftIn", "CancelIn", "UpdateIn", "routes"]

routes = web.RouteTableDef()


class AlertDraftIn(_Record):
    """An alert drafted by an operator: where (a drawn polygon, circles, municipality codes),
    what, at which level, saying what."""

    level: AlertLevel
    hazard: Hazard
    area_name: str = Field(min_length=1, max_length=200)
    area: PolygonArea | None = None
    circles: list[Circle] = Field(default_factory=list, max_length=100)
    area_codes: list[str] = Field(default_factory=list, max_length=200)
    headline: dict[Language, str] = Field(min_length=1)
    exercise: bool = False


class CancelIn(_Record):
    """Take an alert back: ``all_clear`` when the danger is over, else cancelled in error."""

    all_clear: bool = True
    headline: dict[Language, str] | None = None


class UpdateIn(_Record):
    """What a new version changes; anything omitted stays as it was."""

    level: AlertLevel | None = None
    area_name: str | None = Field(default=None, min_length=1, max_length=200)
    area: PolygonArea | None = None
    circles: list[Circle] | None = None
    area_codes: list[str] | None = None
    headline: dict[Language, str] | None = None


def _operator(request: web.Request) -> str:
    return request[OPERATOR].username


async def _publish(request: web.Request, alert: Alert) -> None:
    await request.app[PRODUCER].send_and_wait(
        topics.ALERTS, encode_json(alert.to_json_dict()), key=str(alert.id).encode()
    )


@routes.post("/api/v1/alerts/drafts")
async def create_draft(request: web.Request) -> web.Response:
    """Draft an alert by hand; it waits for approval."""
    body = validated(AlertDraftIn, await json_body(request))
    area = body.area or await _area_of(request, body)
    alert = Alert(
        id=uuid.uuid4(), level=body.level, hazard=body.hazard, status="draft",
        area_name=body.area_name, area=area, circles=body.circles, area_codes=body.area_codes,
        headline=body.headline, issued_at=datetime.now(UTC), exercise=body.exercise,
        created_by=_operator(request),
    )  # fmt: skip
    async with request.app[POOL].acquire() as conn:
        await store.insert_alert(conn, alert)
    return json_response(alert.to_json_dict(), status=201)


async def _area_of(request: web.Request, body: AlertDraftIn) -> PolygonArea:
    """An alert drawn only as circles or codes still needs a polygon for maps: their hull."""
    shapes = [shapely.Point(c.center.lon, c.center.lat).buffer(1e-6) for c in body.circles]
    async with request.app[POOL].acquire() as conn:
        known = await area_store.areas_by_codes(conn, body.area_codes)
    missing = sorted(set(body.area_codes) - known.keys())
    if missing:
        raise error(web.HTTPUnprocessableEntity, f"area_codes: unknown {', '.join(missing)}")
    shapes += [shapely.geometry.shape(g) for _, g in known.values()]
    if not shapes:
        raise error(web.HTTPUnprocessableEntity, "area: draw an area, or give circles or codes")
    hull = shapely.union_all(shapes).convex_hull
    return PolygonArea(coordinates=[[tuple(p) for p in hull.exterior.coords]])


@routes.get("/api/v1/alerts/drafts")
async def list_drafts(request: web.Request) -> web.Response:
    """Return the versions waiting for approval or issue."""
    async with request.app[POOL].acquire() as conn:
        rows = await conn.fetch(
            """SELECT a.id, coalesce(array_agg(p.operator) FILTER (WHERE p.operator IS NOT NULL),
                      '{}') AS approvers
               FROM alerts a LEFT JOIN alert_approvals p ON p.alert_id = a.id
               WHERE a.status IN ('draft', 'approved') GROUP BY a.id"""
        )
        out = []
        for r in rows:
            alert = await store.alert_by_id(conn, r["id"])
            assert alert is not None
            needed = lifecycle.approvals_needed(int(alert.level))
            out.append({**alert.to_json_dict(), "approved_by": list(r["approvers"]),
                        "approvals_needed": needed})  # fmt: skip
    return json_response(out)


async def _transition(request: web.Request, step: Any) -> Alert:
    alert_id = uuid_param(request, "id")
    async with request.app[POOL].acquire() as conn:
        try:
            async with conn.transaction():
                return await step(conn, alert_id)
        except LookupError as exc:
            raise error(web.HTTPNotFound, str(exc)) from None
        except LifecycleError as exc:
            raise error(web.HTTPConflict, str(exc)) from None


@routes.post("/api/v1/alerts/{id}/approve")
async def approve(request: web.Request) -> web.Response:
    """Approve a draft (level 5 needs two different operators)."""
    who = _operator(request)
    alert = await _transition(request, lambda c, a: lifecycle.approve(c, a, who))
    return json_response(alert.to_json_dict())


@routes.post("/api/v1/alerts/{id}/issue")
async def issue(request: web.Request) -> web.Response:
    """Issue an approved version: it goes to the residents now."""
    alert = await _transition(request, lambda c, a: lifecycle.issue(c, a, datetime.now(UTC)))
    await _publish(request, alert)
    return json_response(alert.to_json_dict())


@routes.post("/api/v1/alerts/{id}/update")
async def update(request: web.Request) -> web.Response:
    """Draft the next version of an issued alert (it needs approval again)."""
    body = validated(UpdateIn, await json_body(request))
    changes = body.model_dump(exclude_none=True)
    who = _operator(request)
    alert = await _transition(
        request, lambda c, a: lifecycle.draft_update(c, a, changes, who, datetime.now(UTC))
    )
    return json_response(alert.to_json_dict(), status=201)


@routes.post("/api/v1/alerts/{id}/cancel")
async def cancel(request: web.Request) -> web.Response:
    """Cancel an issued alert or declare the all-clear, at once."""
    body = validated(CancelIn, await json_body(request))
    who, head = _operator(request), body.headline
    alert = await _transition(
        request,
        lambda c, a: lifecycle.cancel(
            c, a, who, datetime.now(UTC), all_clear=body.all_clear, headline=head
        ),
    )
    await _publish(request, alert)
    return json_response(alert.to_json_dict(), status=201)


@routes.get("/api/v1/alerts/{id}/versions")
async def versions(request: web.Request) -> web.Response:
    """Return every version of the alert's series, oldest first."""
    alert_id = uuid_param(request, "id")
    async with request.app[POOL].acquire() as conn:
        alert = await store.alert_by_id(conn, alert_id)
        if alert is None:
            raise error(web.HTTPNotFound, f"no alert {alert_id}")
        found = await lifecycle.series_versions(conn, alert.series)
    return json_response([a.to_json_dict() for a in found])


@routes.get("/api/v1/alerts/{id}/preview")
async def preview(request: web.Request) -> web.Response:
    """Before issuing: how many residents the version reaches, how many of them vulnerable."""
    alert_id = uuid_param(request, "id")
    async with request.app[POOL].acquire() as conn:
        alert = await store.alert_by_id(conn, alert_id)
        if alert is None:
            raise error(web.HTTPNotFound, f"no alert {alert_id}")
        reached, vulnerable = await _reach(conn, alert)
    return json_response({"alert_id": str(alert_id), "residents": reached,
                          "vulnerable": vulnerable})  # fmt: skip


async def _reach(conn: asyncpg.Connection, alert: Alert) -> tuple[int, int]:
    coded = await area_store.areas_by_codes(conn, list(alert.area_codes))
    area = target_area(alert, [g for _, g in coded.values()])
    boxes = [p.bounds for p in area.polygons] + [
        (c.lon - 1, c.lat - 1, c.lon + 1, c.lat + 1) for c in area.circles
    ]
    lon0, lat0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    lon1, lat1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
    rows = await conn.fetch(
        """SELECT l.subscriber_id, l.lon, l.lat, s.needs FROM subscriber_locations l
           JOIN subscribers s ON s.id = l.subscriber_id
           WHERE l.lon BETWEEN $1 AND $3 AND l.lat BETWEEN $2 AND $4
             AND (l.expires_at IS NULL OR l.expires_at > now())
             AND (NOT $5 OR s.drills)""",
        lon0, lat0, lon1, lat1, alert.exercise,
    )  # fmt: skip
    if not rows:
        return 0, 0
    index = ResidentIndex(np.arange(len(rows)), [r["lon"] for r in rows], [r["lat"] for r in rows])
    inside = {rows[i]["subscriber_id"]: rows[i]["needs"] for i in index.targets(area)}
    vulnerable = sum(bool(VULNERABLE_NEEDS & set(needs)) for needs in inside.values())
    return len(inside), vulnerable
