"""River stage rules: thresholds inclusive, rises immediate, falls with hysteresis."""

from datetime import UTC, datetime

import pytest

from disaster.domain import RiverStage, Thresholds
from disaster.domain.river import hazard_event_id, next_stage, stage_of

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
