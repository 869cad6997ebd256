"""Administrative areas (municipalities) by code, for alerts that name areas by code."""

from __future__ import annotations

from typing import Any

import asyncpg

__all__ = ["areas_by_codes", "upsert_areas"]


async def upsert_areas(
    conn: asyncpg.Connection, areas: list[tuple[str, str, dict[str, Any]]], source: str
) -> int:
    """Store ``(code, name, GeoJSON geometry)`` rows, replacing known codes; return the count."""
    await conn.executemany(
        """INSERT INTO areas (code, name, geometry, source) VALUES ($1, $2, $3, $4)
           ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, geometry = EXCLUDED.geometry,
               source = EXCLUDED.source, updated_at = now()""",
        [(code, name, geometry, source) for code, name, geometry in areas],
    )
    return len(areas)


async def areas_by_codes(
    conn: asyncpg.Connection, codes: list[str]
) -> dict[str, tuple[str, dict[str, Any]]]:
    """Return ``code -> (name, geometry)`` for the known codes among ``codes``."""
    rows = await conn.fetch(
        "SELECT code, name, geometry FROM areas WHERE code = ANY($1::text[])", codes
    )
    return {r["code"]: (r["name"], r["geometry"]) for r in rows}
