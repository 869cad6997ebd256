"""The alert rules for incidents (pattern D): when, how far, and only once per incident."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import asyncpg
import numpy as np
import pytest
import shapely

from disaster import store, topics
from disaster._kafka import encode_json
from disaster.domain import GeoPoint, IncidentEvent, InvalidInputError
from disaster.rules import INCIDENT_RADIUS_M, AlertIssuer, alert_for_event
from notify.targeting import haversine_m

NOW = datetime(2026, 8, 1, 3, 0, tzinfo=UTC)
PLACE = GeoPoint(lat=35.68, lon=139.76)


def _event(severity: str, reports: int = 1, status: str = "open", **extra: object) -> IncidentEvent:
    fields = {"id": uuid.uuid4(), "observed_at": NOW, "area_name": "incident fire",
              "location": PLACE, "incident_id": uuid.UUID(int=7), "incident_kind": "fire",
              "severity": severity, "status": status, "report_count": reports, **extra}  # fmt: skip
    return IncidentEvent.model_validate(fields)


def test_a_critical_incident_alerts_the_circle_around_it() -> None:
    alert = alert_for_event(_event("critical"), issued_at=NOW)
    assert alert is not None
    assert (alert.hazard, alert.incident_id) == ("fire", uuid.UUID(int=7))
    (circle,) = alert.circles
    assert (circle.center, circle.radius_m) == (PLACE, INCIDENT_RADIUS_M["critical"])
    ring = np.asarray(alert.area.coordinates[0])  # the map's polygon lies inside the circle
    assert (haversine_m(PLACE.lon, PLACE.lat, ring[:, 0], ring[:, 1]) <= circle.radius_m).all()
    assert shapely.Polygon(ring).is_valid


def test_a_high_incident_waits_for_a_second_report_and_a_resolved_one_never_alerts() -> None:
    assert alert_for_event(_event("high"), issued_at=NOW) is None
    confirmed = alert_for_event(_event("high", reports=2), issued_at=NOW)
    assert confirmed is not None
    assert confirmed.circles[0].radius_m == INCIDENT_RADIUS_M["high"]
    assert alert_for_event(_event("critical", status="resolved"), issued_at=NOW) is None
    assert alert_for_event(_event("medium", reports=9), issued_at=NOW) is None


def test_every_event_of_one_incident_maps_to_the_same_alert() -> None:
    first = alert_for_event(_event("critical"), issued_at=NOW)
    again = alert_for_event(_event("critical", reports=3), issued_at=NOW)
    assert first is not None
    assert again is not None
    assert first.id == again.id


class _Published:
    """Stands in for the producer: what the issuer published."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    async def send_and_wait(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        self.sent.append((topic, value))


async def test_an_event_this_system_never_stored_is_refused_not_alerted(
    own_pool: asyncpg.Pool,
) -> None:
    """Another deployment's event (a shared cluster, a new group reading from the start)
    alerts nobody here, and is refused with a reason rather than retried for ever."""
    event = _event("critical")
    record = SimpleNamespace(value=encode_json(event.model_dump(mode="json")))
    published = _Published()
    issuer = AlertIssuer(own_pool, published)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="not in this system's record"):
        await issuer.handle(record)  # type: ignore[arg-type]
    async with own_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM alerts") == 0
        await store.insert_hazard_event(conn, event)
    await issuer.handle(record)  # type: ignore[arg-type]
    async with own_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM alerts") == 1
    assert [topic for topic, _ in published.sent] == [topics.ALERTS]
