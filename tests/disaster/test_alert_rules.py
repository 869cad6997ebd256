"""The rule file: which events alert, which issue on their own, and the level-5 safeguard."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import shapely

from disaster.alert_rules import Rulebook, load_rulebook
from disaster.domain import (
    GeoPoint,
    RiverStageEvent,
    SensorEvent,
    WeatherEvent,
)
from disaster.domain.levels import AlertLevel, RiverStage
from disaster.rules import alert_for_event, jis_codes, weather_alerts
from tests.support import square

NOW = datetime(2026, 9, 1, 18, 0, tzinfo=UTC)
PLACE = GeoPoint(lat=35.66, lon=139.70)


def _river(station: str, stage: RiverStage, previous: RiverStage) -> RiverStageEvent:
    return RiverStageEvent(
        id=uuid.uuid4(), observed_at=NOW, area_name="南川沿い", area=square(139.7, 35.66),
        station_id=station, station_name="南川橋", level_m=4.1, stage=stage,
        previous_stage=previous,
    )  # fmt: skip


def _weather(level: int | None, codes: list[str] | None = None) -> WeatherEvent:
    return WeatherEvent(
        id=uuid.uuid4(), observed_at=NOW, area_name="東京地方", area_codes=codes or ["1310100"],
        alert_level=level, report_id="jma:x", series="jma:s", title="東京都気象警報・注意報",
        info_type="issue",
    )  # fmt: skip


def _sensor(kind: str, severity: str) -> SensorEvent:
    return SensorEvent(
        id=uuid.uuid4(), observed_at=NOW, area_name="裏山", location=PLACE, kind="sensor.threshold",
        sensor_id="tilt-1", sensor_kind=kind, severity=severity, value=3.2, threshold=2.0,
    )  # fmt: skip


def _book(*rules: dict[str, object]) -> Rulebook:
    return Rulebook.model_validate({"version": 1, "rules": list(rules)})


def test_the_packaged_rules_issue_river_alerts_and_draft_the_rest_for_operators() -> None:
    river = alert_for_event(_river("s1", RiverStage.DANGER, RiverStage.EVACUATION), issued_at=NOW)
    assert river is not None
    assert (river.status, river.level, river.created_by) == (
        "issued",
        AlertLevel.EVACUATE,
        "system",
    )
    slope = alert_for_event(_sensor("tilt", "danger"), issued_at=NOW)
    assert slope is not None
    assert (slope.status, slope.level, slope.hazard) == ("draft", 4, "landslide")
    assert slope.created_by == "rule:slope-sensor"
    (circle,) = slope.circles
    assert (circle.center, circle.radius_m) == (PLACE, 500)
    assert alert_for_event(_sensor("tilt", "warning"), issued_at=NOW) is None  # HQ sees it only


def test_a_pre_agreed_river_issues_on_its_own_and_other_rivers_wait_for_an_operator() -> None:
    book = _book(
        {"id": "minami-auto", "event": "river.stage", "stations": ["minami"], "min_level": 4,
         "issue": "auto"},
        {"id": "rivers", "event": "river.stage", "min_level": 3, "issue": "operator"},
    )  # fmt: skip
    danger = (RiverStage.DANGER, RiverStage.EVACUATION)
    agreed = alert_for_event(_river("minami", *danger), issued_at=NOW, rulebook=book)
    other = alert_for_event(_river("kita", *danger), issued_at=NOW, rulebook=book)
    lower = alert_for_event(
        _river("minami", RiverStage.EVACUATION, RiverStage.CAUTION), issued_at=NOW, rulebook=book
    )
    assert agreed is not None
    assert agreed.status == "issued"
    assert other is not None
    assert (other.status, other.created_by) == ("draft", "rule:rivers")
    assert lower is not None
    assert (lower.status, lower.level) == ("draft", 3)
    falling = _river("minami", RiverStage.EVACUATION, RiverStage.DANGER)
    assert alert_for_event(falling, issued_at=NOW, rulebook=book) is None


def test_level_5_always_waits_for_operators_whatever_the_rule_says() -> None:
    book = _book({"id": "all-weather", "event": "weather.report", "issue": "auto"})
    decision = book.decide(_weather(5))
    assert decision is not None
    assert decision.issue == "operator"
    area = (
        "13101",
        "千代田区",
        json.loads(shapely.to_geojson(shapely.box(139.7, 35.6, 139.8, 35.7))),
    )
    (alert,) = weather_alerts(_weather(5), issued_at=NOW, rulebook=book, areas_by_level={
        AlertLevel.EMERGENCY: [area]})  # fmt: skip
    assert alert.status == "draft"
    with pytest.raises(ValueError, match="two operators"):
        _book({"id": "x", "event": "sensor.threshold", "level": 5, "hazard": "flood",
               "radius_m": 100, "issue": "auto"})  # fmt: skip


def test_a_weather_report_gives_each_municipality_the_level_it_names() -> None:
    box = {code: json.loads(shapely.to_geojson(shapely.box(139.7 + i, 35.6, 139.8 + i, 35.7)))
           for i, code in enumerate(["13101", "13103"])}  # fmt: skip
    alerts = weather_alerts(_weather(5), issued_at=NOW, areas_by_level={
        AlertLevel.EMERGENCY: [("13101", "千代田区", box["13101"])],
        AlertLevel.ELDERLY_EVACUATE: [("13103", "港区", box["13103"])],
        AlertLevel.ADVISORY: [("13103", "港区", box["13103"])],  # below the rule's level 3
    })  # fmt: skip
    # a rule's level 3 is for everyone: only an operator limits an alert to profiles
    assert [(a.level, a.area_codes, a.status, a.profiles) for a in alerts] == [
        (5, ["13101"], "draft", []), (3, ["13103"], "draft", [])]  # fmt: skip
    assert len({a.id for a in alerts}) == 2
    assert "千代田区" in alerts[0].headline["ja"]
    assert weather_alerts(_weather(3), issued_at=NOW, areas_by_level={}) == []


def test_jma_municipality_codes_become_jis_codes_and_regions_stay_out() -> None:
    assert jis_codes(["1310100", "011011", "13103", "1310300", "abcdefg"]) == ["13101", "13103"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{", "not a valid alert rule file"),
        ('{"version": 2, "rules": []}', "version"),
        ('{"version": 1, "rules": [{"id": "a", "event": "river.stage", "issue": "sometimes"}]}',
         "issue"),
        ('{"version": 1, "rules": [{"id": "s", "event": "sensor.threshold", "issue": "operator"}]}',
         "needs level, hazard and radius_m"),
        ('{"version": 1, "rules": [{"id": "a", "event": "incident", "issue": "auto"},'
         ' {"id": "a", "event": "incident", "issue": "auto"}]}', "repeated: a"),
    ],
)  # fmt: skip
def test_a_broken_rule_file_is_refused_with_its_reason(
    tmp_path: Path, content: str, reason: str
) -> None:
    path = tmp_path / "rules.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=reason) as caught:
        load_rulebook(path)
    assert str(path) in str(caught.value)
    with pytest.raises(ValueError, match="cannot read"):
        load_rulebook(tmp_path / "missing.json")
