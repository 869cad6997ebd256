"""Buildings of the 3D city model in Postgres: bulk upsert and spatial look-ups.

Why COPY: a city's model is hundreds of thousands of rows; COPY into a temporary table and one
``INSERT ... SELECT ... ON CONFLICT`` is one round trip per batch instead of one per row (the
benchmark in ``bench/evac/buildings.py`` puts it next to ``executemany``). A re-import updates
every column from the file but keeps ``refuge_designated``, which is the municipality's, not
the model's. Callers own the transaction of the queries; the upsert opens its own.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import shapely
from shapely.geometry import Point, shape

from disaster.damage_store import damaged_buildings
from evac.buildings import Building
from evac.refuge import Refuge, floors_of

__all__ = [
    "StoredBuilding",
    "building_at",
    "buildings_by_ids",
    "buildings_in_box",
    "refuges",
    "set_refuge_designated",
    "upsert_buildings",
]

_COLUMNS = (
    "id", "name", "footprint", "lon", "lat", "min_lon", "min_lat", "max_lon", "max_lat",
    "height_m", "storeys", "usage", "flood_depth_m", "flood_rank", "tsunami_depth_m",
    "landslide", "public", "nearest_node", "source",
)  # fmt: skip
_SELECT = (
    "SELECT id, name, footprint, lon, lat, height_m, storeys, usage, flood_depth_m, flood_rank, "
    "tsunami_depth_m, landslide, public, refuge_designated, nearest_node, source, "
    "extent_depth_m, extent_rank FROM buildings"
)
_BOX = "box(point(min_lon, min_lat), point(max_lon, max_lat))"


@dataclass(frozen=True, slots=True)
class StoredBuilding:
    """A building as stored: the model's attributes plus what the service adds.

    ``footprint`` is a GeoJSON Polygon (lon/lat); ``lon``/``lat`` a point inside it;
    ``nearest_node`` the road graph node it is linked to (-1: none); ``extent_depth_m`` and
    ``extent_rank`` the deepest active flood extent over it (``disaster.flood_extent_store``).
    """

    id: str
    name: str | None
    footprint: dict[str, Any]
    lon: float
    lat: float
    height_m: float | None
    storeys: int | None
    usage: str | None
    flood_depth_m: float | None
    flood_rank: int | None
    tsunami_depth_m: float | None
    landslide: bool
    public: bool
    refuge_designated: bool
    nearest_node: int
    source: str
    extent_depth_m: float | None = None
    extent_rank: int | None = None

    @property
    def depth_m(self) -> float | None:
        """The expected flood depth: the model's or the extents', whichever is deeper."""
        depths = [d for d in (self.flood_depth_m, self.extent_depth_m) if d is not None]
        return max(depths) if depths else None


async def upsert_buildings(
    conn: asyncpg.Connection,
    buildings: Sequence[Building],
    *,
    nearest_nodes: Sequence[int] | None = None,
) -> int:
    """Create or replace buildings by id in one transaction; return how many.

    ``nearest_nodes`` gives each building's road node (default -1). A batch that names the
    same id twice keeps the last.
    """
    if nearest_nodes is not None and len(nearest_nodes) != len(buildings):
        msg = f"{len(nearest_nodes)} nearest nodes for {len(buildings)} buildings"
        raise ValueError(msg)
    nodes = [-1] * len(buildings) if nearest_nodes is None else nearest_nodes
    latest = {b.id: _row(b, int(n)) for b, n in zip(buildings, nodes, strict=True)}
    columns = ", ".join(_COLUMNS)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _COLUMNS[1:])
    async with conn.transaction():
        await conn.execute(
            "DROP TABLE IF EXISTS pg_temp.buildings_incoming; "
            "CREATE TEMP TABLE buildings_incoming (LIKE buildings INCLUDING DEFAULTS) "
            "ON COMMIT DROP; ALTER TABLE buildings_incoming ALTER COLUMN footprint TYPE text"
        )
        await conn.copy_records_to_table(
            "buildings_incoming", records=list(latest.values()), columns=list(_COLUMNS)
        )
        await conn.execute(
            f"""INSERT INTO buildings ({columns})
                SELECT {columns.replace("footprint", "footprint::jsonb")} FROM buildings_incoming
                ON CONFLICT (id) DO UPDATE SET {updates}, updated_at = now()"""  # noqa: S608 - fixed column names
        )
    return len(latest)


def _row(b: Building, nearest_node: int) -> tuple[Any, ...]:
    """Return one building's column values (footprint as GeoJSON text, for COPY)."""
    inside = b.footprint.representative_point()
    min_lon, min_lat, max_lon, max_lat = b.footprint.bounds
    return (
        b.id, b.name, shapely.to_geojson(b.footprint), inside.x, inside.y, min_lon, min_lat,
        max_lon, max_lat, b.height_m, b.storeys, b.usage, b.flood_depth_m, b.flood_rank,
        b.tsunami_depth_m, b.landslide_risk is not None, b.public, nearest_node, b.source,
    )  # fmt: skip


async def buildings_in_box(
    conn: asyncpg.Connection,
    min_lon: float,
    min_lat: float,
    max_lon: float,
    max_lat: float,
    *,
    limit: int = 10_000,
) -> list[StoredBuilding]:
    """Return the buildings whose bounding box meets the box (edges included), by id."""
    rows = await conn.fetch(
        f"""{_SELECT}
            WHERE {_BOX} && box(point($1, $2), point($3, $4))
              AND max_lon >= $1 AND min_lon <= $3 AND max_lat >= $2 AND min_lat <= $4
            ORDER BY id LIMIT $5""",
        min_lon, min_lat, max_lon, max_lat, limit,
    )  # fmt: skip
    return [_stored(r) for r in rows]


async def buildings_by_ids(conn: asyncpg.Connection, ids: Sequence[str]) -> list[StoredBuilding]:
    """Return the known buildings among ``ids``, by id."""
    rows = await conn.fetch(f"{_SELECT} WHERE id = ANY($1::text[]) ORDER BY id", list(ids))
    return [_stored(r) for r in rows]


async def building_at(conn: asyncpg.Connection, lon: float, lat: float) -> StoredBuilding | None:
    """Return the building whose footprint contains the point (boundary included), or None.

    The box index narrows the candidates; shapely decides exactly. Where footprints overlap
    (a PLATEAU tile can hold a building and an annex drawn over it) the smallest wins: it is
    the one the point is most specifically in.
    """
    rows = await conn.fetch(
        f"""{_SELECT}
            WHERE {_BOX} && box(point($1, $2), point($1, $2))
              AND min_lon <= $1 AND max_lon >= $1 AND min_lat <= $2 AND max_lat >= $2""",
        lon, lat,
    )  # fmt: skip
    point = Point(lon, lat)
    found = [(shape(r["footprint"]), r) for r in rows]
    inside = [(poly.area, r["id"], r) for poly, r in found if poly.intersects(point)]
    return _stored(min(inside, key=lambda t: t[:2])[2]) if inside else None


async def set_refuge_designated(
    conn: asyncpg.Connection, building_id: str, *, designated: bool
) -> bool:
    """Mark a building as a designated vertical-evacuation refuge; False if unknown."""
    status = await conn.execute(
        "UPDATE buildings SET refuge_designated = $2, updated_at = now() WHERE id = $1",
        building_id,
        designated,
    )
    return status == "UPDATE 1"


def _stored(row: asyncpg.Record) -> StoredBuilding:
    footprint = row["footprint"]
    if isinstance(footprint, str):  # a connection without the jsonb codec of disaster._pg
        footprint = json.loads(footprint)
    return StoredBuilding(**{**dict(row), "footprint": footprint})


async def refuges(conn: asyncpg.Connection) -> list[Refuge]:
    """Return the buildings that may take people in upstairs: public or designated ones not
    damaged (``disaster.damage_store.damaged_buildings``: a fire or collapse within the damage
    window, even resolved), with the deeper of their model's flood depth and the extents'."""
    damaged = await damaged_buildings(conn)
    rows = await conn.fetch(
        """SELECT id, name, lon, lat, nearest_node, storeys, height_m,
                  greatest(flood_depth_m, extent_depth_m) AS flood_depth_m, tsunami_depth_m
           FROM buildings WHERE (public OR refuge_designated) AND id <> ALL($1::text[])""",
        sorted(damaged),
    )
    return [
        Refuge(r["id"], r["name"] or r["id"], r["lon"], r["lat"], r["nearest_node"],
               floors_of(r["storeys"], r["height_m"]), r["flood_depth_m"], r["tsunami_depth_m"])
        for r in rows
    ]  # fmt: skip
