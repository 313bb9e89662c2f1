"""The drift watcher's apply function: `evergreen.events.drift_filter.on_drift_message`.

Airflow's triggerer calls it once per Kafka message (KafkaMessageQueueTrigger / AwaitMessageTrigger pass
the `confluent_kafka.Message` as the one positional argument). A truthy return fires one asset event whose
extra carries it, so it returns a small JSON dict; None fires nothing. If it raises, the trigger restarts
and the message is lost (docs/decisions/0004-event-ledger.md), so it never raises:

- a message that is not a valid DriftDetected (tombstone, too large, not UTF-8, not JSON, wrong schema or
  types, unknown model) goes to the dead-letter topic with the reason, its bytes (a bounded base64 prefix
  when huge) and where it came from; if even that fails, the ledger keeps it (status dead_letter_failed);
- a valid event is recorded in the ledger, which decides whether it fires (armed) or not (duplicate,
  queued, covered): a storm of events for one model starts one run.

Settings (bootstrap, topics, database) come from `evergreen.config.settings()`, i.e. the triggerer's
environment (EVERGREEN_KAFKA_BOOTSTRAP, EVERGREEN_EVERGREEN_DB_URL, ...).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import threading
from typing import Any

from evergreen.config import settings
from evergreen.contracts.drift_event import MAX_MESSAGE_BYTES, InvalidEventError, parse
from evergreen.events import ledger

log = logging.getLogger(__name__)

DEAD_LETTER_VALUE_BYTES = 4096  # base64 prefix kept for a message too large to keep whole
DEAD_LETTER_KEY_BYTES = 1024
DEAD_LETTER_TIMEOUT_S = 5.0  # the triggerer's Kafka thread is shared by every watcher: do not hold it long

_lock = threading.Lock()
_dlq: Any = None  # (bootstrap, KafkaProducer), created on the first refused message
_dlq_bootstrap = ""


def on_drift_message(message: Any, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
    """Apply function for the drift watcher: a small payload (fire one run) or None. Never raises.

    `message` is a confluent_kafka.Message; a kafka-python ConsumerRecord or a bare value (bytes, str or
    None, as the shared-stream trigger passes it) work too.
    """
    try:
        return _handle(message)
    except Exception:
        # Last resort: something outside the planned paths failed (a bug). Log loudly; never lose the trigger.
        log.exception("drift watcher: unexpected error handling a message; it fires nothing")
        return None


def _field(message: Any, name: str) -> Any:
    attr = getattr(message, name, None)
    return attr() if callable(attr) else attr


def _unpack(message: Any) -> tuple[Any, dict[str, Any]]:
    """(value, meta) from a confluent Message, a kafka-python ConsumerRecord or a bare value."""
    if message is None or isinstance(message, (bytes, bytearray, memoryview, str)):
        return message, {"topic": None, "partition": None, "offset": None, "key": None, "timestamp": None}
    timestamp = _field(message, "timestamp")
    if isinstance(timestamp, tuple):  # confluent: (type, ms)
        timestamp = timestamp[1]
    return _field(message, "value"), {
        "topic": _field(message, "topic"),
        "partition": _field(message, "partition"),
        "offset": _field(message, "offset"),
        "key": _field(message, "key"),
        "timestamp": timestamp,
    }


def _handle(message: Any) -> dict[str, Any] | None:
    value, meta = _unpack(message)
    try:
        event = parse(value)
    except InvalidEventError as refused:
        dead_letter(value, meta, refused.code, refused.detail)
        return None
    where = {k: meta[k] for k in ("topic", "partition", "offset")}
    try:
        status = ledger.record(event, where)
    except Exception:
        # No ledger, no debounce: firing may start a run too many, staying quiet would lose the drift.
        log.exception("drift watcher: ledger unavailable; event %s fires without debounce", event.event_id)
        return event.trigger_payload()
    log.info(
        "drift event %s (%s v%s, window %s) from %s: %s",
        event.event_id,
        event.model,
        event.model_version,
        event.window,
        where,
        status,
    )
    return event.trigger_payload() if status == ledger.ARMED else None


def envelope(value: Any, meta: dict[str, Any], reason: str, detail: str) -> dict[str, Any]:
    """The dead-letter record: why, where from, and the original bytes (whole, or a prefix when huge)."""
    raw: bytes | None
    if value is None:
        raw = None
    elif isinstance(value, str):
        raw = value.encode("utf-8", errors="surrogatepass")
    else:
        raw = bytes(value)
    key = meta.get("key")
    if isinstance(key, str):
        key = key.encode("utf-8", errors="surrogatepass")
    keep = raw if raw is None or len(raw) <= MAX_MESSAGE_BYTES else raw[:DEAD_LETTER_VALUE_BYTES]
    return {
        "reason": reason,
        "detail": detail,
        "dead_lettered_at": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "source": {
            "topic": meta.get("topic"),
            "partition": meta.get("partition"),
            "offset": meta.get("offset"),
            "timestamp_ms": meta.get("timestamp"),
            "key_b64": None if key is None else base64.b64encode(bytes(key)[:DEAD_LETTER_KEY_BYTES]).decode(),
        },
        "value_size": None if raw is None else len(raw),
        "value_sha256": None if raw is None else hashlib.sha256(raw).hexdigest(),
        "value_truncated": raw is not None and keep is not None and len(keep) < len(raw),
        "value_b64": None if keep is None else base64.b64encode(keep).decode(),
    }


def dead_letter(value: Any, meta: dict[str, Any], reason: str, detail: str) -> str:
    """Send a refused message to the dead-letter topic; if that fails, keep it in the ledger.

    Returns "dead_lettered", "dead_letter_failed" or "lost" (neither worked: only the log has it).
    """
    record = envelope(value, meta, reason, detail)
    body = json.dumps(record, sort_keys=True).encode()
    key = record["source"]["key_b64"]
    try:
        _send_dead_letter(body, None if key is None else base64.b64decode(key))
        log.warning("drift watcher: dead-lettered %s message from %s: %s", reason, record["source"], detail[:200])
        return "dead_lettered"
    except Exception as e:
        error = f"{type(e).__name__}: {e}"
        log.error("drift watcher: dead-letter produce failed (%s); keeping the message in the ledger", error)
    try:
        ledger.record_dead_letter_failure(record, error=error, meta=meta)
        return ledger.DEAD_LETTER_FAILED
    except Exception:
        log.exception("drift watcher: LOST a refused message (no dead-letter topic, no ledger): %s", body[:2000])
        return "lost"


def _send_dead_letter(body: bytes, key: bytes | None) -> None:
    global _dlq, _dlq_bootstrap  # one producer per triggerer process, made on first use
    # kafka-python loads only when a message is refused: valid events never need it here.
    from evergreen.events import producer as kafka_out

    conf = settings()
    with _lock:
        if _dlq is not None and _dlq_bootstrap != conf.kafka_bootstrap:
            _close_dead_letter_producer()
        if _dlq is None:
            _dlq = kafka_out.make_producer(conf.kafka_bootstrap, DEAD_LETTER_TIMEOUT_S)
            _dlq_bootstrap = conf.kafka_bootstrap
        try:
            kafka_out.send(
                _dlq,
                conf.kafka_dead_letter_topic,
                body,
                key=key,
                bootstrap=conf.kafka_bootstrap,
                timeout_s=DEAD_LETTER_TIMEOUT_S,
            )
        except Exception:
            # A producer that failed once may hold a broken connection or a stuck batch: start fresh next time.
            _close_dead_letter_producer()
            raise


def _close_dead_letter_producer() -> None:
    global _dlq
    producer, _dlq = _dlq, None
    if producer is not None:
        try:
            producer.close(timeout=1)
        except Exception:
            log.debug("closing the dead-letter producer failed", exc_info=True)


def close() -> None:
    """Close the dead-letter producer (tests; the triggerer just exits)."""
    with _lock:
        _close_dead_letter_producer()
