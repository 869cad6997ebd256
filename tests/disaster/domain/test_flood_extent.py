"""Flood-extent bodies: depth ranks, depths, and geometry refused at the door."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from pydantic import ValidationError

from disaster.domain.flood_extent import (
    DEPTH_RANKS_M,
    FloodExtentIn,
    depth_for_rank,
    rank_for_depth,
)


def _square(lon: float = 140.0, lat: float = 35.5, size: float = 0.01) -> list[Any]:
    return [[[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size],
             [lon, lat]]]  # fmt: skip


def _body(*features: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", "name": "試験川 浸水範囲", "source": "test-river",
            "features": list(features), **extra}  # fmt: skip


def _feature(properties: dict[str, Any], geometry: dict[str, Any] | None = None) -> dict[str, Any]:
    geometry = geometry or {"type": "Polygon", "coordinates": _square()}
    return {"type": "Feature", "geometry": geometry, "properties": properties}


# The classes of the MLIT 浸水深 ranks (PLATEAU uro:rank), as evac.buildings documents them.
@pytest.mark.parametrize(
    ("depth", "rank"),
    [(0.0, 1), (0.49, 1), (0.5, 2), (2.99, 2), (3.0, 3), (4.99, 3), (5.0, 4), (10.0, 5),
     (19.9, 5), (20.0, 6), (45.0, 6)],
)  # fmt: skip
def test_rank_for_depth_follows_the_classes(depth: float, rank: int) -> None:
    assert rank_for_depth(depth) == rank


def test_a_rank_is_advised_as_its_upper_bound() -> None:
    assert [depth_for_rank(r) for r in DEPTH_RANKS_M] == [0.5, 3.0, 5.0, 10.0, 20.0, 20.0]
    for rank in DEPTH_RANKS_M:  # the advised depth never understates the class
        low, high = DEPTH_RANKS_M[rank]
        assert depth_for_rank(rank) >= low
        assert depth_for_rank(rank) == high or math.isinf(high)


def test_a_valid_extent_reads_ranks_and_depths() -> None:
    multi = {"type": "MultiPolygon", "coordinates": [_square(140.02), _square(140.04)]}
    extent = FloodExtentIn.model_validate(_body(
        _feature({"depth_rank": 3, "river": "extra members are ignored"}),
        _feature({"depth_m": 0.7}, multi),
        _feature({"depth_rank": 2, "depth_m": 2.4}),
        exercise=True,
    ))  # fmt: skip
    props = [f.properties for f in extent.features]
    assert [p.advised_depth_m for p in props] == [5.0, 0.7, 2.4]
    assert [p.rank for p in props] == [3, 2, 2]
    assert extent.exercise
    assert extent.bounds == pytest.approx((140.0, 35.5, 140.05, 35.51))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (_body(_feature({"depth_rank": 7})), "unknown depth rank 7"),
        (_body(_feature({"depth_rank": 0})), "unknown depth rank 0"),
        (_body(_feature({})), "give depth_rank (1-6) or depth_m"),
        (_body(_feature({"depth_m": -1})), "not between 0 and 50"),
        (_body(_feature({"depth_rank": 1, "depth_m": 2.0})), "outside rank 1 (< 0.5 m)"),
        (_body(_feature({"depth_rank": 2}, {"type": "Polygon", "coordinates": [[
            [140.0, 35.5], [140.01, 35.51], [140.01, 35.5], [140.0, 35.51], [140.0, 35.5]]]})),
         "Self-intersection"),
        (_body(_feature({"depth_rank": 2}, {"type": "Polygon", "coordinates": [[
            [35.5, 140.0], [35.51, 140.0], [35.51, 140.01], [35.5, 140.0]]]})), "lon, lat"),
        (_body(_feature({"depth_rank": 2}, {"type": "Polygon", "coordinates": [[
            [140.0, 35.5], [140.01, 35.5], [140.0, 35.5], [140.0, 35.5]]]})), "Too few points"),
        (_body(_feature({"depth_rank": 2}, {"type": "Point", "coordinates": [140, 35]})),
         "geometry.type"),
        (_body(_feature({"depth_rank": 2}, {"type": "Polygon", "coordinates": [[1, 2]]})),
         "not a GeoJSON Polygon"),
        (_body(_feature({"depth_rank": 2}, {"type": "Polygon", "coordinates": _square(
            -170, -80, 340)})), "positions must be lon, lat"),
        (_body(_feature({"depth_rank": 2}, {"type": "Polygon", "coordinates": _square(
            130, 30, 10)})), "spans 10.00 degrees"),
        (_body(_feature({"depth_rank": 2}), crs={"type": "name", "properties": {
            "name": "urn:ogc:def:crs:EPSG::6675"}}), "only lon/lat WGS 84"),
        (_body(), "at least 1 item"),
        (_body(_feature({"depth_rank": 2}), source="has space"), "source"),
    ],
)  # fmt: skip
def test_bad_extents_are_refused_with_the_reason(body: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(reason)):
        FloodExtentIn.model_validate(body)


def test_crs84_is_accepted() -> None:
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}
    assert FloodExtentIn.model_validate(_body(_feature({"depth_rank": 2}), crs=crs)).crs == crs
