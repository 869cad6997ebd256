"""What an alert version would do before it is issued: whom it reaches, where they would go.

HQ decides on a draft by its reach: how many residents, how many of them vulnerable, and which
shelters the solver would send them to (a shelter about to be overwhelmed shows here first).
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import asyncpg
import numpy as np

from disaster import area_store
from disaster.domain import Alert, GeoPoint
from disaster.domain.resident import VULNERABLE_NEEDS, matches_profiles, profile_for
from evac.router import LiveRouter
from notify.residents import target_area
from notify.targeting import ResidentIndex

__all__ = ["Reach", "reach", "shelter_plan"]


@dataclass(frozen=True)
class Reach:
    """The residents a version targets: one place each (the first of theirs inside)."""

    residents: dict[uuid.UUID, tuple[float, float, list[str]]]

    @property
    def vulnerable(self) -> int:
        """How many of them have a need that makes evacuating harder."""
        return sum(bool(VULNERABLE_NEEDS & set(needs)) for _, _, needs in self.residents.values())


async def reach(conn: asyncpg.Connection, alert: Alert) -> Reach:
    """Return the residents the alert would target now (drill alerts: only those opted in;
    alerts limited to routing profiles: only residents of those)."""
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
             AND (NOT $5 OR s.drills)
           ORDER BY l.subscriber_id, l.kind""",
        lon0, lat0, lon1, lat1, alert.exercise,
    )  # fmt: skip
    if not rows:
        return Reach({})
    index = ResidentIndex(np.arange(len(rows)), [r["lon"] for r in rows], [r["lat"] for r in rows])
    inside: dict[uuid.UUID, tuple[float, float, list[str]]] = {}
    for i in sorted(index.targets(area)):
        row = rows[i]
        if not matches_profiles(row["needs"], alert.profiles):
            continue
        inside.setdefault(row["subscriber_id"], (row["lon"], row["lat"], list(row["needs"])))
    return Reach(inside)


def shelter_plan(router: LiveRouter, who: Reach, hazard: str) -> dict[str, Any]:
    """Count where the solver would send each targeted resident, by their own profile."""
    counts: Counter[str] = Counter()
    names: dict[str, tuple[str, int | None, int]] = {}
    nowhere = 0
    for lon, lat, needs in who.residents.values():
        shelter = router.nearest_shelter(GeoPoint(lon=lon, lat=lat), profile_for(needs), hazard)  # type: ignore[arg-type]
        if shelter is None:
            nowhere += 1
            continue
        counts[shelter.id] += 1
        names[shelter.id] = (shelter.name, shelter.capacity, shelter.occupancy)
    shelters = [
        {"id": sid, "name": names[sid][0], "residents": n, "capacity": names[sid][1],
         "occupancy": names[sid][2],
         "over_capacity": names[sid][1] is not None and names[sid][2] + n > names[sid][1]}
        for sid, n in counts.most_common()
    ]  # fmt: skip
    return {"shelters": shelters, "no_shelter": nowhere}
