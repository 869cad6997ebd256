"""Capacity-aware assignment: residents to shelters so that no shelter overflows.

In the spirit of the Capacity Constrained Route Planner (Lu, George & Shekhar): residents are
served in order of how soon they can arrive, each taking the nearest shelter that still has
room; when shelters fill, the nearest-shelter search is run again over those left, so the next
residents are sent on to the next nearest. Each round closes at least one shelter, so there are
at most as many searches as shelters, each a fast multi-source search.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from evac.solver import SearchGraph, nearest_shelter_times

__all__ = ["Assignment", "assign_with_capacity"]


class Assignment(NamedTuple):
    """Per resident: the shelter index (-1 when none has room or none is reachable) and the
    travel time in seconds (inf when unassigned); and each shelter's resulting load."""

    shelter: npt.NDArray[np.int32]
    time_s: npt.NDArray[np.float64]
    load: npt.NDArray[np.int64]
    rounds: int


def assign_with_capacity(
    graph: SearchGraph,
    weights_s: npt.ArrayLike,
    shelter_nodes: npt.ArrayLike,
    capacities: npt.ArrayLike,
    resident_nodes: npt.ArrayLike,
) -> Assignment:
    """Assign every resident (a node each) to a shelter with room, earliest arrivals first."""
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
    order: npt.NDArray[np.int64],
    chosen: npt.NDArray[np.int64],
    arrive_s: npt.NDArray[np.float64],
    room: npt.NDArray[np.int64],
    shelter: npt.NDArray[np.int32],
    time_s: npt.NDArray[np.float64],
) -> npt.NDArray[np.int64]:
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
