"""The MQTT bridge: sensor messages from an MQTT broker into ``sensor.raw``, none lost.

Many field sensors speak MQTT, not Kafka. The bridge keeps a persistent session (QoS 1, fixed
client id, clean_session off) so the broker holds messages while the bridge is down, and it
acknowledges a message only once Postgres keeps it for Kafka (:mod:`disaster.ingress`): a crash
in between redelivers, the sensor ingestor's idempotent store absorbs the duplicate, and a
Kafka outage or an embedded broker's restart loses nothing the bridge acknowledged.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import paho.mqtt.client as mqtt

from disaster import ingress, topics
from disaster.settings import MqttTarget

__all__ = ["MqttBridge"]

_log = logging.getLogger(__name__)
_PRODUCE_TIMEOUT_S = 30.0


class MqttBridge:
    """Subscribes with QoS 1 and accepts each message for ``sensor.raw``, keyed by MQTT topic."""

    def __init__(self, target: MqttTarget, pool: asyncpg.Pool, client_id: str) -> None:
        self._target = target
        self._pool = pool
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False
        )
        self._client.manual_ack_set(True)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run(self) -> None:
        """Bridge until cancelled (paho reconnects on its own after a broker restart)."""
        self._loop = asyncio.get_running_loop()
        self._client.connect_async(self._target.host, self._target.port, keepalive=30)
        self._client.loop_start()
        try:
            await asyncio.Event().wait()
        finally:
            self._client.disconnect()
            await asyncio.to_thread(self._client.loop_stop)

    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: object, rc: object, _p: object
    ) -> None:
        _log.info("MQTT bridge connected (%s); subscribing to %s", rc, self._target.topic_filter)
        client.subscribe(self._target.topic_filter, qos=1)

    def _on_message(self, client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        """Runs on paho's thread: keep the message in Postgres and wait, then acknowledge it."""
        assert self._loop is not None
        sent = asyncio.run_coroutine_threadsafe(self._accept(msg.topic, msg.payload), self._loop)
        try:
            sent.result(_PRODUCE_TIMEOUT_S)
        except Exception:
            _log.exception("could not forward MQTT message on %s; left unacknowledged", msg.topic)
            return
        client.ack(msg.mid, msg.qos)

    async def _accept(self, topic: str, payload: bytes) -> None:
        async with self._pool.acquire() as conn:
            await ingress.accept(conn, topics.SENSOR_RAW, topic.encode(), payload)
