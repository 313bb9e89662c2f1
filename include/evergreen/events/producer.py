"""Publishing drift events to Kafka (kafka-python), and the topics they travel on.

One drift topic for every model (settings: kafka_drift_topic), keyed by model so one model's events stay in
order on one partition, and a dead-letter topic (kafka_dead_letter_topic) for what the watcher refuses.
Every call is bounded in time: a broker that is down is a `BrokerUnavailableError` naming the address
within seconds, never a hang (kafka-python's own defaults wait 30-120 s).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from evergreen.config import settings
from evergreen.contracts.drift_event import DriftDetected
from evergreen.events._kafka import KafkaAdminClient, KafkaProducer, kafka_errors

log = logging.getLogger(__name__)

TIMEOUT_S = 10.0  # per call: connect + metadata + acknowledgement


class BrokerUnavailableError(RuntimeError):
    """No Kafka broker answered at the bootstrap address in time (or it refused the write)."""

    def __init__(self, bootstrap: str, action: str, cause: BaseException | str) -> None:
        self.bootstrap = bootstrap
        super().__init__(
            f"Kafka broker at {bootstrap} unavailable while {action}: {cause}. "
            "Is it running (scripts/kafka.sh status) and is EVERGREEN_KAFKA_BOOTSTRAP right?"
        )


def drift_topic() -> str:
    return settings().kafka_drift_topic


def dead_letter_topic() -> str:
    return settings().kafka_dead_letter_topic


def producer_config(bootstrap: str, timeout_s: float = TIMEOUT_S, **overrides: Any) -> dict[str, Any]:
    """kafka-python producer settings: durable (acks=all, idempotent retries) and bounded in time."""
    ms = int(timeout_s * 1000)
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "client_id": "evergreen-events",
        "acks": "all",
        # Idempotence makes the producer's own retries safe (no duplicate on the log after a lost ack);
        # a duplicate from a re-run publisher still carries the same event_id, which the ledger drops.
        "enable_idempotence": True,
        "retries": 5,
        "linger_ms": 0,
        "bootstrap_timeout_ms": ms,  # the constructor probes the broker: fail, do not wait 30 s
        "max_block_ms": ms,
        "request_timeout_ms": ms,
        "delivery_timeout_ms": ms + 1000,  # kafka-python wants it >= request_timeout + linger
        "reconnect_backoff_max_ms": 1000,
    }
    config.update(overrides)
    return config


def make_producer(bootstrap: str | None = None, timeout_s: float = TIMEOUT_S, **overrides: Any) -> KafkaProducer:
    """A connected producer, or BrokerUnavailableError."""
    bootstrap = bootstrap or settings().kafka_bootstrap
    try:
        return KafkaProducer(**producer_config(bootstrap, timeout_s, **overrides))
    except (kafka_errors.KafkaError, OSError) as e:
        raise BrokerUnavailableError(bootstrap, "connecting", e) from e


def send(
    producer: KafkaProducer,
    topic: str,
    value: bytes,
    *,
    key: bytes | None = None,
    bootstrap: str = "",
    timeout_s: float = TIMEOUT_S,
) -> dict[str, Any]:
    """Send one record and wait for its acknowledgement; returns topic/partition/offset."""
    try:
        meta = producer.send(topic, value=value, key=key).get(timeout=timeout_s)
    except (kafka_errors.KafkaError, OSError) as e:
        raise BrokerUnavailableError(bootstrap or "?", f"writing to {topic}", e) from e
    return {"topic": meta.topic, "partition": meta.partition, "offset": meta.offset}


def publish_drift(
    event: DriftDetected, *, bootstrap: str | None = None, topic: str | None = None, timeout_s: float = TIMEOUT_S
) -> dict[str, Any]:
    """Publish one drift event, acknowledged by all in-sync replicas; returns
    {"event_id", "topic", "partition", "offset"}. Raises BrokerUnavailableError within about `timeout_s`
    (twice at worst: connect, then the acknowledgement) when no broker answers."""
    bootstrap = bootstrap or settings().kafka_bootstrap
    topic = topic or drift_topic()
    producer = make_producer(bootstrap, timeout_s)
    try:
        meta = send(
            producer, topic, event.to_json(), key=event.model.encode(), bootstrap=bootstrap, timeout_s=timeout_s
        )
    finally:
        producer.close(timeout=timeout_s)
    log.info("published drift event %s for %s window %s to %s", event.event_id, event.model, event.window, meta)
    return {"event_id": event.event_id, **meta}


def ensure_topics(
    bootstrap: str | None = None,
    *,
    topics: Iterable[str] | None = None,
    partitions: int = 1,
    replication_factor: int = 1,
    configs: Mapping[str, str] | None = None,
    timeout_s: float = TIMEOUT_S,
) -> list[str]:
    """Create the drift and dead-letter topics (or `topics`) if missing and wait until each has a leader.

    Idempotent; returns the topics it created. `configs` are topic configs for new topics only (e.g.
    {"max.message.bytes": "4194304"}); existing topics are left as they are.
    """
    bootstrap = bootstrap or settings().kafka_bootstrap
    names = list(topics) if topics is not None else [drift_topic(), dead_letter_topic()]
    ms = int(timeout_s * 1000)
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            client_id="evergreen-admin",
            request_timeout_ms=ms,
            bootstrap_timeout_ms=ms,
            reconnect_backoff_max_ms=1000,
        )
    except (kafka_errors.KafkaError, OSError) as e:
        raise BrokerUnavailableError(bootstrap, "connecting the admin client", e) from e
    try:
        existing = set(admin.list_topics())
        missing = [t for t in names if t not in existing]
        if missing:
            options = {"num_partitions": partitions, "replication_factor": replication_factor}
            spec = {t: {**options, "configs": dict(configs or {})} for t in missing}
            # raise_errors=False: another process creating the same topic at once is not an error.
            result = admin.create_topics(spec, timeout_ms=ms, raise_errors=False)
            for t in result.get("topics", []):
                code = t.get("error_code", 0)
                if code and kafka_errors.for_code(code) is not kafka_errors.TopicAlreadyExistsError:
                    raise BrokerUnavailableError(
                        bootstrap, f"creating topic {t.get('name')}", f"{kafka_errors.for_code(code).__name__}"
                    )
        admin.wait_for_topics(names, timeout_ms=ms)
    except kafka_errors.KafkaError as e:
        raise BrokerUnavailableError(bootstrap, f"creating topics {names}", e) from e
    finally:
        admin.close()
    return missing
