"""When the water is expected for an alert: only a projection to 氾濫危険水位 says so."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from disaster.domain import Alert, RiverStage
from disaster.domain.events import HazardEvent, RiverStageEvent, WeatherEvent
from disaster.rules import alert_for_event
from disaster.water_deadline import seconds_left, water_expected_at
from tests.support import square

READ_AT = datetime(2026, 7, 1, 3, 0, tzinfo=UTC)  # the gauge's reading
ISSUED = READ_AT + timedelta(minutes=4)  # the reading came in late


def _river(stage: RiverStage, projected_minutes: float | None) -> RiverStageEvent:
    return RiverStageEvent(
        id=uuid.uuid4(), observed_at=READ_AT, area_name="新川流域", area=square(140.0, 35.5),
        station_id="shinkawa-1", station_name="新川 観測所", level_m=3.9, stage=stage,
        previous_stage=RiverStage.CAUTION, projected_minutes=projected_minutes,
    )  # fmt: skip


def _alert_for(event: HazardEvent, **changes: object) -> Alert:
    """The alert the packaged rules issue for ``event`` (so its hazard event id is real)."""
    alert = alert_for_event(event, issued_at=ISSUED)
    assert alert is not None
    return alert.model_copy(update=changes)


def test_a_projection_to_the_danger_level_sets_when_the_water_may_come() -> None:
    event = _river(RiverStage.DANGER, 30)
    alert = _alert_for(event)
    assert alert.hazard_event_id == event.id
    assert water_expected_at(alert, event) == READ_AT + timedelta(minutes=30)  # from the reading


@pytest.mark.parametrize(
    ("stage", "projected_minutes"),
    [(RiverStage.DANGER, None),  # reached now: when it overflows is not known
     (RiverStage.EVACUATION, 20)],  # time to decide, not the water
)  # fmt: skip
def test_other_river_stages_set_no_time(stage: RiverStage, projected_minutes: float | None) -> None:
    event = _river(stage, projected_minutes)
    assert water_expected_at(_alert_for(event), event) is None


def test_a_drill_counts_from_its_issue_time_not_the_scenario_clock() -> None:
    event = _river(RiverStage.DANGER, 30)
    drill = _alert_for(event, exercise=True, issued_at=datetime(2031, 1, 1, tzinfo=UTC))
    assert water_expected_at(drill, event) == datetime(2031, 1, 1, 0, 30, tzinfo=UTC)


def test_no_time_without_a_projection_event_or_for_a_cancelled_alert() -> None:
    event = _river(RiverStage.DANGER, 30)
    alert = _alert_for(event)
    assert water_expected_at(alert, None) is None  # the event is not stored (any more)
    assert water_expected_at(alert.model_copy(update={"status": "cancelled"}), event) is None
    assert water_expected_at(alert.model_copy(update={"msg_type": "Cancel"}), event) is None
    weather = WeatherEvent(
        id=uuid.uuid4(), observed_at=READ_AT, area_name="千葉市", report_id="r", series="s",
        title="気象警報", info_type="発表",
    )  # fmt: skip
    assert water_expected_at(alert, weather) is None


def test_seconds_left_count_down_to_zero_and_stay_there() -> None:
    at = READ_AT + timedelta(minutes=30)
    assert seconds_left(at, READ_AT + timedelta(minutes=29)) == 60.0
    assert seconds_left(at, at) == 0.0
    assert seconds_left(at, at + timedelta(hours=1)) == 0.0  # past: no time left, not "unknown"
    assert seconds_left(None, READ_AT) is None
    with pytest.raises(ValueError, match="timezone-aware"):
        seconds_left(at, datetime(2026, 7, 1, 3, 0))  # noqa: DTZ001 - the naive time is the point
