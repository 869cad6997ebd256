"""``disaster city import-buildings FILE|FOLDER``: PLATEAU buildings into Postgres.

Each building is linked to the nearest walkable road node of the loaded city graph, so a
vertical-evacuation refuge can be routed to like a shelter. Parsing runs in a worker thread
one batch ahead of the database, so the parse and Postgres' work overlap; each batch is its own
transaction, and a re-run replaces rows by id, so an interrupted import is finished by running
it again.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from disaster import building_store, flood_extent_store
from disaster._pg import connect
from disaster.domain import InvalidInputError
from disaster.services import migrate
from disaster.settings import Settings
from evac.buildings import Building, Rejected, iter_buildings
from evac.graph import FOOT, RoadGraph, load_graph
from evac.snap import EdgeIndex

__all__ = ["MAX_LINK_M", "NodeLinker", "import_buildings", "import_buildings_command"]

_log = logging.getLogger(__name__)

#: Farther than this from every road, a building is not linked (the graph is of another place).
MAX_LINK_M = 500.0
_BATCH = 5_000
_SHOWN_REJECTIONS = 20


class NodeLinker:
    """Finds each building's road node: an end of the nearest walkable edge, the nearer one.

    Why an edge's end and not simply the nearest node: the nearest node can lie across a river
    or behind a block; the nearest street is the one the door opens onto.
    """

    def __init__(self, graph: RoadGraph) -> None:
        walkable = (graph.flags & FOOT) != 0
        self._index = EdgeIndex(graph, allowed=walkable if walkable.any() else None)
        self._tail = graph.edge_source().astype(np.int64)
        self._head = graph.indices.astype(np.int64)

    def nearest_nodes(self, buildings: list[Building]) -> list[int]:
        """Return the node of each building's representative point, -1 beyond ``MAX_LINK_M``."""
        if not buildings or self._index.size == 0:
            return [-1] * len(buildings)
        points = [b.footprint.representative_point() for b in buildings]
        snap = self._index.snap_many([p.x for p in points], [p.y for p in points])
        node = np.where(snap.fraction <= 0.5, self._tail[snap.edge], self._head[snap.edge])
        return np.where(snap.distance_m <= MAX_LINK_M, node, -1).tolist()


async def import_buildings(
    settings: Settings, path: Path, *, on_reject: Callable[[Rejected], None] | None = None
) -> int:
    """Store the buildings of a CityGML file or folder; return how many were stored.

    Raises
    ------
    InvalidInputError
        Not CityGML (see ``evac.buildings.iter_buildings``); batches before it are stored.
    """
    assert settings.database_url is not None
    linker = NodeLinker(load_graph(settings.graph_path)) if settings.graph_path.exists() else None
    if linker is None:
        _log.warning("no road graph at %s: buildings are not linked to roads", settings.graph_path)
    await migrate(settings.database_url)
    stream = iter_buildings(path, on_reject=on_reject)
    loop = asyncio.get_running_loop()
    conn = await connect(settings.database_url)
    stored = 0
    # One parsing thread: lxml's parser must stay on the thread that uses it (a generator
    # moved between a pool's threads aborted the process).
    parser = ThreadPoolExecutor(max_workers=1, thread_name_prefix="citygml")
    try:
        batch = await loop.run_in_executor(parser, _next_batch, stream, linker)
        while batch[0]:
            ahead = loop.run_in_executor(parser, _next_batch, stream, linker)
            stored += await building_store.upsert_buildings(conn, batch[0], nearest_nodes=batch[1])
            batch = await ahead
        async with conn.transaction():  # new footprints may lie under active flood extents
            await flood_extent_store.refresh_extent_depths(conn)
    finally:
        parser.shutdown(wait=False, cancel_futures=True)
        await conn.close()
    return stored


def _next_batch(
    stream: Iterator[Building], linker: NodeLinker | None
) -> tuple[list[Building], list[int]]:
    """Parse the next batch and link it (in a worker thread: all CPU)."""
    batch = list(itertools.islice(stream, _BATCH))
    nodes = linker.nearest_nodes(batch) if linker else [-1] * len(batch)
    return batch, nodes


async def import_buildings_command(settings: Settings, path: Path) -> int:
    """Run the import for the command line: print the outcome; return the exit status."""
    rejected: list[Rejected] = []
    try:
        count = await import_buildings(settings, path, on_reject=rejected.append)
    except InvalidInputError as exc:
        print(f"disaster: {path} is rejected: {exc.reason}", file=sys.stderr)
        return 1
    graph = settings.graph_path
    where = f"linked to the roads of {graph}" if graph.exists() else f"no road graph at {graph}"
    print(f"{count} buildings stored from {path} ({where})")
    for r in rejected[:_SHOWN_REJECTIONS]:
        print(f"  {r.source} line {r.line}: {r.id} skipped: {r.reason}", file=sys.stderr)
    if len(rejected) > _SHOWN_REJECTIONS:
        print(f"  ... and {len(rejected) - _SHOWN_REJECTIONS} more skipped", file=sys.stderr)
    return 0
