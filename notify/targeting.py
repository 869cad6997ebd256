"""Geofence targeting: which residents an alert's area reaches, exactly and fast.

An area is what CAP 1.2 lets an ``<info><area>`` say: polygons, circles and area codes (the
caller resolves codes to the polygons stored in the database). A resident is reached when any of
their locations lies inside. For point locations the overshoot is exactly zero and nobody inside
is missed; a point on a polygon's boundary counts as inside, because missing a resident is worse
than one extra message.

Circles are tested by great-circle distance on a sphere of the WGS84 mean radius (haversine), not
approximated by polygons. CAP names no earth model; a sphere is what most issuers and clients
compute and what plain SQL can express, so everyone draws the same circle. It differs from the
WGS84 ellipsoid's geodesic by about 0.5 % of the radius at most (7 m on a 1.5 km circle).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pyproj
import shapely
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "EARTH_RADIUS_M",
    "MAX_AREA_KM2",
    "Circle",
    "ResidentIndex",
    "TargetArea",
    "haversine_m",
    "parse_cap_circle",
    "parse_cap_polygon",
    "points_inside",
]

EARTH_RADIUS_M = 6_371_008.8
"""WGS84 mean radius R1 = (2a + b) / 3, the sphere of :func:`haversine_m`."""

MAX_AREA_KM2 = 50_000.0
"""Largest area a CAP polygon or circle may cover: more than the largest prefecture but
Hokkaido (Iwate, 15,275 km²), so a larger one is a typo (swapped lat/lon, a stray point), not a
warning area. Wider alerts come as area codes."""

_M_PER_DEG = EARTH_RADIUS_M * math.pi / 180.0
_POINTS_PER_CELL = 24  # on the bench city 24..48 are best; 12 and 96 are 20-60 % slower
_EDGE_PAD_DEG = 1e-9  # ~0.1 mm, far above the rounding of segmentize (~1e-14 degrees)
_CIRCLE_PAD_M = 1e-3  # far above the rounding of haversine_m (~1e-9 m)
_GEOD = pyproj.Geod(ellps="WGS84")

Rows = NDArray[np.int64]


def points_inside(
    area: shapely.Polygon, lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> NDArray[np.bool_]:
    """Return a mask of the points (degrees) inside ``area`` or on its boundary."""
    shapely.prepare(area)
    return shapely.intersects_xy(area, np.asarray(lon, np.float64), np.asarray(lat, np.float64))


def haversine_m(
    lon0: float, lat0: float, lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Return great-circle distances in metres from (lon0, lat0) to each point (degrees)."""
    phi0, phi = math.radians(lat0), np.radians(lat)
    a = np.sin((phi - phi0) / 2) ** 2 + (
        math.cos(phi0) * np.cos(phi) * np.sin(np.radians(lon - lon0) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(a, 1.0)))


# --- areas ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Circle:
    """A CAP circle: centre in degrees, radius in metres, inside when haversine ≤ radius."""

    lon: float
    lat: float
    radius_m: float

    def __post_init__(self) -> None:
        _check_position(self.lon, self.lat, "circle centre")
        if not (math.isfinite(self.radius_m) and self.radius_m > 0):
            msg = f"circle radius must be a positive number of metres, got {self.radius_m}"
            raise ValueError(msg)


@dataclass(frozen=True)
class TargetArea:
    """Polygons (lon/lat degrees, holes allowed) and circles; the area is their union.

    Invalid polygons are refused here, since GEOS predicates on them are undefined and a wrong
    answer would be silent.
    """

    polygons: tuple[shapely.Polygon | shapely.MultiPolygon, ...] = ()
    circles: tuple[Circle, ...] = ()
    parts: tuple[shapely.Polygon, ...] = field(init=False, repr=False, compare=False)
    """The polygons' parts, prepared once here so that queries (maybe in several threads)
    never mutate a shared geometry."""

    def __post_init__(self) -> None:
        for polygon in self.polygons:
            if not isinstance(polygon, shapely.Polygon | shapely.MultiPolygon):
                msg = f"a target polygon must be a Polygon or MultiPolygon, got {polygon.geom_type}"
                raise TypeError(msg)
            if not polygon.is_valid:
                msg = f"target polygon is not valid: {shapely.is_valid_reason(polygon)}"
                raise ValueError(msg)
            minx, miny, maxx, maxy = polygon.bounds
            _check_position(minx, miny, "polygon")
            _check_position(maxx, maxy, "polygon")
        parts = tuple(p for g in self.polygons for p in shapely.get_parts(g))
        shapely.prepare(parts)
        object.__setattr__(self, "parts", parts)


def parse_cap_polygon(text: str) -> shapely.Polygon:
    """Parse a CAP ``<polygon>`` ("lat,lon lat,lon ..."; closed; ≥ 4 pairs) to lon/lat.

    Raises
    ------
    ValueError
        With the reason: too few pairs, a malformed or out-of-range pair, an open ring, a
        self-intersection (as GEOS explains it) or an area over :data:`MAX_AREA_KM2`.
    """
    pairs = text.split()
    if len(pairs) < 4:
        msg = f"a CAP polygon needs at least 4 lat,lon pairs, got {len(pairs)}"
        raise ValueError(msg)
    ring = [_parse_pair(pair, f"polygon pair {i + 1}") for i, pair in enumerate(pairs)]
    if ring[0] != ring[-1]:
        msg = f"a CAP polygon must be closed: first pair {pairs[0]} differs from last {pairs[-1]}"
        raise ValueError(msg)
    polygon = shapely.Polygon(ring)
    if not polygon.is_valid:
        msg = f"CAP polygon is not a simple ring: {shapely.is_valid_reason(polygon)}"
        raise ValueError(msg)
    _check_area(abs(_GEOD.geometry_area_perimeter(polygon)[0]) / 1e6, "polygon")
    return polygon


def parse_cap_circle(text: str) -> Circle:
    """Parse a CAP ``<circle>`` ("lat,lon radius_km") to a :class:`Circle` in metres.

    Raises
    ------
    ValueError
        With the reason: wrong shape, a malformed or out-of-range centre, a radius that is not a
        positive number, or an area over :data:`MAX_AREA_KM2`.
    """
    parts = text.split()
    if len(parts) != 2:
        msg = f"a CAP circle is 'lat,lon radius_km', got {text!r}"
        raise ValueError(msg)
    lon, lat = _parse_pair(parts[0], "circle centre")
    try:
        radius_km = float(parts[1])
    except ValueError:
        radius_km = math.nan
    if not (math.isfinite(radius_km) and radius_km > 0):
        msg = f"circle radius must be a positive number of km, got {parts[1]!r}"
        raise ValueError(msg)
    _check_area(math.pi * radius_km**2, "circle")
    return Circle(lon, lat, radius_km * 1000.0)


def _parse_pair(text: str, what: str) -> tuple[float, float]:
    """Return (lon, lat) from CAP's "lat,lon"."""
    try:
        lat, lon = (float(v) for v in text.split(","))
    except ValueError:
        msg = f"{what} {text!r} is not lat,lon"
        raise ValueError(msg) from None
    _check_position(lon, lat, f"{what} {text!r}")
    return lon, lat


def _check_position(lon: float, lat: float, what: str) -> None:
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        msg = f"{what} is out of range: lat must be in [-90, 90] and lon in [-180, 180]"
        raise ValueError(msg)


def _check_area(area_km2: float, what: str) -> None:
    if area_km2 > MAX_AREA_KM2:
        msg = f"CAP {what} covers {area_km2:,.0f} km², more than {MAX_AREA_KM2:,.0f} km²"
        raise ValueError(msg)


# --- the index ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Grid:
    """A global lon/lat grid: cell key = row * ncols + col, rows from -90, cols from -180."""

    dx: float
    dy: float
    ncols: int

    def cols(self, lon: NDArray[np.float64]) -> Rows:
        return np.floor((lon + 180.0) / self.dx).astype(np.int64)

    def rows(self, lat: NDArray[np.float64]) -> Rows:
        return np.floor((lat + 90.0) / self.dy).astype(np.int64)

    def keys(self, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> Rows:
        return self.rows(lat) * self.ncols + self.cols(lon)


class ResidentIndex:
    """Locations of residents in a uniform grid, for exact targeting without touching everyone.

    Rows are sorted by grid cell, so a cell is a contiguous slice (found with ``searchsorted``).
    For a polygon, the cells its boundary may cross are found by cutting the rings into pieces
    shorter than a quarter cell and marking the cells each piece's box overlaps. Any other
    occupied cell in the bounding box lies wholly inside or wholly outside (the box around its
    points meets no boundary), so one exact test of its first point decides all of it; only the
    points of marked cells are tested one by one, with prepared ``shapely.intersects_xy``. Cell
    numbers of points, boxes and pieces come from one monotone float formula and the pieces are
    padded by 1e-9 degrees, so rounding can only mark more cells, never miss one. For a
    circle, cells whose point box has all four corners within the radius (less a millimetre) are
    inside, since on a sphere the farthest point of a small lon/lat box is a corner; the points
    of the other cells in the circle's bounding box are tested with :func:`haversine_m`. Cost
    grows with the boundary and the residents near it, not with the city.

    The index is immutable: :meth:`with_changes` returns a new one, so a running alert keeps
    a consistent view while residents register and move.
    """

    def __init__(
        self, ids: ArrayLike, lon: ArrayLike, lat: ArrayLike, *, cell_m: float | None = None
    ) -> None:
        """Index one row per location; ``ids`` (int64) may repeat, ``lon``/``lat`` in degrees.

        ``cell_m`` is the grid's cell side in metres, by default sized for about
        ``_POINTS_PER_CELL`` points per cell over the bulk of the locations.
        """
        ids_, lon_, lat_ = _check_rows(ids, lon, lat)
        side_m = cell_m if cell_m is not None else _cell_side_m(lon_, lat_)
        dy = side_m / _M_PER_DEG
        mid_lat = float(np.median(lat_[:: max(1, len(lat_) // 10_000)])) if len(lat_) else 0.0
        dx = dy / max(math.cos(math.radians(mid_lat)), 0.05)
        self._grid = _Grid(dx, dy, int(360.0 / dx) + 2)
        keys = self._grid.keys(lon_, lat_)
        order = np.argsort(keys, kind="stable")
        self._uid, rank = np.unique(ids_, return_inverse=True)
        self._set_rows(keys[order], lon_[order], lat_[order], rank[order])

    def _set_rows(
        self, keys: Rows, lon: NDArray[np.float64], lat: NDArray[np.float64], rank: Rows
    ) -> None:
        """Store rows sorted by cell and derive the cell table (keys, slices, point boxes)."""
        self._keys, self._lon, self._lat, self._rank = keys, lon, lat, rank
        first = np.flatnonzero(np.diff(keys, prepend=np.int64(-1)))
        self._cells = keys[first]
        self._starts = np.append(first, len(keys))
        self._box = np.empty((4, len(first)))
        if len(first):
            np.minimum.reduceat(lon, first, out=self._box[0])
            np.minimum.reduceat(lat, first, out=self._box[1])
            np.maximum.reduceat(lon, first, out=self._box[2])
            np.maximum.reduceat(lat, first, out=self._box[3])

    def __len__(self) -> int:
        """Return the number of indexed locations."""
        return len(self._keys)

    def targets(self, area: TargetArea) -> NDArray[np.int64]:
        """Return the sorted unique ids with a location inside ``area`` (boundary included)."""
        found = [self._polygon_rows(p) for p in area.parts]
        found += [self._circle_rows(c) for c in area.circles]
        rank = self._rank[np.concatenate(found)] if found else np.empty(0, np.int64)
        if len(rank) * 16 < len(self._uid):
            return self._uid[np.unique(rank)]
        seen = np.zeros(len(self._uid), np.bool_)
        seen[rank] = True
        return self._uid[np.flatnonzero(seen)]

    def with_changes(
        self, ids: ArrayLike, lon: ArrayLike, lat: ArrayLike, *, deleted: ArrayLike = ()
    ) -> ResidentIndex:
        """Return a new index where ``deleted`` ids and the given ids lose their earlier rows and
        the given rows are added (so an id in both ends with the given rows); the grid is kept.

        Cost is linear (a merge of sorted runs, no full sort): see bench.notify.targeting.
        """
        ids_, lon_, lat_ = _check_rows(ids, lon, lat)
        new_uid, rank = _with_ids(self._uid, self._rank, ids_)
        gone = np.union1d(ids_, np.asarray(deleted, np.int64))
        drop = np.zeros(len(new_uid), np.bool_)
        drop[np.searchsorted(new_uid, gone[_member(new_uid, gone)])] = True
        keep = ~drop[rank]
        keys = self._grid.keys(lon_, lat_)
        order = np.argsort(keys, kind="stable")
        kept_keys = self._keys[keep]
        at = np.searchsorted(kept_keys, keys[order], side="right")
        out = object.__new__(ResidentIndex)
        out._grid, out._uid = self._grid, new_uid
        out._set_rows(
            np.insert(kept_keys, at, keys[order]),
            np.insert(self._lon[keep], at, lon_[order]),
            np.insert(self._lat[keep], at, lat_[order]),
            np.insert(rank[keep], at, np.searchsorted(new_uid, ids_[order])),
        )
        return out

    # --- polygons --------------------------------------------------------------------------

    def _polygon_rows(self, part: shapely.Polygon) -> Rows:
        cells = self._cells_in_box(*part.bounds)
        if not len(cells):
            return cells
        edge = _member(self._boundary_keys(part), self._cells[cells])
        inner = cells[~edge]
        first = self._starts[inner]
        inner = inner[shapely.intersects_xy(part, self._lon[first], self._lat[first])]
        rows = self._rows_of(cells[edge])
        rows = rows[shapely.intersects_xy(part, self._lon[rows], self._lat[rows])]
        return np.concatenate([self._rows_of(inner), rows])

    def _boundary_keys(self, part: shapely.Polygon) -> Rows:
        """Return sorted keys of every cell the rings of ``part`` may cross (a superset)."""
        grid = self._grid
        rings = shapely.segmentize(shapely.get_rings(part), min(grid.dx, grid.dy) / 4)
        xy, ring = shapely.get_coordinates(rings, return_index=True)
        same = ring[1:] == ring[:-1]
        a, b = xy[:-1][same], xy[1:][same]
        lo, hi = np.minimum(a, b) - _EDGE_PAD_DEG, np.maximum(a, b) + _EDGE_PAD_DEG
        c0, c1 = grid.cols(lo[:, 0]), grid.cols(hi[:, 0])
        r0, r1 = grid.rows(lo[:, 1]), grid.rows(hi[:, 1])
        keys = []
        for i in range(int((c1 - c0).max(initial=0)) + 1):
            for j in range(int((r1 - r0).max(initial=0)) + 1):
                ok = (c0 + i <= c1) & (r0 + j <= r1)
                keys.append((r0[ok] + j) * grid.ncols + c0[ok] + i)
        return np.unique(np.concatenate(keys))

    # --- circles ---------------------------------------------------------------------------

    def _circle_rows(self, circle: Circle) -> Rows:
        cells = np.unique(np.concatenate([self._cells_in_box(*b) for b in _circle_boxes(circle)]))
        minx, miny, maxx, maxy = self._box[:, cells]
        inner = np.ones(len(cells), np.bool_)
        for x, y in ((minx, miny), (minx, maxy), (maxx, miny), (maxx, maxy)):
            near = haversine_m(circle.lon, circle.lat, x, y) <= circle.radius_m - _CIRCLE_PAD_M
            inner &= near & (np.cos(np.radians(x - circle.lon)) > 0)
        rows = self._rows_of(cells[~inner])
        dist = haversine_m(circle.lon, circle.lat, self._lon[rows], self._lat[rows])
        return np.concatenate([self._rows_of(cells[inner]), rows[dist <= circle.radius_m]])

    # --- cells -----------------------------------------------------------------------------

    def _cells_in_box(self, minx: float, miny: float, maxx: float, maxy: float) -> Rows:
        """Return the indices of occupied cells that may hold a point of the box (degrees)."""
        grid = self._grid
        c0, c1 = grid.cols(np.array([minx, maxx]))
        r0, r1 = grid.rows(np.array([miny, maxy]))
        row_keys = np.arange(r0, r1 + 1, dtype=np.int64) * grid.ncols
        lo = np.searchsorted(self._cells, row_keys + c0, side="left")
        hi = np.searchsorted(self._cells, row_keys + c1, side="right")
        return _ranges(lo, hi)

    def _rows_of(self, cells: Rows) -> Rows:
        return _ranges(self._starts[cells], self._starts[cells + 1])


def _circle_boxes(circle: Circle) -> list[tuple[float, float, float, float]]:
    """Return lon/lat boxes (degrees) covering the circle, split at the antimeridian.

    The half-width in longitude is the exact one of a spherical cap, asin(sin δ / cos φ),
    padded so rounding can only widen the cut.
    """
    delta = circle.radius_m / EARTH_RADIUS_M
    delta_deg = math.degrees(delta) * (1 + 1e-9) + 1e-9
    miny, maxy = max(circle.lat - delta_deg, -90.0), min(circle.lat + delta_deg, 90.0)
    if abs(circle.lat) + delta_deg >= 90.0:
        return [(-180.0, miny, 180.0, maxy)]
    half = math.degrees(math.asin(math.sin(delta) / math.cos(math.radians(circle.lat))))
    half = half * (1 + 1e-9) + 1e-9
    west, east = circle.lon - half, circle.lon + half
    boxes = [(max(west, -180.0), miny, min(east, 180.0), maxy)]
    if west < -180.0:
        boxes.append((west + 360.0, miny, 180.0, maxy))
    if east > 180.0:
        boxes.append((-180.0, miny, east - 360.0, maxy))
    return boxes


def _ranges(lo: Rows, hi: Rows) -> Rows:
    """Return the concatenation of ``arange(lo[i], hi[i])`` without a Python loop."""
    lengths = hi - lo
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(lo - offsets, lengths) + np.arange(lengths.sum(), dtype=np.int64)


def _with_ids(uid: Rows, rank: Rows, ids: Rows) -> tuple[Rows, Rows]:
    """Return ``uid`` with the unseen ``ids`` merged in, and ``rank`` renumbered to match.

    Linear in the rows, no sort of them: only the few new ids are sorted.
    """
    fresh = np.unique(ids[~_member(uid, ids)])
    if not len(fresh):
        return uid, rank
    shift = np.searchsorted(fresh, uid)
    return np.insert(uid, np.searchsorted(uid, fresh), fresh), rank + shift[rank]


def _member(sorted_keys: Rows, keys: Rows) -> NDArray[np.bool_]:
    """Return whether each of ``keys`` is in ``sorted_keys``."""
    if not len(sorted_keys):
        return np.zeros(len(keys), np.bool_)
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[at] == keys


def _check_rows(
    ids: ArrayLike, lon: ArrayLike, lat: ArrayLike
) -> tuple[Rows, NDArray[np.float64], NDArray[np.float64]]:
    """Coerce to 1-D arrays of one length, refusing positions that would corrupt the grid."""
    ids_ = np.ascontiguousarray(ids, np.int64).reshape(-1)
    lon_ = np.ascontiguousarray(lon, np.float64).reshape(-1)
    lat_ = np.ascontiguousarray(lat, np.float64).reshape(-1)
    if not len(ids_) == len(lon_) == len(lat_):
        msg = f"ids, lon and lat differ in length: {len(ids_)}, {len(lon_)}, {len(lat_)}"
        raise ValueError(msg)
    bad = ~((np.abs(lon_) <= 180.0) & (np.abs(lat_) <= 90.0))
    if bad.any():
        i = int(np.argmax(bad))
        msg = f"location {i} (id {ids_[i]}) is out of range: lon {lon_[i]}, lat {lat_[i]}"
        raise ValueError(msg)
    return ids_, lon_, lat_


def _cell_side_m(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> float:
    """Return a cell side (m) giving about ``_POINTS_PER_CELL`` points per cell in the bulk
    (2nd to 98th percentile box; outliers in another prefecture must not coarsen the city)."""
    if len(lon) == 0:
        return 100.0
    step = max(1, len(lon) // 100_000)
    x0, x1 = np.quantile(lon[::step], [0.02, 0.98])
    y0, y1 = np.quantile(lat[::step], [0.02, 0.98])
    width = (x1 - x0) * _M_PER_DEG * math.cos(math.radians((y0 + y1) / 2))
    height = (y1 - y0) * _M_PER_DEG
    side = math.sqrt(max(width * height, 1.0) * _POINTS_PER_CELL / len(lon))
    return min(max(side, 5.0), 50_000.0)
