"""Depth per building from flood-extent polygons, checked against a plain loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from evac.flood_depth import extent_depths


def test_touching_counts_the_deepest_wins_and_outside_is_nan() -> None:
    houses = [shapely.box(0, 0, 1, 1), shapely.box(2, 0, 3, 1), shapely.box(9, 9, 10, 10)]
    zones = [shapely.box(0.5, 0.5, 2.5, 2), shapely.box(2.9, 0, 5, 5)]  # 2nd grazes house 2
    found = extent_depths(houses, zones, [0.8, 4.0], [2, 3])
    np.testing.assert_array_equal(found.depth_m, [0.8, 4.0, np.nan])
    np.testing.assert_array_equal(found.rank, [2, 3, 0])
    assert found.rank.dtype == np.int16


def test_nothing_in_nothing_out() -> None:
    assert extent_depths([], [shapely.box(0, 0, 1, 1)], [1.0], [2]).depth_m.shape == (0,)
    assert math.isnan(extent_depths([shapely.box(0, 0, 1, 1)], [], [], []).depth_m[0])
    with pytest.raises(ValueError, match="1 zones for 2 depths"):
        extent_depths([], [shapely.box(0, 0, 1, 1)], [1.0, 2.0], [1])


boxes = st.tuples(st.floats(0, 20), st.floats(0, 20), st.floats(0.1, 5), st.floats(0.1, 5)).map(
    lambda t: shapely.box(t[0], t[1], t[0] + t[2], t[1] + t[3])
)


@given(st.lists(boxes, max_size=20), st.lists(st.tuples(boxes, st.floats(0, 30)), max_size=8))
@settings(max_examples=60, deadline=None)
def test_matches_a_plain_loop(houses: list, zones: list) -> None:
    depths = [d for _, d in zones]
    ranks = [int(d // 5) + 1 for d in depths]
    found = extent_depths(houses, [z for z, _ in zones], depths, ranks)
    for i, house in enumerate(houses):
        hits = [k for k, (z, _) in enumerate(zones) if house.intersects(z)]
        expected = max((depths[k] for k in hits), default=math.nan)
        assert found.depth_m[i] == expected or (math.isnan(expected) and np.isnan(found.depth_m[i]))
        assert found.rank[i] == max((ranks[k] for k in hits), default=0)
