"""When the water is expected for an alert's residents: the deadline of their way to a shelter.

A shelter route is only worth giving if the resident gets there before the water does; past
that, the advice is to go up (vertical evacuation, ``evac.router.LiveRouter.route``'s
``deadline_s``). The only time the system knows ahead is a river projection: a gauge expected
to reach 氾濫危険水位 in N minutes. That is the level from which the river may overflow at any
moment, and the stage the guideline's 避難判断水位 is set to leave time before, so the time to
it is the time residents have to reach a shelter. It is a lower bound of when water reaches
homes, which is the safe side to err on. An observed stage, a projection of a lower stage
(避難判断水位: time to decide, not to flood) and every other hazard event give no deadline, and
the route stays the plain nearest shelter. A cancelled alert gives none either.

The projection runs from the reading's time (``observed_at``): a reading that arrived late has
used up part of it. A drill's readings may be stamped on the scenario's clock rather than now,
so an exercise alert's projection runs from the alert's issue time instead.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from disaster import store
from disaster.domain import Alert
from disaster.domain.events import HazardEvent, RiverStageEvent
from disaster.domain.levels import RiverStage

__all__ = ["alert_water_expected_at", "seconds_left", "water_expected_at"]


def water_expected_at(alert: Alert, event: HazardEvent | None) -> datetime | None:
    """Return when the water may reach the alert's area, or None when that is not known.

    ``event`` is the hazard event the alert was issued for (``alert.hazard_event_id``).
    """
    if alert.status == "cancelled" or alert.msg_type == "Cancel":
        return None
    if not isinstance(event, RiverStageEvent) or event.projected_minutes is None:
        return None
    if event.stage < RiverStage.DANGER:
        return None
    start = alert.issued_at if alert.exercise else event.observed_at
    return start + timedelta(minutes=event.projected_minutes)


def seconds_left(expected_at: datetime | None, now: datetime) -> float | None:
    """Return the seconds from ``now`` until ``expected_at`` (0 once it has passed: no time is
    left, it does not come back), or None when no time is expected."""
    if expected_at is None:
        return None
    if now.utcoffset() is None:
        msg = "now must be timezone-aware"
        raise ValueError(msg)
    return max((expected_at - now).total_seconds(), 0.0)


async def alert_water_expected_at(conn: asyncpg.Connection, alert: Alert) -> datetime | None:
    """Return :func:`water_expected_at` for a stored alert, reading its hazard event."""
    if alert.hazard_event_id is None:
        return None
    events = await store.hazard_events_by_ids(conn, [alert.hazard_event_id])
    return water_expected_at(alert, events[0] if events else None)
