"""Capacity-aware assignment: residents to shelters, no shelter over capacity, egress first.

The answer is lexicographic, as an evacuation is judged: seat as many residents as can reach
a shelter with room; among those seatings, make the last arrival (the egress time) as early as
possible; among those, make the total (so the mean) travel time as small as possible.

How, and why this way (kernels in ``evac._assign_*``: nearest, egress, transport, layout):

1. Residents sharing a node travel alike, so they are one group with a count: the problem is
   groups x shelters, not residents x shelters.
2. One search (``k_nearest_shelters``) gives every group's node its k nearest shelters with
   room, on the quantised weights of ``evac.solver``, so times compare exactly; k is
   ``DEFAULT_CANDIDATES`` (16). With no more shelters than that, all are candidates and the
   answer is the exact optimum; with more, a group may use only its 16 nearest, which
   bounds time and memory and can only cost optimality where the optimum sends someone past
   their sixteenth nearest shelter (with 8 the bench saw the egress 2.5 % late in a town of
   30 shelters; with 12 or 16, exact in every town tried).
3. Egress: the least time T* such that a max flow using legs up to T* seats as many as one
   using every leg, by binary search over T; each max flow is the least of the 2**S cuts for
   up to ``CUT_SHELTERS`` shelters, else Dinic's algorithm levelled from the sink.
4. Mean: a min-cost max flow with legs up to T* by successive shortest paths, so the total is
   the least among egress-optimal seatings. Its Dijkstra runs over shelters only (a path
   alternates shelters and the groups moving between them); a group seated straight into a
   shelter with room, the common case, needs no search when that is provably shortest.

Each step is exact, so the whole is the exact lexicographic optimum over the candidates. In
the bench (``docs/benchmarks.md``) it equals an LP on towns of 3 to 30 shelters and solves
at least a hundred times faster given the same times (106-316x with 3 to 10 shelters, 63-182x
with 30); a million residents on the million-edge bench city take 7 s. ``assign_greedy``
keeps the former CCRP-like heuristic (nearest shelter with room, earliest arrivals first) as
the baseline.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from evac._assign_egress import egress_by_cuts, egress_by_max_flows
from evac._assign_layout import hand_out_seats, pack_candidates, unpack_flow
from evac._assign_nearest import MAX_RING, k_nearest_sources
from evac._assign_transport import transport
from evac.solver import (
    QUANTUM_S,
    UNREACHED,
    SearchGraph,
    nearest_shelter_times,
    quantise_times,
)

__all__ = [
    "CUT_SHELTERS",
    "DEFAULT_CANDIDATES",
    "Assignment",
    "Candidates",
    "Seating",
    "assign_greedy",
    "assign_with_capacity",
    "k_nearest_shelters",
    "seat_groups",
]

CUT_SHELTERS = 12  # up to this many shelters, max flows by enumerating the 2**S cuts
DEFAULT_CANDIDATES = 16  # nearest shelters a node may use (all of them, if no more)

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


class Assignment(NamedTuple):
    """Per resident: the shelter index (-1 when none has room or none is reachable) and the
    travel time in seconds (inf when unassigned); each shelter's resulting load; and how many
    graph searches were run."""

    shelter: I32
    time_s: F64
    load: I64
    rounds: int


class Candidates(NamedTuple):
    """Per node asked for: its k nearest shelters, (len, k) int32 indices into the shelters
    searched from (-1 where fewer are reachable), and (len, k) int64 times in quanta of
    ``QUANTUM_S`` (``UNREACHED`` there), nearest first (``seat_groups`` takes any order)."""

    shelter: I32
    units: I64


class Seating(NamedTuple):
    """A lexicographically optimal flow: (G, k) int64 people per group and candidate, the
    egress time in quanta (0 if nobody is seated), how many are seated, and how many
    augmenting paths the min-cost flow took."""

    flow: I64
    egress_units: int
    seated: int
    paths: int


# --- validation -----------------------------------------------------------------------------


def _int_array(values: npt.ArrayLike, name: str, upper: int | None = None) -> I64:
    """Return a 1-D int64 copy of ``values``; raise if it is not integral or out of range."""
    array = np.asarray(values)
    if array.ndim != 1 or not (np.issubdtype(array.dtype, np.integer) or array.size == 0):
        msg = f"{name} must be a 1-D integer array, got {array.dtype} with shape {array.shape}"
        raise TypeError(msg)
    array = array.astype(np.int64)
    if upper is not None and array.size and (array.min() < 0 or array.max() >= upper):
        msg = f"{name} must lie in [0, {upper}), got [{array.min()}, {array.max()}]"
        raise ValueError(msg)
    return array


# --- the pieces -----------------------------------------------------------------------------


def k_nearest_shelters(
    graph: SearchGraph,
    weights_s: npt.ArrayLike,
    shelter_nodes: npt.ArrayLike,
    nodes: npt.ArrayLike,
    k: int,
) -> Candidates:
    """Return the k nearest shelters of each of ``nodes`` and the times to them.

    One label-setting search in which each node may be reached by k distinct shelters costs
    about k single searches, instead of one search per shelter.
    """
    shelters = _int_array(shelter_nodes, "shelter_nodes", graph.n_nodes)
    asked = _int_array(nodes, "nodes", graph.n_nodes)
    weights = np.asarray(weights_s)
    if weights.shape != (graph.n_edges,):
        msg = f"weights_s must have shape ({graph.n_edges},), got {weights.shape}"
        raise ValueError(msg)
    rev_weight = quantise_times(weights)[graph.rev_edge]
    rev_weight[rev_weight >= MAX_RING] = UNREACHED  # 29 h legs: closed
    k = max(0, min(int(k), shelters.size))
    source = np.empty((graph.n_nodes, k), dtype=np.int32)
    units = np.empty((graph.n_nodes, k), dtype=np.int64)
    k_nearest_sources(graph.rev_indptr, graph.rev_indices, rev_weight, shelters, source, units)
    return Candidates(source[asked], units[asked])


def seat_groups(candidates: Candidates, count: npt.ArrayLike, capacities: npt.ArrayLike) -> Seating:
    """Seat groups of ``count`` people on their candidate shelters: most seated, then earliest
    egress, then least total time (see the module docstring)."""
    cand = np.ascontiguousarray(candidates.shelter, dtype=np.int32)
    units = np.ascontiguousarray(candidates.units, dtype=np.int64)
    groups, k = cand.shape
    people = _int_array(count, "count")
    room = _int_array(capacities, "capacities")
    if people.size != groups or people.min(initial=0) < 0 or room.min(initial=0) < 0:
        msg = f"count must be {groups} and capacities as many non-negative integers"
        raise ValueError(msg)
    if cand.max(initial=-1) >= room.size:
        msg = f"candidates name shelter {cand.max()}, but there are {room.size} capacities"
        raise ValueError(msg)
    if groups * k == 0:
        return Seating(np.zeros((groups, k), dtype=np.int64), 0, 0, 0)
    shift = (k - 1).bit_length()  # slots padded to a power of two: shifts, not divisions
    flat_cand = np.empty(groups << shift, dtype=np.int32)
    flat_units = np.empty(groups << shift, dtype=np.int64)
    order = np.empty((groups, k), dtype=np.int64)
    pack_candidates(cand, units, shift, flat_cand, flat_units, order)
    flow = np.zeros(flat_cand.size, dtype=np.int64)
    egress_by = egress_by_cuts if room.size <= CUT_SHELTERS else egress_by_max_flows
    seated, egress = egress_by(flat_cand, flat_units, shift, people, room)
    paths = transport(flat_cand, flat_units, shift, people, room, np.int64(egress), flow)
    per_candidate = np.empty((groups, k), dtype=np.int64)
    unpack_flow(flow, order, shift, per_candidate)
    return Seating(per_candidate, int(egress), int(seated), int(paths))


class _Groups(NamedTuple):
    """Residents by node: the distinct nodes (G,), each resident's group (R,), the counts."""

    nodes: I64
    of_resident: I64
    count: I64


def _groups(residents: I64, n_nodes: int) -> _Groups:
    """Group residents by node with a bincount (linear, unlike a sort)."""
    per_node = np.bincount(residents, minlength=n_nodes)
    nodes = np.flatnonzero(per_node)
    group_of_node = np.zeros(n_nodes, dtype=np.int64)
    group_of_node[nodes] = np.arange(nodes.size)
    return _Groups(nodes, group_of_node[residents], per_node[nodes].astype(np.int64))


def _resident_slots(groups: _Groups, flow: I64) -> I64:
    """Return each resident's candidate column (-1: not seated); a group's seats go to its
    residents in index order (they share a node, so which of them is immaterial)."""
    slot = np.empty(groups.of_resident.size, dtype=np.int64)
    scratch = np.empty((2, groups.count.size), dtype=np.int64)
    hand_out_seats(groups.of_resident, flow, slot, scratch[0], scratch[1])
    return slot


def assign_with_capacity(
    graph: SearchGraph,
    weights_s: npt.ArrayLike,
    shelter_nodes: npt.ArrayLike,
    capacities: npt.ArrayLike,
    resident_nodes: npt.ArrayLike,
    *,
    candidates: int = DEFAULT_CANDIDATES,
) -> Assignment:
    """Assign residents (a node each) to shelters: most seated, earliest egress, least total.

    Parameters
    ----------
    graph, weights_s : the road graph and one profile's edge times in seconds (inf: closed).
    shelter_nodes : (S,) shelter node ids. capacities : (S,) places per shelter.
    resident_nodes : (R,) each resident's node.
    candidates : how many of its nearest shelters with room each resident may use; with no
        more shelters than that, the result is the exact optimum.
    """
    shelters = _int_array(shelter_nodes, "shelter_nodes", graph.n_nodes)
    room = _int_array(capacities, "capacities")
    if room.size != shelters.size or room.min(initial=0) < 0:
        msg = f"capacities must be {shelters.size} non-negative integers, one per shelter"
        raise ValueError(msg)
    residents = _int_array(resident_nodes, "resident_nodes", graph.n_nodes)
    open_ = np.flatnonzero(room > 0)
    groups = _groups(residents, graph.n_nodes)
    if candidates < 1:
        msg = f"candidates must be at least 1, got {candidates}"
        raise ValueError(msg)
    k = min(int(candidates), open_.size)
    near = k_nearest_shelters(graph, weights_s, shelters[open_], groups.nodes, k)
    seating = seat_groups(near, groups.count, room[open_])
    slot = _resident_slots(groups, seating.flow)
    seated = np.flatnonzero(slot >= 0)
    group = groups.of_resident[seated]
    shelter = np.full(residents.size, -1, dtype=np.int32)
    shelter[seated] = open_[near.shelter[group, slot[seated]]]
    time_s = np.full(residents.size, np.inf)
    time_s[seated] = near.units[group, slot[seated]] * QUANTUM_S
    load = np.bincount(shelter[seated], minlength=shelters.size).astype(np.int64)
    return Assignment(shelter, time_s, load, 1)


# --- the baseline ---------------------------------------------------------------------------


def assign_greedy(
    graph: SearchGraph,
    weights_s: npt.ArrayLike,
    shelter_nodes: npt.ArrayLike,
    capacities: npt.ArrayLike,
    resident_nodes: npt.ArrayLike,
) -> Assignment:
    """Assign residents earliest arrivals first, each to the nearest shelter with room.

    In the spirit of the Capacity Constrained Route Planner (Lu, George & Shekhar): when
    shelters fill, the search is run again over those left, so the next residents go on to the
    next nearest; each round closes at least one shelter. Kept as the baseline the bench
    compares with: blind to the egress time, which it can leave twice the optimum; with room
    for everyone its mean is 3-9 % above the optimum in the bench, and with places short it
    can be lower, seating whoever is nearest at the cost of that egress.
    """
    nodes = np.asarray(shelter_nodes, dtype=np.int64)
    room = np.asarray(capacities, dtype=np.int64).copy()
    residents = np.asarray(resident_nodes, dtype=np.int64)
    shelter = np.full(residents.size, -1, dtype=np.int32)
    time_s = np.full(residents.size, np.inf)
    waiting = np.arange(residents.size)
    rounds = 0
    while waiting.size and np.any(room > 0):
        rounds += 1
        open_ = np.flatnonzero(room > 0)
        times = nearest_shelter_times(graph, weights_s, nodes[open_])
        arrive = times.dist_s[residents[waiting]]
        reachable = np.isfinite(arrive)
        if not reachable.any():
            break
        order = waiting[reachable][np.argsort(arrive[reachable], kind="stable")]
        chosen = open_[times.source[residents[order]]]
        waiting = _serve(order, chosen, times.dist_s[residents[order]], room, shelter, time_s)
    load = np.bincount(shelter[shelter >= 0], minlength=nodes.size).astype(np.int64)
    return Assignment(shelter, time_s, load, rounds)


def _serve(
    order: I64,
    chosen: I64,
    arrive_s: F64,
    room: I64,
    shelter: I32,
    time_s: F64,
) -> I64:
    """Seat residents in arrival order while their shelter has room; return those left over.

    Within a shelter, the first ``room`` residents by arrival time fit; the rest wait for the
    next round, when that shelter is gone from the search.
    """
    rank = np.empty(order.size, dtype=np.int64)
    by_shelter = np.argsort(chosen, kind="stable")  # keeps arrival order inside each shelter
    starts = np.searchsorted(chosen[by_shelter], chosen[by_shelter], side="left")
    rank[by_shelter] = np.arange(order.size) - starts
    seated = rank < room[chosen]
    shelter[order[seated]] = chosen[seated]
    time_s[order[seated]] = arrive_s[seated]
    np.subtract.at(room, chosen[seated], 1)
    return order[~seated]
