"""Expired current locations are deleted, and the removal recorded so in-memory indexes forget
them; homes, workplaces and current locations still in time stay."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from disaster.retention import purge_expired_locations, run_retention
from tests.support import wait_until


async def _seed(pool: asyncpg.Pool) -> tuple[uuid.UUID, uuid.UUID]:
    """Two residents at home, one also somewhere else until a minute ago, one for an hour."""
    gone, kept = uuid.uuid4(), uuid.uuid4()
    async with pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO subscribers (id, language) VALUES ($1, 'ja')", [(gone,), (kept,)]
        )
        await conn.executemany(
            """INSERT INTO subscriber_locations (subscriber_id, kind, lat, lon, expires_at)
               VALUES ($1, $2, 35.0, 139.0, now() + make_interval(secs => $3))""",
            [(gone, "home", None), (gone, "current", -60.0),
             (kept, "home", None), (kept, "current", 3600.0)],
        )  # fmt: skip
    return gone, kept


async def _places(pool: asyncpg.Pool) -> set[tuple[uuid.UUID, str]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT subscriber_id, kind FROM subscriber_locations")
    return {(r[0], r[1]) for r in rows}


async def test_only_expired_locations_are_deleted_and_their_removal_recorded(
    own_pool: asyncpg.Pool,
) -> None:
    pool = own_pool
    gone, kept = await _seed(pool)
    async with pool.acquire() as conn:
        assert await purge_expired_locations(conn) == 1
        assert await purge_expired_locations(conn) == 0
        removed = await conn.fetch("SELECT subscriber_id, kind FROM subscriber_removals")
    assert await _places(pool) == {(gone, "home"), (kept, "home"), (kept, "current")}
    assert [tuple(r) for r in removed] == [(gone, "current")]


async def test_the_service_purges_by_itself(own_pool: asyncpg.Pool) -> None:
    pool = own_pool
    gone, _ = await _seed(pool)
    task = asyncio.create_task(run_retention(pool, period_s=0.05))
    try:

        async def purged() -> bool:
            return (gone, "current") not in await _places(pool)

        await wait_until(purged, timeout_s=10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
