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
import os
import shutil
import time
from pathlib import Path
from typing import Any

from evergreen.config import settings
from evergreen.devtools.checkout import script

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

    from evergreen.contracts.model_spec import SPECS_DIR

    spec = yaml.safe_load((SPECS_DIR / "fraud.yaml").read_text())
    from evergreen.pipeline.transforms.features import HISTORY_FEATURES

    spec["drift"]["exclude"] = [*spec["drift"]["exclude"], *HISTORY_FEATURES]
    folder = home / "specs"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "fraud.yaml").write_text(
        "# Written by `evergreen demo`: specs/fraud.yaml with the young lake's history features out of the\n"
        "# drift rule (evergreen/devtools/demo.py says why).\n" + yaml.safe_dump(spec, sort_keys=False)
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
            ["bash", str(script("kafka.sh")), *args],
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

    from airflow.configuration import conf

    from evergreen import config
    from evergreen.devtools.airflow_stack import AirflowStack, free_port, kafka_connection, wait_finished
    from evergreen.devtools.dag_runs import output_to
    from evergreen.events.producer import ensure_topics
    from evergreen.orchestration.dagkit import GOLD_FEATURES_URI
    from evergreen.orchestration.score_and_watch import publish, score, watch
    from evergreen.pipeline.spark import spark_session
    from evergreen.pipeline.steps import backfill

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
    shutil.copy(Path(conf.get("core", "dags_folder")) / "retrain.py", dags / "retrain.py")
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
        with output_to(log_dir / "drift-days.log"):
            spark = spark_session("evergreen-demo-drift")
        for day in days:
            with output_to(log_dir / "drift-days.log"):
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
    from evergreen.devtools.airflow_stack import wait_finished

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


def promotions_summary(model: str) -> list[dict]:
    from evergreen.registry import audit

    rows = reversed(audit.history(model))  # oldest first: the story in the order it happened
    return [{"version": r["challenger_version"], "decision": r["decision"], "reason": r["reason"]} for r in rows]


def champion_summary(model: str) -> dict | None:
    from evergreen.registry.promotion import champion_info

    try:
        info = champion_info(model)
    except LookupError:
        return None
    judged = (info.get("promoted") or {}).get("holdout_metrics") or {}
    pr_auc = judged.get("pr_auc", info["metrics"].get("holdout_pr_auc"))
    return {"version": info["version"], "pr_auc": None if pr_auc is None else round(float(pr_auc), 4)}


def run(args) -> int:
    """`evergreen demo`: the whole loop; prints the story and one JSON line, exits non-zero if it broke."""
    __import__("evergreen.devtools.demo_options").devtools.demo_options.check_demo_options(args, start=DEMO_START)
    from evergreen import config
    from evergreen.common.console import table
    from evergreen.devtools.dag_runs import backfill_days, run_ingest_day, run_retrain
    from evergreen.devtools.datagen import SCENARIO_KIND, Scenario, generate
    from evergreen.storage.inventory import DAY_COLUMNS, summarize

    if SCENARIO_KIND.get(args.bad_scenario) != "bad_data":
        raise SystemExit(f"--bad-scenario must be a bad-data scenario, not {args.bad_scenario!r}")
    if args.drift_scenario and SCENARIO_KIND.get(args.drift_scenario) != "drift":
        raise SystemExit(f"--drift-scenario must be a drift scenario, not {args.drift_scenario!r}")
    started = time.time()
    home = Path(settings().home)
    reset_home(home)
    if args.drift_scenario:
        os.environ["EVERGREEN_SPECS_DIR"] = str(demo_specs(home))
    cfg = config.reload()
    days = [DEMO_START + dt.timedelta(days=i) for i in range(args.days)]
    bad_day = days[args.bad_day - 1]
    normal = min(args.drift_day - 1, args.days) if args.drift_scenario else args.days
    scenarios = [Scenario(args.bad_scenario, bad_day)]
    if args.drift_scenario and args.days >= args.drift_day:
        scenarios.append(Scenario(args.drift_scenario, days[args.drift_day - 1]))
    say(
        f"generating {args.days} days x ~{args.rows_per_day} transactions from {days[0]}; "
        + "; ".join(f"{s.name} from {s.start}" for s in scenarios)
    )
    manifest = generate(days[0], days=args.days, rows_per_day=args.rows_per_day, seed=args.seed, scenarios=scenarios)
    landing = {d["date"]: d["rows"] for d in manifest["days"]}
    day_names = [str(d) for d in days]
    history, today, drifting = day_names[: normal - 1], day_names[normal - 1], day_names[normal:]

    say(f"backfilling {history[0]}..{history[-1]} in one Spark session (same steps and gates)")
    runs = backfill_days(history, home / "logs")
    say(f"ingest_daily {today} through Airflow")
    runs[today] = run_ingest_day(today, home / "logs")
    say(f"ingest_daily {today}: {runs[today]['state']} in {runs[today]['seconds']:.1f}s")

    # Two trainings a day apart: the first sets a champion (if it clears the spec's minimum), the second is
    # a challenger the policy judges against it on the same holdout.
    retrains = []
    for as_of in (history[-1], today):
        r = run_retrain({"as_of": as_of}, home / "logs")
        retrains.append(r)
        say(f"retrain as of {as_of}: {r['state']} in {r['seconds']:.1f}s {r['tasks']}")
    champion_before = champion_summary("fraud")

    drift = None
    if drifting:
        drift = drift_loop(args, drifting, home / "logs")
        retrains += drift.pop("retrains")
        runs.update({d: {"state": "success"} for d in drifting})

    summary = summarize(day_names, landing)
    print()
    print(table(summary["days"], DAY_COLUMNS))
    for f in summary["gates"]["not_passed"]:
        print(f"[gate] {f['day']} {f['gate']} {f['status']}: {f['reason']}")
    layers = summary["layers"]
    reconciled = layers["landing"] == layers["silver"] + layers["quarantine"]
    say(
        f"landing {layers['landing']} = silver {layers['silver']} + quarantine {layers['quarantine']}: "
        f"{'reconciled' if reconciled else 'NOT RECONCILED'}; logs in {home / 'logs'}"
    )
    promotions = promotions_summary("fraud")
    for p in promotions:
        print(f"[promotion] v{p['version']} {p['decision']}: {p['reason']}")
    champion = champion_summary("fraud")
    out = {
        "layers": layers,
        "gates": summary["gates"],
        "reconciled": reconciled,
        "runs": {d: runs[d]["state"] for d in day_names},
        "champion": champion,
        "champion_before_drift": champion_before,
        "promotions": promotions,
    }
    if drift is not None:
        out["drift"] = drift
        out["pr_auc"] = pr_auc_story("fraud")
    out["lake"] = cfg.lake_root
    out["minutes"] = round((time.time() - started) / 60, 1)
    print(summary_json(out))
    ok = reconciled and champion is not None and all(r["state"] == "success" for r in retrains)
    if drift is not None:
        ok = ok and drift.get("detected_day") is not None
    return 0 if ok else 1
