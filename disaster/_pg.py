"""Postgres adapter: connection pools and versioned migrations.

Migrations are numbered SQL files applied in order, each in its own transaction, under an
advisory lock so that several processes starting together apply each one exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

import asyncpg

__all__ = [
    "DATABASE_DOWN",
    "ChannelListener",
    "Migration",
    "apply_migrations",
    "available_migrations",
    "connect",
    "create_pool",
]

_log = logging.getLogger(__name__)
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x0D15A57E  # any constant shared by every migrator of this schema
_RELISTEN_MAX_WAIT_S = 5.0

#: What a call raises while the server is down or restarting: refused or reset connections,
#: "the database system is shutting down / starting up", a connection closed under a query.
DATABASE_DOWN = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)

Notify = Callable[[object, int, str, str], None]


@dataclass(frozen=True, slots=True)
class Migration:
    """One SQL file: ``version`` orders it, ``name`` says what it does."""

    version: int
    name: str
    sql: str


def available_migrations() -> list[Migration]:
    """Return the packaged migrations in version order; refuse gaps and stray files."""
    found = []
    for entry in resources.files("disaster.migrations").iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _MIGRATION_NAME.match(entry.name)
        if match is None:
            msg = f"migration file {entry.name!r} is not named NNNN_snake_case.sql"
            raise ValueError(msg)
        found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        msg = f"migration versions must run 1..N without gaps, got {[m.version for m in found]}"
        raise ValueError(msg)
    return found


async def apply_migrations(conn: asyncpg.Connection) -> list[Migration]:
    """Apply the migrations this database has not seen yet; return those applied."""
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY,
                   name text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        applied = []
        for migration in available_migrations():
            if migration.version in done:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
            _log.info("applied migration %04d_%s", migration.version, migration.name)
            applied.append(migration)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)


async def create_pool(database_url: str, *, attempts: int = 5) -> asyncpg.Pool:
    """Open a pool, retrying a few times so a database that is still starting is waited for."""
    for attempt in range(1, attempts + 1):
        try:
            return await asyncpg.create_pool(
                database_url, min_size=1, max_size=10, init=_init_connection
            )
        except (OSError, asyncpg.CannotConnectNowError) as exc:
            if attempt == attempts:
                raise
            _log.warning("database not reachable (%s), attempt %d/%d", exc, attempt, attempts)
            await asyncio.sleep(min(0.2 * 2**attempt, 3.0))
    msg = "attempts must be at least 1"
    raise ValueError(msg)


async def connect(database_url: str) -> asyncpg.Connection:
    """Open one connection that exchanges jsonb as Python values, like the pool's."""
    conn = await asyncpg.connect(database_url)
    await _init_connection(conn)
    return conn


async def _init_connection(conn: asyncpg.Connection) -> None:
    """Exchange jsonb as Python values, so the store never sees JSON strings."""
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


class ChannelListener:
    """Keeps one pooled connection listening on a ``NOTIFY`` channel, across server restarts.

    A restart (or failover) closes the listening connection, and with it every later
    notification; this notices the loss and listens again on a new connection, retrying with a
    capped backoff while the server is away. Notifications sent while nobody listened are gone,
    so ``on_relisten`` is called after each new start for the owner to catch up by reading.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        channel: str,
        callback: Notify,
        *,
        on_relisten: Callable[[], None] | None = None,
    ) -> None:
        self._pool = pool
        self._channel = channel
        self._callback = callback
        self._on_relisten = on_relisten
        self._conn: asyncpg.Connection | None = None
        self._relisten: asyncio.Task[None] | None = None
        self.relistens = 0

    @property
    def listening(self) -> bool:
        """Whether a live connection is listening now."""
        return self._conn is not None and not self._conn.is_closed()

    async def start(self) -> None:
        """Listen; raises if the database cannot be reached now."""
        conn = await self._pool.acquire()
        try:
            await conn.add_listener(self._channel, self._callback)
        except BaseException:
            await self._pool.release(conn)
            raise
        conn.add_termination_listener(self._lost)
        self._conn = conn

    async def stop(self) -> None:
        """Stop listening and give the connection back."""
        if self._relisten is not None:
            self._relisten.cancel()
            await asyncio.gather(self._relisten, return_exceptions=True)
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.remove_termination_listener(self._lost)
            with contextlib.suppress(*DATABASE_DOWN):
                await conn.remove_listener(self._channel, self._callback)
            await self._pool.release(conn)

    def _lost(self, conn: object) -> None:
        _log.warning("lost the connection listening on %r; listening again", self._channel)
        lost, self._conn = self._conn, None
        self._relisten = asyncio.get_running_loop().create_task(self._listen_again(lost))

    async def _listen_again(self, lost: asyncpg.Connection | None) -> None:
        if lost is not None:
            with contextlib.suppress(*DATABASE_DOWN):
                await lost.remove_listener(self._channel, self._callback)
            await self._pool.release(lost)
        for attempt in itertools.count(1):
            try:
                await self.start()
            except DATABASE_DOWN as exc:
                _log.info("cannot listen on %r yet (%r), attempt %d", self._channel, exc, attempt)
                await asyncio.sleep(min(0.1 * 2**attempt, _RELISTEN_MAX_WAIT_S))
            else:
                break
        self.relistens += 1
        _log.warning("listening on %r again", self._channel)
        if self._on_relisten is not None:
            self._on_relisten()
