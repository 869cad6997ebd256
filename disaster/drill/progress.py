"""Waiting for the service to have processed what a drill produced, by consumer progress.

A virtual-clock drill must not sleep and hope: after each step it waits until every consumer
group of the pipeline has committed past the end of its topic, stage by stage (raw streams,
then ``hazard.events``, then ``alerts``), since each stage produces into the next before it
commits. Offsets are committed only after a record's handler finished, so a caught-up group
has stored everything it was given.
"""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from disaster import topics

__all__ = ["PipelineProgress", "pipeline_stages"]


def pipeline_stages(prefix: str) -> list[list[tuple[str, str]]]:
    """Return the (group, topic) pairs of each stage, in the order records flow."""
    return [
        [(f"{prefix}.ingest.river", topics.RIVER_RAW),
         (f"{prefix}.ingest.weather", topics.WEATHER_RAW),
         (f"{prefix}.ingest.sensor", topics.SENSOR_RAW),
         (f"{prefix}.ingest.incident", topics.INCIDENT_RAW)],
        [(f"{prefix}.rules", topics.HAZARD_EVENTS)],
        [(f"{prefix}.notify", topics.ALERTS)],
    ]  # fmt: skip


class PipelineProgress:
    """Reads end offsets and committed offsets; use as an async context manager."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
        self._stages = pipeline_stages(prefix)

    async def __aenter__(self) -> PipelineProgress:
        await self._admin.start()
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()
        await self._admin.close()

    async def _behind(self, group: str, topic: str) -> int:
        parts = [TopicPartition(topic, p) for p in range(topics.PARTITIONS[topic])]
        ends = await self._consumer.end_offsets(parts)
        committed = await self._admin.list_consumer_group_offsets(group, partitions=parts)
        done = {tp: meta.offset for tp, meta in committed.items() if meta is not None}
        return sum(max(0, ends[tp] - max(done.get(tp, 0), 0)) for tp in parts)

    async def wait_caught_up(self, *, timeout_s: float, poll_s: float = 0.02) -> None:
        """Wait until every stage has handled all records its topics hold; raise TimeoutError
        naming the stage that did not."""
        deadline = time.monotonic() + timeout_s
        for stage in self._stages:
            for group, topic in stage:
                while (behind := await self._behind(group, topic)) > 0:
                    if time.monotonic() > deadline:
                        msg = f"{group} is {behind} records behind on {topic} after {timeout_s} s"
                        raise TimeoutError(msg)
                    await asyncio.sleep(poll_s)
