"""The scenario file: a header line, then one input per line, in JSON Lines.

Pure: reading and writing scenarios touches no broker and no database. A malformed line is
refused with its line number, so a hand-edited scenario says where it went wrong.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from disaster import topics
from disaster._kafka import summarise_errors
from disaster.domain import PolygonArea, Thresholds
from disaster.domain.shelter import Shelter

__all__ = [
    "DRILL_TOPICS",
    "FORMAT",
    "KAFKA_TOPICS",
    "CitySpec",
    "Expectation",
    "ResidentGroup",
    "Scenario",
    "ScenarioError",
    "ScenarioEvent",
    "ScenarioHeader",
    "StationSpec",
    "dump_scenario",
    "load_scenario",
]

FORMAT = "disaster-scenario/1"
#: Topics a scenario may produce to, exactly as their real sources publish.
KAFKA_TOPICS = frozenset(
    {topics.RIVER_RAW, topics.WEATHER_RAW, topics.SENSOR_RAW, topics.INCIDENT_RAW,
     topics.ROAD_CLOSURES}
)  # fmt: skip
#: What happens over HTTP on a real night (shelter staff, residents), applied by the runner.
DRILL_TOPICS = frozenset({"shelter.status", "resident.answer"})


class ScenarioError(ValueError):
    """A scenario file that cannot be replayed; the message names the line."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CitySpec(_Strict):
    """The city the scenario plays in: the generated town, or a real OSM extract."""

    kind: Literal["generated", "osm"]
    seed: int = 0
    size: int | None = Field(default=None, ge=16, le=512)
    path: str | None = Field(default=None, description="OSM file, relative to the repository")

    @model_validator(mode="after")
    def _has_path(self) -> CitySpec:
        if self.kind == "osm" and not self.path:
            msg = "an osm city needs a path"
            raise ValueError(msg)
        return self


class StationSpec(_Strict):
    """A river gauge to seed (its id is made the run's own on replay)."""

    id: str = Field(pattern=r"^[A-Za-z0-9._:-]{1,80}$")
    name: str
    thresholds: Thresholds
    gauge_max_m: float
    area_name: str
    area: PolygonArea
    lat: float
    lon: float


class ResidentGroup(_Strict):
    """Residents placed at random (seeded by the scenario and group name) inside ``box``.

    Every ``wheelchair_every``-th needs a wheelchair, every ``slow_every``-th walks slowly;
    every ``no_drills_every``-th has not opted into drills (and must get nothing).
    """

    name: str = Field(pattern=r"^[a-z0-9_-]{1,40}$")
    count: int = Field(ge=0, le=100_000)
    box: tuple[float, float, float, float] = Field(description="min lon, min lat, max lon, max lat")
    wheelchair_every: int = Field(default=0, ge=0)
    slow_every: int = Field(default=0, ge=0)
    no_drills_every: int = Field(default=0, ge=0)
    language: Literal["ja", "ja-easy", "en"] = "ja"


class Expectation(_Strict):
    """One expected outcome, checked against the report (see scenarios/README.md)."""

    kind: Literal[
        "alert", "no_alert_above", "no_shelter_over_capacity", "group_reached",
        "group_routed", "group_cut_off", "closures_at_least", "weather_reports_at_least",
        "dlq_at_most", "drills_only",
    ]  # fmt: skip
    level_at_least: int | None = Field(default=None, ge=1, le=5)
    status: Literal["issued", "draft", "any"] = Field(
        default="issued",
        description="which alerts count: issued to residents, drafted for HQ, or either",
    )
    hazard: str | None = None
    area_contains: str | None = None
    trigger: str | None = Field(default=None, description="label of the triggering event")
    within_min: float | None = Field(default=None, ge=0)
    group: str | None = None
    share_at_least: float | None = Field(default=None, ge=0, le=1)
    count: int | None = Field(default=None, ge=0)
    note: str = ""


class ScenarioHeader(_Strict):
    """The first line: what the scenario is, where, from which state, and what should happen."""

    format: Literal["disaster-scenario/1"] = FORMAT
    name: str = Field(pattern=r"^[a-z0-9_-]{1,60}$")
    title: str = ""
    description: str = ""
    city: CitySpec
    start: AwareDatetime = Field(description="the scenario's time zero (its virtual clock)")
    stations: list[StationSpec] = Field(default_factory=list)
    shelters: list[Shelter] = Field(default_factory=list)
    residents: list[ResidentGroup] = Field(default_factory=list)
    expect: list[Expectation] = Field(default_factory=list)


class ScenarioEvent(_Strict):
    """One input: ``offset_s`` after the start, to ``topic``, with the source's own payload."""

    offset_s: float = Field(ge=0)
    topic: str
    key: str | None = None
    payload: Any = Field(description="JSON as the source sends it, or a string (XML)")
    label: str | None = Field(default=None, description="names a trigger for expectations")

    @model_validator(mode="after")
    def _known_topic(self) -> ScenarioEvent:
        if self.topic not in KAFKA_TOPICS | DRILL_TOPICS:
            known = ", ".join(sorted(KAFKA_TOPICS | DRILL_TOPICS))
            msg = f"unknown topic {self.topic!r} (one of {known})"
            raise ValueError(msg)
        return self

    def payload_bytes(self) -> bytes:
        """Return the record value as the source would send it."""
        if isinstance(self.payload, str):
            return self.payload.encode()
        return json.dumps(self.payload, ensure_ascii=False, separators=(",", ":")).encode()


class Scenario(_Strict):
    """A header and its events in time order; ``source`` is where it was read from."""

    header: ScenarioHeader
    events: list[ScenarioEvent]
    source: Path | None = None

    def labels(self) -> dict[str, float]:
        """Return each labelled event's offset in seconds (the triggers)."""
        return {e.label: e.offset_s for e in self.events if e.label}


def _parse_line(text: str, where: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        msg = f"{where}: not JSON: {exc.msg} at column {exc.colno}"
        raise ScenarioError(msg) from None
    if not isinstance(value, dict):
        msg = f"{where}: expected a JSON object, got {type(value).__name__}"
        raise ScenarioError(msg)
    return value


def _validated(model: type[_Strict], value: dict[str, Any], where: str) -> Any:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        msg = f"{where}: {summarise_errors(exc, model.__name__)}"
        raise ScenarioError(msg) from None


def parse_scenario(lines: list[str], name: str = "<scenario>") -> Scenario:
    """Parse the lines of a scenario; raise :class:`ScenarioError` naming the bad line."""
    numbered = [(n, line) for n, line in enumerate(lines, 1) if line.strip()]
    if not numbered:
        msg = f"{name}: empty: the first line must be the scenario header"
        raise ScenarioError(msg)
    n, first = numbered[0]
    header = _validated(ScenarioHeader, _parse_line(first, f"{name}:{n}"), f"{name}:{n}")
    events: list[ScenarioEvent] = []
    for n, line in numbered[1:]:
        where = f"{name}:{n}"
        event = _validated(ScenarioEvent, _parse_line(line, where), where)
        if events and event.offset_s < events[-1].offset_s:
            msg = f"{where}: offset_s {event.offset_s} is before the previous line's"
            raise ScenarioError(msg)
        events.append(event)
    return Scenario(header=header, events=events)


def load_scenario(path: Path) -> Scenario:
    """Read a scenario file (see scenarios/README.md)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        msg = f"{path}: cannot read: {exc.strerror}"
        raise ScenarioError(msg) from None
    scenario = parse_scenario(text.splitlines(), str(path))
    return scenario.model_copy(update={"source": path})


def dump_scenario(scenario: Scenario, path: Path) -> None:
    """Write a scenario as JSON Lines, Japanese text kept readable."""
    lines = [scenario.header.model_dump_json(exclude_defaults=False)]
    lines += [e.model_dump_json(exclude_none=True) for e in scenario.events]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
