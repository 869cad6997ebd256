"""River stage rules: which threshold the water has reached, rising at once, falling slowly.

Pure functions over plain values, so the rule that decides whether residents are woken at night
is tested exhaustively without a broker or a database.
"""

from __future__ import annotations

import uuid
from bisect import bisect_right
from datetime import datetime

from disaster.domain.levels import RiverStage
from disaster.domain.models import Thresholds

__all__ = ["HAZARD_NAMESPACE", "hazard_event_id", "next_stage", "stage_of"]

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


def hazard_event_id(station_id: str, observed_at: datetime, stage: RiverStage) -> uuid.UUID:
    """Return the id of the event a stage rise at this reading produces, the same every time."""
    return uuid.uuid5(HAZARD_NAMESPACE, f"river:{station_id}:{observed_at.isoformat()}:{stage}")
