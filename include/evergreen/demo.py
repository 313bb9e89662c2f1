"""`make demo`: the whole loop on embedded defaults.

1. History: 14 normal days (one with broken files) land in the lake; a first champion, then a challenger judged.
2. Drift: from day 15 the generator's drift scenario is on. Each day lands, the champion scores it and the
   day is watched against the champion's reference profile. When the drift rule fires, a DriftDetected event
   goes through the real Kafka broker; the real triggerer's watcher and the real scheduler start `retrain`.
3. Labels of the drifted days take a week to mature; the last day's gold (an asset event through the
   authenticated Airflow API, as ingest_daily's outlet would emit) starts one more retraining, which trains
   on them, and the policy judges it against the champion on the same drifted holdout.

Each step is the same function its DAG task calls (ingest/clean/features, score, watch, publish); history and
the drift days run in one Spark session rather than three `spark-submit`s a day, which keeps the demo at
minutes instead of an hour. One day of history goes through `ingest_daily` in Airflow to show that path.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from pathlib import Path
from typing import Any

from evergreen.config import REPO_ROOT, settings

DEMO_START = dt.date(2026, 1, 1)
# Everything the demo writes lives in the home; a second `make demo` starts from nothing and prints the same.
DEMO_STATE = (
    "lake",
    "reports",
    "gx",
    "logs",
    "source.db",
    "evergreen.db",
    "mlflow.db",
    "mlartifacts",
    "airflow-stack",
    "kafka",
    "specs",
)
# The demo's lake starts empty on day 1, so every feature computed over a history window (7 / 30 days of
# transactions, labels that arrive up to 10 days late) fills in over the lake's first weeks: against a
# reference from days 1-7 they "drift" by construction (measured 0.12-1.0 Hellinger on days 15-16 with no
# scenario at work). A production lake has settled history; the demo watches only what a young lake can
# compare, and the shipped spec keeps watching everything.


def demo_specs(home: Path) -> Path:
    """The fraud spec as shipped, with the lake-age features out of the drift rule (see above)."""
    import yaml

    from evergreen.spec import SPECS_DIR

    spec = yaml.safe_load((SPECS_DIR / "fraud.yaml").read_text())
    from evergreen.transforms.features import HISTORY_FEATURES

    spec["drift"]["exclude"] = [*spec["drift"]["exclude"], *HISTORY_FEATURES]
    folder = home / "specs"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "fraud.yaml").write_text(
        "# Written by `evergreen demo`: specs/fraud.yaml with the young lake's history features out of the\n"
        "# drift rule (evergreen/demo.py says why).\n" + yaml.safe_dump(spec, sort_keys=False)
    )
    return folder


def reset_home(home: Path) -> None:
    for sub in DEMO_STATE:
        target = home / sub
        shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink(missing_ok=True)


def say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


# ---- phase 3: the drift loop -------------------------------------------------------------------------------
class Broker:
    """The project's Kafka (scripts/kafka.sh) on its own data dir under the demo's home."""

    def __init__(self, home: Path, port: int) -> None:
        import os

        self.env = {
            **os.environ,
            "KAFKA_DATA_DIR": str(home / "kafka"),
            "KAFKA_PORT": str(port),
            "KAFKA_CONTROLLER_PORT": str(port + 1),
        }
        self.bootstrap = f"127.0.0.1:{port}"

    def run(self, *args: str) -> None:
        import subprocess

        out = subprocess.run(
            ["bash", str(REPO_ROOT / "scripts" / "kafka.sh"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if out.returncode != 0:
            raise SystemExit(f"scripts/kafka.sh {' '.join(args)} failed:\n{out.stdout}{out.stderr}")


def drift_loop(args, days: list[str], log_dir: Path) -> dict[str, Any]:
    """Land, score and watch each drift day; publish on the rule; let the real Airflow react."""
    import os

    from evergreen import config
    from evergreen.airflow_stack import AirflowStack, free_port, kafka_connection, wait_finished
    from evergreen.cli import _output_to
    from evergreen.dagkit import GOLD_FEATURES_URI
    from evergreen.daily import backfill
    from evergreen.events.producer import ensure_topics
    from evergreen.sparkutil import spark_session
    from evergreen.watching import publish, score, watch

    home = Path(settings().home)
    broker = Broker(home, free_port())
    say(f"starting Kafka ({broker.bootstrap}) and Airflow (api-server, scheduler, dag-processor, triggerer)")
    broker.run("start")
    os.environ["EVERGREEN_KAFKA_BOOTSTRAP"] = broker.bootstrap
    config.reload()
    ensure_topics(broker.bootstrap)
    dags = home / "airflow-stack" / "dags"
    dags.mkdir(parents=True, exist_ok=True)
    # Only `retrain` runs under the scheduler here: the demo itself plays ingest_daily and score_and_watch.
    shutil.copy(REPO_ROOT / "dags" / "retrain.py", dags / "retrain.py")
    env = {
        "EVERGREEN_HOME": str(home),
        "EVERGREEN_SPECS_DIR": settings().specs_dir,
        "EVERGREEN_KAFKA_BOOTSTRAP": broker.bootstrap,
        "AIRFLOW_CONN_KAFKA_DRIFT": kafka_connection(broker.bootstrap, "evergreen-demo-drift"),
    }
    stack = AirflowStack(home=home / "airflow-stack", dags_folder=dags, env=env)
    out: dict[str, Any] = {"scenario": args.drift_scenario, "detected_day": None, "event_id": None}
    retrains: list[dict] = []
    spark = None
    try:
        stack.start(wait_for_dags=("retrain",))
        stack.wait_until(stack.watchers_ready, 180, "the drift watcher in the triggerer")
        for run in stack.runs("retrain"):  # unpausing runs the cron's latest tick: the cooldown skips it
            wait_finished(stack, "retrain", run["run_id"], 600)
        with _output_to(log_dir / "drift-days.log"):
            spark = spark_session("evergreen-demo-drift")
        for day in days:
            with _output_to(log_dir / "drift-days.log"):
                backfill(spark, [day])
            scored = score("fraud", day)
            report = watch("fraud", day, scored)
            verdict = "FIRES" if report["fires"] else ("breach" if report["breached"] else "ok")
            say(f"{day}: scored {scored['rows']} rows with v{scored['model_version']}; drift rule: {verdict}")
            for reason in report["reasons"]:
                say(f"    {reason}")
            published = publish("fraud", report)
            if not (published and published.get("published")):
                continue
            sent = dt.datetime.fromisoformat(published["published_at"]).timestamp()
            before = {r["run_id"] for r in stack.runs("retrain")}
            run = stack.wait_until(
                lambda b=before: next((r for r in stack.runs("retrain") if r["run_id"] not in b), None),
                120,
                "the drift event's retrain run",
            )
            latency = run["queued_at"].timestamp() - sent
            say(f"    DriftDetected {published['event_id']} -> retrain run {run['run_id']} in {latency:.2f} s")
            if out["detected_day"] is None:
                out.update(
                    detected_day=day,
                    event_id=published["event_id"],
                    retrain_run_id=run["run_id"],
                    event_to_run_s=round(latency, 2),
                )
            retrains.append(_finish(stack, run["run_id"]))
        # The drifted days' labels have matured by now: new gold (what ingest_daily's outlet emits) starts
        # the retraining that can learn the new pattern.
        before = {r["run_id"] for r in stack.runs("retrain")}
        stack.post_asset_event(GOLD_FEATURES_URI, {"day": days[-1], "from": "evergreen demo"})
        run = stack.wait_until(
            lambda: next((r for r in stack.runs("retrain") if r["run_id"] not in before), None), 120, "the retrain run"
        )
        say(f"new gold for {days[-1]} -> retrain run {run['run_id']}")
        retrains.append(_finish(stack, run["run_id"]))
    finally:
        if spark is not None:
            spark.stop()
        stack.stop()
        broker.run("stop")
    out["retrains"] = retrains
    return out


def _finish(stack, run_id: str) -> dict:
    from evergreen.airflow_stack import wait_finished

    done = wait_finished(stack, "retrain", run_id, 900)
    states = stack.task_states("retrain", run_id)
    say(f"    retrain {run_id}: {done['state']} {states}")
    return {"run_id": run_id, "state": done["state"], "tasks": states}


def pr_auc_story(model: str) -> dict[str, float | None]:
    """PR-AUC before the drift, during it and after the retraining, each on a holdout the scored model never
    trained on: the first champion on its own pre-drift holdout; then the last judged challenge's numbers,
    where champion and challenger were scored on the same (drifted) holdout."""
    from evergreen.registry import audit

    rows = list(reversed(audit.history(model)))  # oldest first
    first = next((r for r in rows if r["decision"] in ("promote", "force_promote")), None)
    last = next((r for r in reversed(rows) if r["champion_metrics"]), None)

    def pr(metrics: dict | None) -> float | None:
        return None if not metrics or metrics.get("pr_auc") is None else round(float(metrics["pr_auc"]), 4)

    return {
        "before_drift": pr(first["challenger_metrics"]) if first else None,
        "during_drift": pr(last["champion_metrics"]) if last else None,
        "after_retrain": pr(last["challenger_metrics"]) if last else None,
    }


def summary_json(out: dict[str, Any]) -> str:
    return json.dumps(out, default=str)


def elapsed(started: float) -> str:
    return f"{(time.time() - started) / 60:.1f} min"
