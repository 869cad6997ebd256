"""River stage rules: thresholds inclusive, rises immediate, falls with hysteresis."""

from datetime import UTC, datetime, timedelta

import pytest

from disaster.domain import RiverStage, Thresholds
from disaster.domain.river import (
    StationState,
    evaluate_reading,
    hazard_event_id,
    next_stage,
    projected_stage,
    rise_rate_m_per_min,
    stage_of,
)

T = Thresholds(standby_m=2.0, caution_m=3.0, evacuation_m=3.6, danger_m=4.2)


@pytest.mark.parametrize(
    ("level_m", "stage"),
    [(-1.0, 0), (1.99, 0), (2.0, 1), (2.99, 1), (3.0, 2), (3.6, 3), (4.19, 3), (4.2, 4), (99, 4)],
)
def test_stage_of_counts_a_threshold_as_reached_when_equal(level_m: float, stage: int) -> None:
    assert stage_of(level_m, T) == RiverStage(stage)


def test_a_rise_takes_effect_at_once_even_across_several_stages() -> None:
    assert next_stage(RiverStage.NORMAL, 4.5, T, hysteresis_m=0.1) == RiverStage.DANGER


@pytest.mark.parametrize(
    ("level_m", "expected"),
    [(4.15, RiverStage.DANGER), (4.11, RiverStage.DANGER), (4.09, RiverStage.EVACUATION),
     (3.0, RiverStage.CAUTION), (0.5, RiverStage.NORMAL)],
)  # fmt: skip
def test_a_fall_needs_the_hysteresis_margin(level_m: float, expected: RiverStage) -> None:
    assert next_stage(RiverStage.DANGER, level_m, T, hysteresis_m=0.1) == expected


def test_hovering_at_a_threshold_does_not_flap() -> None:
    stage = RiverStage.NORMAL
    seen = []
    for level in (2.95, 3.01, 2.97, 3.02, 2.99, 3.0):
        stage = next_stage(stage, level, T, hysteresis_m=0.1)
        seen.append(stage)
    assert seen == [1, 2, 2, 2, 2, 2]


def test_hazard_event_ids_are_stable_and_distinct() -> None:
    at = datetime(2026, 6, 3, 5, 50, tzinfo=UTC)
    same = hazard_event_id("s1", at, RiverStage.DANGER)
    assert same == hazard_event_id("s1", at, RiverStage.DANGER)
    assert same != hazard_event_id("s1", at, RiverStage.EVACUATION)
    assert same != hazard_event_id("s2", at, RiverStage.DANGER)


def test_thresholds_must_rise() -> None:
    with pytest.raises(ValueError, match="thresholds must rise"):
        Thresholds(standby_m=2.0, caution_m=3.0, evacuation_m=3.0, danger_m=4.2)


def _history(levels: list[float], step_min: float = 10.0) -> list[tuple[datetime, float]]:
    t0 = datetime(2026, 6, 3, tzinfo=UTC)
    return [(t0 + timedelta(minutes=step_min * i), lv) for i, lv in enumerate(levels)]


def test_rise_rate_is_the_least_squares_slope() -> None:
    assert rise_rate_m_per_min(_history([1.0, 1.1, 1.2, 1.3])) == pytest.approx(0.01)
    assert rise_rate_m_per_min(_history([2.0, 2.0, 2.0])) == 0.0


@pytest.mark.parametrize(
    ("levels", "horizon", "expected"),
    [
        ([2.0, 2.3, 2.6], 60, (RiverStage.DANGER, 53.3)),  # 0.03 m/min: 4.2 in 53 min
        ([2.0, 2.3, 2.6], 40, (RiverStage.EVACUATION, 33.3)),  # 3.6 in 33 min
        ([2.0, 2.3, 2.6], 30, None),
        ([2.0, 2.3, 2.6], 0, None),  # off
        ([2.6, 2.3, 2.0], 60, None),  # falling
        ([2.0, 2.6], 60, None),  # two readings are not a trend
        ([3.7, 3.8, 3.9], 60, (RiverStage.DANGER, 30.0)),
        ([4.3, 4.4, 4.5], 60, None),  # already there: observation, not projection
    ],
)
def test_projected_stage(
    levels: list[float], horizon: float, expected: tuple[RiverStage, float] | None
) -> None:
    got = projected_stage(_history(levels), T, horizon_min=horizon)
    if expected is None:
        assert got is None
    else:
        assert got is not None
        assert got[0] == expected[0]
        assert got[1] == pytest.approx(expected[1], abs=0.1)


def test_a_short_burst_is_not_a_trend() -> None:
    assert projected_stage(_history([2.0, 2.5, 3.0], step_min=5), T, horizon_min=60) is None


def _replay(levels: list[float], horizon: float = 60) -> list[tuple[int, int, float | None]]:
    state, history, changes = StationState(), _history(levels), []
    for i, (_, level) in enumerate(history):
        window = history[max(0, i - 6) : i + 1]
        state, change = evaluate_reading(
            state, level, window, T, hysteresis_m=0.1, horizon_min=horizon
        )
        if change is not None:
            changes.append((change.stage, change.previous, change.projected_minutes))
    return changes


def test_a_steady_rise_is_announced_ahead_and_not_again_on_arrival() -> None:
    changes = _replay([1.2, 1.4, 1.6, 1.9, 2.2, 2.5, 2.8, 3.05, 3.25, 3.45, 3.7, 3.95, 4.2, 4.4])
    assert [(stage, previous) for stage, previous, _ in changes] == [(3, 0), (4, 3)]
    assert all(minutes is not None for _, _, minutes in changes)


def test_without_projection_each_crossing_is_announced() -> None:
    changes = _replay([1.2, 2.1, 3.1, 3.7, 4.3], horizon=0)
    assert changes == [(1, 0, None), (2, 1, None), (3, 2, None), (4, 3, None)]


def test_after_a_fall_a_new_rise_is_announced_again() -> None:
    changes = _replay([2.0, 3.1, 2.0, 1.0, 3.1], horizon=0)
    assert changes == [(1, 0, None), (2, 1, None), (2, 0, None)]
