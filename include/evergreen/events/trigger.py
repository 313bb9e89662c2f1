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
from typing import Any

from airflow.providers.apache.kafka.triggers.shared_stream import KafkaSharedStreamTrigger
from airflow.triggers.base import TriggerEvent
from asgiref.sync import sync_to_async

CLASS_PATH = "evergreen.events.trigger.DriftEventTrigger"


class DriftEventTrigger(KafkaSharedStreamTrigger):
    """One watcher (one topic, one consumer group) for every model: the model is in the payload."""

    def serialize(self) -> tuple[str, dict[str, Any]]:
        _, kwargs = super().serialize()
        return CLASS_PATH, kwargs

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
