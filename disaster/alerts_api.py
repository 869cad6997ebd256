"""HQ's alert lifecycle over HTTP: draft by hand, preview, approve, issue, update, cancel.

Issued versions go to the ``alerts`` topic, where the notifier delivers them; the CAP and Atom
routes show every issued version with its ``msgType`` and references.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import shapely
from aiohttp import web
from pydantic import Field

from disaster import area_store, ingress, lifecycle, store, topics
from disaster._http import POOL, error, json_body, json_response, uuid_param, validated
from disaster._kafka import encode_json
from disaster.access import OPERATOR
from disaster.domain import Alert, AlertLevel, Circle, PolygonArea
from disaster.domain.models import (
    TARGET_PROFILES,
    AlertArea,
    Hazard,
    Language,
    TargetProfile,
    _Record,
)
from disaster.lifecycle import LifecycleError
from disaster.preview import reach, shelter_plan
from disaster.route_api import ROUTES_STATE, NoCityError

__all__ = ["AlertDraftIn", "CancelIn", "UpdateIn", "routes"]

routes = web.RouteTableDef()


class AlertDraftIn(_Record):
    """An alert drafted by an operator: where (a drawn polygon, circles, municipality codes),
    what, at which level, saying what."""

    level: AlertLevel
    hazard: Hazard
    area_name: str = Field(min_length=1, max_length=200)
    area: AlertArea | None = None
    circles: list[Circle] = Field(default_factory=list, max_length=100)
    area_codes: list[str] = Field(default_factory=list, max_length=200)
    headline: dict[Language, str] = Field(min_length=1)
    exercise: bool = False
    profiles: list[TargetProfile] = Field(
        default_factory=list,
        max_length=len(TARGET_PROFILES),
        description="only residents of these routing profiles, which their needs give "
        "(wheelchair: wheelchair; slow_walker, infant, sight: slow_walk; others: walk); "
        "empty: everyone",
    )


class CancelIn(_Record):
    """Take an alert back: ``all_clear`` when the danger is over, else cancelled in error."""

    all_clear: bool = True
    headline: dict[Language, str] | None = None


class UpdateIn(_Record):
    """What a new version changes; anything omitted stays as it was."""

    level: AlertLevel | None = None
    area_name: str | None = Field(default=None, min_length=1, max_length=200)
    area: AlertArea | None = None
    circles: list[Circle] | None = None
    area_codes: list[str] | None = None
    headline: dict[Language, str] | None = None
    profiles: list[TargetProfile] | None = Field(
        default=None, max_length=len(TARGET_PROFILES), description="[]: everyone again"
    )


def _operator(request: web.Request) -> str:
    return request[OPERATOR].username


async def _publish(conn: asyncpg.Connection, alert: Alert) -> Alert:
    """Hand the version to the notifier in the transaction that issues it: the alert and its
    sending are kept together, whatever the broker does."""
    await ingress.accept(conn, topics.ALERTS, str(alert.id).encode(),
                         encode_json(alert.to_json_dict()))  # fmt: skip
    return alert


@routes.post("/api/v1/alerts/drafts")
async def create_draft(request: web.Request) -> web.Response:
    """Draft an alert by hand; it waits for approval."""
    body = validated(AlertDraftIn, await json_body(request))
    area = body.area or await _area_of(request, body)
    alert = Alert(
        id=uuid.uuid4(), level=body.level, hazard=body.hazard, status="draft",
        area_name=body.area_name, area=area, circles=body.circles, area_codes=body.area_codes,
        headline=body.headline, issued_at=datetime.now(UTC), exercise=body.exercise,
        created_by=_operator(request), profiles=body.profiles,
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

    async def step(conn: asyncpg.Connection, alert_id: uuid.UUID) -> Alert:
        return await _publish(conn, await lifecycle.issue(conn, alert_id, datetime.now(UTC)))

    alert = await _transition(request, step)
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

    async def step(conn: asyncpg.Connection, alert_id: uuid.UUID) -> Alert:
        cancelled = await lifecycle.cancel(
            conn, alert_id, who, datetime.now(UTC), all_clear=body.all_clear, headline=head
        )
        return await _publish(conn, cancelled)

    alert = await _transition(request, step)
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
    """Before issuing: how many residents the version reaches, how many of them vulnerable,
    and which shelters the solver would send them to."""
    alert_id = uuid_param(request, "id")
    pool = request.app[POOL]
    async with pool.acquire() as conn:
        alert = await store.alert_by_id(conn, alert_id)
        if alert is None:
            raise error(web.HTTPNotFound, f"no alert {alert_id}")
        who = await reach(conn, alert)
    answer: dict[str, Any] = {"alert_id": str(alert_id), "residents": len(who.residents),
                              "vulnerable": who.vulnerable}  # fmt: skip
    try:
        plan = await request.app[ROUTES_STATE].with_router(
            pool, lambda router: shelter_plan(router, who, alert.hazard)
        )
    except NoCityError as exc:
        plan = {"shelters": None, "no_shelter": None, "reason": str(exc)}
    return json_response(answer | plan)
