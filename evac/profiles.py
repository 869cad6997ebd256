"""Travel profiles: who is evacuating, and how long each edge takes them.

Walking speeds are flat-ground speeds; slope changes them by Tobler's hiking function,
``W(s) = 6 exp(-3.5 |s + 0.05|)`` km/h, taken relative to its flat value ``W(0)``: 0.5 km/h
faster on a gentle descent, about 30 % slower at 10 % uphill, 60 % slower at 25 %. Where the
slope is unknown (NaN) the flat speed applies. Stairs (``STEPS``) are slower per metre of
plan length than flat ground, so their time is multiplied by ``steps_factor``; for the slow
walker that factor also carries a penalty so that routes avoid stairs when a detour of a few
times the length exists.

- ``walk``: 1.25 m/s (a healthy adult in a crowd, Cabinet Office tsunami evacuation guidance
  uses 1.0-1.3 m/s); stairs take 2x.
- ``slow_walk``: 0.8 m/s (elderly, with small children); stairs take 6x (2x slower, 3x
  avoidance penalty).
- ``wheelchair``: 0.9 m/s; never stairs, never ``NO_WHEELCHAIR``, never a known slope over
  1:12 (0.083, the Japanese barrier-free ramp limit) in either direction; unpaved takes 2x.
- ``car``: only ``CAR`` edges (this direction allowed), at an urban free-flow speed per
  highway class times ``congestion`` = 0.5: evacuation traffic queues (2011 Tōhoku) and the
  guidance is to evacuate on foot, so car times are deliberately pessimistic. Slope is
  ignored. ``dataclasses.replace(car, congestion=1.0)`` gives free flow.

Every profile needs its mode's flag (``FOOT`` or ``CAR``) on the edge; times are ``inf`` where
the profile may not go.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from evac.graph import (
    CAR,
    FOOT,
    KIND_CODES,
    KIND_NAMES,
    NO_WHEELCHAIR,
    STEPS,
    UNPAVED,
    RoadGraph,
)

__all__ = [
    "CAR_SPEED_KMH",
    "PROFILES",
    "Profile",
    "car",
    "slow_walk",
    "tobler_factor",
    "travel_time_s",
    "walk",
    "wheelchair",
]

#: Free-flow urban car speed per highway class, km/h (Japanese urban limits and practice).
CAR_SPEED_KMH: dict[str, float] = {
    "motorway": 80.0,
    "trunk": 60.0,
    "primary": 50.0,
    "secondary": 40.0,
    "tertiary": 40.0,
    "unclassified": 30.0,
    "residential": 30.0,
    "living_street": 15.0,
    "service": 15.0,
    "track": 15.0,
    "pedestrian": 10.0,
    "footway": 10.0,
    "path": 10.0,
    "cycleway": 10.0,
    "steps": 10.0,
    "elevator": 10.0,
    "other": 30.0,
}


@dataclass(frozen=True, slots=True)
class Profile:
    """How one kind of evacuee moves.

    Attributes
    ----------
    name
        Identifier, e.g. ``"walk"``.
    mode
        The flag an edge must carry: ``FOOT`` or ``CAR``.
    speed_mps
        Flat-ground speed in m/s (foot profiles; ignored for cars).
    forbidden
        Flags that close an edge to this profile.
    steps_factor
        Time multiplier on ``STEPS`` edges.
    unpaved_factor
        Time multiplier on ``UNPAVED`` edges.
    max_slope
        Largest known ``|slope|`` (rise/run) the profile can take; steeper is ``inf``.
    slope_aware
        Apply Tobler's hiking function.
    congestion
        Fraction of the free-flow car speed (car profile).
    """

    name: str
    mode: int
    speed_mps: float = 1.25
    forbidden: int = 0
    steps_factor: float = 1.0
    unpaved_factor: float = 1.0
    max_slope: float = math.inf
    slope_aware: bool = True
    congestion: float = 1.0


walk = Profile("walk", FOOT, speed_mps=1.25, steps_factor=2.0)
slow_walk = Profile("slow_walk", FOOT, speed_mps=0.8, steps_factor=6.0, unpaved_factor=1.5)
wheelchair = Profile(
    "wheelchair",
    FOOT,
    speed_mps=0.9,
    forbidden=STEPS | NO_WHEELCHAIR,
    unpaved_factor=2.0,
    max_slope=1 / 12,
)
car = Profile("car", CAR, slope_aware=False, congestion=0.5)

#: The built-in profiles by name.
PROFILES: dict[str, Profile] = {p.name: p for p in (walk, slow_walk, wheelchair, car)}


def tobler_factor(slope: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Return walking speed on ``slope`` (rise/run) relative to flat ground; 1 where NaN."""
    s = np.asarray(slope, dtype=np.float64)
    factor = np.exp(-3.5 * (np.abs(s + 0.05) - 0.05))
    return np.where(np.isnan(s), 1.0, factor)


def travel_time_s(graph: RoadGraph, profile: Profile) -> npt.NDArray[np.float32]:
    """Return the time in seconds to traverse each edge, ``inf`` where ``profile`` may not.

    Returns
    -------
    float32 array, shape (n_edges,).
    """
    speed = _speed_mps(graph, profile)
    time = graph.length_m.astype(np.float64) / speed
    time *= np.where(graph.flags & STEPS, profile.steps_factor, 1.0)
    time *= np.where(graph.flags & UNPAVED, profile.unpaved_factor, 1.0)
    time[~_allowed(graph, profile)] = np.inf
    return time.astype(np.float32)


def _speed_mps(graph: RoadGraph, profile: Profile) -> npt.NDArray[np.float64]:
    """Return each edge's speed in m/s before multipliers."""
    if profile.mode == CAR:
        table = np.array([CAR_SPEED_KMH[name] for name in KIND_NAMES], dtype=np.float64)
        kind = np.minimum(graph.kind, KIND_CODES["other"])
        return table[kind] / 3.6 * profile.congestion
    speed = np.full(graph.n_edges, profile.speed_mps, dtype=np.float64)
    if profile.slope_aware:
        speed *= tobler_factor(graph.slope)
    return speed


def _allowed(graph: RoadGraph, profile: Profile) -> npt.NDArray[np.bool_]:
    """Return which edges the profile may traverse."""
    ok = ((graph.flags & profile.mode) != 0) & ((graph.flags & profile.forbidden) == 0)
    with np.errstate(invalid="ignore"):
        too_steep = np.abs(graph.slope) > profile.max_slope  # NaN compares false: unknown is ok
    return ok & ~too_steep
