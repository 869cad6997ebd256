"""Alert rules: which hazard events become alerts, at which level, saying what.

:func:`alert_for_event` is pure; :class:`AlertIssuer` stores the alert and hands it on to the
notifier through the ``alerts`` topic. Operator drafting, approval, updates and cancellation
(the alert lifecycle) build on this in a later stage.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime

import asyncpg
from aiokafka import AIOKafkaProducer, ConsumerRecord

from disaster import store, topics
from disaster._kafka import decode_record, encode_json
from disaster.domain import (
    Alert,
    AlertLevel,
    Circle,
    GeoPoint,
    HazardEvent,
    IncidentEvent,
    PolygonArea,
    RiverStageEvent,
    hazard_event_adapter,
)
from disaster.domain.geo import EARTH_RADIUS_M
from disaster.domain.levels import STAGE_NAMES_JA, alert_level_for_stage
from disaster.domain.models import Hazard, Language

__all__ = ["INCIDENT_RADIUS_M", "AlertIssuer", "alert_for_event"]

_ALERT_NAMESPACE = uuid.UUID("2b0f1f5c-58a8-4d1e-9a55-0c2f2b8e9d41")

_ACTION_JA: dict[AlertLevel, str] = {
    AlertLevel.ADVISORY: "避難に備え、避難先と避難経路を確認してください。",
    AlertLevel.ELDERLY_EVACUATE: "高齢者等避難。危険な場所から高齢者等は避難してください。",
    AlertLevel.EVACUATE: "避難指示。危険な場所から全員避難してください。",
}
_ACTION_EN: dict[AlertLevel, str] = {
    AlertLevel.ADVISORY: "Check your shelter and route and be ready to evacuate.",
    AlertLevel.ELDERLY_EVACUATE: "Older people and those who need help: evacuate now.",
    AlertLevel.EVACUATE: "Evacuation order: everyone in danger zones, evacuate now.",
}
_STAGE_EN = {2: "flood caution level", 3: "evacuation decision level", 4: "flood danger level"}


#: Pattern D: how far around an incident residents are told, by severity.
INCIDENT_RADIUS_M = {"high": 500.0, "critical": 1_000.0}
#: Claim order and push urgency of incident alerts (the message shows no 警戒レベル).
_INCIDENT_PRIORITY = {"high": AlertLevel.ELDERLY_EVACUATE, "critical": AlertLevel.EVACUATE}
_INCIDENT_HAZARD: dict[str, Hazard] = {
    "fire": "fire",
    "flooding": "flood",
    "landslide": "landslide",
}
_INCIDENT_JA = {
    "fire": "火災", "collapse": "建物倒壊", "flooding": "浸水", "landslide": "土砂災害",
    "blocked_road": "通行止め", "people_trapped": "閉じ込め", "other": "事案",
}  # fmt: skip


def alert_for_event(event: HazardEvent, *, issued_at: datetime) -> Alert | None:
    """Return the alert an event calls for, or None when residents need none.

    River stages alert the stage's area; a stage already announced (by a projection) is not
    announced again when the water gets there. Incidents alert the residents around them
    (pattern D) when critical, or high and confirmed by a second report: one person's report
    of a small fire should reach HQ, not wake a neighbourhood. Weather and sensor events reach
    HQ's picture and become alerts through the operators' lifecycle.
    """
    if isinstance(event, IncidentEvent):
        return _incident_alert(event, issued_at)
    if not isinstance(event, RiverStageEvent) or event.area is None:
        return None
    level = alert_level_for_stage(event.stage)
    if level is None or event.stage <= event.previous_stage:
        return None
    return Alert(
        id=uuid.uuid5(_ALERT_NAMESPACE, f"hazard:{event.id}"),
        hazard_event_id=event.id,
        level=level,
        hazard="flood",
        area_name=event.area_name,
        area=event.area,
        headline=_river_headline(event, level),
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


def _incident_alert(event: IncidentEvent, issued_at: datetime) -> Alert | None:
    confirmed = event.severity == "critical" or (
        event.severity == "high" and event.report_count >= 2
    )
    if event.status != "open" or not confirmed or event.location is None:
        return None
    radius = INCIDENT_RADIUS_M[event.severity]
    centre = event.location
    what_ja = _INCIDENT_JA.get(event.incident_kind, "事案")
    return Alert(
        id=uuid.uuid5(_ALERT_NAMESPACE, f"incident:{event.incident_id}"),
        hazard_event_id=event.id,
        level=_INCIDENT_PRIORITY[event.severity],
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
    """Handles ``hazard.events``: stores each alert once and publishes it to ``alerts``."""

    def __init__(self, pool: asyncpg.Pool, producer: AIOKafkaProducer) -> None:
        self._pool = pool
        self._producer = producer

    async def handle(self, record: ConsumerRecord) -> None:
        """Turn one hazard event into an alert (at most once) and publish it."""
        event = decode_record(record.value, hazard_event_adapter(), "a hazard event")
        async with self._pool.acquire() as conn:
            now = await conn.fetchval("SELECT now()")
            draft = alert_for_event(event, issued_at=now)
            if draft is None:
                return
            async with conn.transaction():
                await store.insert_alert(conn, draft)
            alert = await store.alert_by_id(conn, draft.id)
        assert alert is not None  # just stored, and alerts are never deleted
        await self._producer.send_and_wait(
            topics.ALERTS, encode_json(alert.to_json_dict()), key=str(alert.id).encode()
        )
