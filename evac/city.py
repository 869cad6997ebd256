"""Loading a city: its road graph file and, for a generated town, its shelters.

The graph lives in one memory-mapped file (see :func:`evac.graph.save_graph`), so every web
and notify process maps the same pages instead of building its own copy.
"""

from __future__ import annotations

from pathlib import Path

from disaster.domain import GeoPoint
from disaster.domain.shelter import Shelter
from evac.generate import Town, generate_town
from evac.graph import RoadGraph, save_graph
from evac.osm import graph_from_osm

__all__ = ["import_osm", "make_town", "town_shelters"]


def import_osm(source: Path, target: Path) -> RoadGraph:
    """Read an OSM XML or PBF extract and write its road graph to ``target``.

    Raises
    ------
    ValueError
        The file is unreadable (see :func:`evac.osm.graph_from_osm`) or holds no road anyone
        may use; ``target`` is then left as it was, so a wrong file never replaces a city.
    """
    graph = graph_from_osm(source)
    if graph.n_edges == 0:
        msg = f"no roads in {source}: no highway way usable on foot or by car"
        raise ValueError(msg)
    target.parent.mkdir(parents=True, exist_ok=True)
    save_graph(graph, target)
    return graph


def make_town(target: Path, *, seed: int = 0, size: int | None = None) -> Town:
    """Generate the synthetic town and write its road graph to ``target``."""
    town = generate_town(seed) if size is None else generate_town(seed, size=size)
    target.parent.mkdir(parents=True, exist_ok=True)
    save_graph(town.graph, target)
    return town


def town_shelters(town: Town, *, seed: int = 0) -> list[Shelter]:
    """Return the town's shelters as domain records, open (a generated town is a drill)."""
    return [
        Shelter(
            id=f"town{seed}-{i:03d}",
            name=s.name,
            location=GeoPoint(lat=s.lat, lon=s.lon),
            capacity=s.capacity,
            capacity_note=f"屋内{s.capacity}人",
            open=True,
            hazards=s.hazards,
            kind="both" if s.hazards else "evacuation_shelter",
            source=f"generated town seed {seed}",
        )
        for i, s in enumerate(town.shelters)
    ]
