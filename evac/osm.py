"""Build a RoadGraph from an OpenStreetMap extract (``.osm`` XML or ``.osm.pbf``).

The reader (``_read_ways``) is the only part that touches osmium; it flattens the highway ways
into arrays, and the pure builder (``_build``) turns those into CSR with numpy.

What is kept (decided for evacuation on foot and by car):

- ways with a ``highway`` value in ``_HIGHWAY_KIND``: roads, links (classed as their parent
  road), paths, footways, steps (escalators included: in a blackout they are stairs), corridors
  (as footways: station concourses matter in Shibuya), elevators, ``highway=road``. Dropped:
  ``construction``, ``proposed``, ``abandoned``, ``platform``, ``bus_guideway``, ``raceway``,
  unknown values (``highway=yes``) and anything tagged ``area=yes`` (a pedestrian square's
  outline is not a street);
- cars use motorway … service, track and ``road``; pedestrians use everything but motorways
  (Japanese national roads have sidewalks). ``access=no|private`` closes a way to both unless
  ``foot=*`` or ``motorcar``/``motor_vehicle``/``vehicle=*`` reopens it for that mode, and
  ``foot=no|use_sidepath`` closes it to walkers. Ways open to nobody are dropped;
- one-way: ``oneway=yes|true|1|-1|reverse``, ``junction=roundabout|circular`` and motorways
  restrict cars only; pedestrians walk both ways, except on foot-only ways (footway, path,
  steps, corridor) where ``oneway`` means everyone, and wherever ``oneway:foot`` says so.
  ``oneway=reversible`` closes the way to cars (its direction is unknown at any moment);
- flags: ``BRIDGE`` for ``bridge`` != no; ``TUNNEL`` for ``tunnel`` other than no or
  ``building_passage``; ``UNDERPASS`` for tunnels and ways with ``layer`` < 0 or all ``level``
  values < 0 (underground malls and passages flood first); ``NO_WHEELCHAIR`` for
  ``wheelchair=no``; ``UNPAVED`` for unpaved surfaces and for tracks without a surface tag;
- slope: a numeric ``incline`` (``8%``, ``-5%``, ``4°``) along the way, negated for the reverse
  edge; ``up``/``down`` give no magnitude and stay NaN. Else from node ``ele`` tags where both
  ends have one.

Node ids are compacted to 0..n-1 in increasing OSM id order, so the same data in XML or PBF
gives identical arrays. Way nodes missing from a clipped extract split the way there.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import osmium
from osmium.filter import KeyFilter

from evac.graph import (
    BRIDGE,
    CAR,
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

__all__ = ["WayAttrs", "graph_from_osm", "way_attrs"]

_HIGHWAY_KIND: dict[str, str] = {
    "motorway": "motorway",
    "motorway_link": "motorway",
    "trunk": "trunk",
    "trunk_link": "trunk",
    "primary": "primary",
    "primary_link": "primary",
    "secondary": "secondary",
    "secondary_link": "secondary",
    "tertiary": "tertiary",
    "tertiary_link": "tertiary",
    "unclassified": "unclassified",
    "residential": "residential",
    "living_street": "living_street",
    "service": "service",
    "track": "track",
    "pedestrian": "pedestrian",
    "footway": "footway",
    "corridor": "footway",
    "path": "path",
    "bridleway": "path",
    "cycleway": "cycleway",
    "steps": "steps",
    "elevator": "elevator",
    "road": "other",
}
_CAR_HIGHWAYS = frozenset(
    {"motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link", "secondary",
     "secondary_link", "tertiary", "tertiary_link", "unclassified", "residential",
     "living_street", "service", "track", "road"}
)  # fmt: skip
_NO_FOOT_HIGHWAYS = frozenset({"motorway", "motorway_link"})
_FOOT_ONLY_HIGHWAYS = frozenset({"footway", "path", "steps", "corridor", "bridleway"})
_IMPLIED_ONEWAY = frozenset({"motorway", "motorway_link"})
_DENY = frozenset({"no", "private", "use_sidepath", "agricultural", "forestry", "delivery"})
_UNPAVED = frozenset(
    {"unpaved", "gravel", "fine_gravel", "compacted", "dirt", "earth", "ground", "grass",
     "mud", "sand", "pebblestone", "rock", "woodchips", "grass_paver"}
)  # fmt: skip
_NUMBER = re.compile(r"^\s*([-+]?\d+(?:[.,]\d+)?)")
_ONEWAY_FWD, _ONEWAY_BWD, _BOTH, _NEITHER = 1, -1, 0, 2


@dataclass(slots=True)
class _Ways:
    """Highway ways flattened while reading: per node reference and per way."""

    ref: list[int] = field(default_factory=list)
    lon: list[float] = field(default_factory=list)
    lat: list[float] = field(default_factory=list)
    way_of_ref: list[int] = field(default_factory=list)
    way_id: list[int] = field(default_factory=list)
    kind: list[int] = field(default_factory=list)
    fwd_flags: list[int] = field(default_factory=list)
    bwd_flags: list[int] = field(default_factory=list)
    incline: list[float] = field(default_factory=list)
    node_ele: dict[int, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WayAttrs:
    """What one way contributes to its edges."""

    kind: int
    fwd_flags: int
    bwd_flags: int
    incline: float


def graph_from_osm(path: Path | str) -> RoadGraph:
    """Read an OSM XML (``.osm``) or PBF (``.osm.pbf``) file into a RoadGraph.

    Parameters
    ----------
    path
        The extract. Its nodes must precede its ways, as in every planet dump and Overpass
        answer, so that way node locations are known.

    Raises
    ------
    ValueError
        The file is missing, of an unsupported type, or unreadable by osmium.
    """
    path = Path(path)
    if not path.is_file():
        msg = f"OSM file not found: {path}"
        raise ValueError(msg)
    if not path.name.endswith((".osm", ".osm.pbf", ".pbf", ".osm.bz2", ".osm.gz")):
        msg = f"unsupported OSM file type: {path.name} (want .osm or .osm.pbf)"
        raise ValueError(msg)
    try:
        ways = _read_ways(path)
    except RuntimeError as exc:
        msg = f"cannot read OSM file {path}: {exc}"
        raise ValueError(msg) from exc
    return _build(ways)


def _read_ways(path: Path) -> _Ways:
    """Stream the file once: node ``ele`` tags and highway ways with their node locations."""
    processor = (
        osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
        .with_locations()
        .with_filter(KeyFilter("highway").enable_for(osmium.osm.WAY))
        .with_filter(KeyFilter("ele").enable_for(osmium.osm.NODE))
    )
    ways = _Ways()
    for obj in processor:
        if obj.is_node():
            ways.node_ele[obj.id] = _parse_number(obj.tags.get("ele"))
            continue
        attrs = way_attrs(dict(obj.tags))
        if attrs is not None:
            _append_way(ways, obj, attrs)
    return ways


def _append_way(ways: _Ways, way: osmium.osm.Way, attrs: WayAttrs) -> None:
    """Append one way's node references (NaN location where the extract lacks the node)."""
    index = len(ways.way_id)
    for node in way.nodes:
        loc = node.location
        valid = loc.valid()
        ways.ref.append(node.ref)
        ways.lon.append(loc.lon if valid else math.nan)
        ways.lat.append(loc.lat if valid else math.nan)
        ways.way_of_ref.append(index)
    ways.way_id.append(way.id)
    ways.kind.append(attrs.kind)
    ways.fwd_flags.append(attrs.fwd_flags)
    ways.bwd_flags.append(attrs.bwd_flags)
    ways.incline.append(attrs.incline)


def way_attrs(tags: dict[str, str]) -> WayAttrs | None:
    """Return the kind, per-direction flags and incline of a way, or None to drop it."""
    highway = tags.get("highway", "")
    if highway not in _HIGHWAY_KIND or tags.get("area") == "yes":
        return None
    car = highway in _CAR_HIGHWAYS and _allowed(tags, ("motorcar", "motor_vehicle", "vehicle"))
    foot = highway not in _NO_FOOT_HIGHWAYS and _allowed(tags, ("foot",))
    if not (car or foot):
        return None
    base = _static_flags(tags, highway)
    car_dir = _car_oneway(tags, highway) if car else _NEITHER
    foot_dir = _foot_oneway(tags, highway) if foot else _NEITHER
    fwd = base | _mode_bits(car_dir, foot_dir, _ONEWAY_FWD)
    bwd = base | _mode_bits(car_dir, foot_dir, _ONEWAY_BWD)
    incline = _parse_incline(tags.get("incline"))
    return WayAttrs(KIND_CODES[_HIGHWAY_KIND[highway]], fwd, bwd, incline)


def _allowed(tags: dict[str, str], keys: tuple[str, ...]) -> bool:
    """Return whether the most specific of ``keys`` then ``access`` lets the mode through."""
    for key in (*keys, "access"):
        value = tags.get(key)
        if value is not None:
            return value not in _DENY
    return True


def _car_oneway(tags: dict[str, str], highway: str) -> int:
    """Return the car direction: forward, backward, both, or neither (reversible)."""
    value = tags.get("oneway")
    if value in ("yes", "true", "1"):
        return _ONEWAY_FWD
    if value in ("-1", "reverse"):
        return _ONEWAY_BWD
    if value == "reversible":
        return _NEITHER
    if value is None and (
        tags.get("junction") in ("roundabout", "circular") or highway in _IMPLIED_ONEWAY
    ):
        return _ONEWAY_FWD
    return _BOTH


def _foot_oneway(tags: dict[str, str], highway: str) -> int:
    """Return the walking direction: ``oneway:foot``, or ``oneway`` on foot-only ways."""
    value = tags.get("oneway:foot")
    if value is None and highway in _FOOT_ONLY_HIGHWAYS:
        value = tags.get("oneway")
    if value in ("yes", "true", "1"):
        return _ONEWAY_FWD
    if value in ("-1", "reverse"):
        return _ONEWAY_BWD
    return _BOTH


def _mode_bits(car_dir: int, foot_dir: int, direction: int) -> int:
    """Return CAR/FOOT bits for travelling the way in ``direction``."""
    bits = CAR if car_dir in (_BOTH, direction) else 0
    return bits | (FOOT if foot_dir in (_BOTH, direction) else 0)


def _static_flags(tags: dict[str, str], highway: str) -> int:
    """Return the direction-independent flags of a way."""
    flags = STEPS if highway == "steps" else 0
    if tags.get("bridge", "no") != "no":
        flags |= BRIDGE
    if tags.get("tunnel", "no") not in ("no", "building_passage"):
        flags |= TUNNEL | UNDERPASS
    if _below_ground(tags):
        flags |= UNDERPASS
    if tags.get("wheelchair") == "no":
        flags |= NO_WHEELCHAIR
    surface = tags.get("surface")
    if surface in _UNPAVED or (surface is None and highway == "track"):
        flags |= UNPAVED
    return flags


def _below_ground(tags: dict[str, str]) -> bool:
    """Return whether ``layer`` < 0, or every ``level`` value (``-2;-1``) is < 0."""
    if _parse_number(tags.get("layer")) < 0:
        return True
    levels = [_parse_number(v) for v in re.split(r"[;,]", tags.get("level", ""))]
    return bool(levels) and all(level < 0 for level in levels)


def _parse_number(text: str | None) -> float:
    """Return the leading number of a tag value (``"17.8 m"`` -> 17.8), NaN if none."""
    match = _NUMBER.match(text or "")
    return float(match.group(1).replace(",", ".")) if match else math.nan


def _parse_incline(text: str | None) -> float:
    """Return an ``incline`` as rise over run: ``"8%"`` -> 0.08, ``"4°"`` -> tan 4°."""
    value = _parse_number(text)
    if math.isnan(value) or text is None:
        return math.nan
    if "°" in text or "deg" in text:
        return math.tan(math.radians(value))
    return value / 100.0 if "%" in text else math.nan


def _build(ways: _Ways) -> RoadGraph:
    """Turn flattened ways into a RoadGraph (pure numpy, no per-edge Python loop)."""
    ref = np.asarray(ways.ref, dtype=np.int64)
    lon = np.asarray(ways.lon, dtype=np.float64)
    lat = np.asarray(ways.lat, dtype=np.float64)
    way = np.asarray(ways.way_of_ref, dtype=np.int64)
    a, b = _segment_ends(ref, lon, way)
    node_ids, first = np.unique(np.concatenate([ref[a], ref[b]]), return_index=True)
    ends = np.concatenate([a, b])[first]
    u, v = np.searchsorted(node_ids, ref[a]), np.searchsorted(node_ids, ref[b])
    length = haversine_m(lon[a], lat[a], lon[b], lat[b])
    edges = _directed_edges(ways, way[a], u, v, length)
    elev = _node_elevations(node_ids, ways.node_ele)
    return graph_from_edges(lon[ends], lat[ends], edges, node_elev_m=elev)


def _segment_ends(
    ref: npt.NDArray[np.int64], lon: npt.NDArray[np.float64], way: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Return the positions of both ends of every usable segment (same way, located, not a loop)."""
    a = np.arange(max(ref.shape[0] - 1, 0), dtype=np.int64)
    b = a + 1
    keep = (way[a] == way[b]) & ~np.isnan(lon[a]) & ~np.isnan(lon[b]) & (ref[a] != ref[b])
    return a[keep], b[keep]


def _directed_edges(
    ways: _Ways,
    seg_way: npt.NDArray[np.int64],
    u: npt.NDArray[np.int64],
    v: npt.NDArray[np.int64],
    length: npt.NDArray[np.float64],
) -> EdgeArrays:
    """Return both directions of every segment, without directions nobody may use."""
    fwd = np.asarray(ways.fwd_flags, dtype=np.uint16)[seg_way]
    bwd = np.asarray(ways.bwd_flags, dtype=np.uint16)[seg_way]
    incline = np.asarray(ways.incline, dtype=np.float32)[seg_way]
    flags = np.concatenate([fwd, bwd])
    keep = (flags & (CAR | FOOT)) != 0
    both = np.concatenate
    return EdgeArrays(
        source=both([u, v])[keep],
        target=both([v, u])[keep],
        length_m=both([length, length])[keep],
        kind=both([np.asarray(ways.kind, dtype=np.uint8)[seg_way]] * 2)[keep],
        flags=flags[keep],
        slope=both([incline, -incline])[keep],
        way_id=both([np.asarray(ways.way_id, dtype=np.int64)[seg_way]] * 2)[keep],
    )


def _node_elevations(node_ids: npt.NDArray[np.int64], ele: dict[int, float]) -> np.ndarray:
    """Return the elevation of each kept node from ``ele`` tags, NaN where untagged."""
    out = np.full(node_ids.shape[0], np.nan, dtype=np.float32)
    if not ele or node_ids.shape[0] == 0:
        return out
    ids = np.fromiter(ele.keys(), dtype=np.int64, count=len(ele))
    values = np.fromiter(ele.values(), dtype=np.float64, count=len(ele))
    pos = np.clip(np.searchsorted(node_ids, ids), 0, node_ids.shape[0] - 1)
    hit = node_ids[pos] == ids
    out[pos[hit]] = values[hit]
    return out
