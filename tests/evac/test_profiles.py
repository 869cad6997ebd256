"""Profiles: who may use which edge, and how long it takes them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from evac.generate import Town, generate_town
from evac.graph import (
    CAR,
    FOOT,
    KIND_CODES,
    NO_WHEELCHAIR,
    STEPS,
    UNPAVED,
    EdgeArrays,
    RoadGraph,
    graph_from_edges,
)
from evac.osm import graph_from_osm
from evac.profiles import (
    PROFILES,
    Profile,
    car,
    slow_walk,
    tobler_factor,
    travel_time_s,
    walk,
    wheelchair,
)

OSM = Path(__file__).resolve().parents[3] / "shared" / "data" / "osm"


@pytest.fixture(scope="module")
def town() -> Town:
    return generate_town(4)


@pytest.fixture(scope="module")
def shibuya() -> RoadGraph:
    return graph_from_osm(OSM / "map.osm.pbf")


def _line(kind: str, flags: int, slopes: list[float]) -> RoadGraph:
    """Edges 0->1 of 100 m, one per slope, all of one kind and flags."""
    m = len(slopes)
    edges = EdgeArrays(
        source=np.zeros(m, np.int64),
        target=np.ones(m, np.int64),
        length_m=np.full(m, 100.0),
        kind=np.full(m, KIND_CODES[kind]),
        flags=np.full(m, flags),
        slope=np.array(slopes),
        way_id=np.zeros(m, np.int64),
    )
    return graph_from_edges([0.0, 0.0], [0.0, 0.0], edges)


@pytest.mark.parametrize("profile", list(PROFILES.values()), ids=list(PROFILES))
def test_shape_and_dtype(town: Town, profile: Profile) -> None:
    times = travel_time_s(town.graph, profile)
    assert times.dtype == np.float32
    assert times.shape == (town.graph.n_edges,)
    assert np.all(times > 0)
    assert np.isfinite(times).any()


def test_flat_walk_is_length_over_speed() -> None:
    g = _line("footway", FOOT, [0.0, float("nan")])
    np.testing.assert_allclose(travel_time_s(g, walk), [80.0, 80.0])
    np.testing.assert_allclose(travel_time_s(g, slow_walk), [125.0, 125.0])
    np.testing.assert_allclose(travel_time_s(g, wheelchair), [100.0 / 0.9] * 2, rtol=1e-6)


def test_uphill_is_slower() -> None:
    g = _line("footway", FOOT, [0.0, 0.05, 0.1, 0.25, -0.05])
    t = travel_time_s(g, walk)
    assert t[0] < t[1] < t[2] < t[3]
    assert t[4] < t[0]  # a gentle descent is the fastest (Tobler)
    assert t[2] / t[0] == pytest.approx(1 / float(tobler_factor(0.1)), rel=1e-6)


def test_wheelchair_never_on_steps_or_steep(shibuya: RoadGraph, town: Town) -> None:
    for g in (shibuya, town.graph):
        t = travel_time_s(g, wheelchair)
        steps = (g.flags & STEPS) != 0
        assert steps.any()
        assert np.all(np.isinf(t[steps]))
        assert np.all(np.isinf(t[(g.flags & NO_WHEELCHAIR) != 0]))
        steep = np.abs(np.nan_to_num(g.slope)) > 1 / 12
        assert np.all(np.isinf(t[steep]))
    g = _line("footway", FOOT, [0.08, 0.09, -0.09])
    assert np.isfinite(travel_time_s(g, wheelchair)).tolist() == [True, False, False]


def test_unpaved_penalised_for_wheelchair() -> None:
    paved = travel_time_s(_line("footway", FOOT, [0.0]), wheelchair)
    rough = travel_time_s(_line("footway", FOOT | UNPAVED, [0.0]), wheelchair)
    assert rough[0] == pytest.approx(2 * paved[0])


def test_slow_walkers_avoid_steps_more(town: Town) -> None:
    g = town.graph
    steps = (g.flags & STEPS) != 0
    fast, slow = travel_time_s(g, walk), travel_time_s(g, slow_walk)
    assert np.all(slow >= fast)
    assert np.all(np.isfinite(slow[steps]))  # possible, only penalised
    ratio_steps = np.median(slow[steps] / fast[steps])
    ratio_flat = np.median(slow[~steps] / fast[~steps])
    assert ratio_steps > 2 * ratio_flat


def test_car_only_on_car_edges(shibuya: RoadGraph, town: Town) -> None:
    for g in (shibuya, town.graph):
        t = travel_time_s(g, car)
        allowed = (g.flags & CAR) != 0
        assert np.all(np.isfinite(t[allowed]))
        assert np.all(np.isinf(t[~allowed]))
        # one-way streets: the reverse edge is walkable, not drivable
        foot_only = (g.flags & (CAR | FOOT)) == FOOT
        assert np.all(np.isfinite(travel_time_s(g, walk)[foot_only]))


def test_car_speeds_by_class_and_congestion() -> None:
    residential = travel_time_s(_line("residential", CAR | FOOT, [0.3]), car)
    trunk = travel_time_s(_line("trunk", CAR | FOOT, [0.0]), car)
    assert residential[0] == pytest.approx(100 / (30 / 3.6 * 0.5), rel=1e-6)  # slope ignored
    assert trunk[0] < residential[0]
    free = dataclasses.replace(car, congestion=1.0)
    assert travel_time_s(_line("trunk", CAR, [0.0]), free)[0] == pytest.approx(100 / (60 / 3.6))


def test_pedestrians_kept_off_motorways(shibuya: RoadGraph) -> None:
    motorway = shibuya.kind == KIND_CODES["motorway"]
    assert np.all(np.isinf(travel_time_s(shibuya, walk)[motorway]))
    assert np.all(np.isfinite(travel_time_s(shibuya, car)[motorway]))
