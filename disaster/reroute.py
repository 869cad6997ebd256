"""Residents sent to a shelter that closes are sent somewhere else.

Pattern C told each resident of an alert in force which shelter to go to: the router's
nearest fit shelter from where they are, by the profile their needs call for. When HQ closes a
shelter, those it was named to would walk to a closed door, so their pushes of the alerts in
force are queued again (``outbox_store.resend``); the delivery worker composes them anew on
the roads and shelters as they are now, the closed one left out, under the same notification
tag, so the phone replaces the message rather than adding one.

Who was sent there is worked out again rather than stored: the router, while the shelter is
still open, gives the answer pattern C gave. Where the roads changed in between, the answer
may differ from the message for a few; they are then re-sent too or, if their message named
the shelter but the roads now lead elsewhere, their route page (which is always live) shows
the new way.
"""

from __future__ import annotations

import asyncpg

from disaster import outbox_store
from disaster.domain import GeoPoint
from disaster.domain.resident import profile_for
from disaster.domain.shelter import HAZARDS
from disaster.outbox_store import RoutedDelivery
from disaster.route_api import LiveRoutes, NoCityError
from evac.router import LiveRouter
from notify.compose import ROUTE_FROM_LEVEL

__all__ = ["sent_to", "sent_to_shelter"]


def sent_to(
    router: LiveRouter, deliveries: list[RoutedDelivery], shelter_id: str
) -> list[RoutedDelivery]:
    """Return those of ``deliveries`` whose route the router gives to ``shelter_id``."""
    chosen = []
    for delivery in deliveries:
        here = GeoPoint(lat=delivery.lat, lon=delivery.lon)
        if not router.covers(here):
            continue  # outside the city's roads: their message gave no route
        profile = profile_for(list(delivery.needs))
        shelter = router.nearest_shelter(here, profile, delivery.hazard)  # type: ignore[arg-type]
        if shelter is not None and shelter.id == shelter_id:
            chosen.append(delivery)
    return chosen


async def sent_to_shelter(
    pool: asyncpg.Pool, routes: LiveRoutes, shelter_id: str
) -> list[RoutedDelivery]:
    """Return the delivered pushes of alerts in force that sent their resident to
    ``shelter_id``; call it while the shelter is still open."""
    async with pool.acquire() as conn:
        candidates = await outbox_store.routed_pushes_in_force(
            conn, ROUTE_FROM_LEVEL, sorted(HAZARDS)
        )
    if not candidates:
        return []
    try:
        return await routes.with_router(pool, lambda r: sent_to(r, candidates, shelter_id))
    except NoCityError:
        return []
