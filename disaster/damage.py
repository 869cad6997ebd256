"""The damage picture, pure: incidents linked to buildings, buildings as GeoJSON, area counts.

An incident report carries a point: where the caller stood, or where they tapped on a map.
It is linked to the building whose footprint holds the point (the smallest, where an annex is
drawn over its main building), else to the nearest footprint within ``LINK_RADIUS_M``: a
report from across the street still names the burning house, while one from an open square
names none. A building with both a fire and a collapse shows the fire: it is the one that
spreads and the one crews are sent to. Damage holds for ``DAMAGE_WINDOW`` after the first
report, resolved or not: a burnt house stays burnt after the fire is out, and is no refuge.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import numpy as np
import shapely

from evac.refuge import FLOOR_M, Refuge, floors_of

__all__ = [
    "DAMAGE_KINDS",
    "DAMAGE_WINDOW",
    "LINK_RADIUS_M",
    "AreaCounts",
    "BuildingRow",
    "DamageIncident",
    "building_damage",
    "building_feature",
    "count_by_area",
    "is_refuge",
    "link_incidents",
]

Damage = Literal["fire", "collapse"]
#: Incident kinds that damage a building, strongest first.
DAMAGE_KINDS: tuple[Damage, ...] = ("fire", "collapse")
#: Damage first reported this long ago still counts (a burnt house stays burnt after the fire
#: is out): it shows on the 3D layer, and the building is offered to no one as a refuge.
DAMAGE_WINDOW = timedelta(hours=72)
LINK_RADIUS_M = 30.0
_M_PER_DEG = 111_195.0  # on the mean Earth sphere (6,371 km), as evac.graph measures


@dataclass(frozen=True, slots=True)
class DamageIncident:
    """A fire or collapse report: its id, kind and point (lon/lat degrees)."""

    id: str
    kind: Damage
    lon: float
    lat: float


@dataclass(frozen=True, slots=True)
class BuildingRow:
    """What the 3D layer needs of one building; ``depth_m`` is the expected one (the deeper
    of the model's and the active extents')."""

    id: str
    footprint: dict[str, Any]
    height_m: float | None
    storeys: int | None
    usage: str | None
    depth_m: float | None
    candidate: bool  # public or designated: may open upstairs as a refuge


@dataclass
class AreaCounts:
    """Counts for one area (or the whole city)."""

    fires: int = 0
    collapses: int = 0
    buildings_damaged: int = 0
    buildings_depth_0_5m: int = 0  # expected depth 0.5 m or more (床上浸水)
    buildings_depth_3m: int = 0  # 3 m or more: the 2nd floor is under water

    def as_json(self) -> dict[str, int]:
        """Return the counts by name."""
        return dict(self.__dict__)


def link_incidents(
    incidents: Sequence[DamageIncident],
    candidates: Sequence[tuple[str, str, shapely.Geometry]],
    *,
    radius_m: float = LINK_RADIUS_M,
) -> dict[str, str]:
    """Return incident id -> building id for the incidents a building can be found for.

    ``candidates`` are (incident id, building id, footprint) pairs: the footprints near each
    incident, from the box index.
    """
    near: dict[str, list[tuple[str, shapely.Geometry]]] = {}
    for incident_id, building_id, footprint in candidates:
        near.setdefault(incident_id, []).append((building_id, footprint))
    linked = {}
    for incident in incidents:
        found = _building_for(incident, near.get(incident.id, []), radius_m)
        if found is not None:
            linked[incident.id] = found
    return linked


def _building_for(
    incident: DamageIncident, near: list[tuple[str, shapely.Geometry]], radius_m: float
) -> str | None:
    if not near:
        return None
    point = shapely.Point(incident.lon, incident.lat)
    inside = [(f.area, b) for b, f in near if f.intersects(point)]
    if inside:
        return min(inside)[1]
    origin = np.array([incident.lon, incident.lat])
    scale = np.array([_M_PER_DEG * math.cos(math.radians(incident.lat)), _M_PER_DEG])
    here = shapely.Point(0.0, 0.0)
    distance, building = min(
        (shapely.transform(f, lambda xy: (xy - origin) * scale).distance(here), b) for b, f in near
    )
    return building if distance <= radius_m else None


def building_damage(
    incidents: Iterable[DamageIncident], linked: Mapping[str, str]
) -> dict[str, Damage]:
    """Return building id -> its strongest damage (fire over collapse)."""
    damage: dict[str, Damage] = {}
    for incident in incidents:
        building = linked.get(incident.id)
        if building is None:
            continue
        known = damage.get(building)
        if known is None or DAMAGE_KINDS.index(incident.kind) < DAMAGE_KINDS.index(known):
            damage[building] = incident.kind
    return damage


def is_refuge(row: BuildingRow, damage: Damage | None) -> bool:
    """Whether the building may be offered for vertical evacuation from the flood expected
    at it: public or designated, undamaged, its safe floor within its floors."""
    if not row.candidate or damage is not None:
        return False
    refuge = Refuge(row.id, row.id, 0.0, 0.0, -1, floors_of(row.storeys, row.height_m),
                    flood_depth_m=row.depth_m)  # fmt: skip
    return refuge.floor_for("flood") is not None


def building_feature(row: BuildingRow, damage: Damage | None) -> dict[str, Any]:
    """Return the building as a GeoJSON Feature with exactly the 3D layer's properties.

    ``height_m`` falls back to storeys x ``FLOOR_M`` so an unmeasured building still stands.
    """
    height = row.height_m
    if height is None and row.storeys:
        height = row.storeys * FLOOR_M
    return {
        "type": "Feature",
        "geometry": row.footprint,
        "properties": {
            "id": row.id, "height_m": height, "storeys": row.storeys, "usage": row.usage,
            "depth_m": row.depth_m, "damage": damage, "refuge": is_refuge(row, damage),
        },
    }  # fmt: skip


def count_by_area(
    areas: Sequence[tuple[str, str, shapely.Geometry]],
    incidents: Sequence[DamageIncident],
    damaged: Sequence[tuple[float, float]],
    flooded: Sequence[tuple[float, float, bool]],
) -> tuple[dict[str, AreaCounts], AreaCounts]:
    """Return counts per area code (areas with nothing to count left out) and in total.

    ``damaged`` are the damaged buildings' points, ``flooded`` the points of buildings with
    0.5 m or more expected, each with whether it is 3 m or more. A point on two areas'
    shared boundary counts in both.
    """
    total = AreaCounts()
    per_area: dict[str, AreaCounts] = {}
    tree = shapely.STRtree([g for _, _, g in areas]) if areas else None

    def add(points: Sequence[tuple[float, ...]], field: str, when: Sequence[bool]) -> None:
        hits = _areas_of(tree, [(p[0], p[1]) for p in points])
        for i, point_areas in enumerate(hits):
            if not when[i]:
                continue
            setattr(total, field, getattr(total, field) + 1)
            for k in point_areas:
                counts = per_area.setdefault(areas[k][0], AreaCounts())
                setattr(counts, field, getattr(counts, field) + 1)

    points = [(i.lon, i.lat) for i in incidents]
    add(points, "fires", [i.kind == "fire" for i in incidents])
    add(points, "collapses", [i.kind == "collapse" for i in incidents])
    add(damaged, "buildings_damaged", [True] * len(damaged))
    add(flooded, "buildings_depth_0_5m", [True] * len(flooded))
    add(flooded, "buildings_depth_3m", [f[2] for f in flooded])
    return per_area, total


def _areas_of(tree: shapely.STRtree | None, points: list[tuple[float, float]]) -> list[list[int]]:
    """Return, per point, the indexes of the areas covering it."""
    hits: list[list[int]] = [[] for _ in points]
    if tree is None or not points:
        return hits
    point, area = tree.query(shapely.points(points), predicate="intersects")
    for p, a in zip(point.tolist(), area.tolist(), strict=True):
        hits[p].append(a)
    return hits
