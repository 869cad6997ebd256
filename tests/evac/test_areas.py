"""Municipal boundaries from N03-style GeoJSON: one shape per code, bad files refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import shapely

from disaster.domain import InvalidInputError
from evac.areas import areas_from_geojson


def _feature(code: str | None, box: tuple[float, float, float, float]) -> dict:
    props = {"N03_001": "東京都", "N03_003": None, "N03_004": "千代田区", "N03_007": code}
    return {"type": "Feature", "properties": props,
            "geometry": json.loads(shapely.to_geojson(shapely.box(*box)))}  # fmt: skip


def write(tmp_path: Path, features: list[dict]) -> Path:
    path = tmp_path / "N03.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def test_the_pieces_of_one_municipality_become_one_shape(tmp_path: Path) -> None:
    path = write(tmp_path, [
        _feature("13101", (139.70, 35.60, 139.80, 35.70)),
        _feature("13101", (139.90, 35.60, 139.95, 35.65)),  # an island
        _feature(None, (139.0, 35.0, 139.1, 35.1)),  # 所属未定地: no code
    ])  # fmt: skip
    found = areas_from_geojson(path)
    [(code, name, geometry)] = found.areas
    assert (code, name, found.skipped) == ("13101", "東京都千代田区", 1)
    shape = shapely.geometry.shape(geometry)
    assert shape.geom_type == "MultiPolygon"
    assert shape.contains(shapely.Point(139.92, 35.62))


@pytest.mark.parametrize(
    ("features", "reason"),
    [
        ([{"type": "Feature", "properties": {"code": "13101"},
           "geometry": {"type": "Point", "coordinates": [139.7, 35.6]}}], "feature 1: a boundary"),
        ([{"type": "Feature", "properties": {"code": "13101"},
           "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1],
                                                            [0, 0]]]}}], "invalid boundary"),
    ],
)  # fmt: skip
def test_a_bad_boundary_refuses_the_file(tmp_path: Path, features: list, reason: str) -> None:
    with pytest.raises(InvalidInputError, match=reason):
        areas_from_geojson(write(tmp_path, features))


def test_not_geojson_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.geojson"
    path.write_text("[1, 2")
    with pytest.raises(InvalidInputError, match="not a readable GeoJSON"):
        areas_from_geojson(path)
