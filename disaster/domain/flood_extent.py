"""Flood extents: polygons of expected inundation with a depth, received as a hazard.

A river office or a flood model hands HQ a set of polygons, each with the MLIT depth class
(浸水深ランク, the scheme PLATEAU's ``uro:rank`` codes use) or a depth in metres. The depth a
building is advised on is the deeper of its own city-model attribute and every active extent
covering it; a rank stands for the **upper** bound of its class, so advice and the refuge
choice err on the safe side (a rank-2 "0.5-3 m" polygon means "go above 3 m"). Counts of
buildings "with 0.5 m or more" use the class itself, so they are not inflated by that choice.

Geometry is refused at the door, never repaired: a self-intersecting ring would put buildings
in or out of the water at random, and a polygon the size of a country is a unit error.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import shapely
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from shapely.geometry import shape

__all__ = [
    "DEPTH_RANKS_M",
    "MAX_EXTENT_FEATURES",
    "MAX_EXTENT_SPAN_DEG",
    "ExtentFeature",
    "ExtentGeometry",
    "ExtentProperties",
    "FloodExtentIn",
    "depth_for_rank",
    "rank_for_depth",
]

#: 浸水深ランク (MLIT 洪水浸水想定区域図; i-UR ``uro:rank``): rank -> [low, high) metres.
DEPTH_RANKS_M: dict[int, tuple[float, float]] = {
    1: (0.0, 0.5),
    2: (0.5, 3.0),
    3: (3.0, 5.0),
    4: (5.0, 10.0),
    5: (10.0, 20.0),
    6: (20.0, math.inf),
}
#: A collection spanning more than this (about 100 km) is not one flood: a unit or axis error.
MAX_EXTENT_SPAN_DEG = 1.0
MAX_EXTENT_FEATURES = 2_000
#: Deeper than any river flood or tsunami inundation on record in Japan.
_MAX_DEPTH_M = 50.0
_LONLAT_CRS = ("CRS84", "EPSG::4326", "EPSG:4326")


def depth_for_rank(rank: int) -> float:
    """Return the depth (metres) a rank is advised as: its class's upper bound (rank 6: 20 m,
    its lower bound, since there is no upper one)."""
    low, high = DEPTH_RANKS_M[rank]
    return high if math.isfinite(high) else low


def rank_for_depth(depth_m: float) -> int:
    """Return the rank whose class holds ``depth_m`` (negative depths are rank 1)."""
    return next(r for r, (_, high) in DEPTH_RANKS_M.items() if depth_m < high)


class _GeoJson(BaseModel):
    # GeoJSON from other tools carries extra members (bbox, ids, titles): ignored, not refused
    model_config = ConfigDict(frozen=True, extra="ignore")


class ExtentProperties(_GeoJson):
    """A polygon's depth: ``depth_rank`` (1-6), ``depth_m``, or both when they agree."""

    depth_rank: int | None = Field(default=None, description="浸水深ランク 1-6 (uro:rank)")
    depth_m: float | None = Field(default=None, allow_inf_nan=False, description="metres")

    @field_validator("depth_rank")
    @classmethod
    def _known_rank(cls, rank: int | None) -> int | None:
        if rank is not None and rank not in DEPTH_RANKS_M:
            ranks = ", ".join(f"{r}: {_class_text(r)}" for r in DEPTH_RANKS_M)
            msg = f"unknown depth rank {rank}; the ranks are {ranks}"
            raise ValueError(msg)
        return rank

    @field_validator("depth_m")
    @classmethod
    def _plausible_depth(cls, depth: float | None) -> float | None:
        if depth is not None and not 0.0 <= depth <= _MAX_DEPTH_M:
            msg = f"depth_m {depth} is not between 0 and {_MAX_DEPTH_M:g} m"
            raise ValueError(msg)
        return depth

    @model_validator(mode="after")
    def _one_depth(self) -> ExtentProperties:
        if self.depth_rank is None and self.depth_m is None:
            msg = "give depth_rank (1-6) or depth_m"
            raise ValueError(msg)
        given = (self.depth_rank, self.depth_m)
        if None not in given and rank_for_depth(self.depth_m or 0.0) != self.depth_rank:
            msg = (f"depth_m {self.depth_m} is outside rank {self.depth_rank} "
                   f"({_class_text(self.depth_rank or 1)})")  # fmt: skip
            raise ValueError(msg)
        return self

    @property
    def advised_depth_m(self) -> float:
        """The depth buildings inside are advised on (see the module docstring)."""
        assert self.depth_rank is not None or self.depth_m is not None
        return self.depth_m if self.depth_m is not None else depth_for_rank(self.depth_rank or 1)

    @property
    def rank(self) -> int:
        """The depth class, given or derived from ``depth_m``."""
        if self.depth_rank is not None:
            return self.depth_rank
        return rank_for_depth(self.depth_m or 0.0)


class ExtentGeometry(_GeoJson):
    """A GeoJSON Polygon or MultiPolygon in lon/lat degrees, valid and not empty."""

    type: Literal["Polygon", "MultiPolygon"]
    coordinates: list[Any] = Field(min_length=1)

    @model_validator(mode="after")
    def _valid(self) -> ExtentGeometry:
        try:
            geometry = shape(self.model_dump())
        except (ValueError, TypeError, IndexError, AttributeError, shapely.errors.GEOSException):
            msg = f"coordinates are not a GeoJSON {self.type}"
            raise ValueError(msg) from None
        min_lon, min_lat, max_lon, max_lat = geometry.bounds
        if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
            msg = "positions must be lon, lat in degrees (longitude first, as GeoJSON says)"
            raise ValueError(msg)
        if not geometry.is_valid:
            msg = f"the polygon is not valid: {shapely.is_valid_reason(geometry)}"
            raise ValueError(msg)
        if geometry.is_empty or geometry.area <= 0:
            msg = "the polygon has no area"
            raise ValueError(msg)
        return self

    def to_shape(self) -> shapely.Geometry:
        """Return the geometry as a shapely (Multi)Polygon."""
        return shape(self.model_dump())


class ExtentFeature(_GeoJson):
    """One polygon (or multipolygon) of water of one depth."""

    type: Literal["Feature"]
    geometry: ExtentGeometry
    properties: ExtentProperties


class FloodExtentIn(_GeoJson):
    """A flood-extent polygon set: a GeoJSON FeatureCollection with the extent's name, its
    source (a newer version from the same source replaces the active one) and whether it is
    an exercise."""

    type: Literal["FeatureCollection"]
    name: str = Field(min_length=1, max_length=100)
    source: str = Field(min_length=1, max_length=100, pattern=r"^[^\s/]+$")
    version: int | None = Field(
        default=None, ge=1, description="omitted: one more than the source's latest"
    )
    exercise: bool = False
    crs: dict[str, Any] | None = Field(default=None, description="legacy; only CRS84 accepted")
    features: list[ExtentFeature] = Field(min_length=1, max_length=MAX_EXTENT_FEATURES)

    @field_validator("crs")
    @classmethod
    def _lonlat_only(cls, crs: dict[str, Any] | None) -> dict[str, Any] | None:
        name = str((crs or {}).get("properties", {}).get("name", "CRS84"))
        if crs is not None and not name.upper().endswith(_LONLAT_CRS):
            msg = f"crs {name!r}: only lon/lat WGS 84 (CRS84) coordinates are accepted"
            raise ValueError(msg)
        return crs

    @model_validator(mode="after")
    def _one_place(self) -> FloodExtentIn:
        min_lon, min_lat, max_lon, max_lat = self.bounds
        span = max(max_lon - min_lon, max_lat - min_lat)
        if span > MAX_EXTENT_SPAN_DEG:
            msg = (f"the extent spans {span:.2f} degrees; at most {MAX_EXTENT_SPAN_DEG:g} "
                   "(about 100 km) is one flood")  # fmt: skip
            raise ValueError(msg)
        return self

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(min_lon, min_lat, max_lon, max_lat) of all the polygons."""
        boxes = [f.geometry.to_shape().bounds for f in self.features]
        return (min(b[0] for b in boxes), min(b[1] for b in boxes),
                max(b[2] for b in boxes), max(b[3] for b in boxes))  # fmt: skip


def _class_text(rank: int) -> str:
    low, high = DEPTH_RANKS_M[rank]
    if low == 0:
        return f"< {high:g} m"
    return f">= {low:g} m" if math.isinf(high) else f"{low:g}-{high:g} m"
