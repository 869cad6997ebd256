"""CityGML buildings: real PLATEAU tiles read by hand, CRS handling, bad input, the demo town."""

from __future__ import annotations

import collections
import math
from pathlib import Path

import numpy as np
import pytest
import shapely
from lxml import etree
from pyproj import Transformer
from pyproj.transformer import TransformerGroup

from disaster.domain import InvalidInputError
from evac.buildings import (
    Building,
    FloodRisk,
    Rejected,
    is_public_usage,
    iter_buildings,
    iter_hazard_zones,
)
from evac.generate import Town, generate_town
from evac.generate_buildings import TownBuildings, generate_buildings, write_citygml

PLATEAU = Path(__file__).resolve().parents[3] / "shared" / "data" / "plateau"
BLDG = PLATEAU / "64413325_bldg_6697_op.gml"
FLD = PLATEAU / "52385721_fld_6697_l1_op.gml"
TNM = PLATEAU / "523855_tnm_6697_op.gml"
LSLD = PLATEAU / "523857_lsld_6668_op.gml"
CAP = PLATEAU.parent / "cap" / "google_cap-library" / "canada.cap"


def _l1(river: str, rank: int, depth: float) -> FloodRisk:
    return FloodRisk(river=river, rank=rank, depth_m=depth, scale="L1")


def _l2(river: str, rank: int, depth: float) -> FloodRisk:
    return FloodRisk(river=river, rank=rank, depth_m=depth, scale="L2")


@pytest.fixture(scope="module")
def sample() -> dict[str, Building]:
    return {b.id: b for b in iter_buildings(BLDG)}


# Read by hand from 64413325_bldg_6697_op.gml: gml:id, bldg:measuredHeight, the first position
# of the lod0RoofEdge posList (written "lat lon height"), and each
# uro:BuildingRiverFloodingRiskAttribute (description, rankOrg, depth, scale 1 = L1, 2 = L2).
HAND_READ = [
    ("bldg_e3cf1894-2973-4742-b301-3896f04afd99", 2.9, (141.44132418475294, 42.94147409013628),
     (_l1("2", 2, 0.682), _l2("2", 2, 1.090))),
    ("bldg_86497637-7b88-4200-a47a-d81121fe9a36", 4.5, None,
     (_l1("2", 2, 2.773), _l2("2", 3, 3.235))),
    ("bldg_e9cf094c-590b-4e4f-838a-29ddabe63025", 21.8, None,
     (_l1("2", 2, 2.563), _l2("2", 2, 2.999))),
    ("bldg_bfaf9ade-c8be-4b85-87d6-2c3073a5280c", 5.4, (141.43870149916597, 42.93875786733414),
     (_l1("2", 1, 0.396), _l2("2", 2, 0.811))),
    ("bldg_5dd40201-14ee-4f01-8ac5-2b2424902c6d", None, (141.4377062415385, 42.93940780552608),
     (_l2("2", 1, 0.071),)),  # no measuredHeight; only the L2 record
]  # fmt: skip


@pytest.mark.parametrize(("building_id", "height", "first", "floods"), HAND_READ)
def test_real_tile_values_read_by_hand(
    sample: dict[str, Building],
    building_id: str,
    height: float | None,
    first: tuple[float, float] | None,
    floods: tuple[FloodRisk, ...],
) -> None:
    b = sample[building_id]
    assert b.height_m == height
    assert b.storeys is None  # the tile gives no bldg:storeysAboveGround
    assert b.usage is None
    assert b.flood_risks == floods
    assert b.flood_depth_m == max(f.depth_m for f in floods if f.depth_m is not None)
    assert b.source == BLDG.name
    lon, lat = b.footprint.exterior.coords[0]
    assert 141 < lon < 142
    assert 42 < lat < 43  # lon first: the file's lat, lon order was swapped, height dropped
    assert not b.footprint.has_z
    if first is not None:
        assert (lon, lat) == first


def test_real_tile_whole(sample: dict[str, Building]) -> None:
    assert len(sample) == 25
    assert sum(b.height_m is None for b in sample.values()) == 3
    assert sum(len(b.flood_risks) for b in sample.values()) == 49
    assert max(b.flood_rank or 0 for b in sample.values()) == 3
    # gml:Envelope: 42.93865811879179 141.43735604632477 .. 42.94162525937725 141.4418085108974
    west, south, east, north = shapely.total_bounds([b.footprint for b in sample.values()])
    assert west >= 141.43735604632477
    assert south >= 42.93865811879179
    assert east <= 141.4418085108974
    assert north <= 42.94162525937725
    for b in sample.values():
        assert b.footprint.is_valid
        assert b.footprint.exterior.is_ccw
        assert (b.landslide_risk, b.tsunami_depth_m) == (None, None)


def test_scale_codes_and_ranks_agree_with_the_depths(sample: dict[str, Building]) -> None:
    """Scale code 1 is the planned rain (L1), 2 the largest (L2): L2 is the deeper in 23 of the
    24 buildings with both (bldg_9dce7eb8: 0.486 m at scale 1, 0.316 m at 2, read by hand).
    rankOrg follows the national depth classes (< 0.5, 0.5-3, 3-5 m) in all 49 records."""
    deeper = []
    for b in sample.values():
        by_scale = {r.scale: r.depth_m for r in b.flood_risks}
        if "L1" in by_scale:
            deeper.append(by_scale["L2"] > by_scale["L1"])
        for r in b.flood_risks:
            assert r.depth_m is not None
            assert r.rank == 1 + int(
                np.searchsorted([0.5, 3.0, 5.0, 10.0, 20.0], r.depth_m, "right")
            )
    assert (len(deeper), sum(deeper)) == (24, 23)
    inverted = sample["bldg_9dce7eb8-f82c-4895-af73-50a42c52a78f"].flood_risks
    assert [(r.scale, r.depth_m) for r in inverted] == [("L1", 0.486), ("L2", 0.316)]


def test_roof_edge_is_the_lod1_base(tmp_path: Path, sample: dict[str, Building]) -> None:
    """Why LOD0 is read first: in PLATEAU the LOD1 solid's base is the same ring."""
    tree = etree.parse(str(BLDG))
    for edge in tree.iter("{*}lod0RoofEdge"):
        edge.getparent().remove(edge)
    lod1_only = tmp_path / "lod1.gml"
    tree.write(str(lod1_only))
    from_solids = {b.id: b for b in iter_buildings(lod1_only)}
    assert from_solids.keys() == sample.keys()
    for building_id, b in from_solids.items():
        assert b.footprint.equals(sample[building_id].footprint)
        assert b.height_m == sample[building_id].height_m


def test_pyproj_agrees_jgd2011_is_wgs84_here(sample: dict[str, Building]) -> None:
    best = TransformerGroup(6697, 4326).transformers[0]
    assert best.description == "JGD2011 to WGS 84 (1)"
    assert best.to_proj4() == "+proj=noop"
    lat, lon, _ = best.transform(42.94147409013628, 141.44132418475294, 103.378)
    b = sample["bldg_e3cf1894-2973-4742-b301-3896f04afd99"]
    assert b.footprint.exterior.coords[0] == (lon, lat)


def test_flood_zone_tile() -> None:
    zones = list(iter_hazard_zones(FLD))
    assert [z.rank for z in zones] == [1, 2, 1]  # uro:rankOrg
    assert {(z.kind, z.scale, z.description) for z in zones} == {("river", "L1", "3")}
    assert [len(z.area.geoms) for z in zones] == [7, 128, 7]  # 142 gml:Polygon in all
    assert zones[0].id == "fld_30604215-c3b6-4c33-b936-5e453fe041a9"
    # first posList: 35.10816666999874 138.8886875 10.85 ...
    assert zones[0].area.geoms[0].exterior.coords[0] == (138.8886875, 35.10816666999874)
    assert list(iter_buildings(FLD)) == []


def test_tsunami_zone_tile() -> None:
    zones = list(iter_hazard_zones(TNM))
    assert [(z.kind, z.rank, z.description) for z in zones] == [
        ("tsunami", r, "2") for r in (1, 2, 3)
    ]
    assert sum(len(z.area.geoms) for z in zones) == 7
    assert all(z.scale is None for z in zones)
    # first posList: 35.132245473596086 138.749966990401 5.19...
    assert zones[0].area.geoms[0].exterior.coords[0] == (138.749966990401, 35.132245473596086)


def test_landslide_zone_tile() -> None:
    """Named 6668 but declared 6697 (3D, height 0) in its envelope: read as declared."""
    zones = list(iter_hazard_zones(LSLD))
    assert len(zones) == 81
    assert collections.Counter(z.area_type for z in zones) == {"1": 39, "2": 42}
    assert collections.Counter(z.description for z in zones) == {"1": 75, "2": 6}
    first = zones[0]
    assert (first.id, first.kind, first.area_type) == (
        "lsld_d5e0f93f-30ba-47ca-8819-54370ee41bfa", "landslide", "2")  # fmt: skip
    assert first.area.geoms[0].exterior.coords[0] == (138.88329775, 35.08709486111111)


def test_a_folder_reads_every_tile_and_skips_non_building_ones() -> None:
    assert len(list(iter_buildings(PLATEAU))) == 25
    assert len(list(iter_hazard_zones(PLATEAU))) == 3 + 3 + 81


# --- bad input ---------------------------------------------------------------------------------

HEAD = (
    '<core:CityModel xmlns:core="http://www.opengis.net/citygml/2.0" '
    'xmlns:bldg="http://www.opengis.net/citygml/building/2.0" '
    'xmlns:gml="http://www.opengis.net/gml" xmlns:uro="https://www.geospatial.jp/iur/uro/2.0">\n'
)
ENVELOPE = "<gml:boundedBy><gml:Envelope {attrs}></gml:Envelope></gml:boundedBy>\n"


def _building(gml_id: str, pos_list: str, extra: str = "") -> str:
    return (
        f'<core:cityObjectMember><bldg:Building gml:id="{gml_id}">{extra}'
        "<bldg:lod0RoofEdge><gml:MultiSurface><gml:surfaceMember><gml:Polygon><gml:exterior>"
        f"<gml:LinearRing><gml:posList>{pos_list}</gml:posList></gml:LinearRing></gml:exterior>"
        "</gml:Polygon></gml:surfaceMember></gml:MultiSurface></bldg:lod0RoofEdge>"
        "</bldg:Building></core:cityObjectMember>\n"
    )


def _square(lat: float, lon: float, z: float | None = 5.0, d: float = 0.0001) -> str:
    pts = [(lat, lon), (lat, lon + d), (lat + d, lon + d), (lat + d, lon), (lat, lon)]
    return " ".join(f"{a} {b}" + ("" if z is None else f" {z}") for a, b in pts)


def _tile(tmp_path: Path, body: str, srs: str = "EPSG:6697", dim: int | None = 3) -> Path:
    attrs = f'srsName="{srs}"' if srs else ""
    attrs += "" if dim is None else f' srsDimension="{dim}"'
    path = tmp_path / "tile.gml"
    path.write_text(HEAD + ENVELOPE.format(attrs=attrs) + body + "</core:CityModel>\n")
    return path


def test_not_xml_is_refused_with_the_line(tmp_path: Path) -> None:
    path = tmp_path / "x.gml"
    path.write_text('{"type": "FeatureCollection"}')
    with pytest.raises(InvalidInputError, match=r"x\.gml line 1: not well-formed XML"):
        list(iter_buildings(path))


def test_xml_that_is_not_citygml_is_refused_naming_the_root() -> None:
    with pytest.raises(InvalidInputError, match=r"line \d+: root element <\{urn:oasis.*alert>"):
        list(iter_buildings(CAP))


def test_a_truncated_tile_fails_after_yielding_what_came_before(tmp_path: Path) -> None:
    text = BLDG.read_text(encoding="utf-8-sig")
    cut = text.index("bldg_bfaf9ade")  # the 7th building
    path = tmp_path / "cut.gml"
    path.write_text(text[:cut])
    got: list[Building] = []
    with pytest.raises(InvalidInputError, match=r"cut\.gml line \d+: not well-formed XML"):
        got.extend(iter_buildings(path))
    assert len(got) == 6


def test_an_empty_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"no \.gml file"):
        list(iter_buildings(tmp_path))


HIGH = "<bldg:measuredHeight>high</bldg:measuredHeight>"


def test_a_bad_building_is_skipped_with_its_reason_and_the_rest_read(tmp_path: Path) -> None:
    body = (
        _building("ok", _square(35.6, 139.7))
        + _building("lon-first", _square(139.7, 35.6))
        + _building("short", "35.6 139.7 5 35.6 139.8 5")
        + _building("nan-height", _square(35.6, 139.7), HIGH)
        + '<core:cityObjectMember><bldg:Building gml:id="no-geometry"/></core:cityObjectMember>'
        + _building("also-ok", _square(35.7, 139.7))
    )  # fmt: skip
    rejected: list[Rejected] = []
    ids = [b.id for b in iter_buildings(_tile(tmp_path, body), on_reject=rejected.append)]
    assert ids == ["ok", "also-ok"]
    reasons = {r.id: r.reason for r in rejected}
    assert "latitude 139.7" in reasons["lon-first"]
    assert "not a ring" in reasons["short"]
    assert "'high' is not a number" in reasons["nan-height"]
    assert "no LOD0" in reasons["no-geometry"]
    assert all(r.source == "tile.gml" and r.line for r in rejected)


def test_attributes_storeys_usage_and_other_risks(tmp_path: Path) -> None:
    extra = (
        "<gml:name>市役所</gml:name><bldg:usage>421</bldg:usage>"
        '<bldg:measuredHeight uom="m">31.5</bldg:measuredHeight>'
        "<bldg:storeysAboveGround>8</bldg:storeysAboveGround>"
        "<uro:buildingDisasterRiskAttribute><uro:BuildingTsunamiRiskAttribute>"
        "<uro:description>1</uro:description><uro:rank>2</uro:rank>"
        '<uro:depth uom="m">1.2</uro:depth>'
        "</uro:BuildingTsunamiRiskAttribute></uro:buildingDisasterRiskAttribute>"
        "<uro:buildingDisasterRiskAttribute><uro:LandSlideRiskAttribute>"
        "<uro:description>1</uro:description><uro:areaType>2</uro:areaType>"
        "</uro:LandSlideRiskAttribute></uro:buildingDisasterRiskAttribute>"
        "<uro:buildingDisasterRiskAttribute><uro:BuildingInlandFloodingRiskAttribute>"
        "<uro:description>9</uro:description><uro:rank>0.5m以上3m未満</uro:rank>"
        "</uro:BuildingInlandFloodingRiskAttribute></uro:buildingDisasterRiskAttribute>"
    )
    unknown = "<bldg:storeysAboveGround>9999</bldg:storeysAboveGround>"
    body = _building("hall", _square(35.6, 139.7), extra) + _building(
        "b", _square(35.6, 139.8), unknown
    )
    hall, other = iter_buildings(_tile(tmp_path, body))
    assert (hall.name, hall.usage, hall.height_m, hall.storeys) == ("市役所", "421", 31.5, 8)
    assert hall.public
    assert not other.public
    assert (hall.tsunami_depth_m, hall.landslide_risk) == (1.2, "2")
    assert hall.flood_risks == (FloodRisk("9", 2, None, None, "inland"),)
    assert other.storeys is None  # PLATEAU's 9999: not surveyed
    assert [is_public_usage(u) for u in ("421", "422", "411", None)] == [True, True, False, False]


def test_other_coordinate_systems_go_through_pyproj(tmp_path: Path) -> None:
    """EPSG:6677 (JGD2011 plane rectangular IX, Tokyo) is written X north, Y east."""
    to_plane = Transformer.from_crs(4326, 6677)
    corners = [(35.68, 139.76), (35.68, 139.761), (35.681, 139.761), (35.681, 139.76)]
    xy = [to_plane.transform(lat, lon) for lat, lon in [*corners, corners[0]]]
    body = _building("plane", " ".join(f"{x} {y}" for x, y in xy))
    (b,) = iter_buildings(_tile(tmp_path, body, "urn:ogc:def:crs:EPSG::6677", 2))
    got = np.array(b.footprint.exterior.coords)
    want = np.array([(lon, lat) for lat, lon in [*corners, corners[0]]])
    assert np.allclose(np.sort(got, axis=0), np.sort(want, axis=0), atol=1e-9)


def test_crs84_is_already_lon_lat_and_2d(tmp_path: Path) -> None:
    pos = " ".join(f"{lon} {lat}" for lat, lon in
                   [(35.6, 139.7), (35.6, 139.701), (35.601, 139.701), (35.6, 139.7)])  # fmt: skip
    (b,) = iter_buildings(_tile(tmp_path, _building("a", pos), "OGC:CRS84", 2))
    assert b.footprint.exterior.coords[0] == (139.7, 35.6)


def test_a_compound_urn_names_the_horizontal_system_first(tmp_path: Path) -> None:
    srs = "urn:ogc:def:crs,crs:EPSG::6668,crs:EPSG::6695"  # JGD2011 + height: 3D
    (b,) = iter_buildings(_tile(tmp_path, _building("a", _square(35.6, 139.7)), srs, None))
    assert b.footprint.exterior.coords[0] == (139.7, 35.6)


def test_the_crs_may_come_with_the_geometry(tmp_path: Path) -> None:
    body = _building("a", _square(35.6, 139.7, z=None)).replace(
        "<gml:MultiSurface>", '<gml:MultiSurface srsName="EPSG:6668">'
    )
    (b,) = iter_buildings(_tile(tmp_path, body, "", None))
    assert b.footprint.exterior.coords[0] == (139.7, 35.6)
    rejected: list[Rejected] = []
    bare = _tile(tmp_path, _building("b", _square(35.6, 139.7)), "", None)
    assert list(iter_buildings(bare, on_reject=rejected.append)) == []
    assert "no srsName" in rejected[0].reason


def test_an_unknown_crs_refuses_the_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"tile\.gml line 2: .*'LOCAL:1' is not an EPSG"):
        list(iter_buildings(_tile(tmp_path, _building("a", _square(35.6, 139.7)), "LOCAL:1")))


# --- the generated town ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def town() -> Town:
    return generate_town(3)


@pytest.fixture(scope="module")
def town_buildings(town: Town) -> TownBuildings:
    return generate_buildings(town, 3)


@pytest.fixture(scope="module")
def town_file(town_buildings: TownBuildings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("town") / "town_bldg_6697_op.gml"
    write_citygml(town_buildings, path)
    return path


def test_generation_is_deterministic(town: Town, town_buildings: TownBuildings) -> None:
    again = generate_buildings(town, 3)
    for name in ("lon_min", "lat_max", "height_m", "storeys", "usage", "flood_l2_m", "landslide"):
        np.testing.assert_array_equal(getattr(again, name), getattr(town_buildings, name))
    assert again.names == town_buildings.names
    other = generate_buildings(town, 4)
    assert not np.array_equal(other.height_m, town_buildings.height_m)


def test_the_parser_reads_the_generated_tile_back(
    town_buildings: TownBuildings, town_file: Path
) -> None:
    rejected: list[Rejected] = []
    read = list(iter_buildings(town_file, on_reject=rejected.append))
    assert rejected == []
    assert len(read) == len(town_buildings) > 4_000
    for i in (0, 7, len(read) // 2, len(read) - 1):
        b = read[i]
        assert b.id == town_buildings.building_id(i)
        assert b.usage == str(town_buildings.usage[i])
        assert b.storeys == (None if town_buildings.storeys[i] < 0 else town_buildings.storeys[i])
        assert b.footprint.bounds == pytest.approx(
            [town_buildings.lon_min[i], town_buildings.lat_min[i],
             town_buildings.lon_max[i], town_buildings.lat_max[i]], abs=1e-9)  # fmt: skip
    with_depth = [b for b in read if b.flood_risks]
    assert {r.scale for b in with_depth for r in b.flood_risks} == {"L1", "L2"}
    assert any(b.landslide_risk == "2" for b in read)


def test_public_buildings_are_tall_refuges(town: Town, town_buildings: TownBuildings) -> None:
    named = town_buildings.names
    usage = {named[i]: int(town_buildings.usage[i]) for i in named}
    storeys = {named[i]: int(town_buildings.storeys[i]) for i in named}
    assert (usage.pop("市役所"), storeys["市役所"]) == (421, 8)
    assert set(usage.values()) == {422}
    assert storeys["市立病院"] == 6
    schools = [s.name for s in town.shelters if s.name.endswith(("小学校", "中学校"))]
    assert schools
    assert all(storeys[name] == 4 for name in schools)
    public = np.isin(town_buildings.usage, (421, 422))
    assert public.sum() == len(named)


def test_flood_is_deepest_by_the_river_and_nothing_touches_it(
    town: Town, town_buildings: TownBuildings
) -> None:
    b = town_buildings
    boxes = shapely.box(b.lon_min, b.lat_min, b.lon_max, b.lat_max)
    assert not shapely.intersects(boxes, town.river).any()
    distance = shapely.distance(boxes, town.river)  # degrees; order is all we need
    near, far = distance < np.quantile(distance, 0.1), distance > np.quantile(distance, 0.5)
    l2 = np.nan_to_num(b.flood_l2_m)
    assert l2[near].mean() > 2.0
    assert l2[far].max() == 0.0
    assert np.nanmax(b.flood_l2_m) >= 3.0  # rank 3 on the banks: "go to the 3rd floor"
    assert np.all(np.nan_to_num(b.flood_l1_m) <= l2)
    assert np.isnan(b.height_m).mean() < 0.05
    assert (b.storeys < 0).mean() < 0.15


def test_per_block_must_be_square(town: Town) -> None:
    with pytest.raises(ValueError, match="square number"):
        generate_buildings(town, per_block=3)
    assert len(generate_buildings(town, per_block=9, limit=100)) == 100
    assert math.isclose(len(generate_buildings(town, per_block=1)) * 4,
                        len(generate_buildings(town, per_block=4)), rel_tol=0.05)  # fmt: skip
