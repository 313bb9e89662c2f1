"""`make demo`: the whole loop on embedded defaults, through the running stack (`make up`'s services).

1. Setup: any running stack is stopped, the state reset, and the stack started fresh (PostgreSQL, Kafka,
   MLflow, Airflow api-server / scheduler / dag-processor / triggerer), with the demo's spec copy.
2. History: the 14 normal days (one with broken files) are backfilled in one Spark session (the same steps
   and gates as ingest_daily); two retrain runs through the REST API: a first champion, then a challenger.
3. Drift days, each through the stack as in production: the day's files land (the generator plays the
   upstream systems), ingest_daily is started for it through the REST API, and everything after that is
   the scheduler's: the gold asset starts score_and_watch (the champion scores the day, it is watched against
   the champion's reference profile); a drift fire goes through Kafka to the triggerer's watcher and starts
   `retrain`; watched gold starts the daily retraining.
4. The stack stops; `make up` brings the same runs back in the Airflow and MLflow UIs.

The console shows one line per day and a progress indicator for long steps; library and service logs go
to files under `$EVERGREEN_HOME/logs` and `.run/stack/logs`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from evergreen.config import settings

DEMO_START = dt.date(2026, 1, 1)
# The model whose story the demo tells (its data generator makes fraud); other specs run alongside it.
DEMO_MODEL = "fraud"
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


# ---- through the stack -------------------------------------------------------------------------------------
def fresh_stack(home: Path, log: Path, drift: bool):
    """Stop whatever stack runs from this checkout, reset every store the demo writes, start it again
    (with the demo's spec copy, see demo_specs)."""
    from evergreen.devtools.stack import LocalStack, StackError

    def to_log(line: str) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a") as fh:
            fh.write(line + "\n")

    stack = LocalStack(out=to_log)
    stack.down()
    reset_home(home)
    for folder in (stack.cfg.postgres_dir, stack.cfg.kafka_dir, stack.airflow_home / "logs"):
        shutil.rmtree(folder, ignore_errors=True)
    (stack.airflow_home / "airflow.db").unlink(missing_ok=True)  # the SQLite store, if that is the setting
    if drift:
        os.environ["EVERGREEN_SPECS_DIRS"] = str(demo_specs(home))  # the services read it when they start
    try:
        stack.up()
    except StackError as e:
        raise SystemExit(f"[demo] the stack did not start: {e}") from e
    stack.adopt_client_env()
    return stack


def trigger(airflow, dag_id: str, conf: dict) -> str:
    run = airflow.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf}, token="")
    return run["dag_run_id"]


def decisions_of(run_id: str, model: str) -> list[dict]:
    from evergreen.registry import audit

    return [r for r in reversed(audit.history(model)) if (r["triggered_by"] or {}).get("run_id") == run_id]


def retrain_line(airflow, run: dict) -> str:
    """One line for a finished retrain run: what started it and what the policy decided."""
    from evergreen.devtools.replay import xcom

    assets = drift_triggers(airflow, run["run_id"])
    cause = {"manual": "by a person", "scheduled": "by the 03:00 tick"}.get(run["run_type"])
    cause = cause or ("by a drift event" if assets else "by watched gold")
    made = decisions_of(run["run_id"], DEMO_MODEL)
    if made:
        outcome = "; ".join(f"v{d['challenger_version']} {d['decision']}: {d['reason']}" for d in made)
    else:
        plans = (xcom(airflow, "retrain", run["run_id"], "plan") or [[]])[0]
        mine = next((p for p in plans if p.get("model") == DEMO_MODEL), None)
        if mine is None:
            outcome = "nothing to train (plan skipped: cooldown or no new data)"
        else:
            outcome = f"skipped: {mine['skip']}" if mine.get("skip") else "no decision"
    return f"retrain {run['run_id']} {cause}: {run['state']}; {outcome}"


def drift_triggers(airflow, run_id: str) -> list[dict]:
    return airflow.query(
        "SELECT ae.extra FROM dag_run dr JOIN dagrun_asset_event dae ON dae.dag_run_id = dr.id "
        "JOIN asset_event ae ON ae.id = dae.event_id JOIN asset a ON a.id = ae.asset_id "
        "WHERE dr.dag_id = 'retrain' AND dr.run_id = :r AND a.uri = 'evergreen://events/drift'",
        r=run_id,
    )


def wait_watched(airflow, day: str, seen: set[str], timeout: float = 1800) -> tuple[dict, list, list]:
    """The score_and_watch run the day's gold event started, once finished: (run, scored, reports)."""
    from evergreen.devtools.replay import wait_run, watched

    def started() -> dict | None:
        for run in airflow.runs("score_and_watch"):
            if run["run_id"] in seen:
                continue
            days = watched(airflow, run["run_id"], "resolve_days", DEMO_MODEL)
            if days and day in days:
                return run
        return None

    run = airflow.wait_until(started, timeout, f"score_and_watch for {day}", every=1)
    done = wait_run(airflow, "score_and_watch", run["run_id"], timeout)
    seen.add(run["run_id"])
    scored = watched(airflow, run["run_id"], "score", DEMO_MODEL) or []
    reports = watched(airflow, run["run_id"], "watch", DEMO_MODEL) or []
    return done, scored, reports


def day_line(day: str, ingest: dict, seconds: float, watched: dict, scored: list, reports: list) -> str:
    report = next((r for r in reports if r["window"] == day), None)
    if ingest["state"] != "success":
        return f"{day}: ingest_daily {ingest['state']} ({seconds:.0f} s): see the run's log in the Airflow UI"
    if report is None:
        return f"{day}: ingested in {seconds:.0f} s; score_and_watch {watched['state']}"
    rows = sum(s.get("rows", 0) for s in scored)
    verdict = "FIRES" if report["fires"] else ("breach" if report["breached"] else "ok")
    line = f"{day}: ingested in {seconds:.0f} s; v{report['model_version']} scored {rows} rows; drift rule {verdict}"
    if report["fires"] or report["breached"]:
        line += " (" + "; ".join(report.get("reasons") or [])[:160] + ")"
    return line


def scheduler_runs(airflow) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """Runs the stack's scheduler executed, per DAG (none is a dag.test()), and how each was started."""
    rows = airflow.query("SELECT dag_id, run_type, count(*) AS n FROM dag_run GROUP BY dag_id, run_type")
    by_type: dict[str, dict[str, int]] = {}
    for r in rows:
        by_type.setdefault(r["dag_id"], {})[str(r["run_type"])] = int(r["n"])
    return {d: sum(t.values()) for d, t in sorted(by_type.items())}, by_type


def run(args) -> int:
    """`evergreen demo`: the whole loop through the stack; one line a day and one JSON line at the end."""
    from evergreen import config
    from evergreen.common.console import progress, table
    from evergreen.devtools.dag_runs import backfill_days, output_to
    from evergreen.devtools.datagen import SCENARIO_KIND, Scenario, generate
    from evergreen.devtools.demo_options import check_demo_options
    from evergreen.devtools.replay import land_day, start_ingest, wait_run
    from evergreen.storage.inventory import DAY_COLUMNS, summarize

    check_demo_options(args, start=DEMO_START)  # before anything starts: a wrong option costs nothing
    if SCENARIO_KIND.get(args.bad_scenario) != "bad_data":
        raise SystemExit(f"--bad-scenario must be a bad-data scenario, not {args.bad_scenario!r}")
    if args.drift_scenario and SCENARIO_KIND.get(args.drift_scenario) != "drift":
        raise SystemExit(f"--drift-scenario must be a drift scenario, not {args.drift_scenario!r}")
    started = time.time()
    timing: dict[str, float] = {}
    home = Path(settings().home)
    log_dir = home / "logs"
    days = [DEMO_START + dt.timedelta(days=i) for i in range(args.days)]
    day_names = [str(d) for d in days]
    normal = min(args.drift_day - 1, args.days) if args.drift_scenario else args.days
    history, drifting = day_names[:normal], day_names[normal:]
    bad = Scenario(args.bad_scenario, days[args.bad_day - 1])
    drift = [Scenario(args.drift_scenario, days[args.drift_day - 1])] if drifting else []

    with progress("[demo] setup: fresh stack (PostgreSQL, Kafka, MLflow, Airflow)") as step:
        stack = fresh_stack(home, log_dir / "stack.log", drift=bool(drifting))
    timing["setup_s"] = step.seconds
    logging.basicConfig(filename=str(log_dir / "demo.log"), level=logging.INFO, force=True)
    cfg = config.reload()
    airflow = stack.airflow()
    say(f"Airflow {stack.airflow_url}, MLflow {stack.mlflow_url}; logs in {log_dir} and {stack.log_dir}")

    try:
        # ---- history: one Spark session, then a first champion and a challenger, through the stack ----
        say(
            f"{args.days} days x ~{args.rows_per_day} transactions from {days[0]}: {bad.name} on {bad.start}"
            + "".join(f"; {s.name} from {s.start}" for s in drift)
        )
        with progress(f"[demo] history {history[0]}..{history[-1]}: land and backfill in one Spark session") as step:
            with output_to(log_dir / "generate.log"):
                generate(days[0], days=normal, rows_per_day=args.rows_per_day, seed=args.seed, scenarios=[bad])
            runs = backfill_days(history, log_dir)
        timing["history_s"] = step.seconds
        retrains: list[dict] = []
        with progress("[demo] first trainings through the stack (retrain runs started by a person)") as step:
            for as_of in history[-2:]:
                run_id = trigger(airflow, "retrain", {"as_of": as_of})
                done = wait_run(airflow, "retrain", run_id, 1800)
                retrains.append(done)
                say(retrain_line(airflow, done))
        timing["first_trainings_s"] = step.seconds
        champion_before = champion_summary(DEMO_MODEL)

        # ---- drift days: land, ingest_daily through the REST API, the rest by the scheduler ----
        out_drift: dict[str, Any] = {"scenario": args.drift_scenario, "detected_day": None, "event_id": None}
        seen_watch: set[str] = set()
        reported = {r["run_id"] for r in airflow.runs("retrain")}
        days_began = time.time()
        per_day = []
        for day in drifting:
            began = time.time()
            land_day(day, rows_per_day=args.rows_per_day, seed=args.seed, scenarios=[bad, *drift])
            run_id = start_ingest(airflow, day, airflow.token())
            ingest = wait_run(airflow, "ingest_daily", run_id, 1800, since=began)
            runs[day] = {"state": ingest["state"]}
            ingest_s = time.time() - began
            watched, scored, reports = (
                wait_watched(airflow, day, seen_watch) if ingest["state"] == "success" else ({}, [], [])
            )
            per_day.append({"day": day, "ingest_s": round(ingest_s, 1), "total_s": round(time.time() - began, 1)})
            say(day_line(day, ingest, ingest_s, watched, scored, reports))
            for r in reports:
                if r["fires"] and out_drift["detected_day"] is None:
                    out_drift["detected_day"] = day
            for run in airflow.runs("retrain"):
                if run["run_id"] not in reported and run["state"] in ("success", "failed"):
                    reported.add(run["run_id"])
                    retrains.append(run)
                    say("    " + retrain_line(airflow, run))
        timing["days_s"] = time.time() - days_began
        with progress("[demo] retrains still running: waiting for them") as step:
            _quiet(airflow, ("score_and_watch", "retrain"))
        timing["retrains_s"] = step.seconds
        for run in airflow.runs("retrain"):
            if run["run_id"] not in reported:
                retrains.append(run)
                say("    " + retrain_line(airflow, run))
        if out_drift["detected_day"]:
            out_drift.update(drift_reaction(airflow))

        with output_to(log_dir / "summary.log"):
            summary = summarize(day_names)  # landing counted from the files, by the file gate's rule
            promotions = promotions_summary(DEMO_MODEL)
            champion = champion_summary(DEMO_MODEL)
            story = pr_auc_story(DEMO_MODEL) if drifting else None
            total, by_type = scheduler_runs(airflow)
    finally:
        with progress("[demo] stopping the stack") as step, output_to(log_dir / "stack.log"):
            stack.down()

    print()
    print(table(summary["days"], DAY_COLUMNS))
    for f in summary["gates"]["not_passed"]:
        print(f"[gate] {f['day']} {f['gate']} {f['status']}: {f['reason']}")
    layers = summary["layers"]
    reconciled = summary["reconciled"]  # per day and in total: landing - silver - quarantine == 0
    say(
        f"landing {layers['landing']} = silver {layers['silver']} + quarantine {layers['quarantine']}: "
        f"{'reconciled' if reconciled else 'NOT RECONCILED'}"
    )
    for p in promotions:
        print(f"[promotion] v{p['version']} {p['decision']}: {p['reason']}")
    if per_day:
        timing["per_day_s"] = sum(d["total_s"] for d in per_day) / len(per_day)
    out: dict[str, Any] = {
        "layers": layers,
        "gates": summary["gates"],
        "reconciled": reconciled,
        "runs": {d: runs[d]["state"] for d in day_names},
        "champion": champion,
        "champion_before_drift": champion_before,
        "promotions": promotions,
    }
    if drifting:
        out["drift"] = out_drift
        out["pr_auc"] = story
    out["scheduler_runs"] = total
    out["scheduler_run_types"] = by_type
    out["lake"] = cfg.lake_root
    out["timing_s"] = {k: round(v, 1) for k, v in timing.items()}
    out["minutes"] = round((time.time() - started) / 60, 1)
    say(
        "browse these runs: `make up`, then the Airflow UI "
        f"({stack.airflow_url}, user admin, password in {stack.passwords_path}) and MLflow ({stack.mlflow_url})"
    )
    print(summary_json(out))
    ok = reconciled and champion is not None and all(r["state"] == "success" for r in retrains)
    if drifting:
        ok = ok and out_drift.get("detected_day") is not None
    return 0 if ok else 1


def drift_reaction(airflow) -> dict[str, Any]:
    """The first drift event: its id, the retrain run it started, publication -> run queued."""
    from evergreen.devtools.replay import watched

    for run in airflow.runs("score_and_watch"):
        published = [p for p in (watched(airflow, run["run_id"], "publish", DEMO_MODEL) or []) if p]
        first = next((p for p in published if p.get("published")), None)
        if first is None:
            continue
        out: dict[str, Any] = {"event_id": first["event_id"]}
        for retrain in airflow.runs("retrain"):
            if drift_triggers(airflow, retrain["run_id"]):
                sent = dt.datetime.fromisoformat(first["published_at"]).timestamp()
                out.update(
                    retrain_run_id=retrain["run_id"],
                    event_to_run_s=round(retrain["queued_at"].timestamp() - sent, 2),
                )
                break
        return out
    return {}


def _quiet(airflow, dag_ids, settle_s: float = 20, timeout: float = 3600) -> None:
    deadline = time.monotonic() + timeout
    calm = None
    while time.monotonic() < deadline:
        busy = any(r["state"] in ("queued", "running") for d in dag_ids for r in airflow.runs(d))
        calm = None if busy else (calm or time.monotonic())
        if calm and time.monotonic() - calm >= settle_s:
            return
        time.sleep(2)
