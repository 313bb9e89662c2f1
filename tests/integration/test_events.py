"""Drift events against the real Apache Kafka broker of scripts/kafka.sh.

Messages go through the broker and come back as real `confluent_kafka.Message` objects (what Airflow's
Kafka trigger hands the apply function), then through `on_drift_message` into the dead-letter topic or
the SQL ledger. Each test gets its own topics and its own evergreen database.
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import datetime as dt
import hashlib
import json
import multiprocessing
import os
import random
import time
import uuid

import pytest
import sqlalchemy as sa
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from evergreen import config
from evergreen.contracts import drift_event
from evergreen.contracts.drift_event import DriftDetected
from evergreen.events import drift_filter, ledger, producer
from evergreen.storage import migrate
from tests.plugins.kafka_broker import free_ports

pytestmark = pytest.mark.kafka

MODEL = "fraud"
HUGE_TOPIC_BYTES = 4 * 1024 * 1024  # the drift topic of the hostile test accepts > 1 MiB messages


def _event(window: str = "2026-01-24", **overrides) -> DriftDetected:
    fields = {
        "model": MODEL,
        "model_version": "7",
        "window": window,
        "drifted_features": {"amount": 0.31, "merchant_category": 0.22},
        "rule": "hellinger > 0.15 in 3 of the last 5 windows",
        "detected_at": dt.datetime.now(dt.UTC),
    }
    fields.update(overrides)
    return DriftDetected(**fields)


@pytest.fixture
def events_env(kafka_broker, tmp_path, monkeypatch):
    """Settings for one test: its own evergreen DB, this broker, fresh topic names."""
    suffix = uuid.uuid4().hex[:8]
    monkeypatch.setenv("EVERGREEN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("EVERGREEN_KAFKA_BOOTSTRAP", kafka_broker.bootstrap)
    monkeypatch.setenv("EVERGREEN_KAFKA_DRIFT_TOPIC", f"evergreen.drift.{suffix}")
    monkeypatch.setenv("EVERGREEN_KAFKA_DEAD_LETTER_TOPIC", f"evergreen.drift.{suffix}.dead-letter")
    s = config.reload()
    migrate.upgrade()  # the new home's evergreen DB, as setup makes it
    yield s
    drift_filter.close()
    monkeypatch.undo()
    config.reload()


def _consume(bootstrap: str, topic: str, want: int, seconds: float = 60) -> list:
    """Read `want` messages from the start of partition 0 with a real confluent-kafka consumer."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])  # no group rebalance to wait for
    got: list = []
    deadline = time.monotonic() + seconds
    try:
        while len(got) < want and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=min(500, want - len(got)), timeout=1.0):
                assert message.error() is None, message.error()
                got.append(message)
        # Nothing beyond what we expect: a short extra poll must come back empty.
        extra = consumer.consume(num_messages=10, timeout=0.5) if len(got) == want else []
    finally:
        consumer.close()
    assert len(got) == want, f"{len(got)} of {want} messages from {topic} within {seconds} s"
    assert not extra, f"{len(extra)} unexpected extra messages on {topic}"
    return got


def _apply(messages) -> list:
    """on_drift_message over each message, as the triggerer would; it must never raise."""
    results = []
    for message in messages:
        try:
            results.append(drift_filter.on_drift_message(message))
        except BaseException as e:  # pragma: no cover - the point of the test
            pytest.fail(f"on_drift_message raised {type(e).__name__}: {e}")
    return results


def _publish_all(s: config.Settings, events: list[DriftDetected]) -> None:
    out = producer.make_producer(s.kafka_bootstrap)
    try:
        for e in events:
            producer.send(out, s.kafka_drift_topic, e.to_json(), key=e.model.encode(), bootstrap=s.kafka_bootstrap)
    finally:
        out.close(timeout=5)


# ------------------------------------------------------------------------------------------ happy path


def test_publish_consume_arm_then_duplicate(events_env):
    s = events_env
    assert sorted(producer.ensure_topics(s.kafka_bootstrap)) == sorted([s.kafka_drift_topic, s.kafka_dead_letter_topic])
    assert producer.ensure_topics(s.kafka_bootstrap) == []  # idempotent

    event = _event()
    meta = producer.publish_drift(event)
    assert meta == {"event_id": event.event_id, "topic": s.kafka_drift_topic, "partition": 0, "offset": 0}

    (message,) = _consume(s.kafka_bootstrap, s.kafka_drift_topic, 1)
    assert message.key() == b"fraud"
    payload = drift_filter.on_drift_message(message)
    assert payload == {"event_id": event.event_id, "model": MODEL, "model_version": "7", "window": "2026-01-24"}
    json.dumps(payload)  # what the triggerer stores as the asset event's extra

    row = ledger.get(event.event_id)
    assert row["status"] == ledger.ARMED
    assert (row["source_topic"], row["source_partition"], row["source_offset"]) == (s.kafka_drift_topic, 0, 0)
    assert row["payload"] == json.loads(event.to_json())

    # The same message again while no run has claimed it (a redelivery after a triggerer died between
    # arming and Airflow storing the asset event): it fires again, at least once. Still one ledger row.
    assert drift_filter.on_drift_message(message) == payload
    assert sum(ledger.counts().values()) == ledger.counts()[ledger.ARMED] == 1
    # Once a run has claimed it, the same event published again starts nothing.
    ledger.claim(MODEL, "run-1", "2026-01-24")
    producer.publish_drift(event)
    again = _consume(s.kafka_bootstrap, s.kafka_drift_topic, 2)[1]
    assert drift_filter.on_drift_message(again) is None
    assert ledger.get(event.event_id)["status"] == ledger.CONSUMED
    assert sum(ledger.counts().values()) == 1


# ------------------------------------------------------------------------------------------ hostile input


def _hostile_messages(rng: random.Random) -> list[tuple[bytes | None, bytes | None, str]]:
    """1,000 (key, value, expected reason) that must all be refused."""
    good = json.loads(_event().to_json())

    def variant(**changes) -> bytes:
        body = dict(good, event_id=uuid.uuid4().hex)
        for k, v in changes.items():
            if v is ...:
                body.pop(k, None)
            else:
                body[k] = v
        return json.dumps(body).encode()

    out: list[tuple[bytes | None, bytes | None, str]] = []
    for i in range(100):
        out.append((f"k{i}".encode(), None, drift_event.TOMBSTONE))  # kafka-python needs a key for a null value
    for _ in range(150):  # binary garbage: never valid UTF-8 (0xff cannot appear in UTF-8)
        out.append((None, b"\xff" + rng.randbytes(rng.randint(0, 2000)), drift_event.NOT_UTF8))
    for i in range(150):  # broken JSON
        whole = variant()
        broken = [
            whole[: rng.randint(1, len(whole) - 1)],
            whole.replace(b"}", b",}"),
            b"{'model': 'fraud'}",
            b'{"model" "fraud"}',
            b"[" * 5000 + b"]" * 5000,  # deep nesting
            b"",
        ][i % 6]
        out.append((b"fraud", broken, drift_event.INVALID_JSON))
    for i in range(150):  # valid JSON, wrong shape
        wrong = [
            variant(extra=1),
            variant(model=...),
            variant(drifted_features=...),
            b"[]",
            b"null",
            variant(drifted_features={}),
        ][i % 6]
        out.append((b"fraud", wrong, drift_event.INVALID_SCHEMA))
    for i in range(150):  # wrong types
        wrong = [
            variant(model_version=7),
            variant(drifted_features={"amount": "0.3"}),
            variant(drifted_features={"amount": True}),
            variant(detected_at="2026-01-25T03:00:00"),  # naive
            variant(window="2026-13-01"),
            variant(event_id=12345678901),
        ][i % 6]
        out.append((b"fraud", wrong, drift_event.INVALID_SCHEMA))
    for i in range(100):
        out.append((b"x", variant(model=f"not-a-model-{i}"), drift_event.UNKNOWN_MODEL))
    for i in range(50):
        out.append((b"fraud", variant(schema_version=["2", 2, 0, None, 1.5][i % 5]), drift_event.UNSUPPORTED_VERSION))
    for i in range(150):  # too large: 145 just over the event limit, 5 over 1 MiB (the broker's default cap)
        size = 1024 * 1024 + 100 + i if i < 5 else drift_event.MAX_MESSAGE_BYTES + 1 + i
        padded = variant(rule="r" * size)
        out.append((b"fraud", padded, drift_event.TOO_LARGE))
    assert len(out) == 1000
    rng.shuffle(out)
    return out


def test_a_thousand_hostile_messages_all_go_to_the_dead_letter_topic(events_env):
    s = events_env
    producer.ensure_topics(
        s.kafka_bootstrap, topics=[s.kafka_drift_topic], configs={"max.message.bytes": str(HUGE_TOPIC_BYTES)}
    )
    producer.ensure_topics(s.kafka_bootstrap, topics=[s.kafka_dead_letter_topic])
    hostile = _hostile_messages(random.Random(20260124))

    raw = producer.make_producer(s.kafka_bootstrap, max_request_size=HUGE_TOPIC_BYTES, enable_idempotence=False)
    try:
        futures = [raw.send(s.kafka_drift_topic, key=k, value=v) for k, v, _ in hostile]
        raw.flush(timeout=60)
        offsets = [f.get(timeout=30).offset for f in futures]
    finally:
        raw.close(timeout=5)
    expected = dict(zip(offsets, hostile, strict=True))

    started = time.monotonic()
    messages = _consume(s.kafka_bootstrap, s.kafka_drift_topic, 1000)
    assert sum(1 for m in messages if m.value() is None) == 100  # tombstones arrive as value() None
    results = _apply(messages)
    elapsed = time.monotonic() - started
    assert results == [None] * 1000  # nothing fires

    dead = _consume(s.kafka_bootstrap, s.kafka_dead_letter_topic, 1000)
    by_offset = {}
    for d in dead:
        record = json.loads(d.value())
        assert record["source"]["topic"] == s.kafka_drift_topic
        by_offset[record["source"]["offset"]] = record
    assert sorted(by_offset) == sorted(offsets)  # each refused message exactly once
    for offset, record in by_offset.items():
        key, value, reason = expected[offset]
        assert record["reason"] == reason, (offset, record["detail"])
        assert record["detail"]
        assert record["source"]["partition"] == 0
        assert record["source"]["key_b64"] == (None if key is None else base64.b64encode(key).decode())
        if value is None:
            assert record["value_b64"] is None
            assert record["value_size"] is None
            continue
        kept = base64.b64decode(record["value_b64"])
        assert record["value_size"] == len(value)
        assert record["value_sha256"] == hashlib.sha256(value).hexdigest()
        if len(value) > drift_event.MAX_MESSAGE_BYTES:  # huge: a bounded prefix only
            assert record["value_truncated"]
            assert kept == value[: drift_filter.DEAD_LETTER_VALUE_BYTES]
        else:
            assert not record["value_truncated"]
            assert kept == value
    assert max(len(d.value()) for d in dead) < 16 * 1024  # dead letters stay small
    assert sum(ledger.counts().values()) == 0  # none armed, none queued, no dead-letter failures
    print(f"1000 hostile messages through on_drift_message + dead-letter topic in {elapsed:.1f} s")


def test_dead_letter_failure_is_kept_in_the_ledger(events_env, monkeypatch):
    (dead_port,) = free_ports(1)
    monkeypatch.setenv("EVERGREEN_KAFKA_BOOTSTRAP", f"127.0.0.1:{dead_port}")
    config.reload()
    monkeypatch.setattr(drift_filter, "DEAD_LETTER_TIMEOUT_S", 1.0)
    started = time.monotonic()
    assert drift_filter.on_drift_message(b'{"model": "fraud"') is None
    assert drift_filter.on_drift_message(b'{"model": "fraud"') is None  # the same bare bytes again: kept once
    assert time.monotonic() - started < 10
    assert ledger.pending() == []  # a failure is kept, not pending: it never starts a run
    assert ledger.counts()[ledger.DEAD_LETTER_FAILED] == 1
    assert ledger.counts()[ledger.ARMED] == 0


# ------------------------------------------------------------------------------------------ debounce


def test_storm_fires_once_claim_takes_all_then_cover_or_rearm(events_env):
    s = events_env
    producer.ensure_topics(s.kafka_bootstrap)
    storm = [_event() for _ in range(50)]
    _publish_all(s, storm)
    results = _apply(_consume(s.kafka_bootstrap, s.kafka_drift_topic, 50))
    fired = [r for r in results if r is not None]
    assert [f["event_id"] for f in fired] == [storm[0].event_id]
    assert ledger.counts()[ledger.ARMED] == 1
    assert ledger.counts()[ledger.QUEUED] == 49
    assert len(ledger.pending(MODEL)) == 50

    claimed = ledger.claim(MODEL, "run-1", "2026-01-24")
    assert [r["event_id"] for r in claimed] == [e.event_id for e in storm]  # all 50, oldest first
    assert {r["status"] for r in claimed} == {ledger.CONSUMED}
    assert ledger.pending(MODEL) == []
    assert ledger.claim(MODEL, "run-1", "2026-01-24") == claimed  # a retried claim task: same answer

    # While run-1 trains on data up to 01-24: drift on days it has seen is covered, a newer day fires.
    late = [_event("2026-01-23"), _event("2026-01-24"), _event("2026-01-25")]
    _publish_all(s, late)
    results = _apply(_consume(s.kafka_bootstrap, s.kafka_drift_topic, 53)[50:])
    assert results[:2] == [None, None]
    assert results[2] == late[2].trigger_payload()
    assert [ledger.get(e.event_id)["status"] for e in late] == [ledger.COVERED, ledger.COVERED, ledger.ARMED]
    assert ledger.get(late[0].event_id)["run_id"] == "run-1"

    settled = ledger.settle(MODEL, "run-1", "2026-01-24")
    assert settled["covered"] == []
    assert settled["follow_up_due"]
    assert [p["event_id"] for p in settled["pending"]] == [late[2].event_id]
    assert len(ledger.for_run("run-1")) == 52

    claimed2 = ledger.claim(MODEL, "run-2", "2026-01-25")
    assert [r["event_id"] for r in claimed2] == [late[2].event_id]
    assert ledger.settle(MODEL, "run-2", "2026-01-25")["pending"] == []
    assert ledger.counts() == {
        ledger.ARMED: 0,
        ledger.QUEUED: 0,
        ledger.CONSUMED: 51,
        ledger.COVERED: 2,
        ledger.DEAD_LETTER_FAILED: 0,
    }


def test_settle_covers_what_arrived_during_the_run(events_env):
    ledger.claim(MODEL, "cron-run", "2026-01-20")  # a run with no events (cron): still registered
    # Outside the cooldown window the run covers nothing: the event arms.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=13)
    e1, e2 = _event("2026-01-20"), _event("2026-01-21")
    assert ledger.record(e1, now=later) == ledger.ARMED
    assert ledger.record(e2, now=later) == ledger.QUEUED
    settled = ledger.settle(MODEL, "cron-run", "2026-01-20")
    assert settled["covered"] == [e1.event_id]
    assert [p["event_id"] for p in settled["pending"]] == [e2.event_id]
    assert settled["follow_up_due"]


def test_a_run_claims_only_events_whose_data_it_covers(events_env):
    older, newer = _event("2026-01-20"), _event("2026-01-26")
    assert [ledger.record(older), ledger.record(newer)] == [ledger.ARMED, ledger.QUEUED]
    # A person's run on data up to 01-24 takes the drift it trains past, not the drift of 01-26.
    assert [r["event_id"] for r in ledger.claim(MODEL, "run-old", "2026-01-24")] == [older.event_id]
    assert [r["event_id"] for r in ledger.pending(MODEL)] == [newer.event_id]
    assert [r["event_id"] for r in ledger.claim(MODEL, "run-new", "2026-01-26")] == [newer.event_id]


def test_stale_lists_only_events_pending_longer_than_the_bound(events_env):
    t0 = dt.datetime.now(dt.UTC)
    lost, fresh = _event("2026-01-20"), _event("2026-01-21")
    assert ledger.record(lost, now=t0 - dt.timedelta(minutes=20)) == ledger.ARMED
    # (a re-arm bound longer than the 19 minutes between them: it queues behind the armed one)
    assert ledger.record(fresh, now=t0 - dt.timedelta(minutes=1), rearm_after_s=3600) == ledger.QUEUED
    assert ledger.stale(600, now=t0) == {MODEL: [lost.event_id]}
    assert ledger.stale(30, now=t0) == {MODEL: [lost.event_id, fresh.event_id]}
    ledger.claim(MODEL, "sweep-run", "2026-01-21")
    assert ledger.stale(30, now=t0) == {}


def test_release_gives_a_failed_runs_events_back(events_env):
    e1, e2 = _event(), _event()
    assert [ledger.record(e1), ledger.record(e2)] == [ledger.ARMED, ledger.QUEUED]
    ledger.claim(MODEL, "run-f", "2026-01-24")
    assert ledger.release(MODEL, "run-f", "train failed") == [e1.event_id, e2.event_id]
    assert {r["status"] for r in ledger.pending(MODEL)} == {ledger.QUEUED}
    # The failed run no longer covers: the next event for the same day arms (fires).
    assert ledger.record(_event()) == ledger.ARMED
    assert len(ledger.claim(MODEL, "run-g", "2026-01-24")) == 3


def test_rearm_when_no_run_claimed_the_armed_event(events_env):
    t0 = dt.datetime.now(dt.UTC)
    first, second, third = _event(), _event(), _event()
    assert ledger.record(first, now=t0, rearm_after_s=2) == ledger.ARMED
    assert ledger.record(second, now=t0 + dt.timedelta(seconds=1), rearm_after_s=2) == ledger.QUEUED
    # Nobody claimed `first` for longer than rearm_after_s: its asset event was dropped (#56050).
    assert ledger.record(third, now=t0 + dt.timedelta(seconds=3), rearm_after_s=2) == ledger.ARMED
    assert "56050" in ledger.get(third.event_id)["reason"]
    assert len(ledger.claim(MODEL, "run-r", "2026-01-24")) == 3  # one run takes all three


def test_rearm_through_the_watcher_with_the_setting(events_env, monkeypatch):
    monkeypatch.setenv("EVERGREEN_DRIFT_REARM_AFTER_S", "0.5")
    config.reload()
    first, second, third = _event(), _event(), _event()
    assert drift_filter.on_drift_message(first.to_json()) == first.trigger_payload()
    assert drift_filter.on_drift_message(second.to_json()) is None
    time.sleep(0.6)
    assert drift_filter.on_drift_message(third.to_json()) == third.trigger_payload()


# ------------------------------------------------------------------------------------------ failure modes


def test_broker_down_fails_fast_with_the_address():
    (port,) = free_ports(1)
    bootstrap = f"127.0.0.1:{port}"
    started = time.monotonic()
    with pytest.raises(producer.BrokerUnavailableError, match=f"Kafka broker at {bootstrap} unavailable"):
        producer.publish_drift(_event(), bootstrap=bootstrap)
    assert time.monotonic() - started < 15
    started = time.monotonic()
    with pytest.raises(producer.BrokerUnavailableError, match=bootstrap):
        producer.ensure_topics(bootstrap, timeout_s=3)
    assert time.monotonic() - started < 10


class _SlowReads:
    """A connection that pauses after each read: widens the read-then-insert window of record(), so two
    processes without a real lock would both see "nothing armed" (checked: without the lock, 2+ arm)."""

    def __init__(self, conn) -> None:
        self._conn = conn

    def execute(self, statement, *args, **kwargs):
        result = self._conn.execute(statement, *args, **kwargs)
        if isinstance(statement, sa.Select):
            time.sleep(0.02)
        return result

    def __getattr__(self, name):
        return getattr(self._conn, name)


def _record_in_child(env: dict[str, str], start_at: float, windows: list[str]) -> list[str]:
    """Runs in a fresh (spawned) process: record events into the shared ledger."""
    os.environ.update(env)
    config.reload()
    locked = ledger._locked

    @contextlib.contextmanager
    def slow_locked(eng, model):
        with locked(eng, model) as conn:
            yield _SlowReads(conn)

    ledger._locked = slow_locked
    events = [_event(w) for w in windows]
    ledger._tables(ledger.engine())  # connect and reflect before the start line, not after it
    while time.time() < start_at:  # both processes start recording at the same moment
        time.sleep(0.001)
    return [ledger.record(e) for e in events]


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_db(request, events_env, monkeypatch):
    """The ledger on the default SQLite file, or on a real PostgreSQL server (scripts/postgres.sh)."""
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres_server")
        name = f"ledger_{uuid.uuid4().hex[:8]}"
        server.createdb(name)
        monkeypatch.setenv("EVERGREEN_EVERGREEN_DB_URL", server.url(name))
        config.reload()
        migrate.upgrade()
    return request.param


def test_two_processes_cannot_both_arm(ledger_db):
    names = ("EVERGREEN_HOME", "EVERGREEN_KAFKA_BOOTSTRAP", "EVERGREEN_EVERGREEN_DB_URL")
    env = {k: os.environ[k] for k in names if k in os.environ}
    assert ledger.engine().dialect.name == ledger_db
    ledger.engine()  # schema checked before the race
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        start_at = time.time() + 4  # spawned interpreters import the stack first
        futures = [pool.submit(_record_in_child, env, start_at, ["2026-01-24"] * 25) for _ in range(2)]
        statuses = [s for f in futures for s in f.result(timeout=60)]
    assert len(statuses) == 50
    assert statuses.count(ledger.ARMED) == 1
    assert statuses.count(ledger.QUEUED) == 49
    assert ledger.counts()[ledger.ARMED] == 1
    assert len(ledger.claim(MODEL, "run-race", "2026-01-24")) == 50
    assert ledger.record(_event("2026-01-24")) == ledger.COVERED
