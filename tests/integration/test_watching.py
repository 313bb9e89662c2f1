"""score_and_watch's publish step on the real broker: one event per drift episode, the same id on a re-run."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from confluent_kafka import Consumer

from evergreen import config


@pytest.fixture
def watch_env(kafka_broker, tmp_path, monkeypatch):
    suffix = uuid.uuid4().hex[:8]
    monkeypatch.setenv("EVERGREEN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("EVERGREEN_KAFKA_BOOTSTRAP", kafka_broker.bootstrap)
    monkeypatch.setenv("EVERGREEN_KAFKA_DRIFT_TOPIC", f"evergreen.drift.{suffix}")
    s = config.reload()
    from evergreen.events.producer import ensure_topics
    from evergreen.storage import migrate

    migrate.upgrade()  # the new home's evergreen DB, as setup makes it

    ensure_topics(kafka_broker.bootstrap, topics=[s.kafka_drift_topic])
    yield s
    monkeypatch.undo()
    config.reload()


def _stored(day: str, version: str, fires: bool) -> None:
    from evergreen.monitoring import report_table

    eng = report_table.engine_with_table()
    report_table.replace_window(
        eng,
        {
            "model": "fraud",
            "window_day": dt.date.fromisoformat(day),
            "model_version": version,
            "computed_at": dt.datetime(2026, 1, 1),
            "rows_profiled": 100,
            "measure": "hellinger",
            "feature_scores": {"amount": 0.3},
            "drifted_features": {"amount": 0.3} if fires else {},
            "thresholds": {"amount": 0.1},
            "prediction_drift": 0.02,
            "performance": {},
            "reasons": ["amount drift 0.300 > 0.100"] if fires else [],
            "breached": fires,
            "fires": fires,
            "rule": "2 of the last 3 windows breach and the latest does",
            "html_path": None,
        },
    )


def _report(day: str, version: str, history: list[str], fires: bool = True) -> dict:
    return {
        "model_version": version,
        "window": day,
        "fires": fires,
        "breached": fires,
        "rule": "2 of the last 3 windows breach and the latest does",
        "reasons": ["amount drift 0.300 > 0.100"],
        "drifted_features": {"amount": 0.3},
        "prediction_drift": 0.02,
        "performance": {},
        "history": [{"window": d, "breached": True} for d in history],
    }


def _read(topic: str, bootstrap: str, want: int) -> list[dict]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": uuid.uuid4().hex,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    out = []
    try:
        for _ in range(40):
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                out.append(json.loads(msg.value()))
            if len(out) >= want and msg is None:
                break
    finally:
        consumer.close()
    return out


def test_the_rule_firing_publishes_once_per_episode_with_a_stable_id(watch_env):
    from evergreen.orchestration.score_and_watch import publish

    assert publish("fraud", _report("2026-01-03", "1", [], fires=False)) is None

    _stored("2026-01-02", "1", fires=False)
    first = publish("fraud", _report("2026-01-03", "1", ["2026-01-02"]))
    assert first["published"] is True
    assert first["event_id"] == "drift.fraud.v1.2026-01-03"
    _stored("2026-01-03", "1", fires=True)

    # The drift persists under the same champion: the daily retraining carries on, no second event.
    again = publish("fraud", _report("2026-01-04", "1", ["2026-01-02", "2026-01-03"]))
    assert again["published"] is False

    # A new champion that still sees the drift is a new episode; a re-run of a day re-sends the same id.
    assert publish("fraud", _report("2026-01-05", "2", ["2026-01-04"]))["published"] is True
    rerun = publish("fraud", _report("2026-01-03", "1", ["2026-01-02"]))
    assert rerun["event_id"] == first["event_id"]

    events = _read(watch_env.kafka_drift_topic, watch_env.kafka_bootstrap, 3)
    assert [e["event_id"] for e in events] == [
        "drift.fraud.v1.2026-01-03",
        "drift.fraud.v2.2026-01-05",
        "drift.fraud.v1.2026-01-03",
    ]
    assert all(e["drifted_features"] == {"amount": 0.3} and e["schema_version"] == 1 for e in events)
