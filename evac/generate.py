"""A deterministic synthetic town for demos, tests and benchmarks.

The town is a square street grid (60 m blocks) in Chiba prefecture's coordinate range, with
what makes evacuation routing interesting:

- a river meandering across it from west to east; every street it cuts ends at the bank, and
  only a few bridges (two road bridges per 32 columns, one footbridge) cross it, flagged
  ``BRIDGE``;
- a hill north of the river (60 m high) whose steepest lanes are ``steps``;
- main streets (every 8th row and column; every 24th is primary), residential lanes between
  them, a fifth of the lanes pedestrian-only alleys, a few of those unpaved or closed to
  wheelchairs, one-way lanes (rows and columns 2 and 6 of every 8), and a road underpass;
- shelters with capacities and the hazards they are designated for, and residents.

Everything is vectorised with numpy: ``size=BENCH_SIZE`` (over a million directed edges)
builds in about a second. The same ``seed`` and ``size`` give identical arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt
from shapely import affinity
from shapely.geometry import LineString, Polygon

from disaster.domain.shelter import HAZARDS
from evac.graph import (
    BRIDGE,
    CAR,
    EARTH_RADIUS_M,
    FOOT,
    KIND_CODES,
    NO_WHEELCHAIR,
    STEPS,
    TUNNEL,
    UNDERPASS,
    UNPAVED,
    EdgeArrays,
    RoadGraph,
    graph_from_edges,
    haversine_m,
)

__all__ = ["BENCH_SIZE", "HAZARDS", "Town", "TownShelter", "generate_town"]

#: Hazard types a shelter may be designated for (the eight of the GSI shelter data).
#: A ``size`` that gives over a million directed edges (for benchmarks).
BENCH_SIZE = 512

SPACING_M = 60.0
_LON0, _LAT0 = 140.05, 35.55
_MAIN = 8  # every 8th row/column is a main street
_PRIMARY = 24
_BRIDGE_EVERY = 16
_RIVER_HALF_WIDTH = 0.2  # grid units; clears every node and non-crossing street
_HILL_HEIGHT_M = 60.0
_HILL_SIGMA = 5.0  # grid units
_STEPS_SLOPE = 0.1
_FLOOD_SAFE_ELEV_M = 4.0
_FACILITIES = ("小学校", "中学校", "公民館", "体育館")


@dataclass(frozen=True, slots=True)
class TownShelter:
    """A shelter of the generated town (the domain model has the full record)."""

    name: str
    lon: float
    lat: float
    capacity: int
    hazards: frozenset[str]


@dataclass(frozen=True, eq=False, slots=True)
class Town:
    """A generated town: its road graph, shelters, residents and river.

    Attributes
    ----------
    graph
        The road graph.
    shelters
        Shelters (a tuple, so the town stays immutable).
    residents_lon, residents_lat
        Resident positions in degrees, float64.
    river
        The river's water surface as a lon/lat polygon.
    bridges
        int64 ids of the edges that cross the river (all flagged ``BRIDGE``).
    """

    graph: RoadGraph
    shelters: tuple[TownShelter, ...]
    residents_lon: npt.NDArray[np.float64]
    residents_lat: npt.NDArray[np.float64]
    river: Polygon
    bridges: npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class _Segments:
    """Undirected grid segments between node ids ``a`` and ``b`` with their attributes."""

    a: npt.NDArray[np.int64]
    b: npt.NDArray[np.int64]
    kind: npt.NDArray[np.uint8]
    flags: npt.NDArray[np.uint16]  # direction-free flags, FOOT included
    car_fwd: npt.NDArray[np.bool_]
    car_bwd: npt.NDArray[np.bool_]

    def select(self, keep: npt.NDArray[np.bool_]) -> _Segments:
        """Return the segments where ``keep`` is true."""
        return _Segments(*(getattr(self, f.name)[keep] for f in fields(self)))


def generate_town(seed: int = 0, *, size: int = 40) -> Town:
    """Generate a town on a ``size`` x ``size`` grid of intersections 60 m apart.

    Parameters
    ----------
    seed
        Seeds the river's phase, the alleys, shelters and residents.
    size
        Intersections per side, at least 16. 40 (the default) gives about 6,000 directed
        edges; ``BENCH_SIZE`` (512) over a million.
    """
    if size < 16:
        msg = f"generate_town needs size >= 16, got {size}"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    river_y = _river_rows(size, rng.uniform(0.0, 2 * math.pi))
    gx, gy = _grid_xy(size)
    lon, lat = _to_lonlat(gx, gy)
    elev = _elevation(gx, gy, size, river_y)
    segments = _classify(_grid_segments(size), size, rng)
    segments = _cut_by_river(segments, size, river_y)
    segments = _steps_on_hill(segments, elev, lon, lat)
    graph = graph_from_edges(lon, lat, _directed(segments, lon, lat), node_elev_m=elev)
    bridges = np.flatnonzero(graph.flags & BRIDGE).astype(np.int64)
    shelters = _shelters(size, rng, lon, lat, elev, gx, gy)
    res_lon, res_lat = _residents(size, rng, river_y)
    return Town(graph, shelters, res_lon, res_lat, _river_polygon(size, river_y), bridges)


def _grid_xy(size: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Return each node's grid column and row (node id = row * size + column)."""
    ids = np.arange(size * size, dtype=np.int64)
    return (ids % size).astype(np.float64), (ids // size).astype(np.float64)


def _to_lonlat(gx: npt.ArrayLike, gy: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Map grid units to degrees with a local equirectangular projection."""
    deg_per_m = 180.0 / (math.pi * EARTH_RADIUS_M)
    lon = _LON0 + np.asarray(gx) * SPACING_M * deg_per_m / math.cos(math.radians(_LAT0))
    return lon, _LAT0 + np.asarray(gy) * SPACING_M * deg_per_m


def _river_rows(size: int, phase: float) -> npt.NDArray[np.float64]:
    """Return the river's centre row at columns -2..size+1, always halfway between rows.

    The meander moves at most one row per column, so the river never comes nearer than
    0.35 grid units to a node, and a street crosses it exactly when its ends lie on
    opposite sides.
    """
    cols = np.arange(-2, size + 2, dtype=np.float64)
    period = 24.0
    amplitude = min(3.0, 0.4 * size - 2.0)
    raw = 0.4 * size + amplitude * np.sin(2 * math.pi * cols / period + phase)
    return np.floor(raw) + 0.5


def _river_at(x: npt.ArrayLike, river_y: npt.NDArray[np.float64]) -> np.ndarray:
    """Return the river's centre row at grid column(s) ``x`` (linear between columns)."""
    cols = np.arange(-2, river_y.shape[0] - 2, dtype=np.float64)
    return np.interp(x, cols, river_y)


def _river_polygon(size: int, river_y: npt.NDArray[np.float64]) -> Polygon:
    """Return the river's water surface in lon/lat."""
    cols = np.arange(-2, size + 2, dtype=np.float64)
    surface = LineString(np.column_stack([cols, river_y])).buffer(_RIVER_HALF_WIDTH)
    lon0, lat0 = _to_lonlat(0.0, 0.0)
    lon1, lat1 = _to_lonlat(1.0, 1.0)
    scale = affinity.scale(surface, lon1 - lon0, lat1 - lat0, origin=(0.0, 0.0))
    return affinity.translate(scale, float(lon0), float(lat0))


def _elevation(
    gx: np.ndarray, gy: np.ndarray, size: int, river_y: npt.NDArray[np.float64]
) -> npt.NDArray[np.float32]:
    """Return node elevations in metres: low by the river, rising gently, plus the hill."""
    above_river_m = np.abs(gy - _river_at(gx, river_y)) * SPACING_M
    hx, hy = _hill_centre(size)
    r2 = (gx - hx) ** 2 + (gy - hy) ** 2
    hill = _HILL_HEIGHT_M * np.exp(-r2 / (2 * _HILL_SIGMA**2))
    return (2.0 + 0.003 * above_river_m + hill).astype(np.float32)


def _hill_centre(size: int) -> tuple[float, float]:
    """Return the hill top in grid units (north-east, clear of the river)."""
    return 0.7 * (size - 1), 0.8 * (size - 1)


def _grid_segments(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (a, b, line) of every east-going then north-going segment; line is row/col."""
    col, row = np.meshgrid(np.arange(size - 1), np.arange(size), indexing="xy")
    east_a = (row * size + col).ravel()
    north_a = (col * size + row).ravel()  # col runs over rows here: transpose of the above
    a = np.concatenate([east_a, north_a]).astype(np.int64)
    b = np.concatenate([east_a + 1, north_a + size]).astype(np.int64)
    line = np.concatenate([row.ravel(), (north_a % size)]).astype(np.int64)
    return a, b, line


def _classify(
    grid: tuple[np.ndarray, np.ndarray, np.ndarray], size: int, rng: np.random.Generator
) -> _Segments:
    """Give each segment a class, alleys, surfaces and one-way directions."""
    a, b, line = grid
    kind = np.full(a.shape, KIND_CODES["residential"], dtype=np.uint8)
    kind[line % _MAIN == 0] = KIND_CODES["tertiary"]
    kind[line % _PRIMARY == 0] = KIND_CODES["primary"]
    lane = kind == KIND_CODES["residential"]
    alley = lane & (rng.random(a.shape) < 0.2)
    kind[alley] = KIND_CODES["footway"]
    flags = np.full(a.shape, FOOT, dtype=np.uint16)
    flags[alley & (rng.random(a.shape) < 0.05)] |= UNPAVED
    flags[alley & (rng.random(a.shape) < 0.02)] |= NO_WHEELCHAIR
    flags[_underpass(a, b, line, size)] |= TUNNEL | UNDERPASS
    car = ~alley
    one_way = lane & ~alley & np.isin(line % _MAIN, (2, 6))
    forward_only = one_way & (line % _MAIN == 2)
    backward_only = one_way & (line % _MAIN == 6)
    return _Segments(a, b, kind, flags, car & ~backward_only, car & ~forward_only)


def _underpass(a: np.ndarray, b: np.ndarray, line: np.ndarray, size: int) -> np.ndarray:
    """Return a mask of two east-going segments of the first main row: a road underpass."""
    east = (b - a) == 1
    return east & (line == _MAIN) & np.isin(a % size, (size // 2 - 1, size // 2))


def _cut_by_river(segments: _Segments, size: int, river_y: np.ndarray) -> _Segments:
    """Drop the segments the river cuts, except the bridges, which get ``BRIDGE``."""
    ax, ay = segments.a % size, segments.a // size
    bx, by = segments.b % size, segments.b // size
    side_a = ay - _river_at(ax, river_y)
    side_b = by - _river_at(bx, river_y)
    crosses = np.sign(side_a) != np.sign(side_b)
    vertical = ax == bx
    road_bridge = vertical & (ax % _BRIDGE_EVERY == _BRIDGE_EVERY // 2)
    foot_col = _footbridge_column(size)
    footbridge = vertical & (ax == foot_col)
    bridge = crosses & (road_bridge | footbridge)
    segments.flags[bridge] |= BRIDGE
    segments.kind[crosses & footbridge] = KIND_CODES["footway"]
    segments.car_fwd[crosses & footbridge] = False
    segments.car_bwd[crosses & footbridge] = False
    return segments.select(~crosses | bridge)


def _footbridge_column(size: int) -> int:
    """Return the lane column nearest the middle whose river crossing is a footbridge."""
    return (size // 2) // _MAIN * _MAIN + _MAIN // 2


def _steps_on_hill(
    segments: _Segments, elev: np.ndarray, lon: np.ndarray, lat: np.ndarray
) -> _Segments:
    """Turn lanes steeper than 1:10 into steps (pedestrians only)."""
    length = haversine_m(lon[segments.a], lat[segments.a], lon[segments.b], lat[segments.b])
    grade = np.abs(elev[segments.b] - elev[segments.a]) / length
    lanes = np.isin(segments.kind, (KIND_CODES["residential"], KIND_CODES["footway"]))
    steep = lanes & (grade > _STEPS_SLOPE) & ((segments.flags & BRIDGE) == 0)
    segments.kind[steep] = KIND_CODES["steps"]
    segments.flags[steep] |= STEPS
    segments.car_fwd[steep] = False
    segments.car_bwd[steep] = False
    return segments


def _directed(segments: _Segments, lon: np.ndarray, lat: np.ndarray) -> EdgeArrays:
    """Return both directions of every segment, CAR only where cars may go that way."""
    a, b = segments.a, segments.b
    length = haversine_m(lon[a], lat[a], lon[b], lat[b])
    car = np.where(np.concatenate([segments.car_fwd, segments.car_bwd]), CAR, 0)
    flags = np.concatenate([segments.flags, segments.flags]) | car.astype(np.uint16)
    m = a.shape[0]
    return EdgeArrays(
        source=np.concatenate([a, b]),
        target=np.concatenate([b, a]),
        length_m=np.concatenate([length, length]),
        kind=np.concatenate([segments.kind, segments.kind]),
        flags=flags,
        slope=np.full(2 * m, np.nan, dtype=np.float32),  # filled from elevations
        way_id=np.zeros(2 * m, dtype=np.int64),
    )


def _shelters(
    size: int,
    rng: np.random.Generator,
    lon: np.ndarray,
    lat: np.ndarray,
    elev: np.ndarray,
    gx: np.ndarray,
    gy: np.ndarray,
) -> tuple[TownShelter, ...]:
    """Place shelters at intersections: one on the hill top, the rest at random."""
    hx, hy = _hill_centre(size)
    top = round(hy) * size + round(hx)
    count = max(5, size * size // 300)
    others = rng.choice(size * size - 1, size=count - 1, replace=False)
    nodes = np.concatenate([[top], others + (others >= top)])
    capacity = rng.integers(10, 151, size=count) * 10
    hill = _HILL_HEIGHT_M * np.exp(-((gx - hx) ** 2 + (gy - hy) ** 2) / (2 * _HILL_SIGMA**2))
    return tuple(
        TownShelter(
            name=_shelter_name(k),
            lon=float(lon[node]),
            lat=float(lat[node]),
            capacity=int(capacity[k]),
            hazards=_hazards(float(elev[node]), float(hill[node])),
        )
        for k, node in enumerate(nodes.tolist())
    )


def _shelter_name(k: int) -> str:
    """Return a Japanese shelter name: the hill-top park first, then numbered facilities."""
    if k == 0:
        return "丘の上公園（高台避難場所）"
    return f"第{k}{_FACILITIES[k % len(_FACILITIES)]}"


def _hazards(elev_m: float, hill_m: float) -> frozenset[str]:
    """Return what a shelter is designated for: high ground for floods, off slopes for slides."""
    hazards = {"earthquake", "fire"}
    if elev_m >= _FLOOD_SAFE_ELEV_M:
        hazards |= {"flood", "inland_flood"}
    if hill_m < 5.0 or hill_m > 0.9 * _HILL_HEIGHT_M:
        hazards.add("landslide")
    return frozenset(hazards)


def _residents(
    size: int, rng: np.random.Generator, river_y: np.ndarray
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Return two residents per intersection, uniformly placed, none in the river."""
    count = 2 * size * size
    x = rng.uniform(0.0, size - 1.0, count)
    y = rng.uniform(0.0, size - 1.0, count)
    off = y - _river_at(x, river_y)
    wet = np.abs(off) < 2 * _RIVER_HALF_WIDTH
    y[wet] += np.where(off[wet] >= 0, 1.0, -1.0) * 4 * _RIVER_HALF_WIDTH
    lon, lat = _to_lonlat(x, y)
    return lon.astype(np.float64), lat.astype(np.float64)
