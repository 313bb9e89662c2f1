"""At least once through triggerer crashes: drift events flow through Kafka while the triggerer (the process
whose asset watcher reads them, records them in the ledger and hands Airflow an asset event) is killed with
SIGKILL over and over, at random instants: while it starts, while it reads, and the moment it has armed an
event in the ledger (before Airflow can have stored the asset event). At the end every valid event is either
consumed by exactly one `retrain` run that ended well, or covered by one, with that run named; none is left
armed or queued, none is lost.

A real stack: Kafka broker, Airflow (api-server, scheduler, dag-processor, triggerer) with `retrain` and
`drift_event_sweep`, the evergreen ledger. What a fixture does here an operator does with `kill -9 <pid>`
and `make up` (which stops a dead component's whole process group before starting it again).

The model is a copy of the fraud spec without a cooldown and with small trees, so events keep arming (with
the shipped 12 h cooldown every event after the first training is covered the moment it is read, and a
crash has no armed event to lose) and each training takes seconds. The re-arm bound is 30 s instead of
300 s, so the sweep's safety net acts within the test; the sweep is started by the test as its 10-minute
cron would.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import threading
import time
import uuid

import pytest

from evergreen import config
from tests.e2e.local_stack import drift_event
from tests.paths import DAGS_DIR

pytestmark = [pytest.mark.timeout(3600), pytest.mark.long]

MODEL = "fraud_crash"
AS_OF = "2026-03-10"
KILLS = 30
REARM_AFTER_S = 30
EVENT_EVERY_S = 0.5
SEED = int(os.environ.get("EVERGREEN_CRASH_SEED", "20261201"))


@pytest.fixture(scope="module")
def crash_stack(kafka_broker, tmp_path_factory):
    import yaml

    from evergreen.contracts.model_spec import SPECS_DIR
    from evergreen.devtools.airflow_stack import AirflowStack, kafka_connection, wait_finished
    from evergreen.devtools.synthetic_gold import synthetic_gold, write_gold
    from evergreen.events.producer import ensure_topics

    root = tmp_path_factory.mktemp("crash")
    specs = root / "specs"
    specs.mkdir()
    spec = yaml.safe_load((SPECS_DIR / "fraud.yaml").read_text())
    spec["name"] = MODEL
    spec["retraining"]["cooldown_hours"] = 0
    spec["training"]["params"]["n_estimators"] = 30
    (specs / f"{MODEL}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    dags = root / "dags"
    dags.mkdir()
    for name in ("retrain.py", "drift_event_sweep.py"):
        shutil.copy(DAGS_DIR / name, dags / name)

    env = {
        "EVERGREEN_HOME": str(root / "home"),
        "EVERGREEN_SPECS_DIRS": str(specs),
        "EVERGREEN_KAFKA_BOOTSTRAP": kafka_broker.bootstrap,
        "EVERGREEN_DRIFT_REARM_AFTER_S": str(REARM_AFTER_S),
        "AIRFLOW_CONN_KAFKA_DRIFT": kafka_connection(kafka_broker.bootstrap, f"evergreen-crash-{uuid.uuid4().hex[:8]}"),
    }
    with config.overridden(env) as s:
        ensure_topics(kafka_broker.bootstrap)
        with AirflowStack(home=root / "airflow", dags_folder=dags, env=env) as stack:
            stack.start(wait_for_dags=("retrain", "drift_event_sweep"))
            stack.wait_until(stack.watchers_ready, 180, "the drift watcher to run in the triggerer")
            for dag_id in ("retrain", "drift_event_sweep"):  # unpausing runs each cron's latest tick: let them end
                for run in stack.runs(dag_id):
                    wait_finished(stack, dag_id, run["run_id"], 600)
            write_gold(
                synthetic_gold("2026-02-01", days=38, rows_per_day=300, seed=3, built_as_of=AS_OF),
                s.layer("gold", "features"),
            )
            yield {"stack": stack, "broker": kafka_broker}


class Publisher(threading.Thread):
    """Valid drift events for MODEL, one every EVENT_EVERY_S, until stopped; keeps every id it sent."""

    def __init__(self, bootstrap: str) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.sent, self.error = bootstrap, [], None
        self.halt = threading.Event()

    def run(self) -> None:
        from evergreen.events.producer import make_producer, send

        producer = make_producer(self.bootstrap)
        try:
            while not self.halt.is_set():
                event = drift_event(MODEL, AS_OF)
                send(producer, "evergreen.drift", event.to_json(), key=MODEL.encode(), bootstrap=self.bootstrap)
                self.sent.append(event.event_id)
                self.halt.wait(EVENT_EVERY_S)
        except Exception as e:  # reported by the test, not lost in a thread
            self.error = e
        finally:
            producer.close()


def _armed_ids() -> set[str]:
    from evergreen.events import ledger

    return {r["event_id"] for r in ledger.pending(MODEL) if r["status"] == ledger.ARMED}


def _kill_triggerer(stack, rng: random.Random, kind: str) -> str:
    """Wait for this kill's instant, then `kill -9` the triggerer's main process; returns what it hit."""
    if kind == "starting":  # somewhere in its start: imports, DB connection, the watcher's subscription
        time.sleep(rng.uniform(0, 8))
    else:
        stack.wait_until(stack.watchers_ready, 180, "the restarted triggerer's drift watcher")
        if kind == "reading":
            time.sleep(rng.uniform(0, 3))
        else:  # "armed": the instant a new event is armed, before Airflow can have stored its asset event
            before, deadline = _armed_ids(), time.monotonic() + 30
            while time.monotonic() < deadline and not (_armed_ids() - before):
                time.sleep(0.005)
    os.kill(stack.procs["triggerer"].pid, signal.SIGKILL)
    return kind


def _settle(stack, sent: list[str], timeout: float = 900) -> None:
    """Every sent event in the ledger, then runs until nothing is pending: the sweep is started as its cron
    would, whenever events have waited past the bound with no retrain run to take them."""
    from evergreen.devtools.airflow_stack import wait_finished
    from evergreen.events import ledger

    stack.wait_until(lambda: all(ledger.get(e) for e in sent), 300, "every sent event to reach the ledger", every=2)
    deadline = time.monotonic() + timeout
    sweeps = 0
    while time.monotonic() < deadline:
        active = [r for r in stack.runs("retrain") if r["state"] in ("queued", "running")]
        pending = ledger.pending(MODEL)
        if not pending and not active:
            return
        if pending and not active and ledger.stale(REARM_AFTER_S):
            run = stack.api("POST", "/api/v2/dags/drift_event_sweep/dagRuns", {"logical_date": None})
            wait_finished(stack, "drift_event_sweep", run["dag_run_id"], 300)
            sweeps += 1
        time.sleep(2)
    raise AssertionError(f"still pending after {timeout:.0f} s and {sweeps} sweep(s): {ledger.pending(MODEL)}")


def test_thirty_triggerer_kills_while_events_flow_leave_no_event_armed_or_lost(crash_stack):
    from evergreen.devtools.airflow_stack import wait_finished
    from evergreen.events import ledger

    stack = crash_stack["stack"]
    rng = random.Random(SEED)
    publisher = Publisher(crash_stack["broker"].bootstrap)
    publisher.start()
    hits = []
    try:
        for i in range(KILLS):
            hits.append(_kill_triggerer(stack, rng, ("starting", "reading", "armed")[i % 3]))
            stack.start_component("triggerer")  # what `make up` does: the dead group is stopped first
    finally:
        publisher.halt.set()
        publisher.join(30)
    assert publisher.error is None, publisher.error
    assert len(hits) >= KILLS
    stack.wait_until(stack.watchers_ready, 180, "the drift watcher after the last restart")
    sent = list(publisher.sent)
    assert len(sent) >= 200, len(sent)  # events flowed through every kill

    _settle(stack, sent)
    for run in stack.runs("retrain"):
        wait_finished(stack, "retrain", run["run_id"], 600)

    rows = {e: ledger.get(e) for e in sent}
    by_status: dict[str, int] = {}
    for row in rows.values():
        by_status[row["status"]] = by_status.get(row["status"], 0) + 1
    # None lost, none stuck: each is consumed by a run or covered by one, and names it.
    assert set(by_status) <= {ledger.CONSUMED, ledger.COVERED}, by_status
    assert by_status.get(ledger.CONSUMED, 0) >= 1
    assert all(r["run_id"] for r in rows.values())
    # Nothing in the ledger that was not sent (a redelivered record is the same event, not a new one).
    assert {r["event_id"] for r in ledger.events(MODEL)} == set(sent)

    # Every run an event names is a retrain run of this stack that ended well.
    runs = {r["run_id"]: r for r in stack.runs("retrain")}
    named = {r["run_id"].split("#")[0] for r in rows.values()}
    assert named <= set(runs), named - set(runs)
    assert {runs[n]["state"] for n in named} == {"success"}, {n: runs[n]["state"] for n in named}
    print(
        f"\n{len(hits)} kills ({', '.join(f'{k} {hits.count(k)}' for k in sorted(set(hits)))}), {len(sent)} events: "
        f"{by_status}; {len(runs)} retrain runs, {len(named)} named by events"
    )
