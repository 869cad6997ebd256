"""The road graph as flat arrays (CSR, directed) and its one-file memory-mapped storage.

Why flat arrays: the Numba kernels of the solver take ``indptr``/``indices`` and per-edge
weights as they are, a city of a million edges fits in a few tens of megabytes, and a saved
graph opens by memory-mapping in milliseconds instead of being parsed again.

Directions. Every road segment between two consecutive way nodes yields up to two directed
edges, ``u -> v`` and ``v -> u``, with identical geometry. Who may use a direction is in its
``flags``: ``CAR`` where cars may drive that way, ``FOOT`` where pedestrians may walk it. A
one-way street therefore has ``u -> v`` with ``CAR | FOOT`` and ``v -> u`` with ``FOOT`` only;
a motorway has ``u -> v`` with ``CAR`` and no reverse edge. A direction nobody may use is not
stored. Per-edge attributes that depend on direction (``slope``) are those of travelling the
edge from its tail to its head.

File format (``save_graph``/``load_graph``): the 8-byte magic ``b"EVGRAPH1"``, a little-endian
uint64 header length, a UTF-8 JSON header (format version, node and edge counts, and per array
its dtype, length and byte offset from the end of the header) padded with spaces to a multiple
of 64 bytes, then the raw little-endian arrays, each at a 64-byte aligned offset (cache-line
and SIMD friendly). Loading maps the file read-only and wraps each array with
``np.frombuffer``: nothing is copied and pages are read only when touched. Saving writes a
temporary file and renames it over the target, so readers never see half a file.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = [
    "BRIDGE",
    "CAR",
    "EARTH_RADIUS_M",
    "FOOT",
    "KIND_CODES",
    "KIND_NAMES",
    "NO_WHEELCHAIR",
    "STEPS",
    "TUNNEL",
    "UNDERPASS",
    "UNPAVED",
    "EdgeArrays",
    "RoadGraph",
    "check_graph",
    "graph_from_edges",
    "haversine_m",
    "load_graph",
    "save_graph",
]

#: Mean Earth radius (IUGG), metres.
EARTH_RADIUS_M = 6_371_008.8

#: Highway classes, indexed by the ``kind`` code. ``*_link`` roads take their parent's class.
KIND_NAMES: tuple[str, ...] = (
    "motorway", "trunk", "primary", "secondary", "tertiary", "unclassified", "residential",
    "living_street", "service", "track", "pedestrian", "footway", "path", "cycleway", "steps",
    "elevator", "other",
)  # fmt: skip
KIND_CODES: dict[str, int] = {name: code for code, name in enumerate(KIND_NAMES)}

# Edge flag bits (uint16).
STEPS = 1 << 0  # stairs (highway=steps, escalators included: they stop in a blackout)
BRIDGE = 1 << 1  # on a bridge
TUNNEL = 1 << 2  # in a tunnel (tunnel=* except building_passage)
UNDERPASS = 1 << 3  # below ground: tunnel, layer < 0 or level < 0; floods first
CAR = 1 << 4  # cars may drive this direction
FOOT = 1 << 5  # pedestrians may walk this direction
NO_WHEELCHAIR = 1 << 6  # wheelchair=no
UNPAVED = 1 << 7  # unpaved surface

_MAGIC = b"EVGRAPH1"
_VERSION = 1
_ALIGN = 64
_PREFIX = struct.Struct("<8sQ")

# Field name -> (dtype, length kind): "n" nodes, "n+1" CSR offsets, "m" edges.
_SCHEMA: dict[str, tuple[str, str]] = {
    "node_lon": ("<f8", "n"),
    "node_lat": ("<f8", "n"),
    "node_elev_m": ("<f4", "n"),
    "indptr": ("<i8", "n+1"),
    "indices": ("<i4", "m"),
    "length_m": ("<f4", "m"),
    "kind": ("u1", "m"),
    "flags": ("<u2", "m"),
    "slope": ("<f4", "m"),
    "way_id": ("<i8", "m"),
}


@dataclass(frozen=True, eq=False, slots=True)
class RoadGraph:
    """A directed road graph in CSR form: out-edges of node ``i`` are ``indptr[i]:indptr[i+1]``.

    Attributes
    ----------
    node_lon, node_lat
        Node coordinates in degrees (WGS 84), float64, shape (n,).
    node_elev_m
        Node elevation in metres, float32, NaN where unknown.
    indptr
        int64, shape (n + 1,); ``indices[indptr[i]:indptr[i+1]]`` are the heads of ``i``'s edges.
    indices
        int32, shape (m,), head node of each edge.
    length_m
        float32 edge length in metres (great-circle, straight segment).
    kind
        uint8 highway class code into ``KIND_NAMES``.
    flags
        uint16 bit mask of ``STEPS``, ``BRIDGE``, ``TUNNEL``, ``UNDERPASS``, ``CAR``, ``FOOT``,
        ``NO_WHEELCHAIR``, ``UNPAVED``.
    slope
        float32 rise over run travelling tail to head, NaN where unknown.
    way_id
        int64 OSM way id, 0 for generated edges.
    """

    node_lon: npt.NDArray[np.float64]
    node_lat: npt.NDArray[np.float64]
    node_elev_m: npt.NDArray[np.float32]
    indptr: npt.NDArray[np.int64]
    indices: npt.NDArray[np.int32]
    length_m: npt.NDArray[np.float32]
    kind: npt.NDArray[np.uint8]
    flags: npt.NDArray[np.uint16]
    slope: npt.NDArray[np.float32]
    way_id: npt.NDArray[np.int64]

    def __post_init__(self) -> None:
        """Coerce to contiguous arrays of the schema's dtypes and check the shapes agree."""
        for name, (dtype, _) in _SCHEMA.items():
            value = np.ascontiguousarray(
                getattr(self, name), dtype=np.dtype(dtype).newbyteorder("=")
            )
            object.__setattr__(self, name, value)
        _check_shapes(self)

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.node_lon.shape[0])

    @property
    def n_edges(self) -> int:
        """Number of directed edges."""
        return int(self.indices.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays."""
        return sum(int(getattr(self, f.name).nbytes) for f in fields(self))

    def edge_source(self) -> npt.NDArray[np.int32]:
        """Return the tail node of every edge, int32 shape (m,), expanded from ``indptr``."""
        counts = np.diff(self.indptr)
        return np.repeat(np.arange(self.n_nodes, dtype=np.int32), counts)

    def reverse(self) -> tuple[RoadGraph, npt.NDArray[np.int64]]:
        """Return the transposed graph and, for each of its edges, the forward edge id.

        Used for backward searches (from shelters to everyone). Reversed edge ``j`` runs
        ``indices[e] -> source[e]`` for ``e = edge_map[j]`` and keeps all attributes of the
        forward edge ``e`` (flags, slope: the cost of travelling the original direction), so
        ``travel_time_s(rev)`` equals ``travel_time_s(graph)[edge_map]``.
        """
        source = self.edge_source()
        edge_map = np.lexsort((source, self.indices)).astype(np.int64)
        counts = np.bincount(self.indices, minlength=self.n_nodes)
        indptr = np.zeros(self.n_nodes + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        rev = RoadGraph(
            node_lon=self.node_lon,
            node_lat=self.node_lat,
            node_elev_m=self.node_elev_m,
            indptr=indptr,
            indices=source[edge_map],
            **_edge_attrs(self, edge_map),
        )
        return rev, edge_map


def _edge_attrs(graph: RoadGraph, order: npt.NDArray[np.int64]) -> dict[str, Any]:
    """Return the per-edge attribute arrays (all but ``indices``) permuted by ``order``."""
    names = ("length_m", "kind", "flags", "slope", "way_id")
    return {name: getattr(graph, name)[order] for name in names}


def _expected_length(kind: str, n: int, m: int) -> int:
    """Return the array length a schema length kind means for n nodes and m edges."""
    return {"n": n, "n+1": n + 1, "m": m}[kind]


def _check_shapes(graph: RoadGraph) -> None:
    """Raise ValueError unless every array has the length its role requires."""
    n, m = graph.node_lon.shape[0], graph.indices.shape[0]
    for name, (_, kind) in _SCHEMA.items():
        arr = getattr(graph, name)
        if arr.ndim != 1 or arr.shape[0] != _expected_length(kind, n, m):
            msg = f"RoadGraph.{name} has shape {arr.shape}, expected ({kind},) with n={n}, m={m}"
            raise ValueError(msg)
    if graph.indptr[0] != 0 or graph.indptr[-1] != m:
        msg = f"RoadGraph.indptr must run from 0 to {m}, got {graph.indptr[0]}..{graph.indptr[-1]}"
        raise ValueError(msg)


def check_graph(graph: RoadGraph) -> None:
    """Raise ValueError unless ``indptr`` is non-decreasing and every head is a node.

    O(n + m): done on load (a corrupt file must not reach a kernel that indexes without bounds
    checks), not on every construction.
    """
    if graph.n_nodes and np.any(np.diff(graph.indptr) < 0):
        msg = "RoadGraph.indptr is not non-decreasing"
        raise ValueError(msg)
    if graph.n_edges and (graph.indices.min() < 0 or graph.indices.max() >= graph.n_nodes):
        msg = f"RoadGraph.indices has a node outside 0..{graph.n_nodes - 1}"
        raise ValueError(msg)


class EdgeArrays(NamedTuple):
    """Directed edges in any order, before they are sorted into CSR (all shape (m,))."""

    source: npt.NDArray[np.integer[Any]]
    target: npt.NDArray[np.integer[Any]]
    length_m: npt.NDArray[np.floating[Any]]
    kind: npt.NDArray[np.integer[Any]]
    flags: npt.NDArray[np.integer[Any]]
    slope: npt.NDArray[np.floating[Any]]
    way_id: npt.NDArray[np.integer[Any]]


def graph_from_edges(
    node_lon: npt.ArrayLike,
    node_lat: npt.ArrayLike,
    edges: EdgeArrays,
    *,
    node_elev_m: npt.ArrayLike | None = None,
) -> RoadGraph:
    """Build a RoadGraph from an unordered edge list.

    Edges are sorted by (tail, head), ties kept in input order, so the same input gives the
    same arrays. Where an edge's slope is NaN and both its nodes have an elevation, the slope
    is filled with (elev[head] - elev[tail]) / length.
    """
    lon = np.asarray(node_lon, dtype=np.float64)
    elev = np.full(lon.shape, np.nan, np.float32) if node_elev_m is None else node_elev_m
    elev = np.asarray(elev, dtype=np.float32)
    source = np.asarray(edges.source, dtype=np.int64)
    target = np.asarray(edges.target, dtype=np.int64)
    order = np.lexsort((target, source))
    indptr = np.zeros(lon.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(source, minlength=lon.shape[0]), out=indptr[1:])
    source, target = source[order], target[order]
    length = np.asarray(edges.length_m, dtype=np.float32)[order]
    slope = np.asarray(edges.slope, dtype=np.float32)[order]
    return RoadGraph(
        node_lon=lon,
        node_lat=np.asarray(node_lat, dtype=np.float64),
        node_elev_m=elev,
        indptr=indptr,
        indices=target.astype(np.int32),
        length_m=length,
        kind=np.asarray(edges.kind, dtype=np.uint8)[order],
        flags=np.asarray(edges.flags, dtype=np.uint16)[order],
        slope=_fill_slope(slope, elev, source, target, length),
        way_id=np.asarray(edges.way_id, dtype=np.int64)[order],
    )


def _fill_slope(
    slope: npt.NDArray[np.float32],
    elev: npt.NDArray[np.float32],
    source: npt.NDArray[np.int64],
    target: npt.NDArray[np.int64],
    length: npt.NDArray[np.float32],
) -> npt.NDArray[np.float32]:
    """Return ``slope`` with NaNs replaced by the elevation gradient where it is known."""
    rise = elev[target] - elev[source]
    fill = np.isnan(slope) & np.isfinite(rise) & (length > 0)
    out = slope.copy()
    out[fill] = rise[fill] / length[fill]
    return out


def haversine_m(
    lon1: npt.ArrayLike, lat1: npt.ArrayLike, lon2: npt.ArrayLike, lat2: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Great-circle distance in metres between points given in degrees (vectorised)."""
    lam1, phi1, lam2, phi2 = (
        np.radians(np.asarray(a, np.float64)) for a in (lon1, lat1, lon2, lat2)
    )
    h = (
        np.sin((phi2 - phi1) / 2) ** 2
        + np.cos(phi1) * np.cos(phi2) * np.sin((lam2 - lam1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def _layout(graph: RoadGraph) -> tuple[bytes, list[tuple[int, np.ndarray]]]:
    """Return the file prefix (magic, length, padded JSON header) and where each array goes.

    Offsets in the header count from the end of the prefix, which is padded to 64 bytes.
    """
    entries: dict[str, dict[str, Any]] = {}
    placed: list[tuple[int, np.ndarray]] = []
    offset = 0
    for name, (dtype, _) in _SCHEMA.items():
        arr = getattr(graph, name).astype(dtype, copy=False)
        entries[name] = {"dtype": arr.dtype.str, "length": int(arr.shape[0]), "offset": offset}
        placed.append((offset, arr))
        offset = _align(offset + arr.nbytes)
    head = {"version": _VERSION, "n_nodes": graph.n_nodes, "n_edges": graph.n_edges}
    header = json.dumps({**head, "arrays": entries}, separators=(",", ":")).encode()
    header += b" " * (_align(_PREFIX.size + len(header)) - _PREFIX.size - len(header))
    return _PREFIX.pack(_MAGIC, len(header)) + header, placed


def _align(offset: int) -> int:
    """Round ``offset`` up to the next multiple of 64 bytes."""
    return -(-offset // _ALIGN) * _ALIGN


def save_graph(graph: RoadGraph, path: Path | str) -> None:
    """Write ``graph`` to one file, atomically (a reader never sees half a file).

    The file is written beside ``path`` and renamed over it, so processes that have the old
    file memory-mapped keep a valid view.
    """
    path = Path(path)
    prefix, placed = _layout(graph)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(prefix)
            for offset, arr in placed:
                out.write(b"\0" * (len(prefix) + offset - out.tell()))
                out.write(memoryview(arr).cast("B"))
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_graph(path: Path | str, *, check: bool = True) -> RoadGraph:
    """Open a graph written by ``save_graph`` by memory-mapping it (read-only arrays).

    Parameters
    ----------
    path
        The graph file.
    check
        Also verify node indices and CSR order (O(m), about a millisecond per million edges).

    Raises
    ------
    ValueError
        The file is missing, truncated, not a graph file, or of another format version.
    """
    path = Path(path)
    try:
        with path.open("rb") as f:
            header = _read_header(f, path)
            buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as exc:
        msg = f"cannot read road graph file {path}: {exc.strerror or exc}"
        raise ValueError(msg) from exc
    graph = RoadGraph(**_arrays_from(buf, header, path))
    if check:
        check_graph(graph)
    return graph


def _read_header(f: BinaryIO, path: Path) -> dict[str, Any]:
    """Read and validate the magic and the JSON header."""
    prefix = f.read(_PREFIX.size)
    if len(prefix) < _PREFIX.size or prefix[:8] != _MAGIC:
        msg = f"{path} is not a road graph file (bad magic)"
        raise ValueError(msg)
    (_, size) = _PREFIX.unpack(prefix)
    try:
        header = json.loads(f.read(size))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"{path}: corrupt road graph header ({exc})"
        raise ValueError(msg) from exc
    if not isinstance(header, dict) or header.get("version") != _VERSION:
        version = header.get("version") if isinstance(header, dict) else None
        msg = f"{path}: unsupported road graph version {version!r}, want {_VERSION}"
        raise ValueError(msg)
    header["data_start"] = _PREFIX.size + size
    return header


def _arrays_from(buf: mmap.mmap, header: dict[str, Any], path: Path) -> dict[str, np.ndarray]:
    """Wrap each array of the header as a read-only view of the mapped file."""
    try:
        n, m, entries = int(header["n_nodes"]), int(header["n_edges"]), header["arrays"]
        start = header["data_start"]
        out = {
            name: _view(buf, start, entries[name], (dtype, _expected_length(kind, n, m)))
            for name, (dtype, kind) in _SCHEMA.items()
        }
    except (KeyError, TypeError, ValueError) as exc:
        msg = f"{path}: corrupt road graph file ({exc})"
        raise ValueError(msg) from exc
    return out


def _view(buf: mmap.mmap, start: int, entry: dict[str, Any], want: tuple[str, int]) -> np.ndarray:
    """Return one array of the file, checking dtype, length and that it lies inside the file."""
    dtype, length = want
    offset = start + int(entry["offset"])
    if np.dtype(entry["dtype"]) != np.dtype(dtype) or int(entry["length"]) != length:
        msg = f"array is {entry['dtype']}[{entry['length']}], expected {dtype}[{length}]"
        raise ValueError(msg)
    end = offset + length * np.dtype(dtype).itemsize
    if offset % _ALIGN or end > len(buf):
        msg = (
            f"array at bytes {offset}..{end} lies outside the {len(buf)}-byte file or is unaligned"
        )
        raise ValueError(msg)
    return np.frombuffer(buf, dtype=dtype, count=length, offset=offset)
