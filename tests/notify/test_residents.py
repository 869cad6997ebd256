"""The notifier's in-memory resident locations: catching up with registrations, moves,
removals and expiry, from an empty database on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import shapely

from disaster import resident_store
from disaster._pg import connect
from disaster.domain import GeoPoint
from disaster.domain.resident import CurrentLocation, Locations, SubscriberIn, SubscriberUpdate
from disaster.services import migrate
from notify.residents import ResidentLocations
from notify.targeting import TargetArea

AREA = TargetArea(polygons=(shapely.box(139.0, 35.0, 139.1, 35.1),))
INSIDE, OUTSIDE = GeoPoint(lat=35.05, lon=139.05), GeoPoint(lat=35.5, lon=139.5)


async def test_the_index_follows_registrations_moves_removals_and_expiry(
    fresh_database: object,
) -> None:
    url = await fresh_database()  # type: ignore[operator]
    await migrate(url)
    conn = await connect(url)
    try:
        residents = ResidentLocations()
        await residents.refresh(conn)  # nobody yet
        assert residents.targets(AREA) == []

        home, _ = await resident_store.register(conn, SubscriberIn(location=INSIDE))
        worker, _ = await resident_store.register(
            conn, SubscriberIn(locations=Locations(home=OUTSIDE, work=INSIDE))
        )
        visitor, _ = await resident_store.register(
            conn, SubscriberIn(locations=Locations(current=CurrentLocation(lat=35.05, lon=139.05)))
        )
        await residents.refresh(conn)
        assert set(residents.targets(AREA)) == {home.id, worker.id, visitor.id}
        later = datetime.now(UTC) + timedelta(hours=4)  # the visitor's location has expired
        assert set(residents.targets(AREA, now=later)) == {home.id, worker.id}

        change = SubscriberUpdate.model_validate({"locations": {"work": None}})
        await resident_store.update_subscriber(conn, worker.id, change)
        await resident_store.delete_subscriber(conn, home.id)
        await residents.refresh(conn)
        assert residents.targets(AREA) == [visitor.id]
    finally:
        await conn.close()
