"""Municipal boundaries from GeoJSON: the 国土数値情報 行政区域 (N03) layout or plain features.

N03 splits a municipality into one feature per polygon (islands, exclaves) and names it over
several properties (N03_001 prefecture, N03_003 district, N03_004 municipality, N03_007 code);
features of one code are united into one (Multi)Polygon. Plain GeoJSON may instead give
``code`` and ``name`` properties. Features without a code (N03's 所属未定地) are skipped and
counted; an invalid geometry refuses the file with the feature's number, since a wrong boundary
would silently reach the wrong people.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import shape

from disaster.domain import InvalidInputError

__all__ = ["AreaImport", "areas_from_geojson"]

_CODE = re.compile(r"^\d{5,6}$")


class AreaImport:
    """What a file held: ``areas`` as (code, name, GeoJSON geometry), and ``skipped`` count."""

    def __init__(self, areas: list[tuple[str, str, dict[str, Any]]], skipped: int) -> None:
        self.areas = areas
        self.skipped = skipped


def areas_from_geojson(path: Path) -> AreaImport:
    """Read a FeatureCollection of boundaries; raise :class:`InvalidInputError` if unusable."""
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        msg = f"not a readable GeoJSON file: {exc}"
        raise InvalidInputError(msg) from None
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list):
        msg = "not a GeoJSON FeatureCollection"
        raise InvalidInputError(msg)
    parts: dict[str, list[shapely.Geometry]] = {}
    names: dict[str, str] = {}
    skipped = 0
    for number, feature in enumerate(features, start=1):
        props = feature.get("properties") or {}
        code, name = _code_and_name(props)
        if code is None:
            skipped += 1
            continue
        geometry = _geometry(feature, number)
        parts.setdefault(code, []).append(geometry)
        names.setdefault(code, name)
    areas = [
        (code, names[code], json.loads(shapely.to_geojson(shapely.union_all(shapes))))
        for code, shapes in sorted(parts.items())
    ]
    return AreaImport(areas, skipped)


def _code_and_name(props: dict[str, Any]) -> tuple[str | None, str]:
    code = props.get("N03_007", props.get("code"))
    code = None if code is None else str(code).strip()
    if not code or not _CODE.match(code):
        return None, ""
    pieces = [props.get(k) for k in ("N03_001", "N03_003", "N03_004")]
    name = "".join(p for p in pieces if p) or str(props.get("name") or code)
    return code, name


def _geometry(feature: dict[str, Any], number: int) -> shapely.Geometry:
    try:
        geometry = shape(feature["geometry"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        msg = f"feature {number}: not a geometry ({exc})"
        raise InvalidInputError(msg) from None
    if geometry.geom_type not in ("Polygon", "MultiPolygon"):
        msg = f"feature {number}: a boundary must be a Polygon, not a {geometry.geom_type}"
        raise InvalidInputError(msg)
    if not geometry.is_valid:
        msg = f"feature {number}: invalid boundary ({shapely.is_valid_reason(geometry)})"
        raise InvalidInputError(msg)
    minx, miny, maxx, maxy = geometry.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        msg = f"feature {number}: coordinates are not lon, lat in degrees"
        raise InvalidInputError(msg)
    return geometry
