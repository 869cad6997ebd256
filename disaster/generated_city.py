"""The generated town as the service's city: its road graph, its shelters and its 3D model.

``disaster city generate`` and the demo both call :func:`load_generated_city`. The buildings
are written as a PLATEAU-shaped CityGML tile (``evac.generate_buildings``) and imported by the
same path as a real city's tiles (``disaster.buildings_cli``), so the demo exercises the
parser, the road linking and the flood-extent refresh, not a shortcut around them. The tile
stays on disk: ``disaster city import-buildings`` loads it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from disaster import shelter_store
from disaster._pg import connect
from disaster.buildings_cli import import_buildings
from disaster.services import migrate
from disaster.settings import Settings
from evac.city import make_town, town_shelters
from evac.generate import Town
from evac.generate_buildings import generate_buildings, write_citygml

__all__ = ["GeneratedCity", "buildings_tile_path", "load_generated_city"]


@dataclass(frozen=True, slots=True)
class GeneratedCity:
    """What was loaded: the town, and how many shelters and buildings were stored."""

    town: Town
    shelters: int
    buildings: int
    tile: Path | None


def buildings_tile_path(settings: Settings) -> Path:
    """Return where the generated town's CityGML tile is written: beside the road graph."""
    return settings.graph_path.parent / "buildings" / "town_bldg_6697_op.gml"


async def load_generated_city(
    settings: Settings, *, seed: int = 0, size: int | None = None, buildings: bool = True
) -> GeneratedCity:
    """Generate the town, write its graph, store its shelters and (unless ``buildings`` is
    False) write and import its buildings; running it again replaces them all by id."""
    assert settings.database_url is not None
    town = make_town(settings.graph_path, seed=seed, size=size)
    shelters = town_shelters(town, seed=seed)
    await migrate(settings.database_url)
    conn = await connect(settings.database_url)
    try:
        stored_shelters = await shelter_store.upsert_shelters(conn, shelters)
    finally:
        await conn.close()
    if not buildings:
        return GeneratedCity(town, stored_shelters, 0, None)
    tile = buildings_tile_path(settings)
    write_citygml(generate_buildings(town, seed), tile)
    stored = await import_buildings(settings, tile)
    return GeneratedCity(town, stored_shelters, stored, tile)
