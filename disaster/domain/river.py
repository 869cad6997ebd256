"""River stage rules: which threshold the water has reached, rising at once, falling slowly.

Pure functions over plain values, so the rule that decides whether residents are woken at night
is tested exhaustively without a broker or a database.
"""

from __future__ import annotations

import uuid
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from disaster.domain.levels import RiverStage
from disaster.domain.models import Thresholds

__all__ = [
    "HAZARD_NAMESPACE",
    "StageChange",
    "StationState",
    "evaluate_reading",
    "hazard_event_id",
    "next_stage",
    "projected_stage",
    "rise_rate_m_per_min",
    "stage_of",
]

#: Namespace for deterministic ids: re-processing the same reading yields the same event.
HAZARD_NAMESPACE = uuid.UUID("7d4f0c8e-6a43-4f0b-9a8e-3f1f3c1d2b10")


def stage_of(level_m: float, thresholds: Thresholds) -> RiverStage:
    """Return the highest stage whose threshold ``level_m`` has reached (inclusive)."""
    return RiverStage(bisect_right(thresholds.as_tuple(), level_m))


def next_stage(
    current: RiverStage, level_m: float, thresholds: Thresholds, *, hysteresis_m: float
) -> RiverStage:
    """Return the station's stage after a reading.

    A rise takes effect at once; a fall only once the water is ``hysteresis_m`` below the
    threshold, so a level hovering at a threshold does not alert again and again.
    """
    observed = stage_of(level_m, thresholds)
    if observed >= current:
        return observed
    return min(current, stage_of(level_m + hysteresis_m, thresholds))


def hazard_event_id(
    station_id: str, observed_at: datetime, stage: RiverStage, *, projected: bool = False
) -> uuid.UUID:
    """Return the id of the event a stage rise at this reading produces, the same every time."""
    how = "projected" if projected else "observed"
    return uuid.uuid5(
        HAZARD_NAMESPACE, f"river:{station_id}:{observed_at.isoformat()}:{stage}:{how}"
    )


@dataclass(frozen=True, slots=True)
class StationState:
    """What a station has observed (``stage``) and announced ahead of time (``projected``)."""

    stage: RiverStage = RiverStage.NORMAL
    projected: RiverStage = RiverStage.NORMAL

    @property
    def announced(self) -> RiverStage:
        """Return the highest stage residents have been told about, observed or projected."""
        return max(self.stage, self.projected)


@dataclass(frozen=True, slots=True)
class StageChange:
    """A rise of the announced stage: observed now, or expected within ``projected_minutes``."""

    stage: RiverStage
    previous: RiverStage
    projected_minutes: float | None = None


#: Only these stages are projected: they are the ones residents must act on ahead of time.
PROJECTED_STAGES = (RiverStage.EVACUATION, RiverStage.DANGER)


def rise_rate_m_per_min(history: Sequence[tuple[datetime, float]]) -> float:
    """Return the least-squares slope of level over time, in metres per minute."""
    t0 = history[0][0]
    minutes = [(at - t0).total_seconds() / 60.0 for at, _ in history]
    levels = [level for _, level in history]
    mean_t = sum(minutes) / len(minutes)
    mean_l = sum(levels) / len(levels)
    var = sum((t - mean_t) ** 2 for t in minutes)
    if var == 0.0:
        return 0.0
    return sum((t - mean_t) * (lv - mean_l) for t, lv in zip(minutes, levels, strict=True)) / var


def projected_stage(
    history: Sequence[tuple[datetime, float]],
    thresholds: Thresholds,
    *,
    horizon_min: float,
    min_points: int = 3,
    min_span_min: float = 20.0,
) -> tuple[RiverStage, float] | None:
    """Return the highest stage the trend reaches within ``horizon_min``, and in how long.

    ``history`` is the recent readings, oldest first, ending with the newest. A trend needs
    ``min_points`` readings over ``min_span_min`` minutes, so one noisy jump projects nothing.
    """
    if horizon_min <= 0 or len(history) < min_points:
        return None
    if (history[-1][0] - history[0][0]).total_seconds() / 60.0 < min_span_min:
        return None
    rate = rise_rate_m_per_min(history)
    if rate <= 0.0:
        return None
    level = history[-1][1]
    limits = thresholds.as_tuple()
    for stage in reversed(PROJECTED_STAGES):
        minutes = (limits[stage - 1] - level) / rate
        if 0.0 < minutes <= horizon_min:
            return stage, minutes
    return None


def evaluate_reading(
    state: StationState,
    level_m: float,
    history: Sequence[tuple[datetime, float]],
    thresholds: Thresholds,
    *,
    hysteresis_m: float,
    horizon_min: float,
) -> tuple[StationState, StageChange | None]:
    """Return the station's next state and the announced-stage rise this reading causes, if any.

    One reading announces at most one change, at the highest stage: an observed crossing into
    氾濫注意 with 避難判断 projected within the hour is announced once, as 避難判断.
    """
    stage = next_stage(state.stage, level_m, thresholds, hysteresis_m=hysteresis_m)
    projection = projected_stage(history, thresholds, horizon_min=horizon_min)
    rising = len(history) >= 2 and rise_rate_m_per_min(history) > 0.0
    projected = state.projected if rising else RiverStage.NORMAL
    change = None
    if projection is not None and projection[0] > max(stage, state.announced):
        projected = projection[0]
        change = StageChange(projection[0], state.announced, round(projection[1], 1))
    elif stage > state.announced:
        change = StageChange(stage, state.announced)
    return StationState(stage, projected), change
