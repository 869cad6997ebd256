"""Building import: a 100,000-building CityGML tile streamed, parsed, linked and stored.

In the same run, next to the project's way of doing each step, the obvious other way:

- parse: ``evac.buildings.iter_buildings`` (lxml ``iterparse``, one member at a time, freed once
  read) next to ``lxml.etree.parse`` of the whole file followed by the least extraction of the
  same buildings (id, height, first posList): the peer does less work per building, so its
  figures are a lower bound; the same least extraction is also timed on the stream, to
  separate what streaming costs from what reading footprints and risks costs;
- store: ``building_store.upsert_buildings`` (COPY into a temporary table, one INSERT ... ON
  CONFLICT) next to ``executemany`` of the same INSERT ... ON CONFLICT, on the same rows;
- end to end: ``disaster.buildings_cli.import_buildings`` (parse in a worker thread one batch
  ahead, link each building to its road node, store), as ``disaster city import-buildings``
  runs it.

The tile is the demo town's (``evac.generate_buildings``: PLATEAU's structure, LOD0 roof edge
and LOD1 solid per building) at grid size 160, 4 buildings per block, cut at 100,000. Each
phase runs in a fresh process; its peak resident memory above the level it started at is
sampled every 2 ms. Postgres: ``DISASTER_DATABASE_URL`` or
``postgresql://postgres@127.0.0.1:5432/test``; a database of its own is created and dropped.

Run from the repository root: ``python -m bench.evac.buildings [--quick]`` (quick: 10,000).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import psutil
import shapely
from lxml import etree

from disaster import building_store
from disaster._pg import connect
from disaster.buildings_cli import import_buildings
from disaster.services import migrate
from disaster.settings import load_settings
from evac.buildings import Building, iter_buildings
from evac.city import make_town
from evac.generate_buildings import generate_buildings, write_citygml

DSN = "postgresql://postgres@127.0.0.1:5432/test"
MIB = 1 << 20
STORE_SAMPLE = 20_000  # rows in the store-only comparison


class PeakRss:
    """Samples this process's resident memory every 2 ms while in use (libxml2's included,
    which ``tracemalloc`` does not see); ``mib`` is the peak above the level on entry."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._start = self._peak = 0
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self._peak = max(self._peak, self._process.memory_info().rss)

    def __enter__(self) -> PeakRss:
        gc.collect()
        self._start = self._peak = self._process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, self._process.memory_info().rss)

    @property
    def mib(self) -> float:
        return (self._peak - self._start) / MIB


def _in_fresh_process(fn: Callable[..., Any], *args: Any) -> Any:
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


# --- phases (each in its own process) ---------------------------------------------------------


def generate(state: str, tile: str, size: int, limit: int) -> tuple[int, float, float]:
    """Write the town's graph and its tile; return (buildings, seconds, file MiB)."""
    start = time.perf_counter()
    town = make_town(Path(state) / "city.graph", seed=0, size=size)
    count = write_citygml(generate_buildings(town, 0, limit=limit), tile)
    return count, time.perf_counter() - start, os.path.getsize(tile) / MIB


def stream_parse(tile: str) -> tuple[int, float, float, float]:
    """Parse with ``iter_buildings``; return (buildings, seconds, CPU seconds, peak MiB)."""
    with PeakRss() as rss:
        start, cpu = time.perf_counter(), time.process_time()
        count = sum(1 for _ in iter_buildings(tile))
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return count, seconds, cpu, rss.mib


def whole_tree_parse(tile: str) -> tuple[int, float, float, float]:
    """The peer: the whole document in memory, then id, height and first posList of each."""
    with PeakRss() as rss:
        start, cpu = time.perf_counter(), time.process_time()
        root = etree.parse(tile).getroot()
        count = 0
        for b in root.iter("{*}Building"):
            height = b.findtext("{*}measuredHeight")
            first = b.find(".//{*}posList")
            count += bool(b.get("{http://www.opengis.net/gml}id")) and first is not None
            del height
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return count, seconds, cpu, rss.mib


def stream_bare(tile: str) -> tuple[int, float, float, float]:
    """The peer's extraction on the stream: what the streaming itself costs."""
    with PeakRss() as rss:
        start, cpu = time.perf_counter(), time.process_time()
        count = 0
        for _, member in etree.iterparse(tile, events=("end",), tag="{*}cityObjectMember"):
            for b in member.iterchildren("{*}Building"):
                height = b.findtext("{*}measuredHeight")
                first = b.find(".//{*}posList")
                count += bool(b.get("{http://www.opengis.net/gml}id")) and first is not None
                del height
            member.clear()
            while member.getprevious() is not None:
                del member.getparent()[0]
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return count, seconds, cpu, rss.mib


def store_compare(database_url: str, tile: str, sample: int) -> dict[str, float]:
    """Store the first ``sample`` buildings by COPY and by executemany; return median seconds."""
    buildings = [b for _, b in zip(range(sample), iter_buildings(tile), strict=False)]
    return asyncio.run(_store_compare(database_url, buildings))


async def _store_compare(database_url: str, buildings: list[Building]) -> dict[str, float]:
    """Median of three runs each: COPY into an empty table, COPY again (every row an update),
    executemany into an empty table."""
    runs: dict[str, list[float]] = {"copy_new": [], "copy_again": [], "executemany_new": []}
    conn = await connect(database_url)
    try:
        for _ in range(3):
            await conn.execute("TRUNCATE buildings")
            for key in ("copy_new", "copy_again"):
                start = time.perf_counter()
                await building_store.upsert_buildings(conn, buildings)
                runs[key].append(time.perf_counter() - start)
            await conn.execute("TRUNCATE buildings")
            start = time.perf_counter()
            await _executemany(conn, buildings)
            runs["executemany_new"].append(time.perf_counter() - start)
    finally:
        await conn.close()
    return {key: sorted(times)[1] for key, times in runs.items()}


async def _executemany(conn: asyncpg.Connection, buildings: list[Building]) -> None:
    """The peer: one INSERT ... ON CONFLICT per row (pipelined by asyncpg)."""
    rows = []
    for b in buildings:
        inside = b.footprint.representative_point()
        rows.append((b.id, b.name, json.loads(shapely.to_geojson(b.footprint)), inside.x,
                     inside.y, *b.footprint.bounds, b.height_m, b.storeys, b.usage,
                     b.flood_depth_m, b.flood_rank, b.tsunami_depth_m,
                     b.landslide_risk is not None, b.public, -1, b.source))  # fmt: skip
    await conn.executemany(
        """INSERT INTO buildings (id, name, footprint, lon, lat, min_lon, min_lat, max_lon,
               max_lat, height_m, storeys, usage, flood_depth_m, flood_rank, tsunami_depth_m,
               landslide, public, nearest_node, source)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                   $18, $19)
           ON CONFLICT (id) DO UPDATE SET footprint = EXCLUDED.footprint, updated_at = now()""",
        rows,
    )


def end_to_end(database_url: str, state: str, tile: str) -> tuple[int, float, float, int]:
    """``import_buildings`` as the command runs it; return (stored, seconds, peak MiB, linked)."""
    settings = load_settings(database_url=database_url, state_dir=Path(state))
    with PeakRss() as rss:
        start = time.perf_counter()
        stored = asyncio.run(import_buildings(settings, Path(tile)))
        seconds = time.perf_counter() - start
    return stored, seconds, rss.mib, asyncio.run(_linked(database_url))


async def _linked(database_url: str) -> int:
    conn = await connect(database_url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM buildings WHERE nearest_node >= 0"))
    finally:
        await conn.close()


# --- the run ----------------------------------------------------------------------------------


async def _create_database() -> tuple[str, str]:
    server = os.environ.get("DISASTER_DATABASE_URL", DSN)
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = server.rsplit("/", 1)[0] + f"/{name}"
    await migrate(url)
    return server, name


async def _drop_database(server: str, name: str) -> None:
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def main(quick: bool) -> None:
    size, limit = (60, 10_000) if quick else (160, 100_000)
    work = Path(tempfile.mkdtemp(prefix="bench-buildings-"))
    tile, state = str(work / "town_bldg_6697_op.gml"), str(work / "state")
    server, name = asyncio.run(_create_database())
    url = server.rsplit("/", 1)[0] + f"/{name}"
    try:
        count, gen_s, mib = _in_fresh_process(generate, state, tile, size, limit)
        print(f"tile: {count:,} buildings, {mib:.0f} MiB, generated and written in {gen_s:.1f} s")
        n1, stream_s, stream_cpu, stream_mib = _in_fresh_process(stream_parse, tile)
        n2, tree_s, tree_cpu, tree_mib = _in_fresh_process(whole_tree_parse, tile)
        n3, bare_s, bare_cpu, bare_mib = _in_fresh_process(stream_bare, tile)
        assert n1 == n2 == n3 == count, (n1, n2, n3, count)
        print(f"parse, streamed: {stream_s:.1f} s (CPU {stream_cpu:.1f} s), "
              f"peak +{stream_mib:.0f} MiB")  # fmt: skip
        print(f"parse, whole tree: {tree_s:.1f} s (CPU {tree_cpu:.1f} s), "
              f"peak +{tree_mib:.0f} MiB")  # fmt: skip
        print(f"parse, the whole tree's extraction on the stream: {bare_s:.1f} s "
              f"(CPU {bare_cpu:.1f} s), peak +{bare_mib:.0f} MiB")  # fmt: skip
        sample = min(STORE_SAMPLE, count)
        store = _in_fresh_process(store_compare, url, tile, sample)
        copy_s, again_s, many_s = store["copy_new"], store["copy_again"], store["executemany_new"]
        print(f"store {sample:,}: COPY {copy_s:.2f} s (again, all updates: {again_s:.2f} s); "
              f"executemany {many_s:.2f} s")  # fmt: skip
        asyncio.run(_truncate(url))
        stored, e2e_s, e2e_mib, linked = _in_fresh_process(end_to_end, url, state, tile)
        print(f"import end to end: {stored:,} stored ({linked:,} linked) in {e2e_s:.1f} s, "
              f"peak +{e2e_mib:.0f} MiB")  # fmt: skip
    finally:
        asyncio.run(_drop_database(server, name))
        shutil.rmtree(work, ignore_errors=True)
    for line in (
        f"buildings = {count} buildings",
        f"tile_size = {mib:.0f} MiB",
        f"parse_stream = {count / stream_s:.0f} buildings/s",
        f"parse_stream_cpu = {count / stream_cpu:.0f} buildings/cpu-s",
        f"parse_stream_peak_memory = {stream_mib:.0f} MiB",
        f"parse_whole_tree = {count / tree_s:.0f} buildings/s",
        f"parse_whole_tree_cpu = {count / tree_cpu:.0f} buildings/cpu-s",
        f"parse_whole_tree_peak_memory = {tree_mib:.0f} MiB",
        f"parse_memory_ratio = {tree_mib / max(stream_mib, 1.0):.0f} x",
        f"parse_stream_bare_cpu = {count / bare_cpu:.0f} buildings/cpu-s",
        f"store_copy = {sample / store['copy_new']:.0f} rows/s",
        f"store_copy_reimport = {sample / store['copy_again']:.0f} rows/s",
        f"store_executemany = {sample / store['executemany_new']:.0f} rows/s",
        f"store_copy_speedup = {store['executemany_new'] / store['copy_new']:.1f} x",
        f"import_end_to_end = {stored / e2e_s:.0f} buildings/s",
        f"import_end_to_end_seconds = {e2e_s:.1f} s",
        f"import_end_to_end_peak_memory = {e2e_mib:.0f} MiB",
    ):
        print(f"bench: {line}")


async def _truncate(url: str) -> None:
    conn = await connect(url)
    try:
        await conn.execute("TRUNCATE buildings")
    finally:
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10,000 buildings instead of 100,000")
    main(parser.parse_args().quick)
