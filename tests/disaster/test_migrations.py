"""Migrations apply once, in order, from the library and from ``disaster migrate``."""

from __future__ import annotations

import os

import asyncpg

from disaster._pg import apply_migrations, available_migrations
from tests.support import run_cli


async def test_migrations_apply_once_and_rerun_as_a_no_op(fresh_database: object) -> None:
    url = await fresh_database()  # type: ignore[operator]
    conn = await asyncpg.connect(url)
    try:
        first = await apply_migrations(conn)
        second = await apply_migrations(conn)
        versions = [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")]
    finally:
        await conn.close()
    assert [m.version for m in first] == [m.version for m in available_migrations()]
    assert second == []
    assert versions == [m.version for m in available_migrations()]


async def test_the_migrate_command_runs_twice(fresh_database: object) -> None:
    url = await fresh_database()  # type: ignore[operator]
    env = {**os.environ, "DISASTER_DATABASE_URL": url}
    runs = [await run_cli("migrate", env=env) for _ in range(2)]
    assert [code for code, _, _ in runs] == [0, 0], [err for _, _, err in runs]
    names = ", ".join(f"{m.version:04d}_{m.name}" for m in available_migrations())
    assert f"applied {len(available_migrations())} migration(s): {names}" in runs[0][1]
    assert "none pending" in runs[1][1]
