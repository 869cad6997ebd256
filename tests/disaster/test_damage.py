"""The damage picture's pure parts: linking incidents to buildings, refuges, area counts."""

from __future__ import annotations

import shapely

from disaster.damage import (
    AreaCounts,
    BuildingRow,
    DamageIncident,
    building_damage,
    building_feature,
    count_by_area,
    is_refuge,
    link_incidents,
)

LAT = 35.0
M = 1 / 111_195.0  # degrees of latitude per metre


def _box(x0: float, y0: float, x1: float, y1: float) -> shapely.Geometry:
    return shapely.box(140 + x0 * M, LAT + y0 * M, 140 + x1 * M, LAT + y1 * M)


def test_inside_wins_then_the_nearest_within_the_radius() -> None:
    house, annex, far = _box(0, 0, 20, 20), _box(0, 0, 5, 5), _box(100, 0, 120, 20)
    candidates = [(i, b, f) for i in ("in", "annex", "near", "lost")
                  for b, f in (("house", house), ("annex", annex), ("far", far))]  # fmt: skip
    incidents = [
        DamageIncident("in", "fire", 140 + 10 * M, LAT + 10 * M),
        DamageIncident("annex", "collapse", 140 + 2 * M, LAT + 2 * M),  # in both: the smaller
        DamageIncident("near", "fire", 140 + 45 * M, LAT + 10 * M),  # 25 m east of the house
        DamageIncident("lost", "fire", 140 + 60 * M, LAT + 10 * M),  # 40 m from both
        DamageIncident("none", "fire", 140, LAT),  # no candidates at all
    ]
    linked = link_incidents(incidents, candidates, radius_m=30)
    assert linked == {"in": "house", "annex": "annex", "near": "house"}


def test_fire_outranks_collapse_on_one_building() -> None:
    incidents = [DamageIncident("a", "collapse", 0, 0), DamageIncident("b", "fire", 0, 0),
                 DamageIncident("c", "collapse", 0, 0)]  # fmt: skip
    assert building_damage(incidents, {"a": "x", "b": "x", "c": "y"}) == {
        "x": "fire", "y": "collapse"
    }  # fmt: skip


def _row(**kw: object) -> BuildingRow:
    fields: dict[str, object] = {"id": "b", "footprint": {"type": "Polygon", "coordinates": []},
                                 "height_m": 13.0, "storeys": 4, "usage": "422",
                                 "depth_m": 2.4, "candidate": True}  # fmt: skip
    return BuildingRow(**{**fields, **kw})  # type: ignore[arg-type]


def test_a_refuge_is_a_public_undamaged_building_above_the_water() -> None:
    assert is_refuge(_row(), None)  # 2.4 m: 3rd floor, 4 storeys
    assert is_refuge(_row(depth_m=8.0), None)  # 8 m: the 4th floor (9 m up) is safe
    assert not is_refuge(_row(depth_m=9.5), None)  # 9.5 m: the 5th, and it has 4
    assert not is_refuge(_row(candidate=False), None)
    assert not is_refuge(_row(), "fire")
    assert is_refuge(_row(depth_m=None), None)  # dry: any 2-storey public building
    assert not is_refuge(_row(storeys=None, height_m=None, depth_m=None), None)


def test_the_feature_has_exactly_the_layers_properties() -> None:
    feature = building_feature(_row(height_m=None, storeys=3), "collapse")
    assert set(feature["properties"]) == {
        "id", "height_m", "storeys", "usage", "depth_m", "damage", "refuge"
    }  # fmt: skip
    assert feature["properties"]["height_m"] == 9.0  # storeys x 3 m when unmeasured
    assert (feature["properties"]["damage"], feature["properties"]["refuge"]) == ("collapse", False)


def test_counts_per_area_and_in_total() -> None:
    west, east = shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)
    areas = [("01001", "西", west), ("01002", "東", east)]
    incidents = [DamageIncident("f", "fire", 0.5, 0.5), DamageIncident("c", "collapse", 1.5, 0.5),
                 DamageIncident("o", "fire", 5, 5)]  # fmt: skip
    per_area, total = count_by_area(
        areas, incidents, damaged=[(0.5, 0.5)],
        flooded=[(0.2, 0.2, False), (1.0, 0.5, True), (9, 9, True)],
    )  # fmt: skip
    assert total == AreaCounts(fires=2, collapses=1, buildings_damaged=1,
                               buildings_depth_0_5m=3, buildings_depth_3m=2)  # fmt: skip
    assert per_area["01001"] == AreaCounts(1, 0, 1, 2, 1)  # (1.0, 0.5) is on both boundaries
    assert per_area["01002"] == AreaCounts(0, 1, 0, 1, 1)
    assert count_by_area([], incidents, [], [])[0] == {}
