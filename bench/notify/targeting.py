"""Targeting residents for an alert: the grid index next to a shapely loop and SQL, same run.

A synthetic city: 1,000,000 residents around Tokyo (35.6N 139.7E), clustered like a city (a
mixture of Gaussians over 30 km x 30 km plus a thin uniform background); a fifth of them also
have a work location in a business district, so the index holds 1,200,000 locations. The
areas: a river-flood polygon (a meandering river and a tributary buffered by about 1 km, a few
thousand vertices, concave, with a hole of high ground) and a 3 km circle. Measured:

- ``ours``: ``notify.targeting.ResidentIndex``: build, then ``targets`` (sorted unique ids)
  repeated, p50 and p99; ``with_changes`` for 1,000 moves and 100 departures;
- ``scan``: prepared ``shapely.intersects_xy`` over every location, no index (and for the
  circle, ``haversine_m`` over every location), plus the dedupe;
- ``loop``: ``[poly.contains(Point(x, y)) for ...]`` on a random sample of locations,
  extrapolated to all of them (a full run would take a minute), once plain and once with the
  polygon prepared;
- ``sql``: the locations in Postgres as the built-in ``point`` type with a GiST index (no
  PostGIS), ``pos <@ polygon AND NOT pos <@ hole`` (native polygons have no holes), and for the
  circle a box cut plus the haversine expression; returning the sorted unique ids.

The id sets are compared: ours must equal the scan's exactly; the loop's per-location answers
must equal the scan's on the sample (``contains`` leaves out the boundary, where random points do
not fall). Postgres' geometric operators compare with a fixed tolerance (``EPSILON`` = 1e-6 in
``geo_decls.h``, applied to coordinates and their products), coarse in degrees: the residents it
reaches outside the area (and how far outside) and those it misses are printed.

Run from the repository root: ``python -m bench.notify.targeting [--quick]`` (quick: 100,000
residents, fewer repeats). Postgres: ``DISASTER_DATABASE_URL`` or
``postgresql://postgres@127.0.0.1:5432/test``; a schema of its own is created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import time
import uuid
from collections.abc import Callable
from typing import NamedTuple

import asyncpg
import numpy as np
import shapely

from notify.targeting import EARTH_RADIUS_M, Circle, ResidentIndex, TargetArea, haversine_m

LON0, LAT0 = 139.7, 35.6
M_PER_DEG_LAT = EARTH_RADIUS_M * math.pi / 180
M_PER_DEG_LON = M_PER_DEG_LAT * math.cos(math.radians(LAT0))
HALF_SIDE_M = 15_000.0
DSN = "postgresql://postgres@127.0.0.1:5432/test"


class City(NamedTuple):
    """One row per location: resident id (several rows may share one), lon, lat in degrees."""

    ids: np.ndarray
    lon: np.ndarray
    lat: np.ndarray


def _degrees(x_m: np.ndarray, y_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return LON0 + x_m / M_PER_DEG_LON, LAT0 + y_m / M_PER_DEG_LAT


def _clusters(rng: np.random.Generator, n: int, centres: int, spread_m: tuple[float, float]):
    """Return n points (m) from a mixture of Gaussians, clipped to the city square."""
    cx, cy = rng.uniform(-HALF_SIDE_M, HALF_SIDE_M, (2, centres))
    sigma = rng.uniform(*spread_m, centres)
    pick = rng.choice(centres, n, p=rng.dirichlet(np.ones(centres)))
    x = cx[pick] + rng.normal(size=n) * sigma[pick]
    y = cy[pick] + rng.normal(size=n) * sigma[pick]
    return np.clip(x, -HALF_SIDE_M, HALF_SIDE_M), np.clip(y, -HALF_SIDE_M, HALF_SIDE_M)


def city(residents: int, seed: int = 20261122) -> City:
    """Homes for everyone (90 % clustered, 10 % background), work places for a fifth."""
    rng = np.random.default_rng(seed)
    clustered = residents * 9 // 10
    hx, hy = _clusters(rng, clustered, 40, (400.0, 3000.0))
    bx, by = rng.uniform(-HALF_SIDE_M, HALF_SIDE_M, (2, residents - clustered))
    wx, wy = _clusters(rng, residents // 5, 6, (200.0, 800.0))
    ids = rng.permutation(residents).astype(np.int64) + 1_000_000
    x, y = np.concatenate([hx, bx, wx]), np.concatenate([hy, by, wy])
    lon, lat = _degrees(x, y)
    return City(np.concatenate([ids, ids[: residents // 5]]), lon, lat)


def flood_area() -> shapely.Polygon:
    """A river and a tributary buffered by ~1 km, with an island of high ground cut out."""
    t = np.linspace(0.0, 1.0, 4000)
    x = -HALF_SIDE_M + 2 * HALF_SIDE_M * t
    y = 4000 * np.sin(t * 5 * np.pi) + 1500 * np.sin(t * 22 * np.pi) + 300 * np.sin(t * 74 * np.pi)
    u = np.linspace(0.0, 1.0, 1500)
    tx = 6000 * u + 800 * np.sin(u * 9 * np.pi)
    ty = y[2000] + 12_000 * u
    river = shapely.MultiLineString([np.c_[_degrees(x, y)], np.c_[_degrees(tx, ty)]])
    width_deg = 1000.0 / M_PER_DEG_LAT
    island = shapely.Point(*_degrees(np.array(x[800]), np.array(y[800]))).buffer(width_deg / 2)
    area = river.buffer(width_deg, quad_segs=8).difference(island)
    assert isinstance(area, shapely.Polygon), area.geom_type
    assert len(area.interiors) == 1
    return area


def circle() -> Circle:
    """A 3 km circle in the city centre, as CAP "35.6,139.7 3" would give."""
    return Circle(LON0, LAT0, 3000.0)


def _times_ms(run: Callable[[], object], repeat: int) -> np.ndarray:
    out = np.empty(repeat)
    for i in range(repeat):
        start = time.perf_counter()
        run()
        out[i] = (time.perf_counter() - start) * 1e3
    return out


# --- the peers --------------------------------------------------------------------------------


def scan_polygon(c: City, area: shapely.Polygon) -> np.ndarray:
    """Sorted unique ids by one vectorised shapely test of every location (no index)."""
    shapely.prepare(area)
    return np.unique(c.ids[shapely.intersects_xy(area, c.lon, c.lat)])


def scan_circle(c: City, disc: Circle) -> np.ndarray:
    """Sorted unique ids by the haversine distance of every location (no index)."""
    return np.unique(c.ids[haversine_m(disc.lon, disc.lat, c.lon, c.lat) <= disc.radius_m])


def loop_polygon(
    c: City, area: shapely.Polygon, sample: np.ndarray, *, prepared: bool
) -> tuple[np.ndarray, float]:
    """The plain loop on the sampled rows: its mask and the seconds it took.

    Plain means a fresh, unprepared polygon, as a first version would have it; ``prepared``
    gives the loop GEOS' prepared geometry (shapely uses it when the polygon was prepared).
    """
    area = shapely.from_wkb(shapely.to_wkb(area))
    if prepared:
        shapely.prepare(area)
    start = time.perf_counter()
    mask = [area.contains(shapely.Point(x, y)) for x, y in zip(c.lon[sample], c.lat[sample])]  # noqa: B905
    return np.array(mask, np.bool_), time.perf_counter() - start


def farthest_outside_m(c: City, area: shapely.Polygon, ids: np.ndarray) -> float:
    """Return how far (m, local plane) outside ``area`` the farthest of ``ids`` lives: for
    each resident the nearest of their locations counts."""
    if not len(ids):
        return 0.0
    rows = np.flatnonzero(np.isin(c.ids, ids))
    local = shapely.transform(area, lambda xy: (xy - (LON0, LAT0)) * (M_PER_DEG_LON, M_PER_DEG_LAT))
    x, y = (c.lon[rows] - LON0) * M_PER_DEG_LON, (c.lat[rows] - LAT0) * M_PER_DEG_LAT
    dist = shapely.distance(local, shapely.points(x, y))
    order = np.argsort(c.ids[rows])
    firsts = np.flatnonzero(np.diff(c.ids[rows][order], prepend=-1))
    return float(np.minimum.reduceat(dist[order], firsts).max())


def _pg_polygon(ring: shapely.LinearRing) -> asyncpg.Polygon:
    return asyncpg.Polygon(*[asyncpg.Point(x, y) for x, y in ring.coords[:-1]])


def _circle_box(disc: Circle) -> tuple[float, float, float, float]:
    """The circle's lon/lat box (the exact spherical-cap width), padded for rounding."""
    delta = disc.radius_m / EARTH_RADIUS_M
    dlat = math.degrees(delta) * (1 + 1e-9) + 1e-9
    dlon = math.degrees(math.asin(math.sin(delta) / math.cos(math.radians(disc.lat))))
    dlon = dlon * (1 + 1e-9) + 1e-9
    return disc.lon - dlon, disc.lat - dlat, disc.lon + dlon, disc.lat + dlat


SQL_POLYGON = """
SELECT coalesce(array_agg(DISTINCT id ORDER BY id), '{{}}') FROM {t}
WHERE pos <@ $1::polygon AND NOT pos <@ $2::polygon
"""
# The same operations in the same order as haversine_m, so the results agree to the last bit
# except where libm and numpy round sin/cos differently.
SQL_CIRCLE = """
SELECT coalesce(array_agg(DISTINCT id ORDER BY id), '{{}}') FROM {t},
LATERAL (SELECT sin((radians(pos[1]) - radians($2)) / 2) AS s,
                sin(radians(pos[0] - $1) / 2) AS w) AS h
WHERE pos <@ box(point($4, $5), point($6, $7))
  AND 2 * {r} * asin(sqrt(least(s * s + cos(radians($2)) * cos(radians(pos[1])) * (w * w), 1)))
      <= $3
"""


class SqlResult(NamedTuple):
    load_s: float
    polygon_ms: np.ndarray
    polygon_ids: np.ndarray
    circle_ms: np.ndarray
    circle_ids: np.ndarray


async def _load(conn: asyncpg.Connection, schema: str, c: City) -> str:
    table = f"{schema}.residents"
    await conn.execute(f"CREATE SCHEMA {schema}")
    await conn.execute(f"CREATE TABLE {table} (id bigint NOT NULL, pos point NOT NULL)")
    rows = zip(c.ids.tolist(), zip(c.lon.tolist(), c.lat.tolist()))  # noqa: B905
    await conn.copy_records_to_table("residents", schema_name=schema, records=rows)
    await conn.execute(f"CREATE INDEX ON {table} USING gist (pos)")
    await conn.execute(f"ANALYZE {table}")
    return table


async def sql_peer(c: City, area: shapely.Polygon, disc: Circle, repeat: int) -> SqlResult:
    """Load the locations into a schema of our own, query, drop the schema."""
    conn = await asyncpg.connect(os.environ.get("DISASTER_DATABASE_URL", DSN))
    schema = f"bench_targeting_{uuid.uuid4().hex[:12]}"
    try:
        start = time.perf_counter()
        table = await _load(conn, schema, c)
        load_s = time.perf_counter() - start
        poly_sql = SQL_POLYGON.format(t=table)
        holes = (_pg_polygon(area.exterior), _pg_polygon(area.interiors[0]))
        circle_sql = SQL_CIRCLE.format(t=table, r=repr(EARTH_RADIUS_M))
        args = (disc.lon, disc.lat, disc.radius_m, *_circle_box(disc))
        results: dict[str, list] = {"polygon": [], "circle": []}

        async def timed(key: str, sql: str, params: tuple) -> float:
            start = time.perf_counter()
            results[key] = await conn.fetchval(sql, *params)
            return (time.perf_counter() - start) * 1e3

        poly_ms = np.array([await timed("polygon", poly_sql, holes) for _ in range(repeat)])
        circle_ms = np.array([await timed("circle", circle_sql, args) for _ in range(repeat)])
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()
    poly_ids = np.array(results["polygon"], np.int64)
    return SqlResult(load_s, poly_ms, poly_ids, circle_ms, np.array(results["circle"], np.int64))


# --- the run ------------------------------------------------------------------------------------


def _p(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q))


Figures = list[tuple[str, float, str]]
RATIOS = (
    ("speedup_polygon_vs_scan", "scan_polygon_p50", "polygon_p50"),
    ("speedup_polygon_vs_loop", "loop_polygon_extrapolated", "polygon_p50"),
    ("speedup_polygon_vs_prepared_loop", "loop_prepared_polygon_extrapolated", "polygon_p50"),
    ("speedup_polygon_vs_sql", "sql_polygon_p50", "polygon_p50"),
    ("speedup_circle_vs_scan", "scan_circle_p50", "circle_p50"),
    ("speedup_circle_vs_sql", "sql_circle_p50", "circle_p50"),
)


def _fmt(value: float) -> str:
    if float(value).is_integer():
        return f"{value:.0f}"
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{value:.{digits}f}"


def bench_changes(index: ResidentIndex, c: City, repeat: int) -> np.ndarray:
    """Time 1,000 residents moving 100 m east and 100 leaving, as one new index (checked
    against a fresh build)."""
    rng = np.random.default_rng(5)
    rows = rng.choice(len(c.ids), 1000, replace=False)
    moved = (c.ids[rows], c.lon[rows] + 100 / M_PER_DEG_LON, c.lat[rows])
    gone = rng.choice(c.ids, 100, replace=False)
    changed = index.with_changes(*moved, deleted=gone)
    keep = ~np.isin(c.ids, np.union1d(moved[0], gone))
    fresh = ResidentIndex(
        np.concatenate([c.ids[keep], moved[0]]),
        np.concatenate([c.lon[keep], moved[1]]),
        np.concatenate([c.lat[keep], moved[2]]),
    )
    disc = TargetArea(circles=(circle(),))
    assert np.array_equal(changed.targets(disc), fresh.targets(disc))
    return _times_ms(lambda: index.with_changes(*moved, deleted=gone), repeat)


def run_ours(
    c: City, poly: shapely.Polygon, disc: Circle, repeat: int
) -> tuple[Figures, np.ndarray, np.ndarray]:
    """Build (timed), query both areas repeatedly, apply changes; the figures and the ids."""
    start = time.perf_counter()
    index = ResidentIndex(c.ids, c.lon, c.lat)
    build_ms = (time.perf_counter() - start) * 1e3
    poly_area, circle_area = TargetArea(polygons=(poly,)), TargetArea(circles=(disc,))
    poly_ms = _times_ms(lambda: index.targets(poly_area), repeat)
    circle_ms = _times_ms(lambda: index.targets(circle_area), repeat)
    ours_poly, ours_circle = index.targets(poly_area), index.targets(circle_area)
    change_ms = bench_changes(index, c, max(repeat // 5, 5))
    figures = [
        ("targeted_polygon", len(ours_poly), "residents"),
        ("targeted_circle", len(ours_circle), "residents"),
        ("index_build", build_ms, "ms"),
        ("polygon_p50", _p(poly_ms, 50), "ms"),
        ("polygon_p99", _p(poly_ms, 99), "ms"),
        ("circle_p50", _p(circle_ms, 50), "ms"),
        ("circle_p99", _p(circle_ms, 99), "ms"),
        ("with_changes_1000_moves_100_leaves_p50", _p(change_ms, 50), "ms"),
    ]
    return figures, ours_poly, ours_circle


def run_scan_and_loop(
    c: City, poly: shapely.Polygon, disc: Circle, ours: tuple[np.ndarray, np.ndarray], n: int
) -> Figures:
    """Time the index-free scans (checked equal to ours) and the loop on ``n`` sampled rows."""
    scan_ms = _times_ms(lambda: scan_polygon(c, poly), 5)
    scan_circle_ms = _times_ms(lambda: scan_circle(c, disc), 5)
    assert np.array_equal(scan_polygon(c, poly), ours[0]), "ours and the scan differ"
    assert np.array_equal(scan_circle(c, disc), ours[1]), "ours and the scan differ (circle)"
    sample = np.random.default_rng(9).choice(len(c.ids), n, replace=False)
    plain_mask, plain_s = loop_polygon(c, poly, sample, prepared=False)
    prep_mask, prep_s = loop_polygon(c, poly, sample, prepared=True)
    scan_mask = shapely.intersects_xy(poly, c.lon[sample], c.lat[sample])
    agrees = np.array_equal(plain_mask, scan_mask) and np.array_equal(prep_mask, scan_mask)
    print(f"loop: {plain_s:.1f} s for {n:,} sampled locations (prepared {prep_s:.2f} s), "
          f"extrapolated to {len(c.ids):,}; the same answers as the scan: {agrees}")  # fmt: skip
    return [
        ("scan_polygon_p50", _p(scan_ms, 50), "ms"),
        ("scan_circle_p50", _p(scan_circle_ms, 50), "ms"),
        ("loop_polygon_extrapolated", plain_s / n * len(c.ids) * 1e3, "ms"),
        ("loop_prepared_polygon_extrapolated", prep_s / n * len(c.ids) * 1e3, "ms"),
    ]


def run_sql(
    c: City, poly: shapely.Polygon, disc: Circle, ours: tuple[np.ndarray, np.ndarray], repeat: int
) -> Figures:
    """Time the SQL peer and count where its answers leave ours."""
    sql = asyncio.run(sql_peer(c, poly, disc, repeat))
    extra = np.setdiff1d(sql.polygon_ids, ours[0])
    print(f"sql: load + GiST index {sql.load_s:.0f} s, {repeat} queries per area")
    return [
        ("sql_polygon_p50", _p(sql.polygon_ms, 50), "ms"),
        ("sql_circle_p50", _p(sql.circle_ms, 50), "ms"),
        ("sql_polygon_targeted", len(sql.polygon_ids), "residents"),
        ("sql_polygon_reached_outside", len(extra), "residents"),
        ("sql_polygon_farthest_outside", farthest_outside_m(c, poly, extra), "m"),
        ("sql_polygon_missed_inside", len(np.setdiff1d(ours[0], sql.polygon_ids)), "residents"),
        ("sql_circle_differing", len(np.setxor1d(sql.circle_ids, ours[1])), "residents"),
    ]


def main(quick: bool) -> None:
    """Run every measurement and print the headline lines."""
    residents, repeat, sample_n = (100_000, 20, 5_000) if quick else (1_000_000, 100, 20_000)
    c = city(residents)
    poly, disc = flood_area(), circle()
    n_vertices = shapely.get_num_coordinates(poly)
    print(f"city: {residents:,} residents, {len(c.ids):,} locations; flood polygon "
          f"{n_vertices:,} vertices, 1 hole; circle {disc.radius_m / 1000:g} km")  # fmt: skip
    figures, *ours = run_ours(c, poly, disc, repeat)
    figures += run_scan_and_loop(c, poly, disc, (ours[0], ours[1]), sample_n)
    figures += run_sql(c, poly, disc, (ours[0], ours[1]), 3)
    got = {name: value for name, value, _ in figures}
    figures += [(name, got[theirs] / got[mine], "x") for name, theirs, mine in RATIOS]
    figures = [("residents", residents, "residents"), ("locations", len(c.ids), "locations"),
               ("polygon_vertices", n_vertices, "vertices"), *figures]  # fmt: skip
    for name, value, unit in figures:
        print(f"bench: {name} = {_fmt(value)} {unit}")
    verdict = "met" if got["polygon_p99"] < 200 else "NOT met"
    size = "" if residents >= 1_000_000 else " (quick run: fewer residents than the goal's)"
    print(f"goal: 1,000,000 residents against the polygon under 200 ms (p99): {verdict}{size}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100,000 residents, fewer repeats")
    main(parser.parse_args().quick)
