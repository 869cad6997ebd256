"""Flood extents in Postgres, and the depth they put on each building.

Every change (an extent arrives, replaces its source's older version, or is withdrawn; a city
model is imported) recomputes ``buildings.extent_depth_m``/``extent_rank`` for the buildings
it may touch, in the same transaction, and bumps their ``updated_at``: the routers reload
their refuges on that, and the notifier reads the depth with the resident, so both see the
water as soon as the change commits. Changes are serialised by one advisory lock; extents are
few and rare, and two refreshes interleaving could each keep a stale depth.

Exercise extents are stored and announced but do not change any building's depth: a drill
must not change the advice real residents get, nor the refuges real routes use.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg
import numpy as np
import shapely
from shapely.geometry import shape

from disaster.domain.flood_extent import FloodExtentIn
from evac.flood_depth import extent_depths

__all__ = [
    "RefreshResult",
    "StaleVersionError",
    "StoredExtent",
    "active_extents",
    "insert_extent",
    "refresh_extent_depths",
    "withdraw_extent",
]

_LOCK_KEY = 0x466C6F6F64  # "Flood": one lock for every extent change
_Box = tuple[float, float, float, float]
_COLUMNS = ("id, source, version, name, exercise, features, min_lon, min_lat, max_lon, "
            "max_lat, active, received_by, received_at, withdrawn_at")  # fmt: skip


class StaleVersionError(ValueError):
    """The version given is not newer than one already received from the source."""


class RefreshResult(NamedTuple):
    """Buildings whose extent depth changed, and buildings now under some active extent."""

    changed: int
    covered: int


@dataclass(frozen=True, slots=True)
class StoredExtent:
    """An extent as stored; ``features`` are ``{geometry, depth_m, depth_rank}``."""

    id: uuid.UUID
    source: str
    version: int
    name: str
    exercise: bool
    features: list[dict[str, Any]]
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float
    active: bool
    received_by: str | None
    received_at: datetime
    withdrawn_at: datetime | None

    @property
    def box(self) -> _Box:
        """(min_lon, min_lat, max_lon, max_lat)."""
        return (self.min_lon, self.min_lat, self.max_lon, self.max_lat)

    def to_json(self) -> dict[str, Any]:
        """Return the extent as the API shows it: a FeatureCollection with its metadata."""
        features = [{"type": "Feature", "geometry": f["geometry"],
                     "properties": {"depth_rank": f["depth_rank"], "depth_m": f["depth_m"]}}
                    for f in self.features]  # fmt: skip
        return {
            "type": "FeatureCollection", "id": str(self.id), "source": self.source,
            "version": self.version, "name": self.name, "exercise": self.exercise,
            "active": self.active, "received_by": self.received_by,
            "received_at": self.received_at.isoformat(),
            "withdrawn_at": self.withdrawn_at.isoformat() if self.withdrawn_at else None,
            "bbox": list(self.box), "features": features,
        }  # fmt: skip


async def insert_extent(
    conn: asyncpg.Connection, extent: FloodExtentIn, *, received_by: str | None
) -> tuple[StoredExtent, StoredExtent | None]:
    """Store an extent as its source's active version; return it and the version it replaced.

    Call inside a transaction, and refresh the depths over both boxes in the same one.

    Raises
    ------
    StaleVersionError
        ``extent.version`` is not above the source's newest version.
    """
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
    latest = await conn.fetchval(
        "SELECT max(version) FROM flood_extents WHERE source = $1", extent.source
    )
    version = extent.version or (latest or 0) + 1
    if latest is not None and version <= latest:
        msg = f"version {version} of {extent.source!r} is not newer than version {latest}"
        raise StaleVersionError(msg)
    replaced = await conn.fetchrow(
        f"""UPDATE flood_extents SET active = false, withdrawn_at = now()
            WHERE source = $1 AND active RETURNING {_COLUMNS}""",  # noqa: S608 - constant columns
        extent.source,
    )
    features = [{"geometry": f.geometry.model_dump(), "depth_m": f.properties.advised_depth_m,
                 "depth_rank": f.properties.rank} for f in extent.features]  # fmt: skip
    row = await conn.fetchrow(
        f"""INSERT INTO flood_extents (id, source, version, name, exercise, features, min_lon,
                min_lat, max_lon, max_lat, received_by)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {_COLUMNS}""",  # noqa: S608
        uuid.uuid4(), extent.source, version, extent.name, extent.exercise, features,
        *extent.bounds, received_by,
    )  # fmt: skip
    return _stored(row), (None if replaced is None else _stored(replaced))


async def withdraw_extent(conn: asyncpg.Connection, extent_id: uuid.UUID) -> StoredExtent | None:
    """Withdraw an active extent; return it, or None if it is unknown or not active.

    Call inside a transaction, and refresh the depths over its box in the same one.
    """
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
    row = await conn.fetchrow(
        f"""UPDATE flood_extents SET active = false, withdrawn_at = now()
            WHERE id = $1 AND active RETURNING {_COLUMNS}""",  # noqa: S608 - constant columns
        extent_id,
    )
    return None if row is None else _stored(row)


async def active_extents(conn: asyncpg.Connection) -> list[StoredExtent]:
    """Return the active extents, newest first."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM flood_extents WHERE active ORDER BY received_at DESC, id"  # noqa: S608
    )
    return [_stored(r) for r in rows]


async def refresh_extent_depths(conn: asyncpg.Connection, box: _Box | None = None) -> RefreshResult:
    """Recompute the extent depth of the buildings meeting ``box`` (None: every building under
    an active extent, and clear those under none); return what changed.

    Call inside a transaction: the reads and the update must see the same extents.
    """
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
    if box is None:
        box = await _active_box(conn)
        cleared = await conn.execute(
            """UPDATE buildings SET extent_depth_m = NULL, extent_rank = NULL, updated_at = now()
               WHERE extent_depth_m IS NOT NULL AND ($1::float8 IS NULL OR NOT (
                     max_lon >= $1 AND min_lon <= $3 AND max_lat >= $2 AND min_lat <= $4))""",
            *(box or (None, None, None, None)),
        )  # fmt: skip
        if box is None:
            return RefreshResult(int(cleared.split()[-1]), 0)
    rows = await conn.fetch(
        """SELECT id, footprint::text AS footprint, extent_depth_m, extent_rank FROM buildings
           WHERE box(point(min_lon, min_lat), point(max_lon, max_lat))
                 && box(point($1, $2), point($3, $4))
             AND max_lon >= $1 AND min_lon <= $3 AND max_lat >= $2 AND min_lat <= $4""",
        *box,
    )  # fmt: skip
    if not rows:
        return RefreshResult(0, 0)
    footprints = shapely.from_geojson([r["footprint"] for r in rows])
    zones, depths, ranks = await _zones(conn, shapely.total_bounds(footprints))
    found = extent_depths(footprints, zones, depths, ranks)
    now = [(None if np.isnan(d) else d, k or None)
           for d, k in zip(found.depth_m.tolist(), found.rank.tolist(), strict=True)]  # fmt: skip
    changed = [(r["id"], *new) for r, new in zip(rows, now, strict=True)
               if new != (r["extent_depth_m"], r["extent_rank"])]  # fmt: skip
    if changed:
        await conn.execute(
            """UPDATE buildings b SET extent_depth_m = u.depth, extent_rank = u.rank,
                   updated_at = now()
               FROM unnest($1::text[], $2::float8[], $3::int2[]) AS u(id, depth, rank)
               WHERE b.id = u.id""",
            *(list(c) for c in zip(*changed, strict=True)),
        )
    return RefreshResult(len(changed), int(np.count_nonzero(found.rank)))


async def _active_box(conn: asyncpg.Connection) -> _Box | None:
    row = await conn.fetchrow(
        """SELECT min(min_lon), min(min_lat), max(max_lon), max(max_lat) FROM flood_extents
           WHERE active AND NOT exercise"""
    )
    return None if row[0] is None else (row[0], row[1], row[2], row[3])


async def _zones(
    conn: asyncpg.Connection, box: Any
) -> tuple[list[shapely.Geometry], list[float], list[int]]:
    """Return the polygons of the active, real extents meeting a box, with depth and rank."""
    rows = await conn.fetch(
        """SELECT features FROM flood_extents
           WHERE active AND NOT exercise
             AND max_lon >= $1 AND min_lon <= $3 AND max_lat >= $2 AND min_lat <= $4""",
        *(float(v) for v in box),
    )
    features = [f for r in rows for f in r["features"]]
    return ([shape(f["geometry"]) for f in features], [f["depth_m"] for f in features],
            [f["depth_rank"] for f in features])  # fmt: skip


def _stored(row: asyncpg.Record) -> StoredExtent:
    return StoredExtent(**dict(row))
