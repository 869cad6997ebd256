"""The generated town as a city with buildings: the library call and ``disaster city generate``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from disaster._pg import connect
from disaster.generated_city import buildings_tile_path, load_generated_city
from disaster.settings import Settings, load_settings
from tests.support import run_cli


@pytest.fixture
async def town_settings(fresh_database: object, tmp_path: Path) -> Settings:
    url = await fresh_database()  # type: ignore[operator]
    return load_settings(database_url=url, state_dir=tmp_path / "state")


async def _counts(settings: Settings) -> tuple[int, int, int, int]:
    conn = await connect(settings.database_url)  # type: ignore[arg-type]
    try:
        row = await conn.fetchrow(
            """SELECT count(*) AS n, count(*) FILTER (WHERE nearest_node >= 0) AS linked,
                      count(*) FILTER (WHERE public) AS public,
                      (SELECT count(*) FROM shelters) AS shelters FROM buildings"""
        )
    finally:
        await conn.close()
    return row["n"], row["linked"], row["public"], row["shelters"]


async def test_the_town_comes_with_its_buildings_linked_to_its_roads(
    town_settings: Settings,
) -> None:
    city = await load_generated_city(town_settings, seed=1)
    assert city.tile == buildings_tile_path(town_settings)
    assert city.tile.exists()
    assert town_settings.graph_path.exists()
    n, linked, public, shelters = await _counts(town_settings)
    assert n == city.buildings > 4_000
    assert linked == n  # every building of the town is beside one of its streets
    assert public >= 5  # schools, halls, the city hall, the hospital: the refuges
    assert shelters == city.shelters == len(city.town.shelters)
    again = await load_generated_city(town_settings, seed=1)
    assert (await _counts(town_settings))[0] == again.buildings == n  # replaced by id


async def test_the_command_generates_and_import_buildings_reloads_the_tile(
    town_settings: Settings,
) -> None:
    env = {**os.environ, "DISASTER_DATABASE_URL": str(town_settings.database_url),
           "DISASTER_STATE_DIR": str(town_settings.state_dir)}  # fmt: skip
    code, out, err = await run_cli("city", "generate", "--seed", "2", env=env, timeout_s=120)
    assert code == 0, err
    tile = buildings_tile_path(town_settings)
    n = (await _counts(town_settings))[0]
    assert f"{n} buildings written to {tile} and stored" in out
    code, out, err = await run_cli("city", "import-buildings", str(tile.parent), env=env)
    assert code == 0, err
    assert f"{n} buildings stored" in out
    assert (await _counts(town_settings))[0] == n
    code, out, err = await run_cli("city", "generate", "--without-buildings", env=env)
    assert code == 0, err
    assert "buildings written" not in out
