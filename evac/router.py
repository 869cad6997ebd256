"""The live router: the road graph as it is now, and each resident's way to a shelter.

Per (profile, hazard) it keeps every node's time to the nearest open shelter designated for the
hazard and with room left, and its next hop; a resident's route is then a walk along next hops.
Closures apply in place: only the part of each tree they touch is recomputed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from disaster.domain import GeoPoint
from disaster.domain.roads import RoadClosure
from disaster.domain.route import RefugeTarget, RouteAnswer
from disaster.domain.shelter import Hazard, Shelter
from evac.closures import ClosureIndex
from evac.graph import RoadGraph
from evac.profiles import PROFILES, travel_time_s
from evac.refuge import VERTICAL_HAZARDS, Refuge
from evac.snap import EdgeIndex, Snap
from evac.solver import (
    PreparedWeights,
    Route,
    ShelterTimes,
    close_edges,
    nearest_shelter_times,
    prepare_weights,
    reopen_edges,
    route,
    search_graph,
)

__all__ = ["LiveRouter"]

_SHELTER_REACH_M = 300.0  # a shelter further than this from any road is not reachable by road


class LiveRouter:
    """Routes on one city's graph, kept current with closures and shelter changes."""

    def __init__(self, graph: RoadGraph, shelters: Iterable[Shelter]) -> None:
        self.graph = graph
        self._tails = graph.edge_source()
        self._search = search_graph(graph.indptr, graph.indices)
        self._base = {name: travel_time_s(graph, p) for name, p in PROFILES.items()}
        self._prepared: dict[str, PreparedWeights] = {}  # the base times, quantised once
        self._snaps: dict[str, EdgeIndex] = {}
        self._any_edge = EdgeIndex(graph)  # for placing shelters: built once, not per update
        self._closure_index: ClosureIndex | None = None
        self._closures: dict[str, npt.NDArray[np.int64]] = {}
        self._closed = np.zeros(graph.n_edges, dtype=np.int32)  # active closures per edge
        self._solutions: dict[tuple[str, str], ShelterTimes] = {}
        self._refuges: list[Refuge] = []
        lon, lat = graph.node_lon, graph.node_lat
        self._bounds = (
            (float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max()))
            if lon.size
            else None
        )
        self.set_shelters(shelters)

    def covers(self, point: GeoPoint, margin_m: float = 1_000.0) -> bool:
        """Return whether a point lies within the city's roads (their bounds plus a margin):
        beyond, a route would start with a walk across the map to the nearest road."""
        if self._bounds is None:
            return False
        min_lon, min_lat, max_lon, max_lat = self._bounds
        dlat = margin_m / 111_320.0
        dlon = dlat / max(np.cos(np.radians(point.lat)), 1e-6)
        return (
            min_lon - dlon <= point.lon <= max_lon + dlon
            and min_lat - dlat <= point.lat <= max_lat + dlat
        )

    def set_shelters(self, shelters: Iterable[Shelter]) -> None:
        """Replace the shelter list (opened, closed, filled); the trees are rebuilt lazily."""
        self._shelters = list(shelters)
        self._shelter_nodes = [
            self._nearest_node(self._any_edge.snap(s.location.lon, s.location.lat))
            for s in self._shelters
        ]
        self._fit: dict[str, list[int]] = {}
        self._solutions.clear()

    def apply(self, closure: RoadClosure) -> int:
        """Close or reopen the edges of a closure; return how many edges changed state."""
        before = self._closures.pop(closure.id, np.empty(0, dtype=np.int64))
        np.subtract.at(self._closed, before, 1)
        after = self._edges_of(closure) if closure.active else np.empty(0, dtype=np.int64)
        np.add.at(self._closed, after, 1)
        if after.size:
            self._closures[closure.id] = after
        touched = np.union1d(before, after)
        now_closed = touched[self._closed[touched] > 0]
        now_open = touched[self._closed[touched] == 0]
        for (profile, _hazard), times in self._solutions.items():
            if now_closed.size:
                close_edges(times, now_closed)
            if now_open.size:
                reopen_edges(times, now_open, self._base[profile][now_open])
        return int(now_closed.size + now_open.size)

    def route(
        self, origin: GeoPoint, profile: str, hazard: Hazard, *, deadline_s: float | None = None
    ) -> RouteAnswer:
        """Return the way from ``origin`` to the nearest fit shelter, or why there is none.

        When there is none, or it takes longer than ``deadline_s`` (the time until the water
        arrives, when known), the answer also names the nearest building to go up in. A
        deadline must be a number of seconds >= 0: a wrong one would silently change whom the
        answer sends upstairs instead of to a shelter.
        """
        if deadline_s is not None and not (math.isfinite(deadline_s) and deadline_s >= 0):
            msg = f"deadline_s must be a finite number of seconds >= 0, not {deadline_s!r}"
            raise ValueError(msg)
        answer = self._to_shelter(origin, profile, hazard)
        late = deadline_s is not None and (answer.minutes or 0.0) * 60 > deadline_s
        if (answer.reason is not None or late) and hazard in VERTICAL_HAZARDS:
            answer = answer.model_copy(update={"refuge": self._to_refuge(origin, profile, hazard)})
        return answer

    def _to_shelter(self, origin: GeoPoint, profile: str, hazard: Hazard) -> RouteAnswer:
        answer = RouteAnswer(profile=profile, hazard=hazard, origin=origin)
        chosen = self._fit_shelters(hazard)
        if not chosen:
            reason = f"no open shelter designated for {hazard} with room left"
            return answer.model_copy(update={"reason": reason})
        snap = self._snapper(profile).snap(origin.lon, origin.lat)
        times = self._times(profile, hazard)
        start, lead_s, lead_m = self._best_entry(snap, times, profile)
        if start < 0:
            reason = "cut off: closures leave no open road to a suitable shelter"
            return answer.model_copy(update={"reason": reason})
        path = route(times, start)
        shelter = self._shelters[chosen[path.source]]
        return answer.model_copy(update=self._describe(origin, snap, path, shelter, lead_s, lead_m))

    def nearest_shelter(self, origin: GeoPoint, profile: str, hazard: Hazard) -> Shelter | None:
        """Return the shelter :meth:`route` would send someone to, without the path (for
        previews over many residents)."""
        chosen = self._fit_shelters(hazard)
        if not chosen:
            return None
        snap = self._snapper(profile).snap(origin.lon, origin.lat)
        times = self._times(profile, hazard)
        start, _, _ = self._best_entry(snap, times, profile)
        return None if start < 0 else self._shelters[chosen[int(times.source[start])]]

    def set_refuges(self, refuges: Iterable[Refuge]) -> None:
        """Replace the buildings that may take people in upstairs (vertical evacuation)."""
        self._refuges = [
            r
            if r.node >= 0
            else replace(r, node=self._nearest_node(self._any_edge.snap(r.lon, r.lat)))
            for r in refuges
        ]
        for key in [k for k in self._solutions if k[1].endswith(":refuge")]:
            del self._solutions[key]

    def _to_refuge(self, origin: GeoPoint, profile: str, hazard: str) -> RefugeTarget | None:
        fit = [(r, f) for r in self._refuges if r.node >= 0 and (f := r.floor_for(hazard))]
        if not fit:
            return None
        key = (profile, f"{hazard}:refuge")
        if key not in self._solutions:
            nodes = [r.node for r, _ in fit]
            self._solutions[key] = nearest_shelter_times(
                self._search, self._weights(profile), nodes
            )
        times = self._solutions[key]
        snap = self._snapper(profile).snap(origin.lon, origin.lat)
        start, lead_s, lead_m = self._best_entry(snap, times, profile)
        if start < 0:
            return None
        path = route(times, start)
        building, floor = fit[path.source]
        coords = [[origin.lon, origin.lat], [snap.lon, snap.lat]]
        coords += [[float(self.graph.node_lon[n]), float(self.graph.node_lat[n])]
                   for n in path.nodes] + [[building.lon, building.lat]]  # fmt: skip
        return RefugeTarget(
            building_id=building.id, name=building.name, safe_floor=floor,
            distance_m=round(lead_m + float(self.graph.length_m[path.edges].sum()), 1),
            minutes=round((lead_s + float(path.time_s)) / 60, 1),
            waypoints={"type": "LineString", "coordinates": coords},
        )  # fmt: skip

    def _fit_shelters(self, hazard: str) -> list[int]:
        if hazard not in self._fit:  # per hazard until the shelters change: once, not per query
            self._fit[hazard] = [
                i for i, s in enumerate(self._shelters)
                if s.open and hazard in s.hazards and self._shelter_nodes[i] >= 0
                and (s.capacity is None or s.occupancy < s.capacity)
            ]  # fmt: skip
        return self._fit[hazard]

    def _times(self, profile: str, hazard: Hazard) -> ShelterTimes:
        key = (profile, hazard)
        if key not in self._solutions:
            nodes = [self._shelter_nodes[i] for i in self._fit_shelters(hazard)]
            self._solutions[key] = nearest_shelter_times(
                self._search, self._weights(profile), nodes
            )
        return self._solutions[key]

    def _weights(self, profile: str) -> PreparedWeights:
        """The profile's times with today's closures, for a new tree: quantised once per
        profile, so a tree rebuilt for new shelters (one filled, say) does not convert every
        edge's time again."""
        if profile not in self._prepared:
            self._prepared[profile] = prepare_weights(self._search, self._base[profile])
        return self._prepared[profile].closing(self._search, np.flatnonzero(self._closed > 0))

    def _snapper(self, profile: str) -> EdgeIndex:
        if profile not in PROFILES:
            msg = f"unknown profile {profile!r}; known: {', '.join(PROFILES)}"
            raise ValueError(msg)
        if profile not in self._snaps:
            self._snaps[profile] = EdgeIndex(self.graph, allowed=np.isfinite(self._base[profile]))
        return self._snaps[profile]

    def _best_entry(
        self, snap: Snap, times: ShelterTimes, profile: str
    ) -> tuple[int, float, float]:
        """Enter the graph at the snapped edge's tail or head, whichever arrives sooner."""
        edge = snap.edge
        tail, head = int(self._tails[edge]), int(self.graph.indices[edge])
        edge_s, edge_m = float(self._base[profile][edge]), float(self.graph.length_m[edge])
        options = [(snap.fraction * edge_s + times.dist_s[tail], tail, snap.fraction * edge_m),
                   ((1 - snap.fraction) * edge_s + times.dist_s[head], head,
                    (1 - snap.fraction) * edge_m)]  # fmt: skip
        best_s, node, lead_m = min(options)
        if not np.isfinite(best_s):
            return -1, 0.0, 0.0
        return node, best_s - float(times.dist_s[node]), lead_m

    def _nearest_node(self, snap: Snap) -> int:
        if snap.distance_m > _SHELTER_REACH_M:
            return -1
        edge = snap.edge
        return int(self._tails[edge] if snap.fraction < 0.5 else self.graph.indices[edge])

    def _edges_of(self, closure: RoadClosure) -> npt.NDArray[np.int64]:
        if self._closure_index is None:
            self._closure_index = ClosureIndex(self.graph)
        return self._closure_index.edges_for(closure.geometry)

    def _describe(
        self, origin: GeoPoint, snap: Snap, path: Route, shelter: Shelter, lead_s: float,
        lead_m: float,
    ) -> dict[str, object]:  # fmt: skip
        nodes, edges = path.nodes, path.edges
        coords = [[origin.lon, origin.lat], [snap.lon, snap.lat]]
        coords += [[float(self.graph.node_lon[n]), float(self.graph.node_lat[n])] for n in nodes]
        coords.append([shelter.location.lon, shelter.location.lat])
        metres = lead_m + float(self.graph.length_m[edges].sum())
        seconds = lead_s + float(path.time_s)
        return {
            "shelter_id": shelter.id, "shelter_name": shelter.name,
            "distance_m": round(metres, 1), "minutes": round(seconds / 60, 1),
            "waypoints": {"type": "LineString", "coordinates": coords},
        }  # fmt: skip
