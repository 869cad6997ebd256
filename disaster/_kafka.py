"""Kafka adapter: topic setup, a JSON producer, and the consume-handle-commit loop.

Offsets are committed only after a record's handler has finished, so a crash replays records
rather than losing them; every handler is therefore written to be idempotent. Input that can
never be processed goes to the stream's DLQ topic and to Postgres, with the reason.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import functools
import itertools
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import AIOKafkaClient, ConnectionGroup
from aiokafka.cluster import ClusterMetadata
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.protocol.group import LeaveGroupRequest
from pydantic import BaseModel, TypeAdapter, ValidationError

from disaster.domain.errors import InvalidInputError
from disaster.metrics import (
    CONSUMER_LAG,
    RECORD_LATENCY,
    RECORDS_CONSUMED,
    RECORDS_REJECTED,
    RECORDS_STORED,
)

__all__ = [
    "BatchHandler",
    "ConsumerLoop",
    "Handler",
    "Rejection",
    "dead_letter",
    "decode_record",
    "encode_json",
    "ensure_topics",
    "failed_refreshes",
    "new_producer",
    "one_at_a_time",
    "summarise_errors",
]

_log = logging.getLogger(__name__)

#: How long the broker may hold an empty fetch. The embedded broker (Tansu) does not answer a
#: waiting fetch when data arrives but only when this runs out (measured: records produced into
#: an idle topic waited 7–237 ms with aiokafka's 500 ms default, 2–26 ms with 50 ms), so a
#: record that finds the consumer idle would wait up to this long. Against Kafka, which answers
#: at once, a short wait only costs a few more empty fetches on an idle topic.
FETCH_MAX_WAIT_MS = 50
#: How long a replaced consumer may take to finish a join in flight before it leaves (the
#: embedded broker holds a join about 5 s for other members): see ``stop_consumer``.
REJOIN_WAIT_S = 8.0

Handler = Callable[[ConsumerRecord], Awaitable[None]]
Rejection = tuple[ConsumerRecord, str]
BatchHandler = Callable[[list[ConsumerRecord]], Awaitable[list[Rejection]]]
Model = TypeVar("Model", bound=BaseModel)
RejectHook = Callable[[ConsumerRecord, str], Awaitable[None]]


def encode_json(value: Any) -> bytes:
    """Encode a JSON value as compact UTF-8, keeping Japanese text readable."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def summarise_errors(exc: ValidationError, what: str) -> str:
    """Return a one-line reason naming each bad field, as a DLQ record or a log shows it."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or what}: {err['msg']}" for err in exc.errors()
    )


def decode_record(value: bytes | None, schema: type[Model] | TypeAdapter[Any], what: str) -> Any:
    """Validate a JSON record value as a model (or a union's adapter), else raise
    :class:`InvalidInputError`."""
    adapter = schema if isinstance(schema, TypeAdapter) else _adapter(schema)
    try:
        return adapter.validate_json(value or b"")
    except ValidationError as exc:
        msg = f"not {what}: {summarise_errors(exc, what)}"
        raise InvalidInputError(msg) from None


@functools.cache
def _adapter(model: type[BaseModel]) -> TypeAdapter[Any]:
    return TypeAdapter(model)


async def ensure_topics(
    bootstrap: str, partitions: dict[str, int], compacted: frozenset[str] = frozenset()
) -> None:
    """Create the topics that do not exist yet; existing ones are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:  # a start cancelled half-way (a service stopping) still has a connection to close
        await admin.start()
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(t, n, 1, topic_configs={"cleanup.policy": "compact"} if t in compacted else {})
            for t, n in partitions.items()
            if t not in existing
        ]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                _log.info("topics created concurrently by another process")
    finally:
        await admin.close()


async def stop_consumer(consumer: AIOKafkaConsumer, *, join_wait_s: float = 0.0) -> None:
    """Stop a consumer that commits its own offsets: leave its group whatever the generation,
    and wait for a join in flight at most ``join_wait_s``.

    - aiokafka leaves only in a generation above 0 (Kafka numbers from 1). The embedded broker
      numbers its first 0, so a member stopped in it stayed until its session timed out
      (10 s), and the group's next rebalance waited for it.
    - A member that lost its membership (a commit refused by a restarted broker) rejoins at
      once, and learns its id only when that join ends: ``join_wait_s`` lets it, so that it
      can leave. The two cut 13 s from the groups' return after a restart (see
      ``ConsumerLoop.rewind``).
    - aiokafka's stop waits out a join in flight, which a broker holds for the rebalance (5 s
      on the embedded one, up to the request timeout on others): services stopped just after
      a restart waited 5 s on it. The coordination is cancelled instead, also when the wait
      is cancelled; with offsets committed by hand it has nothing left to do.

    Uses aiokafka 0.14's internals, guarded by ``tests/disaster/test_kafka_groups.py``; every
    step is bounded.
    """
    coordinator = getattr(consumer, "_coordinator", None)
    if not isinstance(coordinator, GroupCoordinator):
        await consumer.stop()
        return
    try:
        deadline = asyncio.get_running_loop().time() + join_wait_s
        while coordinator.generation < 0 and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110 - aiokafka offers no event for a finished join
            await asyncio.sleep(0.05)
    finally:  # shielded: a stop cancelled again half-way would leave the fetcher polling
        await asyncio.shield(_close(consumer, coordinator))


async def _close(consumer: AIOKafkaConsumer, coordinator: GroupCoordinator) -> None:
    coordination = coordinator._coordination_task
    coordination.cancel()
    await asyncio.wait({coordination})
    await _leave_group(coordinator)
    await consumer.stop()


async def _leave_group(coordinator: GroupCoordinator) -> None:
    """Leave on a connection of its own: a broker answers each connection's requests in order,
    so the coordinator's connection may be stuck behind a join it holds (measured: 2 s and
    more, until the join's answer)."""
    if (
        coordinator.generation >= 0
        and coordinator.member_id
        and coordinator.coordinator_id is not None
    ):
        leave = LeaveGroupRequest(coordinator.group_id, coordinator.member_id)
        try:
            async with asyncio.timeout(2.0):
                await coordinator._client.send(
                    coordinator.coordinator_id, leave, group=ConnectionGroup.DEFAULT
                )
        except (KafkaError, TimeoutError) as exc:
            _log.info("leaving group %s failed (%r)", coordinator.group_id, exc)
    coordinator.reset_generation()  # left: aiokafka's stop is not to leave again


def new_producer(bootstrap: str) -> AIOKafkaProducer:
    """Return an unstarted producer that waits for all replicas.

    Idempotence is off because the embedded broker does not support it; consumers dedupe.
    The producer sends only to partitions that the broker answering now has confirmed: see
    :func:`_forget_partitions_unconfirmed`.
    """
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, linger_ms=2
    )
    _forget_partitions_unconfirmed(producer.client)
    return producer


_FAILED_REFRESHES = "_disaster_failed_refreshes"  # counted on the client itself


def failed_refreshes(client: AIOKafkaClient) -> int:
    """Return how many metadata refreshes of a ``new_producer`` client have failed: a change
    means the broker was unreachable at some point since, and may have come back another."""
    return int(getattr(client, _FAILED_REFRESHES, 0))


def _forget_partitions_unconfirmed(client: AIOKafkaClient) -> None:
    """Make ``client`` forget its topics' partitions when a metadata refresh fails.

    aiokafka refreshes metadata when a connection breaks, which fails while the broker is down,
    and then goes on sending to the partitions it knew. The embedded broker restarts empty and
    writes such a record although the topic does not exist; once the topic is created (by the
    watch in :mod:`disaster.ingress`, or by a client's metadata request, which makes the broker
    create it), its partitions start at offset 0 again over the records already written, and
    every later write landing on one of their offsets fails with ``UnknownError`` until the
    offsets pass them: a handler publishing one record at a time, with its capped backoff, kept
    failing for minutes. A producer that knows no partitions asks the broker for them before
    it sends, so it writes only into topics that exist. A failed refresh reports back only
    after ``retry_backoff_ms``, so a sender holding records for the forgotten partitions does
    not refresh in a busy loop while the broker is down.
    """
    update = client._metadata_update  # no public hook on a failed refresh
    backoff_s = client._retry_backoff

    async def update_or_forget(cluster: ClusterMetadata, topics: Any) -> bool:
        if await update(cluster, topics):
            return True
        setattr(client, _FAILED_REFRESHES, failed_refreshes(client) + 1)
        if cluster is client.cluster:
            with cluster._lock:
                cluster._partitions = {}
                cluster._broker_partitions = collections.defaultdict(set)
            await asyncio.sleep(backoff_s)
        return False

    client._metadata_update = update_or_forget


def dead_letter(record: ConsumerRecord, reason: str) -> dict[str, Any]:
    """Return the DLQ body for a record: where it came from, what it held, why it failed."""
    value: bytes | None = record.value
    try:
        text = None if value is None else value.decode()
        body_field: dict[str, str | None] = {"value": text}
    except UnicodeDecodeError:
        body_field = {"value_base64": base64.b64encode(value or b"").decode()}
    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "key": None if record.key is None else record.key.decode(errors="replace"),
        **body_field,
        "reason": reason,
        "rejected_at": datetime.now(UTC).isoformat(),
    }


def one_at_a_time(handler: Handler) -> BatchHandler:
    """Adapt a per-record handler to a batch: records in order, invalid ones rejected."""

    async def handle_batch(records: list[ConsumerRecord]) -> list[Rejection]:
        rejected = []
        for record in records:
            try:
                await handler(record)
            except InvalidInputError as exc:
                rejected.append((record, exc.reason))
        return rejected

    return handle_batch


class ConsumerLoop:
    """Consume one topic in a consumer group, a fetched batch at a time, each key in order.

    The batch handler returns the records it rejects as invalid; they go to ``dlq_topic`` (and
    through ``on_reject``) and the loop moves on. Any other failure is retried with a capped
    backoff and the offset is not committed, because the cause (a database restart, say) is
    usually passing and dropping the records would lose an alert. Handlers are idempotent, so
    a retried batch stores each effect once.
    """

    def __init__(
        self,
        *,
        bootstrap: str,
        topic: str,
        group_id: str,
        handler: BatchHandler,
        producer: AIOKafkaProducer,
        dlq_topic: str | None = None,
        on_reject: RejectHook | None = None,
        max_records: int = 5000,
    ) -> None:
        self.topic = topic
        self._consumer_args = {"bootstrap_servers": bootstrap, "group_id": group_id}
        self._consumer = self._new_consumer()
        self._handler = handler
        self._producer = producer
        self._dlq_topic = dlq_topic
        self._on_reject = on_reject
        self._max_records = max_records
        self._rewind = False
        self._from_start = False  # until a commit lands on the new broker: see rewind()
        #: Why the current batch keeps failing (for ``/healthz``), None while all is well.
        self.problem: str | None = None

    def _new_consumer(self) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            **self._consumer_args,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        )
        consumer.subscribe([self.topic], listener=_StartOver(self))
        return consumer

    async def rewind(self) -> None:
        """The broker came back empty: read this topic again from its start (see
        :mod:`disaster.ingress`). Positions held from before would skip new records, and so
        would offsets committed from them after the restart, which a rejoin of the group reads
        back: until a commit made since lands, every assignment starts at the beginning."""
        self._rewind = True

    async def run(self) -> None:
        """Consume until cancelled.

        The offsets of a stored batch are committed while the next batch is fetched and
        handled (one commit in flight, awaited before the next), so the broker round trip is
        off the path of every record; a crash in between replays a stored batch, which the
        idempotent handlers absorb.
        """
        committing: asyncio.Task[None] | None = None
        try:
            await self._consumer.start()
            while True:
                if self._rewind:
                    self._rewind = False
                    if committing is not None:  # offsets of the old broker's records
                        await asyncio.gather(committing, return_exceptions=True)
                        committing = None
                    self._from_start = True
                    # A new consumer: a topic a producer recreated may have another partition
                    # count, which the old one's group would not see for minutes.
                    await stop_consumer(self._consumer, join_wait_s=REJOIN_WAIT_S)
                    self._consumer = self._new_consumer()
                    await self._consumer.start()
                    _log.warning("%s: the broker restarted empty; reading it again", self.topic)
                fetched = await self._consumer.getmany(
                    timeout_ms=500, max_records=self._max_records
                )
                if fetched:  # partitions hold different keys: one batch keeps each key's order
                    await self._handle_with_retry([r for rs in fetched.values() for r in rs])
                    if committing is not None:
                        await committing
                    offsets = {tp: rs[-1].offset + 1 for tp, rs in fetched.items()}
                    committing = asyncio.create_task(self._commit(offsets))
                await self._report_lag()
        finally:
            if committing is not None:
                await asyncio.shield(asyncio.gather(committing, return_exceptions=True))
            await stop_consumer(self._consumer)  # its close is shielded

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        try:
            await self._consumer.commit(offsets)
            self._from_start = False
        except KafkaError as exc:  # a rebalance, say: the new owner replays, handlers dedupe
            _log.warning("committing offsets of %s failed: %r", self.topic, exc)

    async def _handle_with_retry(self, records: list[ConsumerRecord]) -> None:
        first = records[0]
        for attempt in itertools.count(1):
            try:
                rejected = await self._handler(records)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.exception(
                    "handling %d records of %s from [%d]@%d failed (attempt %d); retrying",
                    len(records), first.topic, first.partition, first.offset, attempt,
                )  # fmt: skip
                self.problem = f"handling records fails, retrying (attempt {attempt}): {exc!r}"
                await asyncio.sleep(min(0.1 * 2**attempt, 5.0))
            else:
                self.problem = None
                await self._account(records, rejected)
                return

    async def _account(self, records: list[ConsumerRecord], rejected: list[Rejection]) -> None:
        for record, reason in sorted(rejected, key=lambda rj: (rj[0].partition, rj[0].offset)):
            await self._reject(record, reason)
        now = time.time()
        RECORDS_CONSUMED.labels(self.topic).inc(len(records))
        RECORDS_STORED.labels(self.topic).inc(len(records) - len(rejected))
        latency = RECORD_LATENCY.labels(self.topic)
        refused = {id(record) for record, _ in rejected}
        for record in records:
            if id(record) not in refused:
                latency.observe(max(0.0, now - record.timestamp / 1e3))

    async def _report_lag(self) -> None:
        lag = 0
        for partition in self._consumer.assignment():
            highwater = self._consumer.highwater(partition)
            if highwater is not None:
                lag += max(0, highwater - await self._consumer.position(partition))
        CONSUMER_LAG.labels(self.topic).set(lag)

    async def _reject(self, record: ConsumerRecord, reason: str) -> None:
        _log.warning(
            "rejected %s[%d]@%d: %s", record.topic, record.partition, record.offset, reason
        )
        RECORDS_REJECTED.labels(record.topic).inc()
        if self._on_reject is not None:
            await self._on_reject(record, reason)
        if self._dlq_topic is not None:
            await self._producer.send_and_wait(
                self._dlq_topic, encode_json(dead_letter(record, reason)), key=record.key
            )


class _StartOver(ConsumerRebalanceListener):
    """Sends a rewound loop's newly assigned partitions to their start (see ``rewind``)."""

    def __init__(self, loop: ConsumerLoop) -> None:
        self._loop = loop

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        """Nothing to do: offsets are committed after each stored batch."""

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        """Start over on the new broker rather than at offsets committed from the old one."""
        if self._loop._from_start and assigned:
            await self._loop._consumer.seek_to_beginning(*assigned)
