"""Residents' current locations are deleted once they expire.

A current location is given for a while (the resident page asks for how long) so that alerts
reach people where they are; past that it can no longer target anything, and keeping data only
as long as targeting needs it is the privacy promise. Reads already ignore expired rows; this
removes them, and records the removals so that in-memory indexes forget them too.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from disaster._pg import DATABASE_DOWN

__all__ = ["purge_expired_locations", "run_retention"]

_log = logging.getLogger(__name__)

#: How often expired locations are looked for; a location outlives its expiry by at most this.
PERIOD_S = 60.0


async def purge_expired_locations(conn: asyncpg.Connection) -> int:
    """Delete the locations whose time is up; return how many."""
    async with conn.transaction():
        rows = await conn.fetch(
            """DELETE FROM subscriber_locations WHERE expires_at <= now()
               RETURNING subscriber_id, kind"""
        )
        await conn.executemany(
            "INSERT INTO subscriber_removals (subscriber_id, kind) VALUES ($1, $2)",
            [(r["subscriber_id"], r["kind"]) for r in rows],
        )
    return len(rows)


async def run_retention(pool: asyncpg.Pool, period_s: float = PERIOD_S) -> None:
    """Purge every ``period_s`` until cancelled; a round the database misses is tried again."""
    while True:
        try:
            async with pool.acquire() as conn:
                if purged := await purge_expired_locations(conn):
                    _log.info("deleted %d expired current locations", purged)
        except DATABASE_DOWN as exc:
            _log.warning("expired locations not purged this round (%r)", exc)
        await asyncio.sleep(period_s)
