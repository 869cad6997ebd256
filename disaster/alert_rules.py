"""Which hazard events become alerts, and whether a rule may issue on its own.

The rules are data (a JSON file operators can change, like the JMA level map): each municipality
pre-agrees which alerts go out without a person (for example level 4 when a gauge on a
pre-agreed river reaches 氾濫危険水位) and which wait for an operator's approval. The first rule
that matches an event decides; an event no rule matches reaches HQ's picture only. Level 5
(緊急安全確保) always waits for two operators, whatever a rule says: a rule file cannot switch
that safeguard off, and one that tries is refused when it is loaded.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from disaster.domain import AlertLevel, HazardEvent, IncidentEvent, RiverStageEvent, SensorEvent
from disaster.domain.levels import alert_level_for_stage
from disaster.domain.models import Hazard
from disaster.domain.sensor import SensorKind

__all__ = ["Decision", "Rule", "Rulebook", "load_rulebook"]

_DEFAULT_FILE = "alert_rules.json"
#: An incident's level orders its deliveries (its message shows no 警戒レベル).
_INCIDENT_LEVEL = {"high": AlertLevel.ELDERLY_EVACUATE, "critical": AlertLevel.EVACUATE}
EventKind = Literal["river.stage", "weather.report", "sensor.threshold", "incident"]
IssueMode = Literal["auto", "operator", "never"]


class Rule(BaseModel):
    """One rule: which events it matches, and what becomes of them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    event: EventKind
    issue: IssueMode = Field(
        description="auto: issued at once; operator: drafted for approval; never: HQ only"
    )
    min_level: AlertLevel | None = Field(
        default=None, description="the level the event implies must be at least this"
    )
    stations: frozenset[str] | None = Field(
        default=None, description="river: only these gauges (a pre-agreed river)"
    )
    area_codes: frozenset[str] | None = Field(
        default=None, description="weather: only reports naming one of these codes"
    )
    sensor_kinds: frozenset[SensorKind] | None = None
    severities: frozenset[str] | None = Field(
        default=None, description="sensor: warning/danger; incident: low/medium/high/critical"
    )
    min_reports: int = Field(default=1, ge=1, description="incident: confirmed by this many")
    level: AlertLevel | None = Field(
        default=None, description="sensor: the level to alert at (a sensor implies none)"
    )
    hazard: Hazard | None = Field(default=None, description="sensor: the hazard it warns of")
    radius_m: float | None = Field(
        default=None, gt=0, le=20_000, description="sensor: residents within this distance"
    )
    note: str = ""

    @model_validator(mode="after")
    def _complete(self) -> Rule:
        if self.event == "sensor.threshold" and (
            self.level is None or self.hazard is None or self.radius_m is None
        ):
            msg = "a sensor rule needs level, hazard and radius_m: a reading implies none of them"
            raise ValueError(msg)
        if self.issue == "auto" and self.level == AlertLevel.EMERGENCY:
            msg = "level 5 needs two operators' approval: a rule may draft it, not issue it"
            raise ValueError(msg)
        return self

    def matches(self, event: HazardEvent) -> bool:
        """Return True when this rule speaks for the event."""
        if event.kind != self.event:
            return False
        implied = implied_level(event, self)
        if implied is None or (self.min_level is not None and implied < self.min_level):
            return False
        if isinstance(event, RiverStageEvent):
            return self.stations is None or event.station_id in self.stations
        if isinstance(event, SensorEvent):
            return (self.sensor_kinds is None or event.sensor_kind in self.sensor_kinds) and (
                self.severities is None or event.severity in self.severities
            )
        if isinstance(event, IncidentEvent):
            return (
                event.status == "open"
                and event.report_count >= self.min_reports
                and (self.severities is None or event.severity in self.severities)
            )
        return self.area_codes is None or bool(self.area_codes & set(event.area_codes))


def implied_level(event: HazardEvent, rule: Rule) -> AlertLevel | None:
    """Return the level an event calls for under a rule (None: it calls for no alert)."""
    if isinstance(event, RiverStageEvent):
        if event.stage <= event.previous_stage:
            return None  # announced already (by a projection) or falling
        return alert_level_for_stage(event.stage)
    if isinstance(event, SensorEvent):
        return rule.level
    if isinstance(event, IncidentEvent):
        return rule.level or _INCIDENT_LEVEL.get(event.severity)
    return event.alert_level


class Decision(BaseModel):
    """What the matching rule says about one event."""

    model_config = ConfigDict(frozen=True)

    rule: Rule
    level: AlertLevel
    issue: Literal["auto", "operator"]


class Rulebook(BaseModel):
    """The ordered rules of one deployment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1]
    source: str = ""
    rules: tuple[Rule, ...]

    @model_validator(mode="after")
    def _unique_ids(self) -> Rulebook:
        ids = [r.id for r in self.rules]
        if dupes := sorted({i for i in ids if ids.count(i) > 1}):
            msg = f"rule ids must be unique; repeated: {', '.join(dupes)}"
            raise ValueError(msg)
        return self

    def decide(self, event: HazardEvent) -> Decision | None:
        """Return the first matching rule's decision, or None (HQ's picture only)."""
        rule = next((r for r in self.rules if r.matches(event)), None)
        if rule is None or rule.issue == "never":
            return None
        level = implied_level(event, rule)
        assert level is not None  # matches() checked it
        auto = rule.issue == "auto" and level < AlertLevel.EMERGENCY
        return Decision(rule=rule, level=level, issue="auto" if auto else "operator")


def load_rulebook(path: Path | None = None) -> Rulebook:
    """Read the rules (default: the packaged file); raise ValueError saying what is wrong."""
    if path is None:
        raw = resources.files("disaster.data").joinpath(_DEFAULT_FILE).read_bytes()
        where = f"disaster/data/{_DEFAULT_FILE}"
    else:
        try:
            raw, where = path.read_bytes(), str(path)
        except OSError as exc:
            msg = f"{path}: cannot read the alert rules ({exc.strerror})"
            raise ValueError(msg) from None
    try:
        return Rulebook.model_validate(json.loads(raw.decode("utf-8")))
    except (ValueError, ValidationError) as exc:
        msg = f"{where}: not a valid alert rule file: {exc}"
        raise ValueError(msg) from None
