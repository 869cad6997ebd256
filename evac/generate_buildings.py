"""Deterministic buildings for the generated town, written as PLATEAU-shaped CityGML.

Real PLATEAU tiles exist only for real cities; the demo town (``evac.generate``) needs its own
3D model so that building-level advice and vertical evacuation can be shown and tested. The
buildings are written exactly as PLATEAU writes them (EPSG:6697 lat/lon/height posLists, an
LOD0 roof edge, an LOD1 solid extruded from it, ``bldg:usage`` codes, i-UR
``uro:buildingDisasterRiskAttribute`` records), so the one parser, ``evac.buildings``, reads both.

The layout:

- every street block (60 m) holds ``per_block`` houses (2 x 2 by default) set back 7 m from the
  street centre lines; none touches the river;
- along main streets: shops (402), flats (412) and shop-houses (413) of up to 8 storeys; within
  200 m of the river, riverside flats of 4-10 storeys; elsewhere mostly 1-3 storey houses (411);
- a public building beside every shelter but the hill park (schools of 4 storeys, halls and
  gyms lower, 文教厚生施設 422), a city hall (官公庁施設 421, 8 storeys) at the centre and a
  6-storey hospital (422) by the river: the vertical-evacuation refuges;
- flood depths for the planned (L1) and largest (L2) rain from a water surface that falls off
  with the distance to the river (L2: 2 m + 4 m e^(-d/250 m) above datum, L1: 2 m +
  2.5 m e^(-d/180 m)) minus the ground, so depth ranks are highest on the banks and zero by the
  flood-designated shelters (ground of 4 m and more); landslide zones on the hill's steep flank.

Everything is numpy over all buildings; the file is written in chunks, never held whole.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import numpy.typing as npt
import shapely

from evac.generate import SPACING_M, Town

__all__ = ["TownBuildings", "generate_buildings", "write_citygml"]

_SETBACK_M = 7.0  # from the street centre line to a building
_RIVERSIDE_M = 200.0
_CHUNK = 2_000  # buildings per write
_MAIN = 8
_DEPTH_CLASSES_M = (0.5, 3.0, 5.0, 10.0, 20.0)  # i-UR depth ranks 1..6 lie between these
_PUBLIC_FLOORS = {"小学校": (4, 16.5), "中学校": (4, 16.5), "公民館": (2, 8.8), "体育館": (1, 12.0)}
# (usage code, cumulative share) by where the block is: on a main street, by the river, else
_MIX_MAIN = ((411, 0.3), (412, 0.5), (413, 0.7), (402, 1.0))
_MIX_RIVERSIDE = ((411, 0.55), (412, 0.9), (413, 1.0))
_MIX_ELSEWHERE = ((411, 0.75), (412, 0.87), (413, 0.92), (401, 0.97), (402, 1.0))
# storeys, uniform in the range (flats: 3-8 on main streets, 4-10 by the river)
_STOREYS = {411: (1, 3), 412: (2, 5), 413: (2, 3), 401: (2, 6), 402: (1, 4)}
_CITY_HALL = ("市役所", 421, 8, 33.0)
_HOSPITAL = ("市立病院", 422, 6, 25.0)


@dataclass(frozen=True, eq=False, slots=True)
class TownBuildings:
    """The buildings of a generated town, as arrays (one entry per building).

    Attributes
    ----------
    lon_min, lat_min, lon_max, lat_max
        The rectangular footprint in degrees, float64.
    ground_m
        Ground elevation in metres (the town's terrain), float32.
    height_m
        Measured height in metres, NaN where unknown (as in PLATEAU, a few are).
    storeys
        Storeys above ground, int16, -1 where unknown.
    usage
        ``bldg:usage`` code, int16.
    flood_l1_m, flood_l2_m
        Expected river-flood depth at the planned (L1) and largest (L2) scale, metres, NaN
        outside the flood zone.
    landslide
        int8: 0 none, 1 土砂災害警戒区域, 2 特別警戒区域.
    names
        ``gml:name`` of the named (public) buildings, by index.
    seed
        The seed, part of every id.
    """

    lon_min: npt.NDArray[np.float64]
    lat_min: npt.NDArray[np.float64]
    lon_max: npt.NDArray[np.float64]
    lat_max: npt.NDArray[np.float64]
    ground_m: npt.NDArray[np.float32]
    height_m: npt.NDArray[np.float32]
    storeys: npt.NDArray[np.int16]
    usage: npt.NDArray[np.int16]
    flood_l1_m: npt.NDArray[np.float32]
    flood_l2_m: npt.NDArray[np.float32]
    landslide: npt.NDArray[np.int8]
    names: dict[int, str]
    seed: int

    def __len__(self) -> int:
        return int(self.lon_min.shape[0])

    def building_id(self, i: int) -> str:
        """Return building ``i``'s gml:id: PLATEAU's ``bldg_<uuid>`` shape, stable per seed."""
        return f"bldg_{self.seed & 0xFFFFFFFF:08x}-0000-4000-8000-{i:012x}"


_Planned = tuple[int, str, int, int, float]  # block, name, usage code, storeys, height


@dataclass(frozen=True, slots=True)
class _Grid:
    """The town's street grid: size, degrees per grid step, terrain, river in grid metres."""

    size: int
    lon0: float
    lat0: float
    dlon: float
    dlat: float
    elev: npt.NDArray[np.float32]  # (size, size), [row, col]
    river: shapely.Geometry  # in grid metres

    def lonlat(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return degrees for grid metres (x east of node 0, y north)."""
        return self.lon0 + x / SPACING_M * self.dlon, self.lat0 + y / SPACING_M * self.dlat


def generate_buildings(
    town: Town, seed: int = 0, *, per_block: int = 4, limit: int | None = None
) -> TownBuildings:
    """Return the town's buildings; the same town, seed and options give the same buildings.

    Parameters
    ----------
    town
        A town from ``evac.generate.generate_town``.
    seed
        Seeds sizes, usages, storeys and which heights are unknown.
    per_block
        Houses per street block: a square number (1, 4, 9).
    limit
        Keep at most this many (the first ones, public buildings included).
    """
    side = math.isqrt(per_block)
    if side * side != per_block or side < 1:
        msg = f"per_block must be a square number (1, 4, 9...), got {per_block}"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    grid = _grid(town)
    box = _houses(grid, side, rng)
    public_blocks, public = _public(town, grid)
    keep = ~np.isin(_block_of(box, grid.size), public_blocks)
    box = np.concatenate([public[0], box[keep]])
    usage, storeys, height = _uses(grid, box, rng)
    usage[: len(public[1])], storeys[: len(public[1])], height[: len(public[1])] = public[1:4]
    if limit is not None:
        box, usage, storeys, height = box[:limit], usage[:limit], storeys[:limit], height[:limit]
    return _assemble(grid, box, usage, storeys, height, dict(enumerate(public[4])), seed)


def _grid(town: Town) -> _Grid:
    """Read the grid's frame from the graph (node id = row * size + column)."""
    g = town.graph
    size = math.isqrt(g.n_nodes)
    lon0, lat0 = float(g.node_lon[0]), float(g.node_lat[0])
    dlon, dlat = float(g.node_lon[1]) - lon0, float(g.node_lat[size]) - lat0

    def to_metres(coords: np.ndarray) -> np.ndarray:
        return np.column_stack([(coords[:, 0] - lon0) / dlon, (coords[:, 1] - lat0) / dlat])

    river = shapely.transform(town.river, lambda c: to_metres(c) * SPACING_M)
    shapely.prepare(river)
    elev = g.node_elev_m.reshape(size, size)
    return _Grid(size, lon0, lat0, dlon, dlat, elev, river)


def _houses(grid: _Grid, side: int, rng: np.random.Generator) -> np.ndarray:
    """Return (n, 4) boxes (x0, y0, x1, y1) in grid metres, ``side``² per block, river-free."""
    blocks = grid.size - 1
    cell = (SPACING_M - 2 * _SETBACK_M) / side
    bc, br, sx, sy = np.meshgrid(np.arange(blocks), np.arange(blocks), np.arange(side),
                                 np.arange(side), indexing="ij")  # fmt: skip
    bc, br, sx, sy = (a.ravel().astype(np.float64) for a in (bc, br, sx, sy))
    n = bc.shape[0]
    w = rng.uniform(0.40, 0.82, n) * cell
    d = rng.uniform(0.35, 0.75, n) * cell
    cx = bc * SPACING_M + _SETBACK_M + (sx + 0.5) * cell + rng.uniform(-0.5, 0.5, n) * (cell - w)
    cy = br * SPACING_M + _SETBACK_M + (sy + 0.5) * cell + rng.uniform(-0.5, 0.5, n) * (cell - d)
    box = np.column_stack([cx - w / 2, cy - d / 2, cx + w / 2, cy + d / 2])
    wet = shapely.intersects(shapely.box(*box.T), grid.river)
    return box[~wet]


def _block_of(box: np.ndarray, size: int) -> np.ndarray:
    """Return the block number (row * (size - 1) + column) of each box's centre."""
    col = ((box[:, 0] + box[:, 2]) / 2 // SPACING_M).astype(np.int64)
    row = ((box[:, 1] + box[:, 3]) / 2 // SPACING_M).astype(np.int64)
    return row * (size - 1) + col


def _public(
    town: Town, grid: _Grid
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]]:
    """Return the blocks given to public buildings and those buildings (box, usage, storeys,
    height, name): beside each shelter but the hill park, the city hall, the hospital."""
    plan: list[_Planned] = []
    for shelter in town.shelters[1:]:
        kind = next((k for k in _PUBLIC_FLOORS if shelter.name.endswith(k)), None)
        if kind is not None:
            col = (shelter.lon - grid.lon0) / grid.dlon
            row = (shelter.lat - grid.lat0) / grid.dlat
            plan.append((_dry_block(grid, col, row, plan), shelter.name, 422,
                         *_PUBLIC_FLOORS[kind]))  # fmt: skip
    centre = (grid.size - 1) / 2
    plan.append((_dry_block(grid, centre, centre, plan), *_CITY_HALL))
    plan.append((_riverside_block(grid, plan), *_HOSPITAL))
    blocks = np.array([p[0] for p in plan], dtype=np.int64)
    col, row = blocks % (grid.size - 1), blocks // (grid.size - 1)
    x0, y0 = col * SPACING_M + _SETBACK_M, row * SPACING_M + _SETBACK_M
    inner = SPACING_M - 2 * _SETBACK_M
    box = np.column_stack([x0 + 2.0, y0 + 8.0, x0 + inner - 2.0, y0 + inner - 8.0])
    usage = np.array([p[2] for p in plan], dtype=np.int16)
    storeys = np.array([p[3] for p in plan], dtype=np.int16)
    height = np.array([p[4] for p in plan], dtype=np.float32)
    return blocks, (box, usage, storeys, height, [p[1] for p in plan])


def _block_is_dry(grid: _Grid, block: int) -> bool:
    col, row = block % (grid.size - 1), block // (grid.size - 1)
    square = shapely.box(col * SPACING_M, row * SPACING_M, (col + 1) * SPACING_M,
                         (row + 1) * SPACING_M)  # fmt: skip
    return not shapely.intersects(square, grid.river)


def _dry_block(grid: _Grid, col: float, row: float, taken: list[_Planned]) -> int:
    """Return the free block nearest grid position (col, row) that the river does not cross."""
    blocks = np.arange((grid.size - 1) ** 2)
    bc, br = blocks % (grid.size - 1) + 0.5, blocks // (grid.size - 1) + 0.5
    used = {p[0] for p in taken}
    for block in blocks[np.argsort((bc - col) ** 2 + (br - row) ** 2, kind="stable")].tolist():
        if block not in used and _block_is_dry(grid, block):
            return int(block)
    msg = "no free block left for a public building"
    raise ValueError(msg)


def _riverside_block(grid: _Grid, taken: list[_Planned]) -> int:
    """Return a free dry block on the river bank a quarter of the way across the town."""
    x = (grid.size - 1) * 0.25 * SPACING_M
    across = shapely.intersection(shapely.box(x - 0.1, -1e6, x + 0.1, 1e6), grid.river)
    return _dry_block(grid, x / SPACING_M, across.centroid.y / SPACING_M + 1.0, taken)


def _uses(
    grid: _Grid, box: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return usage codes, storeys (-1 unknown) and heights (NaN unknown) of the houses."""
    n = box.shape[0]
    blocks = _block_of(box, grid.size)
    col, row = blocks % (grid.size - 1), blocks // (grid.size - 1)
    main = np.isin(col % _MAIN, (0, _MAIN - 1)) | np.isin(row % _MAIN, (0, _MAIN - 1))
    riverside = _river_distance_m(grid, box) < _RIVERSIDE_M
    u = rng.random(n)
    usage = np.select([main, riverside], [_pick(u, _MIX_MAIN), _pick(u, _MIX_RIVERSIDE)],
                      _pick(u, _MIX_ELSEWHERE)).astype(np.int16)  # fmt: skip
    is_code = [usage == code for code in _STOREYS]
    low = np.select(is_code, [lo for lo, _ in _STOREYS.values()])
    high = np.select(is_code, [hi for _, hi in _STOREYS.values()])
    flats = usage == 412
    low, high = np.where(flats & main, 3, low), np.where(flats & main, 8, high)
    low, high = np.where(flats & riverside, 4, low), np.where(flats & riverside, 10, high)
    storeys = low + np.floor(rng.random(n) * (high - low + 1)).astype(np.int64)
    storeys = np.where((usage == 411) & (rng.random(n) < 0.75), 2, storeys).astype(np.int16)
    per_storey = np.where(np.isin(usage, (401, 412)), 3.2, 3.0)
    height = (storeys * per_storey + rng.uniform(0.4, 1.6, n)).astype(np.float32)
    height[rng.random(n) < 0.02] = np.nan
    storeys[rng.random(n) < 0.08] = -1
    return usage, storeys, height


def _pick(u: np.ndarray, mix: tuple[tuple[int, float], ...]) -> np.ndarray:
    """Return the usage code whose cumulative share first exceeds each ``u``."""
    codes, shares = zip(*mix, strict=True)
    return np.asarray(codes)[np.searchsorted(shares, u, side="right")]


def _river_distance_m(grid: _Grid, box: np.ndarray) -> np.ndarray:
    centres = shapely.points((box[:, 0] + box[:, 2]) / 2, (box[:, 1] + box[:, 3]) / 2)
    return shapely.distance(centres, grid.river)


def _ground_m(grid: _Grid, box: np.ndarray) -> np.ndarray:
    """Return the terrain under each box's centre (bilinear between the block's corners)."""
    x = np.clip((box[:, 0] + box[:, 2]) / 2 / SPACING_M, 0, grid.size - 1.000001)
    y = np.clip((box[:, 1] + box[:, 3]) / 2 / SPACING_M, 0, grid.size - 1.000001)
    c, r = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    fx, fy = x - c, y - r
    e = grid.elev.astype(np.float64)
    south = e[r, c] * (1 - fx) + e[r, c + 1] * fx
    north = e[r + 1, c] * (1 - fx) + e[r + 1, c + 1] * fx
    return south * (1 - fy) + north * fy


def _landslide(grid: _Grid, box: np.ndarray) -> np.ndarray:
    """Return 2 where the block's steepest side rises over 1:10, 1 over 1:20, else 0."""
    blocks = _block_of(box, grid.size)
    c, r = blocks % (grid.size - 1), blocks // (grid.size - 1)
    e = grid.elev.astype(np.float64)
    sides = [e[r, c] - e[r, c + 1], e[r + 1, c] - e[r + 1, c + 1], e[r, c] - e[r + 1, c],
             e[r, c + 1] - e[r + 1, c + 1]]  # fmt: skip
    grade = np.max(np.abs(np.stack(sides)), axis=0) / SPACING_M
    return np.select([grade > 0.1, grade > 0.05], [2, 1], 0).astype(np.int8)


def _assemble(
    grid: _Grid,
    box: np.ndarray,
    usage: np.ndarray,
    storeys: np.ndarray,
    height: np.ndarray,
    names: dict[int, str],
    seed: int,
) -> TownBuildings:
    """Add terrain, flood depths and landslide zones; convert the boxes to degrees."""
    d = _river_distance_m(grid, box)
    ground = _ground_m(grid, box)
    l2 = 2.0 + 4.0 * np.exp(-d / 250.0) - ground
    l1 = 2.0 + 2.5 * np.exp(-d / 180.0) - ground
    lon_min, lat_min = grid.lonlat(box[:, 0], box[:, 1])
    lon_max, lat_max = grid.lonlat(box[:, 2], box[:, 3])
    return TownBuildings(
        lon_min=lon_min, lat_min=lat_min, lon_max=lon_max, lat_max=lat_max,
        ground_m=ground.astype(np.float32), height_m=height.astype(np.float32),
        storeys=storeys.astype(np.int16), usage=usage.astype(np.int16),
        flood_l1_m=np.where(l1 >= 0.01, np.round(l1, 3), np.nan).astype(np.float32),
        flood_l2_m=np.where(l2 >= 0.01, np.round(l2, 3), np.nan).astype(np.float32),
        landslide=_landslide(grid, box), names=names, seed=seed,
    )  # fmt: skip


# --- CityGML ---------------------------------------------------------------------------------

_HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<core:CityModel xmlns:core="http://www.opengis.net/citygml/2.0" \
xmlns:bldg="http://www.opengis.net/citygml/building/2.0" xmlns:gml="http://www.opengis.net/gml" \
xmlns:uro="https://www.geospatial.jp/iur/uro/2.0" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" \
xsi:schemaLocation="https://www.geospatial.jp/iur/uro/2.0 \
../../schemas/iur/uro/2.0/urbanObject.xsd \
http://www.opengis.net/citygml/2.0 http://schemas.opengis.net/citygml/2.0/cityGMLBase.xsd \
http://www.opengis.net/citygml/building/2.0 \
http://schemas.opengis.net/citygml/building/2.0/building.xsd">
<gml:boundedBy>
<gml:Envelope srsName="http://www.opengis.net/def/crs/EPSG/0/6697" srsDimension="3">
<gml:lowerCorner>{lat0:.9f} {lon0:.9f} {z0:.3f}</gml:lowerCorner>
<gml:upperCorner>{lat1:.9f} {lon1:.9f} {z1:.3f}</gml:upperCorner>
</gml:Envelope>
</gml:boundedBy>
"""
_CODE = '<{tag} codeSpace="../../codelists/{list}.xml">{value}</{tag}>'


def write_citygml(buildings: TownBuildings, path: Path | str) -> int:
    """Write the buildings as one PLATEAU-shaped CityGML tile; return how many.

    Written to a temporary file renamed over ``path``, so a reader never sees half a tile.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(_header(buildings))
            for start in range(0, len(buildings), _CHUNK):
                stop = min(start + _CHUNK, len(buildings))
                f.write("".join(_member(buildings, i) for i in range(start, stop)))
            f.write("</core:CityModel>\n")
        Path(tmp).replace(target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(buildings)


def _header(b: TownBuildings) -> str:
    if len(b) == 0:
        return _HEADER.format(lat0=0, lon0=0, z0=0, lat1=0, lon1=0, z1=0)
    top = b.ground_m + np.nan_to_num(b.height_m, nan=3.0)
    return _HEADER.format(lat0=b.lat_min.min(), lon0=b.lon_min.min(), z0=b.ground_m.min(),
                          lat1=b.lat_max.max(), lon1=b.lon_max.max(), z1=top.max())  # fmt: skip


def _ring(corners: list[tuple[float, float]], z: float) -> str:
    """Return a closed posList (lat lon height) of the corners at height ``z``."""
    pts = [*corners, corners[0]]
    return " ".join(f"{lat:.9f} {lon:.9f} {z:.3f}" for lon, lat in pts)


def _polygon(pos_list: str) -> str:
    return ("<gml:surfaceMember><gml:Polygon><gml:exterior><gml:LinearRing><gml:posList>"
            f"{pos_list}</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon>"
            "</gml:surfaceMember>\n")  # fmt: skip


def _solid(corners: list[tuple[float, float]], ground: float, top: float) -> str:
    """Return an LOD1 solid: base (clockwise seen from above), walls, roof."""
    faces = [_ring(corners[::-1], ground)]
    for a, b in zip(corners, [*corners[1:], corners[0]], strict=True):
        wall = [f"{p[1]:.9f} {p[0]:.9f} {z:.3f}" for p, z in
                ((a, ground), (b, ground), (b, top), (a, top), (a, ground))]  # fmt: skip
        faces.append(" ".join(wall))
    faces.append(_ring(corners, top))
    return ("<bldg:lod1Solid><gml:Solid><gml:exterior><gml:CompositeSurface>\n"
            + "".join(_polygon(f) for f in faces)
            + "</gml:CompositeSurface></gml:exterior></gml:Solid></bldg:lod1Solid>\n")  # fmt: skip


def _member(b: TownBuildings, i: int) -> str:
    """Return one core:cityObjectMember in PLATEAU's element order."""
    x0, y0, x1, y1 = (float(a[i]) for a in (b.lon_min, b.lat_min, b.lon_max, b.lat_max))
    corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]  # counter-clockwise from above
    ground, height = float(b.ground_m[i]), float(b.height_m[i])
    top = ground + (height if math.isfinite(height) else 3.0)
    parts = [f'<core:cityObjectMember>\n<bldg:Building gml:id="{b.building_id(i)}">\n']
    if i in b.names:
        parts.append(f"<gml:name>{escape(b.names[i])}</gml:name>\n")
    parts.append(_CODE.format(tag="bldg:usage", list="Building_usage", value=int(b.usage[i])))
    if math.isfinite(height):
        parts.append(f'\n<bldg:measuredHeight uom="m">{height:.1f}</bldg:measuredHeight>')
    if b.storeys[i] >= 0:
        parts.append(f"\n<bldg:storeysAboveGround>{b.storeys[i]}</bldg:storeysAboveGround>")
    parts.append("\n<bldg:lod0RoofEdge><gml:MultiSurface>\n")
    parts.append(_polygon(_ring(corners, top)))
    parts.append("</gml:MultiSurface></bldg:lod0RoofEdge>\n")
    parts.append(_solid(corners, ground, top))
    parts.append("<uro:buildingIDAttribute><uro:BuildingIDAttribute><uro:buildingID>"
                 f"99999-bldg-{i}</uro:buildingID></uro:BuildingIDAttribute>"
                 "</uro:buildingIDAttribute>\n")  # fmt: skip
    for scale, depth in ((1, b.flood_l1_m[i]), (2, b.flood_l2_m[i])):
        if math.isfinite(depth):
            parts.append(_flood(scale, float(depth)))
    if b.landslide[i]:
        parts.append(_landslide_record(int(b.landslide[i])))
    parts.append("</bldg:Building>\n</core:cityObjectMember>\n")
    return "".join(parts)


def _flood(scale: int, depth_m: float) -> str:
    rank = int(np.searchsorted(_DEPTH_CLASSES_M, depth_m, side="right")) + 1
    depth = f'<uro:depth uom="m">{depth_m:.3f}</uro:depth>'
    codes = (
        ("description", 1),
        ("rank", rank),
        ("depth", None),
        ("adminType", 2),
        ("scale", scale),
    )
    return _risk("BuildingRiverFloodingRiskAttribute", codes, depth)


def _landslide_record(area_type: int) -> str:
    return _risk("BuildingLandSlideRiskAttribute", (("description", 1), ("areaType", area_type)))


def _risk(kind: str, codes: tuple[tuple[str, int | None], ...], depth: str = "") -> str:
    """Return one uro:buildingDisasterRiskAttribute; a None code stands for the depth."""
    fields = "".join(
        depth if value is None
        else _CODE.format(tag=f"uro:{name}", list=f"{kind}_{name}", value=value)
        for name, value in codes
    )  # fmt: skip
    return (f"<uro:buildingDisasterRiskAttribute><uro:{kind}>\n{fields}\n"
            f"</uro:{kind}></uro:buildingDisasterRiskAttribute>\n")  # fmt: skip
