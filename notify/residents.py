"""Every resident's locations in memory, indexed for targeting, caught up from Postgres.

Loading a million locations per alert would take seconds; the index is loaded once and then
follows what changed (locations by write time, removals from their log) before each alert, so
a resident who registered or moved a moment ago is targeted where they are now.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import numpy as np
import shapely

from disaster import resident_store
from disaster.domain import Alert
from notify.targeting import Circle, ResidentIndex, TargetArea

__all__ = ["ResidentLocations", "target_area"]

#: Re-read this far back: transactions commit out of write-time order.
_OVERLAP = timedelta(seconds=10)


def target_area(alert: Alert, coded: list[dict] | None = None) -> TargetArea:
    """Return the area an alert reaches: its polygon, its circles (exact distance) and the
    shapes of the municipalities it names by code (``coded``, GeoJSON, resolved by the caller)."""
    circles = tuple(Circle(c.center.lon, c.center.lat, c.radius_m) for c in alert.circles)
    shapes = tuple(shapely.geometry.shape(g) for g in coded or [])
    return TargetArea(polygons=(alert.area.to_shape(), *shapes), circles=circles)


class ResidentLocations:
    """One row per (resident, kind of location); a current location counts until it expires."""

    def __init__(self) -> None:
        self._keys: dict[tuple[uuid.UUID, str], int] = {}
        self._owner: list[uuid.UUID] = []
        self._expires: list[float] = []
        self._index = ResidentIndex(np.empty(0, np.int64), np.empty(0), np.empty(0))
        self._since: datetime | None = None

    def __len__(self) -> int:
        """Return how many locations are indexed."""
        return len(self._index)

    async def refresh(self, conn: asyncpg.Connection) -> None:
        """Apply what was written since the last refresh (everything, the first time)."""
        since = None if self._since is None else self._since - _OVERLAP
        rows, removed, newest = await resident_store.locations_written_since(conn, since)
        if rows or removed or self._since is None:
            self._since = newest or datetime.now(UTC)
        gone = self._removed_keys(removed)
        ids = np.fromiter((self._key(sub, kind, until) for sub, kind, _, _, until in rows),
                          np.int64, len(rows))  # fmt: skip
        lon = np.fromiter((r[2] for r in rows), np.float64, len(rows))
        lat = np.fromiter((r[3] for r in rows), np.float64, len(rows))
        if rows or len(gone):
            self._index = self._index.with_changes(ids, lon, lat, deleted=gone)

    def targets(self, area: TargetArea, now: datetime | None = None) -> list[uuid.UUID]:
        """Return the residents with a location inside ``area`` (boundary included), once each."""
        keys = self._index.targets(area)
        if not len(keys):
            return []
        expires = np.asarray(self._expires)[keys]
        alive = keys[expires > (now or datetime.now(UTC)).timestamp()]
        return list(dict.fromkeys(self._owner[k] for k in alive))

    def _key(self, sub: uuid.UUID, kind: str, until: datetime | None) -> int:
        key = self._keys.setdefault((sub, kind), len(self._owner))
        expires = np.inf if until is None else until.timestamp()
        if key == len(self._owner):
            self._owner.append(sub)
            self._expires.append(expires)
        else:
            self._expires[key] = expires
        return key

    def _removed_keys(self, removed: list[tuple[uuid.UUID, str | None]]) -> np.ndarray:
        keys = [
            self._keys[(sub, k)]
            for sub, kind in removed
            for k in ((kind,) if kind else ("home", "work", "current"))
            if (sub, k) in self._keys
        ]
        return np.asarray(keys, np.int64)
