"""Drift events through the real path: Kafka broker -> the retrain DAG's AssetWatcher in a real triggerer ->
asset event -> real scheduler -> a retrain run (LocalExecutor) that trains, judges and settles its events.

One Airflow (api-server, scheduler, dag-processor, triggerer) serves the module; each test uses its own model
(a copy of the fraud spec under another name) so one test's cooldown never hides another's run. Gold is a
small synthetic lake: the subject here is the event path, not the model.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid

import pytest

from evergreen import config
from tests.e2e.local_stack import drift_event
from tests.paths import DAGS_DIR

AS_OF = "2026-03-10"
MODELS = ("fraud", "fraud_one", "fraud_storm", "fraud_overlap", "fraud_restart", "fraud_hostile")
RUN_START_S = 60  # the acceptance bound: a published event has its run within this


@pytest.fixture(scope="module")
def loop(kafka_broker, tmp_path_factory):
    from evergreen.contracts.model_spec import SPECS_DIR
    from evergreen.devtools.airflow_stack import AirflowStack, kafka_connection, wait_finished
    from evergreen.devtools.synthetic_gold import synthetic_gold, write_gold
    from evergreen.events.producer import ensure_topics

    root = tmp_path_factory.mktemp("e2e")
    specs = root / "specs"
    specs.mkdir()
    for name in MODELS:
        text = (SPECS_DIR / "fraud.yaml").read_text().replace("name: fraud\n", f"name: {name}\n", 1)
        (specs / f"{name}.yaml").write_text(text)
    dags = root / "dags"
    dags.mkdir()
    shutil.copy(DAGS_DIR / "retrain.py", dags / "retrain.py")

    group = f"evergreen-e2e-{uuid.uuid4().hex[:8]}"
    env = {
        "EVERGREEN_HOME": str(root / "home"),
        "EVERGREEN_SPECS_DIRS": str(specs),
        "EVERGREEN_KAFKA_BOOTSTRAP": kafka_broker.bootstrap,
        "AIRFLOW_CONN_KAFKA_DRIFT": kafka_connection(kafka_broker.bootstrap, group),
    }
    with config.overridden(env) as s:
        ensure_topics(kafka_broker.bootstrap)
        with AirflowStack(home=root / "airflow", dags_folder=dags, env=env) as stack:
            stack.start(wait_for_dags=("retrain",))
            stack.wait_until(stack.watchers_ready, 120, "the drift watcher to run in the triggerer")
            # Unpausing runs the cron's latest tick (today 03:00, the daily safety net), which covers every
            # model: let it find no gold and skip, so no model here has trained (and so no cooldown holds)
            # before a test.
            for run in stack.runs("retrain"):
                wait_finished(stack, "retrain", run["run_id"], 300)
            write_gold(
                synthetic_gold("2026-02-01", days=38, rows_per_day=300, seed=3, built_as_of=AS_OF),
                s.layer("gold", "features"),
            )
            yield {"stack": stack, "broker": kafka_broker}


def _event(model: str, window: str = AS_OF):
    return drift_event(model, window)


def _publish(loop, events) -> list[float]:
    from evergreen.events.producer import make_producer, send

    bootstrap = loop["broker"].bootstrap
    producer = make_producer(bootstrap)
    sent = []
    try:
        for e in events:
            send(producer, "evergreen.drift", e.to_json(), key=e.model.encode(), bootstrap=bootstrap)
            sent.append(time.time())
    finally:
        producer.close()
    return sent


def _run_ids(stack) -> list[str]:
    return [r["run_id"] for r in stack.runs("retrain")]


def _new_runs(stack, before: list[str]) -> list[dict]:
    return [r for r in stack.runs("retrain") if r["run_id"] not in before]


def _wait_new_run(stack, before: list[str], timeout: float = RUN_START_S) -> dict:
    return stack.wait_until(lambda: (new := _new_runs(stack, before)) and new[0], timeout, "a new retrain run")


def _finish(stack, run_id: str) -> dict:
    from evergreen.devtools.airflow_stack import wait_finished

    return wait_finished(stack, "retrain", run_id, 300)


def _quiet(stack, before: list[str], seconds: float) -> list[dict]:
    """Runs that appear within `seconds` (a test that expects none waits long enough for one to show)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        stack.check_alive()
        time.sleep(0.5)
    return _new_runs(stack, before)


def _versions(model: str) -> list:
    from evergreen.registry import store

    client = store.connect()
    return client.search_model_versions(f"name = '{model}'")


def test_one_event_starts_exactly_one_retraining_within_a_minute(loop):
    from evergreen.events import ledger
    from evergreen.registry import audit

    stack = loop["stack"]
    before = _run_ids(stack)
    event = _event("fraud_one")
    (sent,) = _publish(loop, [event])
    run = _wait_new_run(stack, before)
    started = stack.wait_until(
        lambda: next((r for r in stack.runs("retrain") if r["run_id"] == run["run_id"] and r["queued_at"]), None),
        RUN_START_S,
        "the run to be queued",
    )
    assert run["run_type"] == "asset_triggered"
    queued = started["queued_at"]
    assert queued.timestamp() - sent < RUN_START_S

    done = _finish(stack, run["run_id"])
    assert done["state"] == "success", stack.task_states("retrain", run["run_id"])
    assert _quiet(stack, [*before, run["run_id"]], 5) == []  # exactly one run

    # The run says which event caused it: ledger, MLflow lineage tag, audit row.
    row = ledger.get(event.event_id)
    assert row["status"] == "consumed"
    assert row["run_id"].startswith(run["run_id"])
    (version,) = _versions("fraud_one")
    from evergreen.registry import store

    tags = store.connect().get_run(version.run_id).data.tags
    assert tags["evergreen.drift_event_ids"] == event.event_id
    assert tags["evergreen.airflow.run_id"] == run["run_id"]
    (decision,) = audit.history("fraud_one")
    assert decision["triggered_by"]["drift_events"] == [event.event_id]


def test_a_storm_of_fifty_events_in_ten_seconds_is_one_retraining(loop):
    from evergreen.events import ledger

    stack = loop["stack"]
    before = _run_ids(stack)
    events = [_event("fraud_storm") for _ in range(50)]
    sent = []
    for chunk in range(5):  # 50 events spread over ~10 s, as a flapping detector would send them
        sent += _publish(loop, events[chunk * 10 : chunk * 10 + 10])
        time.sleep(2)
    assert sent[-1] - sent[0] <= 10.5
    run = _wait_new_run(stack, before)
    assert _finish(stack, run["run_id"])["state"] == "success", stack.task_states("retrain", run["run_id"])
    assert [r["run_id"] for r in _quiet(stack, before, 10)] == [run["run_id"]]
    assert len(_versions("fraud_storm")) == 1

    # Every one of the 50 is accounted for: taken by that run, or covered by it (arrived while it ran).
    rows = [ledger.get(e.event_id) for e in events]
    assert {r["status"] for r in rows} <= {"consumed", "covered"}
    assert {r["run_id"].split("#")[0] for r in rows} == {run["run_id"]}
    assert ledger.pending("fraud_storm") == []


def test_an_event_during_a_retraining_is_covered_by_it_not_lost(loop):
    from evergreen.events import ledger

    stack = loop["stack"]
    before = _run_ids(stack)
    first = _event("fraud_overlap")
    _publish(loop, [first])
    run = _wait_new_run(stack, before)
    stack.wait_until(
        lambda: stack.task_states("retrain", run["run_id"]).get("plan") == "success", 120, "plan to claim its events"
    )
    late = _event("fraud_overlap")  # same data day, arrives while the run trains
    _publish(loop, [late])
    assert _finish(stack, run["run_id"])["state"] == "success"
    assert [r["run_id"] for r in _quiet(stack, before, 8)] == [run["run_id"]]
    row = ledger.get(late.event_id)
    assert row["status"] == "covered", row
    assert row["run_id"].split("#")[0] == run["run_id"]
    assert ledger.get(first.event_id)["status"] == "consumed"


def test_a_broker_restart_between_publication_and_consumption_loses_no_event(loop):
    from evergreen.events import ledger

    stack, broker = loop["stack"], loop["broker"]
    before = _run_ids(stack)
    stack.stop_component("triggerer")  # nobody consumes now
    event = _event("fraud_restart")
    _publish(loop, [event])
    broker.restart()
    stack.start_component("triggerer")
    run = _wait_new_run(stack, before, timeout=RUN_START_S + 60)  # + the triggerer's own start
    assert _finish(stack, run["run_id"])["state"] == "success"
    assert ledger.get(event.event_id)["status"] == "consumed"
    assert len(_new_runs(stack, before)) == 1


def test_a_thousand_hostile_messages_go_to_the_dead_letter_topic_and_start_nothing(loop):
    from evergreen.events import ledger

    stack, broker = loop["stack"], loop["broker"]
    from evergreen.events.producer import make_producer

    valid = json.loads(_event("fraud_hostile").to_json())
    hostile: list[bytes | None] = []
    for i in range(1000):
        kind = i % 8
        if kind == 0:
            hostile.append(b"{not json")
        elif kind == 1:
            hostile.append(json.dumps({**valid, "event_id": f"wrong-types-{i:05d}", "drifted_features": "x"}).encode())
        elif kind == 2:
            hostile.append(json.dumps({**valid, "event_id": f"unknown-model-{i:05d}", "model": "nope"}).encode())
        elif kind == 3:
            hostile.append(json.dumps({**valid, "event_id": f"extra-field-{i:05d}", "extra": 1}).encode())
        elif kind == 4:
            hostile.append(b"\xff\xfe" + os.urandom(64))
        elif kind == 5:
            hostile.append(json.dumps({**valid, "event_id": f"huge-{i:05d}", "rule": "x" * 200_000}).encode())
        elif kind == 6:
            hostile.append(json.dumps({**valid, "event_id": f"v2-{i:05d}", "schema_version": 2}).encode())
        else:
            hostile.append(None)  # a tombstone
    before = _run_ids(stack)
    # 25 MB in one go on a busy 2-core machine: give the acknowledgements time, and check every one of them.
    producer = make_producer(broker.bootstrap, timeout_s=180, max_request_size=1_048_576)
    try:
        futures = [producer.send("evergreen.drift", value=value, key=b"hostile") for value in hostile]
        producer.flush(180)
        assert all(f.get(timeout=1) for f in futures)
    finally:
        producer.close()

    dead = _count_dead_letters(broker.bootstrap, expect=1000, timeout=180)
    assert dead == 1000
    assert stack.alive("triggerer")
    assert _quiet(stack, before, 3) == []
    assert ledger.counts("fraud_hostile")["armed"] == 0

    # ...and the watcher still works: a valid event right after them starts its run.
    _publish(loop, [_event("fraud_hostile")])
    _wait_new_run(stack, before)


def _count_dead_letters(bootstrap: str, *, expect: int, timeout: float) -> int:
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"dlq-count-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe(["evergreen.drift.dead-letter"])
    seen, reasons, offsets = 0, set(), set()
    deadline = time.time() + timeout
    try:
        while time.time() < deadline and seen < expect:
            msg = consumer.poll(1.0)
            if msg is None or msg.error():
                continue
            letter = json.loads(msg.value())
            reasons.add(letter["reason"])
            # Traceable: each names the record it refused (topic, partition, offset), as the consumer knew it.
            source = letter["source"]
            assert source["topic"] == "evergreen.drift", source
            assert source["partition"] is not None, source
            offsets.add((source["partition"], source["offset"]))
            seen += 1
        # a little longer: more than `expect` would be a bug too
        end = time.time() + 3
        while time.time() < end:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                seen += 1
    finally:
        consumer.close()
    assert reasons, "dead letters carry a reason"
    assert len(offsets) == min(seen, expect), "one dead letter per refused record, each its own offset"
    return seen


def test_the_api_refuses_anonymous_calls(loop):
    import urllib.error

    stack = loop["stack"]
    with pytest.raises(urllib.error.HTTPError) as refused:
        stack.api("GET", "/api/v2/dags", token=None)
    assert refused.value.code in (401, 403)
    dags = stack.api("GET", "/api/v2/dags")  # with an admin token from the generated password file
    assert "retrain" in [d["dag_id"] for d in dags["dags"]]
