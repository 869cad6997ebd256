"""Alerts for other systems: each alert as a CAP 1.2 document, and an Atom feed of CAP.

Aggregators (and neighbouring municipalities' systems) read what residents read: the CAP
document carries one ``info`` per language, composed from the same catalogue as the pushes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg
from aiohttp import web

from disaster import store
from disaster._http import POOL, error, uuid_param
from disaster.domain import Alert
from disaster.settings import Settings
from notify.atom import FeedEntry, alerts_feed
from notify.cap_out import MUNICIPALITY_GEOCODE, CapAlert, alert_to_cap
from notify.messages import AlertFacts, Catalogue, compose_alert, load_catalogue

__all__ = ["CAP_CATALOGUE", "CAP_SETTINGS", "cap_document", "routes"]

CAP_SETTINGS = web.AppKey("cap_settings", Settings)
CAP_CATALOGUE = web.AppKey("cap_catalogue", Catalogue)
#: The feed holds the alerts of this long: older ones are history, not current warnings.
FEED_WINDOW = timedelta(hours=48)
_LANGUAGES = ("ja", "ja-easy", "en")
_CAP_TYPE = "application/cap+xml"

routes = web.RouteTableDef()


def cap_document(
    alert: Alert, settings: Settings, catalogue: Catalogue, earlier: Sequence[Alert] = ()
) -> bytes:
    """Return an alert version as a CAP 1.2 document (Exercise for drills); an Update or
    Cancel references the ``earlier`` issued versions of its series."""
    facts = AlertFacts(
        int(alert.level), alert.hazard, alert.area_name, alert.headline, alert.issued_at,
        exercise=alert.exercise,
    )  # fmt: skip
    polygons = [[(lon, lat) for lon, lat in ring] for ring in alert.area.coordinates[:1]]
    return alert_to_cap(
        CapAlert(
            identifier=f"urn:uuid:{alert.id}",
            sender=settings.cap_sender,
            sent=alert.issued_at,
            level=int(alert.level),
            hazard=alert.hazard,
            area_desc=alert.area_name,
            messages=[compose_alert(facts, lang, catalogue) for lang in _LANGUAGES],
            status="Exercise" if alert.exercise else "Actual",
            msg_type=alert.msg_type if earlier else "Alert",
            references=[(settings.cap_sender, f"urn:uuid:{a.id}", a.issued_at) for a in earlier],
            polygons=polygons,
            circles=[(c.center.lon, c.center.lat, c.radius_m) for c in alert.circles],
            geocodes=[(MUNICIPALITY_GEOCODE, code) for code in alert.area_codes],
            web=f"{settings.public_url.rstrip('/')}/api/v1/alerts/{alert.id}/cap",
            profiles=alert.profiles,
        )
    )


@routes.get("/api/v1/alerts/{id}/cap")
async def alert_cap(request: web.Request) -> web.Response:
    """Return one alert as CAP 1.2 XML."""
    alert_id = uuid_param(request, "id")
    async with request.app[POOL].acquire() as conn:
        alert = await store.alert_by_id(conn, alert_id)
        earlier = await earlier_versions(conn, alert) if alert else []
    if alert is None or alert.status in ("draft", "approved"):
        raise error(web.HTTPNotFound, f"no issued alert {alert_id}")
    body = cap_document(alert, request.app[CAP_SETTINGS], request.app[CAP_CATALOGUE], earlier)
    return web.Response(body=body, content_type=_CAP_TYPE, charset="utf-8")


@routes.get("/api/v1/alerts.atom")
async def alerts_atom(request: web.Request) -> web.Response:
    """Return an Atom feed of the alerts of the last 48 hours, each with its CAP embedded."""
    settings, catalogue = request.app[CAP_SETTINGS], request.app[CAP_CATALOGUE]
    since = datetime.now(UTC) - FEED_WINDOW
    async with request.app[POOL].acquire() as conn:
        alerts = [a for a in await store.latest_alerts(conn, limit=500) if a.issued_at >= since]
        history = {a.id: await earlier_versions(conn, a) for a in alerts}
    base = settings.public_url.rstrip("/")
    entries = [
        FeedEntry(
            id=f"urn:uuid:{a.id}",
            title=a.headline.get("ja") or a.area_name,
            updated=a.issued_at,
            cap_url=f"{base}/api/v1/alerts/{a.id}/cap",
            summary=a.area_name,
            cap_document=cap_document(a, settings, catalogue, history[a.id]),
        )
        for a in alerts
    ]
    updated = max((a.issued_at for a in alerts), default=datetime.now(UTC))
    body = alerts_feed(entries, f"{base}/api/v1/alerts.atom", updated)
    return web.Response(body=body, content_type="application/atom+xml", charset="utf-8")


async def earlier_versions(conn: asyncpg.Connection, alert: Alert) -> list[Alert]:
    """Return the issued versions of an alert's series before it, oldest first."""
    rows = await conn.fetch(
        """SELECT id FROM alerts WHERE series_id = $1 AND version < $2
             AND status IN ('issued', 'superseded', 'cancelled') ORDER BY version""",
        alert.series, alert.version,
    )  # fmt: skip
    found = [await store.alert_by_id(conn, r["id"]) for r in rows]
    return [a for a in found if a is not None]


def add_cap_routes(app: web.Application, settings: Settings) -> None:
    """Serve the CAP and Atom routes with the settings and catalogue they use."""
    app[CAP_SETTINGS] = settings
    app[CAP_CATALOGUE] = load_catalogue()
    app.add_routes(routes)
