"""Japanese alert levels (警戒レベル) and how river stages map onto them.

The mapping lives in data (a dict) rather than in branches, because JMA and the Cabinet Office
revise it: the 2026 flood-forecast renaming changes names, not this table's shape.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ALERT_LEVEL_BY_STAGE", "AlertLevel", "RiverStage", "alert_level_for_stage"]


class AlertLevel(IntEnum):
    """警戒レベル 1–5 (Cabinet Office guideline, 2021)."""

    EARLY_WARNING = 1  # 早期注意情報
    ADVISORY = 2  # 大雨・洪水注意報
    ELDERLY_EVACUATE = 3  # 高齢者等避難
    EVACUATE = 4  # 避難指示
    EMERGENCY = 5  # 緊急安全確保


class RiverStage(IntEnum):
    """Which of a gauge's four thresholds the water has reached (0 = below all of them)."""

    NORMAL = 0
    STANDBY = 1  # 水防団待機水位
    CAUTION = 2  # 氾濫注意水位
    EVACUATION = 3  # 避難判断水位
    DANGER = 4  # 氾濫危険水位


#: 水防団待機水位 mobilises the flood-fighting teams, not residents: it has no resident level.
ALERT_LEVEL_BY_STAGE: dict[RiverStage, AlertLevel | None] = {
    RiverStage.NORMAL: None,
    RiverStage.STANDBY: None,
    RiverStage.CAUTION: AlertLevel.ADVISORY,
    RiverStage.EVACUATION: AlertLevel.ELDERLY_EVACUATE,
    RiverStage.DANGER: AlertLevel.EVACUATE,
}

STAGE_NAMES_JA: dict[RiverStage, str] = {
    RiverStage.NORMAL: "平常",
    RiverStage.STANDBY: "水防団待機水位",
    RiverStage.CAUTION: "氾濫注意水位",
    RiverStage.EVACUATION: "避難判断水位",
    RiverStage.DANGER: "氾濫危険水位",
}


def alert_level_for_stage(stage: RiverStage) -> AlertLevel | None:
    """Return the resident alert level a river stage calls for, or None if it calls for none."""
    return ALERT_LEVEL_BY_STAGE[stage]
