"""Queries behind the damage picture: buildings for the 3D layer, damage incidents and the
footprints near them, the buildings expected under water. Callers own the transaction.

Incidents are linked to buildings when asked, not when filed: the link depends on the city
model loaded now (a model imported after the fire still shows the burnt building), and a city
has tens of damage incidents, not millions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import shapely

from disaster.damage import (
    DAMAGE_KINDS,
    DAMAGE_WINDOW,
    LINK_RADIUS_M,
    BuildingRow,
    Damage,
    DamageIncident,
    building_damage,
    link_incidents,
)
from evac.refuge import FLOOR_M

__all__ = [
    "DEPTH_SQL",
    "all_areas",
    "building_points",
    "buildings_for_layer",
    "damage_in_box",
    "damage_incidents",
    "damage_mark",
    "damaged_buildings",
    "flooded_points",
    "linked_buildings",
]

_Box = tuple[float, float, float, float]
_M_PER_DEG = 111_195.0
#: The expected depth: the model's own, or the active extents', whichever is deeper.
DEPTH_SQL = "greatest(flood_depth_m, extent_depth_m)"
#: 0.5 m or more / 3 m or more, exactly by the depth classes (an extent's rank stands for the
#: upper bound of its class in ``extent_depth_m``; the class itself decides here).
_AT_LEAST_0_5 = "(flood_depth_m >= 0.5 OR flood_rank >= 2 OR extent_rank >= 2)"
_AT_LEAST_3 = "(flood_depth_m >= 3 OR flood_rank >= 3 OR extent_rank >= 3)"


async def buildings_for_layer(
    conn: asyncpg.Connection, box: _Box, *, limit: int
) -> tuple[list[BuildingRow], bool]:
    """Return up to ``limit`` buildings meeting the box, tallest first (unmeasured ones by
    their storeys), and whether more met it."""
    rows = await conn.fetch(
        f"""SELECT id, footprint, height_m, storeys, usage, {DEPTH_SQL} AS depth_m,
                   public OR refuge_designated AS candidate
            FROM buildings
            WHERE box(point(min_lon, min_lat), point(max_lon, max_lat))
                  && box(point($1, $2), point($3, $4))
              AND max_lon >= $1 AND min_lon <= $3 AND max_lat >= $2 AND min_lat <= $4
            ORDER BY coalesce(height_m, storeys * {FLOOR_M}) DESC NULLS LAST, id
            LIMIT $5""",  # noqa: S608 - constant SQL
        *box, limit + 1,
    )  # fmt: skip
    return [BuildingRow(**dict(r)) for r in rows[:limit]], len(rows) > limit


async def damage_incidents(
    conn: asyncpg.Connection, since: datetime, box: _Box | None = None, *, real_only: bool = False
) -> list[DamageIncident]:
    """Return the fire and collapse incidents first reported since a time (in a box; without
    drills' when ``real_only``)."""
    rows = await conn.fetch(
        """SELECT id::text, kind, lon, lat FROM incidents
           WHERE kind = ANY($1::text[]) AND first_reported_at >= $2
             AND ($3::float8 IS NULL OR (lon BETWEEN $3 AND $5 AND lat BETWEEN $4 AND $6))
             AND (NOT $7 OR exercise_run IS NULL)
           ORDER BY first_reported_at, id""",
        list(DAMAGE_KINDS), since, *(box or (None, None, None, None)), real_only,
    )  # fmt: skip
    return [DamageIncident(r["id"], r["kind"], r["lon"], r["lat"]) for r in rows]


async def damaged_buildings(conn: asyncpg.Connection) -> set[str]:
    """Return the buildings a real fire or collapse reported within ``DAMAGE_WINDOW`` is
    linked to, open or resolved: none of them may be offered as a refuge. A drill's damage
    changes no real advice."""
    since: datetime = await conn.fetchval("SELECT now() - $1::interval", DAMAGE_WINDOW)
    incidents = await damage_incidents(conn, since, real_only=True)
    return set(building_damage(incidents, await linked_buildings(conn, incidents)))


async def damage_mark(conn: asyncpg.Connection) -> tuple[int, datetime | None]:
    """Return what moves whenever :func:`damaged_buildings` may change without a building
    changing: how many real damage incidents the window holds, and the newest first report
    (a report arriving raises one or both; one ageing out lowers the count)."""
    row = await conn.fetchrow(
        """SELECT count(*) AS n, max(first_reported_at) AS newest FROM incidents
           WHERE kind = ANY($1::text[]) AND first_reported_at >= now() - $2::interval
             AND exercise_run IS NULL""",
        list(DAMAGE_KINDS), DAMAGE_WINDOW,
    )  # fmt: skip
    return int(row["n"]), row["newest"]


async def linked_buildings(
    conn: asyncpg.Connection, incidents: list[DamageIncident], radius_m: float = LINK_RADIUS_M
) -> dict[str, str]:
    """Return incident id -> building id (see ``disaster.damage.link_incidents``)."""
    if not incidents:
        return {}
    dlat = radius_m / _M_PER_DEG
    rows = await conn.fetch(
        """SELECT i.id, b.id AS building_id, b.footprint::text AS footprint
           FROM unnest($1::text[], $2::float8[], $3::float8[]) AS i(id, lon, lat)
           JOIN buildings b ON
                box(point(b.min_lon, b.min_lat), point(b.max_lon, b.max_lat))
                && box(point(i.lon - $4 / cos(radians(i.lat)), i.lat - $4),
                       point(i.lon + $4 / cos(radians(i.lat)), i.lat + $4))""",
        [i.id for i in incidents], [i.lon for i in incidents], [i.lat for i in incidents], dlat,
    )  # fmt: skip
    footprints = shapely.from_geojson([r["footprint"] for r in rows]) if rows else []
    candidates = [(r["id"], r["building_id"], f) for r, f in zip(rows, footprints, strict=True)]
    return link_incidents(incidents, candidates, radius_m=radius_m)


async def damage_in_box(conn: asyncpg.Connection, box: _Box, since: datetime) -> dict[str, Damage]:
    """Return building id -> damage for the incidents in (or within the link radius of) a box."""
    pad = LINK_RADIUS_M / _M_PER_DEG * 2  # generous in longitude up to 60 degrees of latitude
    wide = (box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad)
    incidents = await damage_incidents(conn, since, wide)
    return building_damage(incidents, await linked_buildings(conn, incidents))


async def building_points(conn: asyncpg.Connection, ids: list[str]) -> list[tuple[float, float]]:
    """Return a point inside each of the known buildings among ``ids``."""
    rows = await conn.fetch("SELECT lon, lat FROM buildings WHERE id = ANY($1::text[])", ids)
    return [(r["lon"], r["lat"]) for r in rows]


async def flooded_points(conn: asyncpg.Connection) -> list[tuple[float, float, bool]]:
    """Return a point inside each building expected to get 0.5 m or more, and whether 3 m or
    more."""
    rows = await conn.fetch(
        f"SELECT lon, lat, {_AT_LEAST_3} AS deep FROM buildings WHERE {_AT_LEAST_0_5}"  # noqa: S608
    )
    return [(r["lon"], r["lat"], bool(r["deep"])) for r in rows]


async def all_areas(conn: asyncpg.Connection) -> list[tuple[str, str, Any]]:
    """Return every municipal area as (code, name, shapely geometry), by code."""
    rows = await conn.fetch("SELECT code, name, geometry::text AS g FROM areas ORDER BY code")
    shapes = shapely.from_geojson([r["g"] for r in rows]) if rows else []
    return [(r["code"], r["name"], g) for r, g in zip(rows, shapes, strict=True)]
