"""The drift watcher's trigger: Kafka's shared-stream trigger, filtered through our schema and ledger.

`KafkaSharedStreamTrigger` (provider 2.1.0) keeps one consumer open for every watcher on the same topics and
connection, and commits an offset only after the asset event it produced is stored: 0.46 s p50 where the
per-message `KafkaMessageQueueTrigger` re-creates its consumer (~2 s a message;
docs/decisions/0002-shared-stream-kafka-trigger.md). Its stock filter fires on every message; ours fires
only for the events the ledger arms, so a hostile message goes to the dead-letter topic and a storm of drift
events for one model becomes one asset event.

It lives in the installed package because the triggerer cannot import from the dags folder.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast

from airflow.providers.apache.kafka.hooks.consume import KafkaConsumerHook
from airflow.providers.apache.kafka.triggers.shared_stream import (
    KafkaBrokerPayload,
    KafkaSharedStreamProducer,
    KafkaSharedStreamTrigger,
)
from airflow.triggers.base import TriggerEvent
from asgiref.sync import sync_to_async

CLASS_PATH = "evergreen.events.trigger.DriftEventTrigger"


@dataclass(frozen=True)
class KafkaRecord:
    """What a subscriber gets for one message: the value and where it came from, so a refused record's
    dead letter names its topic, partition and offset (the stock producer hands subscribers the bare value)."""

    value: bytes | None
    topic: str
    partition: int
    offset: int
    key: bytes | None
    timestamp: int | None


class RecordStreamProducer(KafkaSharedStreamProducer):
    """The provider's producer, yielding a KafkaRecord per message instead of the bare value. Offsets, acks
    and commits are the provider's, untouched (they use the broker payload, the second element)."""

    async def open_stream(self):
        hook = KafkaConsumerHook(topics=self.topics, kafka_config_id=self.kafka_config_id)
        await self._ensure_manual_commit(hook)
        consumer = await sync_to_async(hook.get_consumer)()
        self._consumer = consumer
        poll = sync_to_async(consumer.poll)
        keep_for_dlq = self.dlq_topic is not None
        while True:
            message = await poll(self.poll_timeout)
            if message is None:
                continue
            if message.error():
                raise RuntimeError(f"Kafka consumer error: {message.error()}")
            topic, partition, offset = cast("str", message.topic()), cast("int", message.partition()), message.offset()
            stamp = message.timestamp()
            record = KafkaRecord(
                value=message.value(),
                topic=topic,
                partition=partition,
                offset=cast("int", offset),
                key=message.key(),
                timestamp=stamp[1] if isinstance(stamp, tuple) else stamp,
            )
            payload = KafkaBrokerPayload(
                topic=topic,
                partition=partition,
                offset=cast("int", offset),
                value=record.value if keep_for_dlq else None,
                key=record.key if keep_for_dlq else None,
            )
            yield record, payload


class DriftEventTrigger(KafkaSharedStreamTrigger):
    """One watcher (one topic, one consumer group) for every model: the model is in the payload."""

    def serialize(self) -> tuple[str, dict[str, Any]]:
        _, kwargs = super().serialize()
        return CLASS_PATH, kwargs

    @classmethod
    def create_shared_stream_producer(cls, kwargs: dict[str, Any]) -> KafkaSharedStreamProducer:
        return RecordStreamProducer(
            topics=kwargs["topics"],
            kafka_config_id=kwargs["kafka_config_id"],
            poll_timeout=kwargs["poll_timeout"],
            dlq_topic=kwargs.get("dlq_topic"),
        )

    def shared_stream_key(self):
        # Our own key: never join a stock trigger's group on the same topic (its filter would fire on
        # everything we refuse).
        return ("evergreen-drift", *super().shared_stream_key())

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        from evergreen.events.drift_filter import on_drift_message

        # The ledger write and the dead-letter produce are blocking I/O: keep them off the event loop the
        # triggerer shares with every other trigger.
        handle = sync_to_async(on_drift_message, thread_sensitive=False)
        async for value in shared_stream:
            payload = await handle(value)
            if payload:
                yield TriggerEvent(payload)
