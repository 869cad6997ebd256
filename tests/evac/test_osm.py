"""graph_from_osm on the real Shibuya (XML and PBF) and Helsinki extracts."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import osmium
import pytest

from evac.graph import (
    BRIDGE,
    CAR,
    FOOT,
    KIND_CODES,
    NO_WHEELCHAIR,
    STEPS,
    TUNNEL,
    UNDERPASS,
    UNPAVED,
    RoadGraph,
    check_graph,
    haversine_m,
)
from evac.osm import graph_from_osm, way_attrs

OSM = Path(__file__).resolve().parents[3] / "shared" / "data" / "osm"
CENTER_GAI = 48391641  # 渋谷センター街, unclassified, oneway=yes


@pytest.fixture(scope="module")
def shibuya_xml() -> RoadGraph:
    return graph_from_osm(OSM / "shibuya.osm")


@pytest.fixture(scope="module")
def shibuya_pbf() -> RoadGraph:
    return graph_from_osm(OSM / "map.osm.pbf")


def _way_tags(path: Path) -> dict[int, dict[str, str]]:
    """Every highway way's tags, read independently of the module under test."""
    return {
        w.id: dict(w.tags)
        for w in osmium.FileProcessor(str(path), osmium.osm.WAY)
        if "highway" in w.tags
    }


def test_xml_and_pbf_give_the_same_graph(shibuya_xml: RoadGraph, shibuya_pbf: RoadGraph) -> None:
    assert shibuya_xml.n_nodes == shibuya_pbf.n_nodes
    assert shibuya_xml.n_edges == shibuya_pbf.n_edges
    assert math.isclose(
        shibuya_xml.length_m.sum(dtype=np.float64),
        shibuya_pbf.length_m.sum(dtype=np.float64),
        abs_tol=1e-3,
    )
    xml_hist = np.unique(shibuya_xml.flags, return_counts=True)
    pbf_hist = np.unique(shibuya_pbf.flags, return_counts=True)
    for a, b in zip(xml_hist, pbf_hist, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(shibuya_xml.indices, shibuya_pbf.indices)
    np.testing.assert_array_equal(shibuya_xml.way_id, shibuya_pbf.way_id)


def test_shibuya_shape(shibuya_pbf: RoadGraph) -> None:
    g = shibuya_pbf
    check_graph(g)
    print(f"\nShibuya: {g.n_nodes:,} nodes, {g.n_edges:,} edges, {g.nbytes / 1e3:.0f} kB")
    assert 4000 < g.n_nodes <= 5057
    assert 8000 < g.n_edges < 15000
    assert np.all((g.node_lon > 139.67) & (g.node_lon < 139.72))
    assert np.all((g.node_lat > 35.64) & (g.node_lat < 35.68))
    assert np.all(np.isfinite(g.length_m))
    assert np.all(g.length_m >= 0)
    # every node is used by an edge (as tail or head)
    used = np.zeros(g.n_nodes, bool)
    used[g.edge_source()] = used[g.indices] = True
    assert used.all()


def test_edge_length_is_the_segment(shibuya_pbf: RoadGraph) -> None:
    g = shibuya_pbf
    src = g.edge_source()
    want = haversine_m(
        g.node_lon[src], g.node_lat[src], g.node_lon[g.indices], g.node_lat[g.indices]
    )
    np.testing.assert_allclose(g.length_m, want, rtol=1e-6, atol=1e-3)


def test_steps_ways_are_flagged(shibuya_pbf: RoadGraph) -> None:
    g = shibuya_pbf
    tags = _way_tags(OSM / "map.osm.pbf")
    steps_ways = {w for w, t in tags.items() if t["highway"] == "steps"}
    is_steps_way = np.isin(g.way_id, list(steps_ways))
    assert is_steps_way.sum() > 200
    np.testing.assert_array_equal((g.flags & STEPS) != 0, is_steps_way)
    assert np.all(g.kind[is_steps_way] == KIND_CODES["steps"])
    assert not np.any(g.flags[is_steps_way] & CAR)


def test_one_way_street_has_car_in_one_direction_only(shibuya_pbf: RoadGraph) -> None:
    g = shibuya_pbf
    src, dst = g.edge_source(), g.indices
    on_way = np.flatnonzero(g.way_id == CENTER_GAI)
    car = on_way[(g.flags[on_way] & CAR) != 0]
    foot_only = on_way[(g.flags[on_way] & (CAR | FOOT)) == FOOT]
    assert car.size == foot_only.size > 0  # pedestrians walk both ways
    forward = {(int(a), int(b)) for a, b in zip(src[car], dst[car], strict=True)}
    backward = {(int(b), int(a)) for a, b in zip(src[foot_only], dst[foot_only], strict=True)}
    assert forward == backward
    # cars go in the way's node order: the car edges chain head to tail
    heads, tails = {b for _, b in forward}, {a for a, _ in forward}
    assert len(tails - heads) == 1


def test_motorways_have_no_pedestrians(shibuya_pbf: RoadGraph) -> None:
    g = shibuya_pbf
    motorway = g.kind == KIND_CODES["motorway"]
    assert motorway.any()
    assert not np.any(g.flags[motorway] & FOOT)
    assert np.all(g.flags[motorway] & CAR)


def test_dropped_ways(shibuya_pbf: RoadGraph) -> None:
    tags = _way_tags(OSM / "map.osm.pbf")
    kept = set(np.unique(shibuya_pbf.way_id).tolist())
    areas = {w for w, t in tags.items() if t.get("area") == "yes"}
    private = {
        w for w, t in tags.items() if t.get("access") in ("no", "private") and "foot" not in t
    }
    assert areas
    assert private
    assert not (areas | private) & kept
    assert 59075778 not in kept  # service road, access=no (buses only)


def test_underground_and_bridges(shibuya_pbf: RoadGraph) -> None:
    g = shibuya_pbf
    assert np.any(g.flags & BRIDGE)
    tunnel = (g.flags & TUNNEL) != 0
    assert tunnel.any()
    assert np.all(g.flags[tunnel] & UNDERPASS)
    assert ((g.flags & UNDERPASS) != 0).sum() > tunnel.sum()  # layer < 0 counts too


def test_helsinki_loads() -> None:
    g = graph_from_osm(OSM / "Helsinki.osm.pbf")
    check_graph(g)
    print(f"\nHelsinki: {g.n_nodes:,} nodes, {g.n_edges:,} edges")
    assert g.n_nodes > 4000
    assert g.n_edges > 10000
    # ways clipped at the extract's edge keep only located nodes
    assert np.all(np.isfinite(g.node_lon))
    assert np.all(np.isfinite(g.node_lat))
    assert np.all((g.node_lat > 60.1) & (g.node_lat < 60.25))
    # a few nodes carry ele=*, giving measured slopes
    assert np.isfinite(g.node_elev_m).any()
    assert np.isfinite(g.slope).any()


@pytest.mark.parametrize(
    ("tags", "fwd", "bwd"),
    [
        ({"highway": "residential"}, CAR | FOOT, CAR | FOOT),
        ({"highway": "residential", "oneway": "yes"}, CAR | FOOT, FOOT),
        ({"highway": "residential", "oneway": "-1"}, FOOT, CAR | FOOT),
        ({"highway": "primary", "junction": "roundabout"}, CAR | FOOT, FOOT),
        ({"highway": "motorway"}, CAR, 0),
        ({"highway": "motorway", "oneway": "no"}, CAR, CAR),
        ({"highway": "footway"}, FOOT, FOOT),
        ({"highway": "footway", "oneway": "yes"}, FOOT, 0),
        ({"highway": "pedestrian", "oneway": "yes"}, FOOT, FOOT),
        ({"highway": "service", "access": "private", "foot": "yes"}, FOOT, FOOT),
        ({"highway": "service", "access": "no", "motor_vehicle": "yes"}, CAR, CAR),
        ({"highway": "tertiary", "foot": "use_sidepath"}, CAR, CAR),
        ({"highway": "residential", "oneway": "reversible"}, FOOT, FOOT),
        ({"highway": "track"}, CAR | FOOT | UNPAVED, CAR | FOOT | UNPAVED),
        ({"highway": "footway", "wheelchair": "no"}, FOOT | NO_WHEELCHAIR, FOOT | NO_WHEELCHAIR),
        ({"highway": "footway", "level": "-2;-1"}, FOOT | UNDERPASS, FOOT | UNDERPASS),
        ({"highway": "footway", "level": "-1;0"}, FOOT, FOOT),
        ({"highway": "footway", "tunnel": "building_passage"}, FOOT, FOOT),
    ],
)
def test_way_attrs(tags: dict[str, str], fwd: int, bwd: int) -> None:
    attrs = way_attrs(tags)
    assert attrs is not None
    assert (attrs.fwd_flags, attrs.bwd_flags) == (fwd, bwd)


@pytest.mark.parametrize(
    "tags",
    [
        {"highway": "construction"},
        {"highway": "proposed"},
        {"highway": "yes"},
        {"highway": "pedestrian", "area": "yes"},
        {"highway": "service", "access": "private"},
        {"highway": "motorway", "access": "no"},
    ],
)
def test_way_attrs_drops(tags: dict[str, str]) -> None:
    assert way_attrs(tags) is None


@pytest.mark.parametrize(
    ("incline", "slope"),
    [("10%", 0.1), ("-5%", -0.05), ("45°", 1.0), ("up", math.nan), (None, math.nan)],
)
def test_incline(incline: str | None, slope: float) -> None:
    tags = {"highway": "footway"} | ({"incline": incline} if incline else {})
    attrs = way_attrs(tags)
    assert attrs is not None
    assert attrs.incline == pytest.approx(slope, nan_ok=True)


def test_bad_paths(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not found"):
        graph_from_osm(tmp_path / "missing.osm.pbf")
    (tmp_path / "roads.csv").write_text("a,b\n")
    with pytest.raises(ValueError, match="unsupported OSM file type"):
        graph_from_osm(tmp_path / "roads.csv")
    (tmp_path / "junk.osm.pbf").write_bytes(b"\x00\x00\x00\x0ejunk" * 10)
    with pytest.raises(ValueError, match="cannot read OSM file"):
        graph_from_osm(tmp_path / "junk.osm.pbf")
