"""How long from a drift event's publication to its DAG run? (a benchmark, not a test; pytest never runs it)

    .venv/bin/python bench/event_latency.py [--events 20] [--gap 1.0] [--json bench/results/event_latency.json]

Three configurations, each on a fresh Airflow (api-server, scheduler, dag-processor, triggerer as separate
processes through evergreen.devtools.airflow_stack, new AIRFLOW_HOME and EVERGREEN_HOME), its own topic and its own
consumer group on one real Kafka broker (scripts/kafka.sh, own data dir, free ports):

* `baseline`: the provider's stock `KafkaSharedStreamTrigger` (no validation, no ledger), 1 model;
* `evergreen-1`: our `DriftEventTrigger` through `evergreen.orchestration.dagkit.drift_events_asset()`, 1 model;
* `evergreen-10`: the same single watcher, events round-robin over 10 model specs (copies of fraud.yaml).

The DAG is a generated one-task probe (not `retrain`: a training takes ~60 s). For our configs the task
claims its events in the ledger, as `retrain` does, so the model's next event arms again instead of being
debounced. Events go one at a time: publish, wait until its run has *finished*, pause `--gap` s, publish
the next. So every event gets its own run, runs never wait on each other (max_active_runs=16 is only a
safety margin) and the ledger has always settled. Each event's data window is one day later than the
previous one, so a claimed run never "covers" the next event. One warm-up event per configuration is not
counted (the consumer's first group join and the first parse of a task are not steady-state latency).

Latency is measured from the producer's acknowledgement (time.time() after send().get()) to the run's
`queued_at` and `start_date` in the Airflow metadata DB (same clock, same machine); `stored` is the asset
event's timestamp (the triggerer handed the event over). Peak memory is VmHWM from /proc of the
triggerer (its CLI supervisor and the trigger-runner child, where the Kafka consumer and the ledger calls
live) and of the scheduler's main process, read just before each stack stops.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from evergreen.devtools.ports import free_ports

REPO = Path(__file__).resolve().parents[1]
KAFKA_SH = REPO / "scripts" / "kafka.sh"
RESULTS = REPO / "bench" / "results" / "event_latency.json"
DAG_ID = "latency_probe"
CONFIGS = ("baseline", "evergreen-1", "evergreen-10")
AIM_P95_S = 2.0  # the issue's aim, for both evergreen configurations
FIRST_WINDOW = dt.date(2026, 1, 1)
RUN_TIMEOUT_S = 90  # a run that takes longer than this is reported as missed, not waited for

BASELINE_DAG = """
from airflow.providers.apache.kafka.triggers.shared_stream import KafkaSharedStreamTrigger
from airflow.sdk import DAG, Asset, AssetWatcher, task

trigger = KafkaSharedStreamTrigger(topics=[{topic!r}], kafka_config_id="kafka_bench", poll_timeout=0.1)
events = Asset(
    name="bench_events", uri="bench://events/baseline", watchers=[AssetWatcher(name="bench_watcher", trigger=trigger)]
)

with DAG("{dag_id}", schedule=[events], max_active_runs=16, catchup=False):

    @task
    def probe(triggering_asset_events=None):
        return len(triggering_asset_events[events])

    probe()
"""

EVERGREEN_DAG = """
from airflow.sdk import DAG, task

from evergreen.orchestration.dagkit import drift_events_asset

drift = drift_events_asset()

with DAG("{dag_id}", schedule=[drift], max_active_runs=16, catchup=False):

    @task
    def probe(triggering_asset_events=None, run_id=None):
        # What retrain's first task does: take the model's events, so its next event arms a run again.
        from evergreen.events import ledger

        claimed = []
        for event in triggering_asset_events[drift]:
            payload = event.extra["payload"]
            claimed += ledger.claim(payload["model"], run_id, payload["window"])
        return [c["event_id"] for c in claimed]

    probe()
"""


# ---- Kafka broker ---------------------------------------------------------------------------------------
def kafka(cmd: str, data_dir: Path, port: int, controller_port: int, timeout: float) -> None:
    env = {
        **os.environ,
        "KAFKA_DATA_DIR": str(data_dir),
        "KAFKA_PORT": str(port),
        "KAFKA_CONTROLLER_PORT": str(controller_port),
    }
    proc = subprocess.run(["bash", str(KAFKA_SH), cmd], env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode:
        raise RuntimeError(f"scripts/kafka.sh {cmd} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")


# ---- processes ------------------------------------------------------------------------------------------
def vm_hwm_mib(pid: int) -> float | None:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


def descendants(pid: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            parents.setdefault(ppid, []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def peaks(stack) -> dict[str, Any]:
    """VmHWM of each component's main process and of its largest descendant (the trigger runner for the
    triggerer, a LocalExecutor worker for the scheduler): the runner is where our filter runs."""
    out: dict[str, Any] = {}
    for name in ("triggerer", "scheduler"):
        proc = stack.procs.get(name)
        if proc is None:
            continue
        kids = [h for h in (vm_hwm_mib(p) for p in descendants(proc.pid)) if h is not None]
        out[name] = {"main_mib": vm_hwm_mib(proc.pid), "largest_child_mib": max(kids, default=None)}
    return out


# ---- one configuration ----------------------------------------------------------------------------------
def pct(values: list[float], q: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def model_specs(root: Path, count: int) -> tuple[Path, list[str]]:
    from evergreen.contracts.model_spec import SPECS_DIR

    specs = root / "specs"
    specs.mkdir()
    names = ["fraud"] if count == 1 else [f"fraud_{i:02d}" for i in range(count)]
    for name in names:
        text = (SPECS_DIR / "fraud.yaml").read_text().replace("name: fraud\n", f"name: {name}\n", 1)
        (specs / f"{name}.yaml").write_text(text)
    return specs, names


def asset_events(stack) -> dict[str, list[tuple[dt.datetime, str]]]:
    """run_id -> (stored at, extra as text) of each asset event it consumed: the timestamp splits triggerer
    time from scheduler time, the extra proves which published event the run belongs to."""
    rows = stack.query(
        "SELECT dr.run_id AS run_id, ae.timestamp AS ts, ae.extra AS extra FROM dag_run dr "
        "JOIN dagrun_asset_event dae ON dae.dag_run_id = dr.id JOIN asset_event ae ON ae.id = dae.event_id "
        "WHERE dr.dag_id = :d ORDER BY ae.timestamp",
        d=DAG_ID,
    )
    out: dict[str, list[tuple[dt.datetime, str]]] = {}
    for r in rows:
        ts = dt.datetime.fromisoformat(r["ts"]) if isinstance(r["ts"], str) else r["ts"]
        extra = r["extra"] if isinstance(r["extra"], str) else json.dumps(r["extra"])
        out.setdefault(r["run_id"], []).append((ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC), extra))
    return out


def run_config(name: str, args: argparse.Namespace, work: Path, bootstrap: str) -> dict[str, Any]:
    from evergreen import config
    from evergreen.contracts.drift_event import DriftDetected
    from evergreen.devtools.airflow_stack import AirflowStack, kafka_connection
    from evergreen.events.producer import ensure_topics, make_producer, send

    root = work / name
    dags = root / "dags"
    dags.mkdir(parents=True)
    specs, models = model_specs(root, 10 if name == "evergreen-10" else 1)
    # Own topics per configuration: a new consumer group reads from the earliest offset, so a shared topic
    # would replay the previous configuration's events into this one.
    topic = f"bench.{name}.{uuid.uuid4().hex[:6]}"
    group = f"bench-{name}-{uuid.uuid4().hex[:8]}"
    env = {
        "EVERGREEN_HOME": str(root / "evergreen"),
        "EVERGREEN_SPECS_DIRS": str(specs),
        "EVERGREEN_KAFKA_BOOTSTRAP": bootstrap,
        "EVERGREEN_KAFKA_DRIFT_TOPIC": topic,
        "EVERGREEN_KAFKA_DEAD_LETTER_TOPIC": f"{topic}.dead-letter",
    }
    if name == "baseline":
        env["AIRFLOW_CONN_KAFKA_BENCH"] = kafka_connection(bootstrap, group)
        (dags / "probe.py").write_text(BASELINE_DAG.format(topic=topic, dag_id=DAG_ID))
    else:
        env["AIRFLOW_CONN_KAFKA_DRIFT"] = kafka_connection(bootstrap, group)
        (dags / "probe.py").write_text(EVERGREEN_DAG.format(dag_id=DAG_ID))
    # This process validates the events it publishes against the same specs (known models).
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    config.reload()
    ensure_topics(bootstrap, topics=[topic, f"{topic}.dead-letter"])

    stack = AirflowStack(home=root / "airflow", dags_folder=dags, env=env)
    producer = None
    load_before = os.getloadavg()
    samples: list[dict[str, Any]] = []
    t0 = time.monotonic()
    try:
        stack.start(wait_for_dags=(DAG_ID,))
        stack.wait_until(stack.watchers_ready, 180, "the watcher to run in the triggerer")
        startup_s = time.monotonic() - t0
        producer = make_producer(bootstrap)
        for i in range(args.events + 1):  # event 0 is the warm-up
            model = models[i % len(models)]
            event = DriftDetected(
                model=model,
                model_version="1",
                window=FIRST_WINDOW + dt.timedelta(days=i),
                drifted_features={"amount": 0.31},
                rule="bench: 2 of the last 3 windows breach",
                detected_at=dt.datetime.now(dt.UTC),
            )
            known = {r["run_id"] for r in stack.runs(DAG_ID)}
            send(producer, topic, event.to_json(), key=model.encode(), bootstrap=bootstrap)
            published = time.time()
            sample: dict[str, Any] = {"i": i, "model": model, "event_id": event.event_id, "published": published}
            run = _wait_run_done(stack, known)
            if run is None:
                sample["missed"] = True
                print(f"  {name} event {i}: no finished run within {RUN_TIMEOUT_S} s", file=sys.stderr)
            else:
                sample.update(
                    run_id=run["run_id"],
                    state=run["state"],
                    queued_s=run["queued_at"].timestamp() - published,
                    started_s=run["start_date"].timestamp() - published,
                    ended_s=run["end_date"].timestamp() - published,
                )
            samples.append(sample)
            time.sleep(args.gap)
        stored = asset_events(stack)
        for s in samples:
            if s.get("run_id") in stored:
                s["stored_s"] = stored[s["run_id"]][0][0].timestamp() - s["published"]
                # One event at a time, so each run must hold exactly its own event (the baseline's payload is
                # the raw JSON text, ours the ledger's small dict: the event_id is in both).
                s["matched"] = len(stored[s["run_id"]]) == 1 and s["event_id"] in stored[s["run_id"]][0][1]
        memory = peaks(stack)
        extra_runs = len(stack.runs(DAG_ID)) - sum(1 for s in samples if "run_id" in s)
        ledger_counts = None
        if name != "baseline":
            from evergreen.events import ledger

            ledger_counts = ledger.counts()
    finally:
        if producer is not None:
            producer.close()
        stack.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        config.reload()

    measured = [s for s in samples[1:] if "queued_s" in s]
    queued = [s["queued_s"] for s in measured]
    started = [s["started_s"] for s in measured]
    stored_s = [s["stored_s"] for s in measured if "stored_s" in s]
    failed = [s for s in measured if s["state"] != "success"]
    mismatched = [s["i"] for s in measured if not s.get("matched")]
    return {
        "config": name,
        "models": len(models),
        "events": len(measured),
        "missed": sum(1 for s in samples[1:] if s.get("missed")),
        "failed_runs": len(failed),
        "extra_runs": extra_runs,
        "mismatched": mismatched,
        "stored_p50_s": pct(stored_s, 50),
        "stored_p95_s": pct(stored_s, 95),
        "queued_p50_s": pct(queued, 50),
        "queued_p95_s": pct(queued, 95),
        "started_p50_s": pct(started, 50),
        "started_p95_s": pct(started, 95),
        "queued_max_s": max(queued, default=None),
        "started_max_s": max(started, default=None),
        "startup_s": startup_s,
        "memory": memory,
        "ledger": ledger_counts,
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "airflow_home": str(root / "airflow"),
        "samples": samples,
    }


def _wait_run_done(stack, known: set[str]) -> dict[str, Any] | None:
    """The first run not in `known`, once it has finished (so the next event meets an idle scheduler and a
    claimed ledger); None if none finishes within RUN_TIMEOUT_S."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        new = [r for r in stack.runs(DAG_ID) if r["run_id"] not in known]
        if new and new[0]["state"] in ("success", "failed") and new[0]["start_date"] and new[0]["queued_at"]:
            return new[0]
        stack.check_alive()
        time.sleep(0.1)
    return None


# ---- report ---------------------------------------------------------------------------------------------
def _f(value: float | None, spec: str = "5.2f") -> str:
    return "  n/a" if value is None else format(value, spec)


def table(results: list[dict[str, Any]]) -> str:
    base = next((r for r in results if r["config"] == "baseline"), None)
    head = (
        f"{'config':<13} {'events':>6} {'stored p50/p95':>15} {'queued p50/p95':>15} {'started p50/p95':>16} "
        f"{'ratio q50/q95/s50/s95 vs base':>30} {'trig MiB main/runner':>21} {'sched MiB':>9}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        ratios = "-"
        if base and r is not base:
            parts = [
                r[k] / base[k] if r[k] and base[k] else None
                for k in ("queued_p50_s", "queued_p95_s", "started_p50_s", "started_p95_s")
            ]
            ratios = "/".join(_f(p, ".2f") + "x" for p in parts)
        trig = r["memory"].get("triggerer", {})
        sched = r["memory"].get("scheduler", {})
        lines.append(
            f"{r['config']:<13} {r['events']:>6} "
            f"{_f(r['stored_p50_s'])}/{_f(r['stored_p95_s']):<9} "
            f"{_f(r['queued_p50_s'])}/{_f(r['queued_p95_s']):<9} "
            f"{_f(r['started_p50_s'])}/{_f(r['started_p95_s']):<10} "
            f"{ratios:>30} "
            f"{_f(trig.get('main_mib'), '.0f'):>9}/{_f(trig.get('largest_child_mib'), '.0f'):<11} "
            f"{_f(sched.get('main_mib'), '.0f'):>9}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20, help="measured events per configuration (+1 warm-up)")
    parser.add_argument("--gap", type=float, default=1.0, help="seconds between a run's end and the next event")
    parser.add_argument("--configs", nargs="+", choices=CONFIGS, default=list(CONFIGS))
    parser.add_argument("--json", type=Path, default=RESULTS)
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, metadata DBs)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="event-latency-"))
    port, controller_port = free_ports(2)
    data_dir = work / "kafka"
    bootstrap = f"127.0.0.1:{port}"
    results: list[dict[str, Any]] = []
    load_start = os.getloadavg()
    try:
        kafka("start", data_dir, port, controller_port, timeout=900)
        for name in args.configs:
            print(f"== {name}: starting a fresh Airflow ...", flush=True)
            r = run_config(name, args, work, bootstrap)
            print(
                f"   {r['events']} events ({r['missed']} missed, {r['failed_runs']} failed, {r['extra_runs']} extra "
                f"runs, run/event mismatches {r['mismatched']}), "
                f"stack up in {r['startup_s']:.0f} s, load {r['loadavg_after'][0]:.2f}",
                flush=True,
            )
            results.append(r)
    finally:
        with contextlib.suppress(Exception):
            kafka("stop", data_dir, port, controller_port, timeout=120)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    print()
    print(
        f"events one at a time: publish -> wait for its run to finish -> {args.gap:g} s -> next "
        f"(1 warm-up event per config not counted); latency from the producer ack (seconds)"
    )
    print(f"load average at start {'/'.join(f'{x:.2f}' for x in load_start)} on {os.cpu_count()} cores; per config:")
    for r in results:
        print(f"  {r['config']}: {r['loadavg_before'][0]:.2f} before, {r['loadavg_after'][0]:.2f} after")
    print(table(results))
    for r in results:
        if r["config"] != "baseline" and r["queued_p95_s"] is not None:
            verdict = "meets" if r["started_p95_s"] < AIM_P95_S else "misses"
            print(
                f"{r['config']}: started p95 {r['started_p95_s']:.2f} s {verdict} the {AIM_P95_S:g} s aim "
                f"(queued p95 {r['queued_p95_s']:.2f} s); ledger {r['ledger']}"
            )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "events": args.events,
                "gap_s": args.gap,
                "cpus": os.cpu_count(),
                "loadavg_start": load_start,
                "loadavg_end": os.getloadavg(),
                "results": results,
            },
            indent=2,
            default=str,
        )
    )
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
