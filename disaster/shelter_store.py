"""Queries over shelters. Callers own the transaction."""

from __future__ import annotations

import asyncpg

from disaster.domain.shelter import Shelter

__all__ = ["all_shelters", "set_shelter_status", "shelter_by_id", "upsert_shelters"]


async def upsert_shelters(conn: asyncpg.Connection, shelters: list[Shelter]) -> int:
    """Create or replace shelters by id (a re-import updates them); return how many."""
    await conn.executemany(
        """INSERT INTO shelters (id, name, lat, lon, capacity, occupancy, open, hazards, body)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, lat = EXCLUDED.lat,
               lon = EXCLUDED.lon, capacity = EXCLUDED.capacity, occupancy = EXCLUDED.occupancy,
               open = EXCLUDED.open, hazards = EXCLUDED.hazards, body = EXCLUDED.body,
               updated_at = now()""",
        [
            (s.id, s.name, s.location.lat, s.location.lon, s.capacity, s.occupancy, s.open,
             sorted(s.hazards), s.model_dump(mode="json"))
            for s in shelters
        ],
    )  # fmt: skip
    return len(shelters)


async def all_shelters(conn: asyncpg.Connection) -> list[Shelter]:
    """Return every shelter, by id."""
    rows = await conn.fetch("SELECT body FROM shelters ORDER BY id")
    return [Shelter.model_validate(r["body"]) for r in rows]


async def shelter_by_id(conn: asyncpg.Connection, shelter_id: str) -> Shelter | None:
    """Return one shelter, or None."""
    body = await conn.fetchval("SELECT body FROM shelters WHERE id = $1", shelter_id)
    return None if body is None else Shelter.model_validate(body)


async def set_shelter_status(
    conn: asyncpg.Connection, shelter_id: str, *, open_: bool, occupancy: int
) -> Shelter | None:
    """Open or close a shelter and record how many are in it; return it, or None if unknown."""
    current = await shelter_by_id(conn, shelter_id)
    if current is None:
        return None
    updated = Shelter.model_validate(
        {**current.model_dump(), "open": open_, "occupancy": occupancy}
    )
    await upsert_shelters(conn, [updated])
    return updated
