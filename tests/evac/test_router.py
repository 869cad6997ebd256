"""The live router on the generated town: bridges, steps, full shelters, closures, islands."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
import shapely

from disaster.domain import GeoPoint
from disaster.domain.roads import RoadClosure
from evac.city import town_shelters
from evac.generate import generate_town
from evac.graph import BRIDGE, STEPS
from evac.refuge import Refuge, safe_floor
from evac.router import LiveRouter
from evac.snap import EdgeIndex

TOWN = generate_town(0)
SHELTERS = town_shelters(TOWN)
NOW = datetime(2026, 6, 3, tzinfo=UTC)


def _router(shelters: list | None = None) -> LiveRouter:
    return LiveRouter(TOWN.graph, SHELTERS if shelters is None else shelters)


def _bridge_closure(edge: int, closure_id: str, *, active: bool = True) -> RoadClosure:
    g = TOWN.graph
    tail, head = g.edge_source()[edge], g.indices[edge]
    point = [float(g.node_lon[tail] + g.node_lon[head]) / 2,
             float(g.node_lat[tail] + g.node_lat[head]) / 2]  # fmt: skip
    return RoadClosure(id=closure_id, source="incident", source_id="t", reason="bridge down",
                       geometry={"type": "Point", "coordinates": point}, active=active,
                       changed_at=NOW)  # fmt: skip


def _edges_on_route(router: LiveRouter, origin: GeoPoint, profile: str, hazard: str) -> set[int]:
    answer = router.route(origin, profile, hazard)  # type: ignore[arg-type]
    assert answer.reason is None, answer.reason
    coords = np.array(answer.waypoints["coordinates"][2:-1])  # type: ignore[index]
    index = EdgeIndex(TOWN.graph)
    mids = (coords[1:] + coords[:-1]) / 2
    return {index.snap(lon, lat).edge for lon, lat in mids}


def _south_of_river() -> GeoPoint:
    """A resident on the bank without the flood shelters (the hill is north of the river)."""
    lat = float(shapely.get_coordinates(TOWN.river.exterior)[:, 1].min()) - 0.002
    lon = float(np.median(TOWN.graph.node_lon))
    return GeoPoint(lat=lat, lon=lon)


def test_a_route_reaches_a_shelter_fit_for_the_hazard() -> None:
    answer = _router().route(_south_of_river(), "walk", "flood")
    assert answer.reason is None
    chosen = next(s for s in SHELTERS if s.id == answer.shelter_id)
    assert "flood" in chosen.hazards
    assert answer.distance_m is not None
    assert answer.minutes is not None
    walking_minutes = answer.distance_m / 1.25 / 60
    assert walking_minutes * 0.9 <= answer.minutes <= walking_minutes * 3  # hills, steps


def test_a_wheelchair_route_never_uses_steps() -> None:
    router = _router()
    for lon, lat in zip(TOWN.residents_lon[:40], TOWN.residents_lat[:40], strict=True):
        origin = GeoPoint(lat=float(lat), lon=float(lon))
        if router.route(origin, "wheelchair", "flood").reason is None:
            edges = _edges_on_route(router, origin, "wheelchair", "flood")
            assert not np.any(TOWN.graph.flags[list(edges)] & STEPS)


def _crossing_resident(router: LiveRouter) -> tuple[GeoPoint, int]:
    """A resident whose way to a flood shelter crosses a bridge, and that bridge."""
    for lon, lat in zip(TOWN.residents_lon, TOWN.residents_lat, strict=True):
        origin = GeoPoint(lat=float(lat), lon=float(lon))
        if router.route(origin, "walk", "flood").reason is not None:
            continue
        bridges = [e for e in _edges_on_route(router, origin, "walk", "flood")
                   if TOWN.graph.flags[e] & BRIDGE]  # fmt: skip
        if bridges:
            return origin, bridges[0]
    msg = "no resident of the town crosses a bridge to a flood shelter"
    raise AssertionError(msg)


def _segment(edge: int) -> frozenset[int]:
    """An edge's two end nodes: both directions of a bridge are one bridge."""
    return frozenset((int(TOWN.graph.edge_source()[edge]), int(TOWN.graph.indices[edge])))


def test_closing_the_bridge_used_sends_the_route_over_another_and_reopening_restores_it() -> None:
    router = _router()
    origin, bridge = _crossing_resident(router)
    before = router.route(origin, "walk", "flood")
    assert router.apply(_bridge_closure(bridge, "c1")) == 2  # the bridge, both directions
    after = router.route(origin, "walk", "flood")
    assert after.reason is None, after.reason
    assert "flood" in next(s for s in SHELTERS if s.id == after.shelter_id).hazards
    used = _edges_on_route(router, origin, "walk", "flood")
    crossed = {_segment(e) for e in used if TOWN.graph.flags[e] & BRIDGE}
    assert crossed, "the route no longer crosses the river"
    assert _segment(bridge) not in crossed
    assert crossed <= {_segment(int(e)) for e in TOWN.bridges}
    assert after.minutes is not None
    assert before.minutes is not None
    assert after.minutes >= before.minutes
    router.apply(_bridge_closure(bridge, "c1", active=False))
    assert router.route(origin, "walk", "flood") == before


def test_a_full_shelter_receives_nobody_more() -> None:
    origin = _south_of_river()
    first = _router().route(origin, "walk", "flood")
    full = [s.model_copy(update={"occupancy": s.capacity}) if s.id == first.shelter_id else s
            for s in SHELTERS]  # fmt: skip
    second = _router(full).route(origin, "walk", "flood")
    assert second.shelter_id != first.shelter_id


def test_an_island_made_by_closures_gets_a_clear_no_route() -> None:
    router = _router()
    origin = _south_of_river()
    ring = (
        shapely.Point(origin.lon, origin.lat)
        .buffer(0.0015)
        .difference(shapely.Point(origin.lon, origin.lat).buffer(0.0012))
    )
    moat = RoadClosure(
        id="moat",
        source="incident",
        source_id="t",
        reason="flooded",
        geometry=shapely.geometry.mapping(ring),
        active=True,
        changed_at=NOW,
    )
    assert router.apply(moat) > 0
    answer = router.route(origin, "walk", "flood")
    assert answer.reason == "cut off: closures leave no open road to a suitable shelter"
    assert answer.waypoints is None


def test_no_open_shelter_for_the_hazard_is_said_plainly() -> None:
    closed = [s.model_copy(update={"open": False}) for s in SHELTERS]
    answer = _router(closed).route(_south_of_river(), "walk", "flood")
    assert answer.reason == "no open shelter designated for flood with room left"


def _moat(origin: GeoPoint) -> RoadClosure:
    centre = shapely.Point(origin.lon, origin.lat)
    ring = centre.buffer(0.0015).difference(centre.buffer(0.0012))
    return RoadClosure(id="moat", source="incident", source_id="t", reason="flooded",
                       geometry=shapely.geometry.mapping(ring), active=True,
                       changed_at=NOW)  # fmt: skip


def test_floors_above_the_water_with_a_margin() -> None:
    assert [safe_floor(d) for d in (0.0, 0.5, 2.4, 5.0, 5.5)] == [2, 2, 3, 3, 4]


def test_an_island_gets_a_building_to_go_up_in_and_never_one_too_low() -> None:
    origin = _south_of_river()
    low = Refuge("low", "公民館", origin.lon + 0.0003, origin.lat, -1, floors=2, flood_depth_m=2.4)
    high = Refuge("high", "第二中学校", origin.lon - 0.0006, origin.lat, -1, floors=4,
                  flood_depth_m=2.4)  # fmt: skip
    outside = Refuge("far", "市役所", origin.lon + 0.01, origin.lat, -1, floors=8)
    router = _router()
    router.set_refuges([low, high, outside])
    assert router.apply(_moat(origin)) > 0
    answer = router.route(origin, "walk", "flood")
    assert answer.reason == "cut off: closures leave no open road to a suitable shelter"
    assert answer.refuge is not None
    assert (answer.refuge.building_id, answer.refuge.safe_floor) == ("high", 3)
    assert answer.refuge.waypoints["coordinates"][-1] == [high.lon, high.lat]
    assert router.route(origin, "walk", "earthquake").refuge is None  # going up won't help


def test_a_shelter_too_far_for_the_time_left_adds_a_building_to_go_up_in() -> None:
    origin = _south_of_river()
    router = _router()
    router.set_refuges([Refuge("near", "第二中学校", origin.lon, origin.lat + 0.0002, -1,
                               floors=5, flood_depth_m=1.0)])  # fmt: skip
    relaxed = router.route(origin, "walk", "flood")
    assert (relaxed.reason, relaxed.refuge) == (None, None)
    hurried = router.route(origin, "walk", "flood", deadline_s=30)
    assert hurried.shelter_id == relaxed.shelter_id  # the shelter is still named ...
    assert hurried.refuge is not None  # ... and the building near enough to reach in time
    assert hurried.refuge.minutes < relaxed.minutes  # type: ignore[operator]


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_a_deadline_must_be_a_time(bad: float) -> None:
    with pytest.raises(ValueError, match="deadline_s must be a finite number of seconds >= 0"):
        _router().route(_south_of_river(), "walk", "flood", deadline_s=bad)


def test_a_deadline_already_passed_sends_everyone_within_reach_of_a_building_up() -> None:
    origin = _south_of_river()
    router = _router()
    router.set_refuges([Refuge("near", "第二中学校", origin.lon, origin.lat + 0.0002, -1,
                               floors=5, flood_depth_m=1.0)])  # fmt: skip
    answer = router.route(origin, "walk", "flood", deadline_s=0)
    assert answer.reason is None
    assert answer.refuge is not None
    assert router.route(origin, "walk", "flood", deadline_s=24 * 3600).refuge is None
