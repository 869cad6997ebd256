"""The MQTT bridge: sensor messages from an MQTT broker into ``sensor.raw``, none lost.

Many field sensors speak MQTT, not Kafka. The bridge keeps a persistent session (QoS 1, fixed
client id, clean_session off) so the broker holds messages while the bridge is down, and it
acknowledges a message only after Kafka has it: a crash in between redelivers, and the sensor
ingestor's idempotent store absorbs the duplicate.
"""

from __future__ import annotations

import asyncio
import logging

import paho.mqtt.client as mqtt
from aiokafka import AIOKafkaProducer

from disaster import topics
from disaster.settings import MqttTarget

__all__ = ["MqttBridge"]

_log = logging.getLogger(__name__)
_PRODUCE_TIMEOUT_S = 30.0


class MqttBridge:
    """Subscribes with QoS 1 and produces each message to ``sensor.raw``, keyed by MQTT topic."""

    def __init__(self, target: MqttTarget, producer: AIOKafkaProducer, client_id: str) -> None:
        self._target = target
        self._producer = producer
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
        """Runs on paho's thread: hand the message to Kafka and wait, then acknowledge it."""
        assert self._loop is not None
        sent = asyncio.run_coroutine_threadsafe(
            self._producer.send_and_wait(topics.SENSOR_RAW, msg.payload, key=msg.topic.encode()),
            self._loop,
        )
        try:
            sent.result(_PRODUCE_TIMEOUT_S)
        except Exception:
            _log.exception("could not forward MQTT message on %s; left unacknowledged", msg.topic)
            return
        client.ack(msg.mid, msg.qos)
