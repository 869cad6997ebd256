"""Alert rules: what an alert says, for the hazard events the rule file lets through.

:mod:`disaster.alert_rules` decides whether an event calls for an alert and whether it is issued
at once or drafted for an operator; :func:`alert_for_event` (pure) writes that alert, and
:class:`AlertIssuer` stores it, handing issued ones to the notifier through ``alerts``.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any

import asyncpg
import shapely
from aiokafka import AIOKafkaProducer, ConsumerRecord

from disaster import area_store, store, topics
from disaster._kafka import decode_record, encode_json
from disaster.alert_rules import Decision, Rulebook, load_rulebook
from disaster.domain import (
    Alert,
    AlertLevel,
    Circle,
    GeoPoint,
    HazardEvent,
    IncidentEvent,
    InvalidInputError,
    PolygonArea,
    RiverStageEvent,
    SensorEvent,
    WeatherEvent,
    hazard_event_adapter,
)
from disaster.domain.geo import EARTH_RADIUS_M
from disaster.domain.levels import STAGE_NAMES_JA
from disaster.domain.models import Hazard, Language

__all__ = [
    "INCIDENT_RADIUS_M",
    "AlertIssuer",
    "KnownArea",
    "alert_for_event",
    "jis_codes",
    "weather_alerts",
]

_ALERT_NAMESPACE = uuid.UUID("2b0f1f5c-58a8-4d1e-9a55-0c2f2b8e9d41")
#: A municipality the city knows: (code, name, GeoJSON geometry).
KnownArea = tuple[str, str, dict[str, Any]]

_ACTION_JA: dict[AlertLevel, str] = {
    AlertLevel.ADVISORY: "避難に備え、避難先と避難経路を確認してください。",
    AlertLevel.ELDERLY_EVACUATE: "高齢者等避難。危険な場所から高齢者等は避難してください。",
    AlertLevel.EVACUATE: "避難指示。危険な場所から全員避難してください。",
    AlertLevel.EMERGENCY: "緊急安全確保。命の危険があります。直ちに身の安全を確保してください。",
}
_ACTION_EN: dict[AlertLevel, str] = {
    AlertLevel.ADVISORY: "Check your shelter and route and be ready to evacuate.",
    AlertLevel.ELDERLY_EVACUATE: "Older people and those who need help: evacuate now.",
    AlertLevel.EVACUATE: "Evacuation order: everyone in danger zones, evacuate now.",
    AlertLevel.EMERGENCY: "Emergency: your life is in danger. Secure your safety now.",
}
_STAGE_EN = {2: "flood caution level", 3: "evacuation decision level", 4: "flood danger level"}


#: Pattern D: how far around an incident residents are told, when its rule gives no radius.
INCIDENT_RADIUS_M = {"high": 500.0, "critical": 1_000.0}
_INCIDENT_HAZARD: dict[str, Hazard] = {
    "fire": "fire",
    "flooding": "flood",
    "landslide": "landslide",
}
_INCIDENT_JA = {
    "fire": "火災", "collapse": "建物倒壊", "flooding": "浸水", "landslide": "土砂災害",
    "blocked_road": "通行止め", "people_trapped": "閉じ込め", "other": "事案",
}  # fmt: skip


@cache
def _packaged_rules() -> Rulebook:
    return load_rulebook()


def alert_for_event(
    event: HazardEvent,
    *,
    issued_at: datetime,
    rulebook: Rulebook | None = None,
    areas: Sequence[KnownArea] = (),
) -> Alert | None:
    """Return the alert an event calls for under the rules (issued or a draft), or None.

    ``areas`` are the city's municipalities a weather report names at the alert's level: a
    JMA warning is for areas, and only those the city knows can be targeted. River stages alert
    the gauge's warning area; incidents and sensors the residents around them.
    """
    decision = (rulebook or _packaged_rules()).decide(event)
    if decision is None:
        return None
    if isinstance(event, IncidentEvent):
        alert = _incident_alert(event, decision, issued_at)
    elif isinstance(event, SensorEvent):
        alert = _sensor_alert(event, decision, issued_at)
    elif isinstance(event, WeatherEvent):
        found = weather_alerts(event, issued_at=issued_at, rulebook=rulebook,
                               areas_by_level={decision.level: list(areas)})  # fmt: skip
        return found[0] if found else None
    else:
        alert = _river_alert(event, decision, issued_at)
    if alert is not None and event.exercise_run is not None:  # a drill's: CAP status Exercise
        alert = alert.model_copy(update={"exercise": True})
    if alert is None or decision.issue == "auto":
        return alert
    return alert.model_copy(update={"status": "draft", "created_by": f"rule:{decision.rule.id}"})


def _river_alert(event: RiverStageEvent, decision: Decision, issued_at: datetime) -> Alert | None:
    if event.area is None:
        return None
    return Alert(
        id=uuid.uuid5(_ALERT_NAMESPACE, f"hazard:{event.id}"),
        hazard_event_id=event.id,
        level=decision.level,
        hazard="flood",
        area_name=event.area_name,
        area=event.area,
        headline=_river_headline(event, decision.level),
        issued_at=issued_at,
    )


def _river_headline(event: RiverStageEvent, level: AlertLevel) -> dict[Language, str]:
    stage_ja, stage_en = STAGE_NAMES_JA[event.stage], _STAGE_EN[int(event.stage)]
    now_m = f"{event.level_m:.2f} m"
    if event.projected_minutes is None:
        what_ja = f"の水位が{stage_ja}（{now_m}）に達しました。"
        what_en = f" reached the {stage_en} ({now_m})."
    else:
        mins = max(1, round(event.projected_minutes))
        what_ja = f"の水位が約{mins}分後に{stage_ja}に達する見込みです（現在 {now_m}）。"
        what_en = f" is expected to reach the {stage_en} in about {mins} min (now {now_m})."
    head_ja, head_en = f"【警戒レベル{int(level)}】", f"[Alert level {int(level)}]"
    return {
        "ja": f"{head_ja}{event.station_name}{what_ja}{event.area_name}：{_ACTION_JA[level]}",
        "en": f"{head_en} {event.station_name}{what_en} {event.area_name}: {_ACTION_EN[level]}",
    }


def _incident_alert(event: IncidentEvent, decision: Decision, issued_at: datetime) -> Alert | None:
    if event.location is None:
        return None
    radius = decision.rule.radius_m or INCIDENT_RADIUS_M.get(event.severity, 500.0)
    centre = event.location
    what_ja = _INCIDENT_JA.get(event.incident_kind, "事案")
    return Alert(
        id=uuid.uuid5(_ALERT_NAMESPACE, f"incident:{event.incident_id}"),
        hazard_event_id=event.id,
        level=decision.level,
        hazard=_INCIDENT_HAZARD.get(event.incident_kind, "other"),
        area_name=f"{what_ja}の周辺{radius:.0f}m",
        area=_inscribed_polygon(centre, radius),
        circles=[Circle(center=centre, radius_m=radius)],
        headline={
            "ja": f"近くで{what_ja}が発生しました。現場に近づかないでください。",
            "en": f"A {event.incident_kind.replace('_', ' ')} was reported nearby. Keep away.",
        },
        issued_at=issued_at,
        incident_id=event.incident_id,
    )


_SENSOR_JA = {
    "rain_rate": "非常に激しい雨", "rain_accumulated": "記録的な大雨", "water_depth": "道路の冠水",
    "water_level": "水位の急上昇", "seismic_intensity": "強い揺れ", "tilt": "斜面の変動",
}  # fmt: skip
_SENSOR_EN = {
    "rain_rate": "very heavy rain", "rain_accumulated": "record rainfall",
    "water_depth": "a flooded road", "water_level": "rapidly rising water",
    "seismic_intensity": "strong shaking", "tilt": "a moving slope",
}  # fmt: skip


def _sensor_alert(event: SensorEvent, decision: Decision, issued_at: datetime) -> Alert | None:
    rule = decision.rule
    if event.location is None or rule.hazard is None or rule.radius_m is None:
        return None
    level = decision.level
    what_ja = _SENSOR_JA.get(event.sensor_kind, "危険な状態")
    what_en = _SENSOR_EN.get(event.sensor_kind, "a dangerous reading")
    return Alert(
        id=uuid.uuid5(_ALERT_NAMESPACE, f"hazard:{event.id}"),
        hazard_event_id=event.id,
        level=level,
        hazard=rule.hazard,
        area_name=f"{event.area_name}の周辺{rule.radius_m:.0f}m",
        area=_inscribed_polygon(event.location, rule.radius_m),
        circles=[Circle(center=event.location, radius_m=rule.radius_m)],
        headline={
            "ja": f"【警戒レベル{int(level)}】{event.area_name}で{what_ja}を観測しました。"
            f"{_ACTION_JA[level]}",
            "en": f"[Alert level {int(level)}] Sensors at {event.area_name} measured {what_en}. "
            f"{_ACTION_EN[level]}",
        },
        issued_at=issued_at,
    )


def weather_alerts(
    event: WeatherEvent,
    *,
    issued_at: datetime,
    rulebook: Rulebook | None = None,
    areas_by_level: Mapping[AlertLevel, Sequence[KnownArea]],
    kinds_by_level: Mapping[AlertLevel, Sequence[str]] | None = None,
) -> list[Alert]:
    """Return one alert per level a JMA report gives the city's municipalities.

    One report often names 特別警報 for some municipalities and 警報 for others; each group
    gets the alert (or draft) its own level calls for, so a city under a level-3 warning is not
    lost because a neighbour's level-5 one tops the report. ``kinds_by_level`` names the
    warnings (大雨警報, 土砂災害警戒情報…) that set each level; they say the hazard.
    """
    rules = rulebook or _packaged_rules()
    alerts = []
    for level, areas in sorted(areas_by_level.items(), reverse=True):
        decision = rules.decide(event.model_copy(update={"alert_level": level}))
        if decision is None or (event.area is None and not areas):
            continue
        kinds = (kinds_by_level or {}).get(level) or [event.title]
        alert = _weather_alert(event, decision, issued_at, areas, kinds)
        if decision.issue != "auto":
            alert = alert.model_copy(
                update={"status": "draft", "created_by": f"rule:{decision.rule.id}"}
            )
        alerts.append(alert)
    return alerts


def _weather_alert(
    event: WeatherEvent,
    decision: Decision,
    issued_at: datetime,
    areas: Sequence[KnownArea],
    kinds: Sequence[str],
) -> Alert:
    shapes = [shapely.geometry.shape(geometry) for _, _, geometry in areas]
    if event.area is not None:
        shapes.append(event.area.to_shape())
    hull = shapely.union_all(shapes).convex_hull
    level = decision.level
    names = "・".join(name for _, name, _ in areas) or event.area_name
    return Alert(
        id=uuid.uuid5(_ALERT_NAMESPACE, f"hazard:{event.id}:level{int(level)}"),
        hazard_event_id=event.id,
        level=level,
        hazard=_weather_hazard(kinds),
        area_name=names,
        area=PolygonArea(coordinates=[[tuple(p) for p in hull.exterior.coords]]),
        area_codes=[code for code, _, _ in areas],
        headline={
            "ja": f"【警戒レベル{int(level)}】{'・'.join(kinds)}（{names}）：{_ACTION_JA[level]}",
            "en": f"[Alert level {int(level)}] JMA: {' / '.join(kinds)} for {names}. "
            f"{_ACTION_EN[level]}",
        },
        issued_at=issued_at,
    )


_WEATHER_HAZARDS: tuple[tuple[str, Hazard], ...] = (
    ("土砂", "landslide"), ("高潮", "storm_surge"), ("津波", "tsunami"), ("地震", "earthquake"),
    ("震", "earthquake"), ("洪水", "flood"), ("氾濫", "flood"), ("大雨", "flood"),
)  # fmt: skip


def _weather_hazard(kinds: Sequence[str]) -> Hazard:
    """The hazard of the warnings, 土砂災害 before 大雨 (the table's order decides)."""
    for word, hazard in _WEATHER_HAZARDS:
        if any(word in kind for kind in kinds):
            return hazard
    return "other"


def jis_codes(codes: Sequence[str]) -> list[str]:
    """Return the JIS X 0402 municipality codes among JMA area codes.

    JMA names a municipality by its 5-digit JIS code followed by "00" (1310100 is 千代田区);
    6-digit JMA codes are forecast regions, which are not municipalities and stay out.
    """
    found = {c[:5] for c in codes if len(c) == 7 and c.isdigit() and c.endswith("00")}
    found |= {c for c in codes if len(c) == 5 and c.isdigit()}
    return sorted(found)


def _inscribed_polygon(centre: GeoPoint, radius_m: float, sides: int = 64) -> PolygonArea:
    """A polygon inside the circle, for maps; residents are targeted by the exact circle."""
    r = 0.999 * radius_m
    dlat = math.degrees(r / EARTH_RADIUS_M)
    dlon = dlat / math.cos(math.radians(centre.lat))
    ring = [
        (centre.lon + dlon * math.cos(a), centre.lat + dlat * math.sin(a))
        for a in (2 * math.pi * i / sides for i in range(sides))
    ]
    return PolygonArea(coordinates=[[*ring, ring[0]]])


class AlertIssuer:
    """Handles ``hazard.events``: stores each alert once (issued, or a draft for operators)
    and publishes issued ones to ``alerts``."""

    def __init__(
        self, pool: asyncpg.Pool, producer: AIOKafkaProducer, rulebook: Rulebook | None = None
    ) -> None:
        self._pool = pool
        self._producer = producer
        self._rules = rulebook or _packaged_rules()

    async def handle(self, record: ConsumerRecord) -> None:
        """Turn one hazard event into alerts (at most once each) and publish the issued."""
        event = decode_record(record.value, hazard_event_adapter(), "a hazard event")
        if self._rules.decide(event) is None:
            return
        async with self._pool.acquire() as conn:
            # Every event is stored before it is published, so one Postgres does not know is
            # another deployment's (a shared cluster, a new consumer group reading a topic from
            # its start): it alerts nobody here, and retrying it would stop the stream.
            if not await conn.fetchval("SELECT true FROM hazard_events WHERE id = $1", event.id):
                msg = f"hazard event {event.id} is not in this system's record: not alerted"
                raise InvalidInputError(msg)
            now = await conn.fetchval("SELECT now()")
            if isinstance(event, WeatherEvent):
                areas, kinds = await _city_areas_by_level(conn, event)
                found = weather_alerts(event, issued_at=now, rulebook=self._rules,
                                       areas_by_level=areas, kinds_by_level=kinds)  # fmt: skip
            else:
                one = alert_for_event(event, issued_at=now, rulebook=self._rules)
                found = [] if one is None else [one]
            issued = []
            for draft in found:
                async with conn.transaction():
                    await store.insert_alert(conn, draft)
                alert = await store.alert_by_id(conn, draft.id)
                assert alert is not None  # just stored, and alerts are never deleted
                if alert.status == "issued":  # a draft waits for HQ; its issue publishes it
                    issued.append(alert)
        for alert in issued:
            await self._producer.send_and_wait(
                topics.ALERTS, encode_json(alert.to_json_dict()), key=str(alert.id).encode()
            )


#: Item statuses that ask nothing new of HQ: a warning continuing (its alert stands), lifted,
#: or none in force. 発表 (new) and 切替 (changed kind) are drafted.
_NOT_NEW = frozenset({"継続", "解除", "発表警報・注意報はなし"})


async def _city_areas_by_level(
    conn: asyncpg.Connection, event: WeatherEvent
) -> tuple[dict[AlertLevel, list[KnownArea]], dict[AlertLevel, list[str]]]:
    """The city's municipalities a report newly warns, grouped by the highest level it gives
    each, and the warnings that set each level."""
    body = await conn.fetchval("SELECT body FROM weather_reports WHERE id = $1", event.report_id)
    highest: dict[str, int] = {}
    kinds: dict[str, list[tuple[int, str]]] = {}
    for item in (body or {}).get("items", []):
        level = item.get("alert_level") or 0
        if item.get("status") in _NOT_NEW or level < AlertLevel.EARLY_WARNING:
            continue
        codes = [
            c
            for a in item.get("areas", [])
            for c in [a.get("code"), *(g.get("value") for g in a.get("geocodes", []))]
            if c
        ]
        for code in jis_codes(codes):
            highest[code] = max(highest.get(code, 0), level)
            kinds.setdefault(code, []).append((level, item.get("kind_name") or event.title))
    known = await area_store.areas_by_codes(conn, sorted(highest))
    grouped: dict[AlertLevel, list[KnownArea]] = {}
    named: dict[AlertLevel, list[str]] = {}
    for code, (name, geometry) in sorted(known.items()):
        level = AlertLevel(highest[code])
        grouped.setdefault(level, []).append((code, name, geometry))
        names = named.setdefault(level, [])
        names += [k for lv, k in kinds[code] if lv == level and k not in names]
    return grouped, named
