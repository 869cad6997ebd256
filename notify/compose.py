"""Turning an alert into one resident's push payload: patterns C and D, else the plain alert.

- Pattern C (level 3 and up, for a hazard the solver knows): the resident's own route, by the
  profile their needs call for, from where they are (current location, else home, else work);
  when no shelter can be reached, or none before the water the alert expects
  (``disaster.water_deadline``) while a building to go up in can be, the vertical-evacuation
  advice. With a route, the full text also gives the expected depth at their building.
- Pattern D (an alert about an incident): what happened, how far from them, what to avoid.
- Pattern E (water expected at the building they are in, per the city model, and no route to
  give): the expected depth there and the floor to go up to.
- Otherwise the alert in their language.

The payload carries the alert id as the notification ``tag``: should a delivery be sent twice
(a worker killed after sending, before recording it), the phone replaces the notification
instead of showing a second one.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import asyncpg

from disaster import incident_store
from disaster.domain import Alert, GeoPoint
from disaster.domain.geo import distance_m
from disaster.domain.resident import profile_for
from disaster.domain.shelter import HAZARDS
from disaster.route_api import LiveRoutes, NoCityError
from disaster.water_deadline import alert_water_expected_at, seconds_left
from evac.refuge import VERTICAL_HAZARDS, safe_floor
from evac.router import LiveRouter
from notify._cache import forget_beyond
from notify.delivery import Recipient
from notify.messages import (
    AlertFacts,
    BuildingFacts,
    Catalogue,
    IncidentFacts,
    Message,
    NoRouteFacts,
    RouteFacts,
    compose_alert,
    compose_pattern_c,
    compose_pattern_d,
    compose_pattern_e,
    load_catalogue,
)

__all__ = ["ROUTE_FROM_LEVEL", "PersonalComposer"]

_log = logging.getLogger(__name__)

#: From this level on residents are told to move, so they get their own route.
ROUTE_FROM_LEVEL = 3


class PersonalComposer:
    """Composes per resident; one per worker process, sharing the router and catalogue."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        routes: LiveRoutes | None,
        public_url: str,
        catalogue: Catalogue | None = None,
    ) -> None:
        self._pool = pool
        self._routes = routes
        self._public_url = public_url.rstrip("/")
        self._catalogue = catalogue or load_catalogue()
        self._incidents: dict[uuid.UUID, dict[str, Any] | None] = {}
        self._water_at: dict[uuid.UUID, datetime | None] = {}

    async def prepare(self, alerts: list[Alert]) -> LiveRouter | None:
        """Catch up once per batch: the router (closures, shelters), the incidents named and
        when each routed alert expects the water (read once per alert: it never changes)."""
        forget_beyond(self._incidents, {a.incident_id for a in alerts})
        forget_beyond(self._water_at, {a.id for a in alerts})
        for alert in alerts:
            if alert.incident_id is not None and alert.incident_id not in self._incidents:
                async with self._pool.acquire() as conn:
                    found = await incident_store.incident_by_id(conn, alert.incident_id)
                self._incidents[alert.incident_id] = found
        routed = [a for a in alerts if _wants_route(a)]
        if self._routes is None or not routed:
            return None
        for alert in routed:
            if alert.id not in self._water_at:
                async with self._pool.acquire() as conn:
                    self._water_at[alert.id] = await alert_water_expected_at(conn, alert)
        try:
            return await self._routes.router(self._pool)
        except NoCityError:
            return None

    def shared_key(
        self, alert: Alert, recipient: Recipient, router: LiveRouter | None
    ) -> tuple[uuid.UUID, str] | None:
        """Return (alert, language) when the payload is the plain alert, the same for every
        resident speaking that language; None when it is their own (a route, an incident)."""
        if alert.incident_id is not None and alert.incident_id in self._incidents:
            return None
        if self._routed(alert, recipient, router) or _building_advice(alert, recipient):
            return None
        return alert.id, recipient.language

    def _routed(self, alert: Alert, recipient: Recipient, router: LiveRouter | None) -> bool:
        return (
            router is not None
            and recipient.location is not None
            and _wants_route(alert)
            and router.covers(recipient.location)
        )

    def compose(self, alert: Alert, recipient: Recipient, router: LiveRouter | None) -> bytes:
        """Return the resident's payload (compact JSON, within one Web Push record)."""
        return self._message(alert, recipient, router).to_push_payload(
            extra={
                "tag": str(alert.series),
                "alert_id": str(alert.id),
                "msg_type": alert.msg_type,
            }
        )

    def _message(self, alert: Alert, recipient: Recipient, router: LiveRouter | None) -> Message:
        facts = AlertFacts(
            int(alert.level), alert.hazard, alert.area_name, alert.headline, alert.issued_at,
            exercise=alert.exercise,
        )  # fmt: skip
        language = recipient.language
        incident = self._incidents.get(alert.incident_id) if alert.incident_id else None
        if incident is not None:
            return compose_pattern_d(
                self._incident_facts(incident, recipient), language, self._catalogue,
                exercise=alert.exercise,
            )  # fmt: skip
        if self._routed(alert, recipient, router):
            assert router is not None
            route = self._route(router, alert, recipient)
            if isinstance(route, NoRouteFacts) and route.safe_floor is None and _wet(recipient):
                route = replace(route, safe_floor=safe_floor(recipient.depth_m or 0.0))
            return compose_pattern_c(facts, route, language, self._catalogue)
        if _building_advice(alert, recipient):
            depth = recipient.depth_m or 0.0
            building = BuildingFacts(depth, safe_floor(depth))
            return compose_pattern_e(facts, building, language, self._catalogue)
        return compose_alert(facts, language, self._catalogue)

    def _route(
        self, router: LiveRouter, alert: Alert, recipient: Recipient
    ) -> RouteFacts | NoRouteFacts:
        """The resident's way out. A shelter beyond the deadline with a refuge in reach gives
        the refuge ("too late" for the shelter); with no refuge in reach the shelter route is
        still the best advice there is, and it is given."""
        assert recipient.location is not None
        profile = profile_for(list(recipient.needs))
        deadline_s = seconds_left(self._water_at.get(alert.id), datetime.now(UTC))
        answer = router.route(recipient.location, profile, alert.hazard, deadline_s=deadline_s)  # type: ignore[arg-type]
        refuge = answer.refuge
        if answer.reason is not None or answer.shelter_name is None or refuge is not None:
            reason = "too_late" if answer.reason is None else _no_route_code(answer.reason)
            return NoRouteFacts(
                reason=reason,
                refuge_name=refuge.name if refuge else None,
                safe_floor=refuge.safe_floor if refuge else None,
            )
        origin = recipient.location
        link = (
            f"{self._public_url}/resident/#route?from={origin.lat:.5f},{origin.lon:.5f}"
            f"&profile={profile}&hazard={alert.hazard}&alert={alert.id}"
        )
        depth = recipient.depth_m
        building = BuildingFacts(depth, safe_floor(depth)) if depth and depth > 0 else None
        return RouteFacts(
            answer.shelter_name, answer.distance_m or 0.0, answer.minutes or 0.0, link, profile,
            building=building,
        )  # fmt: skip

    def _incident_facts(self, incident: dict[str, Any], recipient: Recipient) -> IncidentFacts:
        where = GeoPoint.model_validate(incident["location"])
        away = distance_m(where, recipient.location) if recipient.location else 0.0
        return IncidentFacts(
            incident["kind"], incident["description"] or incident["kind"], away, None,
            datetime.fromisoformat(incident["last_reported_at"]),
        )  # fmt: skip


def _wet(recipient: Recipient) -> bool:
    return recipient.depth_m is not None and recipient.depth_m > 0


def _building_advice(alert: Alert, recipient: Recipient) -> bool:
    """Pattern E: the city model expects water at the resident's building, and the alert is
    about water, at a level where people move."""
    return (
        _wet(recipient)
        and alert.incident_id is None
        and alert.hazard in VERTICAL_HAZARDS
        and int(alert.level) >= ROUTE_FROM_LEVEL
    )


def _wants_route(alert: Alert) -> bool:
    return (
        alert.incident_id is None
        and int(alert.level) >= ROUTE_FROM_LEVEL
        and alert.hazard in HAZARDS
    )


def _no_route_code(reason: str) -> str:
    """Map the solver's reason to the catalogue's codes (free text is shown as written)."""
    text = reason.lower()
    if "full" in text:
        return "shelters_full"
    if "cut off" in text or "closed" in text or "blocked" in text:
        return "roads_blocked"
    if "no open" in text or "no shelter" in text:
        return "no_shelter"
    return reason
