"""The building store on the real Postgres, and the import command end to end."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon, shape

from disaster import building_store, damage_store
from disaster._pg import connect
from disaster.buildings_cli import import_buildings, import_buildings_command
from disaster.domain import GeoPoint, InvalidInputError
from disaster.domain.roads import RoadClosure
from disaster.services import migrate
from disaster.settings import Settings, load_settings
from evac.buildings import Building, FloodRisk, iter_buildings
from evac.city import make_town, town_shelters
from evac.generate import generate_town
from evac.generate_buildings import generate_buildings, write_citygml
from evac.graph import haversine_m, load_graph
from evac.refuge import Refuge
from evac.router import LiveRouter

PLATEAU = Path(__file__).resolve().parents[3] / "shared" / "data" / "plateau"
BLDG = PLATEAU / "64413325_bldg_6697_op.gml"
TALL = "bldg_e9cf094c-590b-4e4f-838a-29ddabe63025"  # 21.8 m, L2 depth 2.999 m
TOWN = generate_town(0)


@pytest.fixture
async def conn(fresh_database: object) -> AsyncIterator[asyncpg.Connection]:
    url = await fresh_database()  # type: ignore[operator]
    await migrate(url)
    connection = await connect(url)
    yield connection
    await connection.close()


@pytest.fixture(scope="module")
def sample() -> list[Building]:
    return list(iter_buildings(BLDG))


def _square(
    building_id: str, lon: float, lat: float, size: float = 0.001, **kw: object
) -> Building:
    ring = [(lon, lat), (lon + size, lat), (lon + size, lat + size), (lon, lat + size)]
    fields: dict[str, object] = {"height_m": 10.0, "storeys": 3, "usage": "411", "source": "t"}
    return Building(id=building_id, footprint=Polygon(ring), **{**fields, **kw})  # type: ignore[arg-type]


async def test_stored_as_read(conn: asyncpg.Connection, sample: list[Building]) -> None:
    assert await building_store.upsert_buildings(conn, sample) == 25
    (tall,) = await building_store.buildings_by_ids(conn, [TALL, "unknown"])
    assert (tall.height_m, tall.flood_depth_m, tall.flood_rank) == (21.8, 2.999, 2)
    assert (tall.storeys, tall.usage) == (None, None)
    assert not tall.public
    assert not tall.refuge_designated
    assert (tall.nearest_node, tall.source) == (-1, BLDG.name)
    read = next(b for b in sample if b.id == TALL)
    assert shape(tall.footprint).equals(read.footprint)
    assert read.footprint.contains(shape({"type": "Point", "coordinates": [tall.lon, tall.lat]}))


async def test_box_queries_are_exact_at_the_edges(conn: asyncpg.Connection) -> None:
    """The GiST box operators have a 1e-6 tolerance; the exact columns decide."""
    await building_store.upsert_buildings(
        conn, [_square("a", 139.7, 35.6), _square("b", 139.702, 35.6), _square("far", 140.0, 36.0)]
    )
    ids = [b.id for b in await building_store.buildings_in_box(conn, 139.7, 35.6, 139.702, 35.601)]
    assert ids == ["a", "b"]  # b's west edge lies on the box's east edge: boundary counts
    just_short = await building_store.buildings_in_box(conn, 139.7, 35.6, 139.7019999, 35.601)
    assert [b.id for b in just_short] == ["a"]  # 1e-7 degrees short of b: the index alone says yes
    assert await building_store.buildings_in_box(conn, 0.0, 0.0, 1.0, 1.0) == []
    assert len(await building_store.buildings_in_box(conn, 139, 35, 141, 37, limit=2)) == 2


async def test_building_at_a_point(conn: asyncpg.Connection) -> None:
    outline = Polygon([(139.7, 35.6), (139.702, 35.6), (139.7, 35.602)])
    triangle = Building(id="tri", footprint=outline, height_m=None, storeys=None, usage=None)
    annex = _square("annex", 139.7, 35.6, size=0.0005)
    await building_store.upsert_buildings(conn, [triangle, annex])

    async def found(lon: float, lat: float) -> str | None:
        building = await building_store.building_at(conn, lon, lat)
        return None if building is None else building.id

    assert await found(139.7008, 35.6008) == "tri"
    assert await found(139.7001, 35.6001) == "annex"  # in both: the smaller is meant
    assert await found(139.7, 35.601) == "tri"  # on the boundary
    assert await found(139.7015, 35.6015) is None  # in the triangle's box, not in it
    assert await building_store.building_at(conn, 139.8, 35.6) is None


async def test_reimport_updates_but_keeps_the_designation(conn: asyncpg.Connection) -> None:
    await building_store.upsert_buildings(conn, [_square("x", 139.7, 35.6)], nearest_nodes=[7])
    assert await building_store.set_refuge_designated(conn, "x", designated=True)
    assert not await building_store.set_refuge_designated(conn, "nobody", designated=True)
    risk = FloodRisk(river="1", rank=3, depth_m=3.4, scale="L2")
    newer = _square("x", 139.7, 35.6, height_m=31.0, storeys=9, usage="421", flood_risks=(risk,),
                    landslide_risk="1", tsunami_depth_m=0.8)  # fmt: skip
    stale = dataclasses.replace(newer, height_m=1.0)
    assert await building_store.upsert_buildings(conn, [stale, newer]) == 1  # the last one wins
    (x,) = await building_store.buildings_by_ids(conn, ["x"])
    assert (x.height_m, x.storeys, x.usage) == (31.0, 9, "421")
    assert x.public
    assert x.refuge_designated  # the municipality's, kept
    assert (x.flood_depth_m, x.flood_rank, x.landslide, x.tsunami_depth_m) == (3.4, 3, True, 0.8)
    assert x.nearest_node == -1  # the import says what it knows now


async def _incident(conn: asyncpg.Connection, kind: str, building: Building, *, hours_ago: float,
                    status: str = "open", drill: str | None = None) -> None:  # fmt: skip
    at = building.footprint.representative_point()
    await conn.execute(
        """INSERT INTO incidents (id, kind, severity, lat, lon, description, status,
               first_reported_at, last_reported_at, exercise_run)
           VALUES ($1, $2, 'critical', $3, $4, '', $5, now() - make_interval(secs => $6),
                   now() - make_interval(secs => $6), $7)""",
        uuid.uuid4(), kind, at.y, at.x, status, hours_ago * 3600, drill,
    )  # fmt: skip


async def test_damaged_buildings_are_no_refuges_for_the_damage_window(
    conn: asyncpg.Connection,
) -> None:
    """A fire or collapse within 72 h takes a public building out, open or resolved; an older
    one, a drill's, or one in an ordinary house leaves the refuges as they are."""
    names = ("burnt", "fallen", "burnt_long_ago", "drill", "intact")
    public = {n: _square(n, 140 + i * 0.01, 35.0, usage="421", storeys=5)
              for i, n in enumerate(names)}  # fmt: skip
    await building_store.upsert_buildings(conn, list(public.values()))
    assert {r.id for r in await building_store.refuges(conn)} == set(names)
    mark = await damage_store.damage_mark(conn)
    assert mark == (0, None)
    await _incident(conn, "fire", public["burnt"], hours_ago=5, status="resolved")
    await _incident(conn, "collapse", public["fallen"], hours_ago=1)
    await _incident(conn, "fire", public["burnt_long_ago"], hours_ago=73, status="resolved")
    await _incident(conn, "fire", public["drill"], hours_ago=0, drill="run-1")
    refuges = {r.id for r in await building_store.refuges(conn)}
    assert refuges == {"burnt_long_ago", "drill", "intact"}
    count, newest = await damage_store.damage_mark(conn)
    assert count == 2  # the two real ones inside the window: what the live router watches
    assert newest is not None


def _island_origin() -> GeoPoint:
    """South of the generated town's river, away from its flood shelters (tests/evac)."""
    lat = float(shapely.get_coordinates(TOWN.river.exterior)[:, 1].min()) - 0.002
    return GeoPoint(lat=lat, lon=float(np.median(TOWN.graph.node_lon)))


def _island_router(origin: GeoPoint) -> LiveRouter:
    """The town's router with a ring of flooded roads around ``origin``: no shelter is
    reachable from it, so the answer is a building to go up in, if any."""
    centre = shapely.Point(origin.lon, origin.lat)
    ring = centre.buffer(0.0015).difference(centre.buffer(0.0012))
    router = LiveRouter(TOWN.graph, town_shelters(TOWN))
    moat = RoadClosure(id="moat", source="incident", source_id="t", reason="flooded",
                       geometry=shapely.geometry.mapping(ring), active=True,
                       changed_at=datetime.now(UTC))  # fmt: skip
    assert router.apply(moat) > 0
    return router


async def test_a_private_building_is_no_refuge_unless_designated(conn: asyncpg.Connection) -> None:
    """Issue 8: a refuge must be public or designated. A tall block of flats (usage 411,
    housing) nearer than anything else is never offered on the routing path, however tall;
    designated by the municipality, it is; and its designation withdrawn, it is not again."""
    origin = _island_origin()
    tower = _square("tower", origin.lon - 0.0005, origin.lat, size=0.0001, storeys=14)
    flats = _square("flats", origin.lon + 0.0002, origin.lat, size=0.0001, storeys=6)
    assert not tower.public  # usage 411: housing
    assert not flats.public
    await building_store.upsert_buildings(conn, [tower, flats])
    router = _island_router(origin)

    def refuge_of(refuges: list[Refuge]) -> str | None:
        router.set_refuges(refuges)
        answer = router.route(origin, "walk", "flood")
        assert answer.reason is not None  # cut off: the refuge is the whole advice
        return None if answer.refuge is None else answer.refuge.building_id

    stored = await building_store.buildings_by_ids(conn, ["flats", "tower"])
    everything = [Refuge(b.id, b.id, b.lon, b.lat, -1, b.storeys or 0) for b in stored]
    assert refuge_of(everything) == "tower"  # were private buildings let in, it would be chosen
    assert await building_store.refuges(conn) == []
    assert refuge_of(await building_store.refuges(conn)) is None
    assert await building_store.set_refuge_designated(conn, "flats", designated=True)
    assert [r.id for r in await building_store.refuges(conn)] == ["flats"]
    assert refuge_of(await building_store.refuges(conn)) == "flats"
    assert await building_store.set_refuge_designated(conn, "flats", designated=False)
    assert refuge_of(await building_store.refuges(conn)) is None


async def test_nearest_nodes_must_match(conn: asyncpg.Connection) -> None:
    with pytest.raises(ValueError, match="1 nearest nodes for 2 buildings"):
        await building_store.upsert_buildings(
            conn, [_square("a", 0, 0), _square("b", 1, 1)], nearest_nodes=[1]
        )


# --- the import --------------------------------------------------------------------------------


@pytest.fixture
async def town_settings(fresh_database: object, tmp_path: Path) -> Settings:
    url = await fresh_database()  # type: ignore[operator]
    return load_settings(database_url=url, state_dir=tmp_path / "state")


async def test_import_links_each_building_to_a_nearby_road_node(
    town_settings: Settings, tmp_path: Path
) -> None:
    town = make_town(town_settings.graph_path, seed=2)
    buildings = generate_buildings(town, 2)
    write_citygml(buildings, tmp_path / "tiles" / "town_bldg_6697_op.gml")
    (tmp_path / "tiles" / "sapporo_bldg_6697_op.gml").write_bytes(BLDG.read_bytes())
    assert await import_buildings(town_settings, tmp_path / "tiles") == len(buildings) + 25
    conn = await connect(town_settings.database_url)  # type: ignore[arg-type]
    try:
        rows = await conn.fetch("SELECT lon, lat, nearest_node, source FROM buildings")
        refuges = await conn.fetch("SELECT name, storeys FROM buildings WHERE public ORDER BY name")
    finally:
        await conn.close()
    graph = load_graph(town_settings.graph_path)
    town_rows = [r for r in rows if r["source"] == "town_bldg_6697_op.gml"]
    node = np.array([r["nearest_node"] for r in town_rows])
    assert node.min() >= 0
    gap = haversine_m([r["lon"] for r in town_rows], [r["lat"] for r in town_rows],
                      graph.node_lon[node], graph.node_lat[node])  # fmt: skip
    assert gap.max() < 60.0  # a corner of the building's own block
    far_away = [r["nearest_node"] for r in rows if r["source"] != "town_bldg_6697_op.gml"]
    assert far_away == [-1] * 25  # Sapporo is far over MAX_LINK_M from the Chiba town
    assert ("市役所", 8) in [(r["name"], r["storeys"]) for r in refuges]


async def test_a_building_in_two_tiles_is_stored_once(
    town_settings: Settings, tmp_path: Path
) -> None:
    """PLATEAU cuts tiles by mesh; a building repeated in a neighbouring tile has the same
    gml:id, and the last tile read (by name) gives its row."""
    tiles = tmp_path / "mesh"
    tiles.mkdir()
    for mesh in ("64413325", "64413326"):
        (tiles / f"{mesh}_bldg_6697_op.gml").write_bytes(BLDG.read_bytes())
    town = make_town(tmp_path / "unused.graph", seed=2)
    generated = generate_buildings(town, 2, limit=3)
    write_citygml(generated, tiles / "64413327_bldg_6697_op.gml")
    write_citygml(generated, tiles / "64413328_bldg_6697_op.gml")
    assert await import_buildings(town_settings, tiles) >= 25 + 3  # rows written per batch
    conn = await connect(town_settings.database_url)  # type: ignore[arg-type]
    try:
        rows = await conn.fetch("SELECT id, source FROM buildings")
    finally:
        await conn.close()
    assert len(rows) == len({r["id"] for r in rows}) == 25 + 3
    sources = {r["source"] for r in rows}
    assert sources == {"64413326_bldg_6697_op.gml", "64413328_bldg_6697_op.gml"}


async def test_import_without_a_graph_and_the_command(
    town_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await import_buildings_command(town_settings, BLDG) == 0
    out = capsys.readouterr().out
    assert "25 buildings stored" in out
    assert "no road graph" in out
    assert await import_buildings_command(town_settings, PLATEAU.parent / "osm") == 1
    assert "is rejected" in capsys.readouterr().err
    with pytest.raises(InvalidInputError, match="not a CityGML"):
        await import_buildings(
            town_settings, PLATEAU.parent / "cap" / "google_cap-library" / "canada.cap"
        )
