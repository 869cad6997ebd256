"""Alert rules: which hazard events become alerts, at which level, saying what.

:func:`alert_for_event` is pure; :class:`AlertIssuer` stores the alert and hands it on to the
notifier through the ``alerts`` topic. Operator drafting, approval, updates and cancellation
(the alert lifecycle) build on this in a later stage.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg
from aiokafka import AIOKafkaProducer, ConsumerRecord

from disaster import store, topics
from disaster._kafka import decode_record, encode_json
from disaster.domain import Alert, AlertLevel, HazardEvent, RiverStageEvent, hazard_event_adapter
from disaster.domain.levels import STAGE_NAMES_JA, alert_level_for_stage
from disaster.domain.models import Language

__all__ = ["AlertIssuer", "alert_for_event"]

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


def alert_for_event(event: HazardEvent, *, issued_at: datetime) -> Alert | None:
    """Return the alert an event calls for, or None when residents need none.

    Only river stages alert residents so far: weather, sensor and incident events reach HQ's
    picture, and become alerts through the operators' lifecycle. A stage already announced
    (by a projection) is not announced again when the water gets there.
    """
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
