"""The `evergreen` command: demo, generate, run-day, status.

evergreen demo                       # 14 days (one broken), a first champion, a challenger judged
evergreen generate --days 14 --scenario fraud_pattern_shift@2026-01-10
evergreen run-day --date 2026-01-03  # one ingest_daily run through Airflow (dag.test)
evergreen status                     # rows per layer, gates per day
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import sys
import time
from pathlib import Path

from evergreen import config
from evergreen.config import REPO_ROOT, settings

DEMO_START = dt.date(2026, 1, 1)


# ---- generate --------------------------------------------------------------------------------------------
def _parse_scenarios(items: list[str]) -> list:
    from evergreen.datagen import SCENARIOS, Scenario

    out = []
    for item in items:
        name, _, start = item.partition("@")
        if name not in SCENARIOS:
            raise SystemExit(f"unknown scenario {name!r}; known: {', '.join(sorted(SCENARIOS))}")
        out.append(Scenario(name, dt.date.fromisoformat(start) if start else 0))
    return out


def cmd_generate(args) -> int:
    from evergreen.datagen import generate

    manifest = generate(
        dt.date.fromisoformat(args.start),
        days=args.days,
        rows_per_day=args.rows_per_day,
        seed=args.seed,
        scenarios=_parse_scenarios(args.scenario),
    )
    print(json.dumps({"days": len(manifest["days"]), "landing": settings().landing_root}))
    return 0


# ---- running days through Airflow --------------------------------------------------------------------------
@contextlib.contextmanager
def _output_to(path: Path):
    """Send everything (Airflow task logs, spark-submit output) to a log file, at the fd level."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "ab") as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags" / f"{dag_id}.py"))
    if bag.import_errors:
        raise SystemExit(f"{dag_id} does not parse: {bag.import_errors}")
    return bag.dags[dag_id]


def run_ingest_day(day: str, log_dir: Path) -> dict:
    """One ingest_daily run for `day` through Airflow's dag.test(); returns what happened."""
    from evergreen.reports import report_path

    shutil.rmtree(report_path(day, "x").parent, ignore_errors=True)  # so a stale report can't speak for today
    logical = dt.datetime.combine(dt.date.fromisoformat(day) + dt.timedelta(days=1), dt.time(0, 30), dt.UTC)
    started = time.time()
    with _output_to(log_dir / f"ingest_daily-{day}.log"):
        run = _dag("ingest_daily").test(logical_date=logical, run_conf={"date": day})
    return {"day": day, "state": str(run.state), "seconds": round(time.time() - started, 1), "run_id": run.run_id}


def cmd_run_day(args) -> int:
    result = run_ingest_day(args.date, Path(settings().home) / "logs")
    print(json.dumps(result))
    return 0 if result["state"] == "success" else 1


# ---- status / summary --------------------------------------------------------------------------------------
def _gate(day: str, step: str) -> dict | None:
    from evergreen.reports import report_path

    path = report_path(day, step)
    return json.loads(path.read_text())["gate"] if path.exists() else None


def summarize(days: list[str], landing_rows: dict[str, int] | None = None) -> dict:
    """Rows per layer for `days` (counted in the lake, not taken from the jobs' word) and gate outcomes."""
    from evergreen.daily import batch_id
    from evergreen.inventory import partition_counts

    bronze = partition_counts("bronze", "transactions", "event_date", days)
    silver = partition_counts("silver", "transactions", "event_date", days)
    gold = partition_counts("gold", "features", "event_date", days)
    quarantine = partition_counts("quarantine", "transactions", "batch_id", [batch_id(d) for d in days])
    per_day, gates, failures = [], {"raw_contract": {}, "clean_quality": {}}, []
    for day in days:
        raw, clean = _gate(day, "ingest"), _gate(day, "clean")
        row = {
            "day": day,
            "landing": (landing_rows or {}).get(day),
            "bronze": bronze.get(day, 0),
            "silver": silver.get(day, 0),
            "quarantine": quarantine.get(batch_id(day), 0),
            "gold": gold.get(day, 0),
            "raw_contract": raw["status"] if raw else "not run",
            "clean_quality": clean["status"] if clean else "not run",
        }
        per_day.append(row)
        for name, g in (("raw_contract", raw), ("clean_quality", clean)):
            status = g["status"] if g else "not run"
            gates[name][status] = gates[name].get(status, 0) + 1
            if g and g["status"] != "passed":
                failures.append({"day": day, "gate": name, "status": g["status"], "reason": g["reason"]})
    layers = {k: sum(r[k] or 0 for r in per_day) for k in ("landing", "bronze", "silver", "quarantine", "gold")}
    return {"layers": layers, "gates": {**gates, "not_passed": failures}, "days": per_day}


def _print_table(per_day: list[dict]) -> None:
    cols = ["day", "landing", "bronze", "silver", "quarantine", "gold", "raw_contract", "clean_quality"]
    print("  ".join(f"{c:>12}" for c in cols))
    for r in per_day:
        print("  ".join(f"{'-' if r[c] is None else r[c]!s:>12}" for c in cols))


def cmd_status(args) -> int:
    from evergreen.inventory import partition_counts

    days = list(partition_counts("bronze", "transactions", "event_date")) or []
    days = sorted(set(days) | set(partition_counts("silver", "transactions", "event_date")))
    summary = summarize(days)
    _print_table(summary["days"])
    print(json.dumps({"layers": summary["layers"], "gates": summary["gates"]}))
    return 0


# ---- demo --------------------------------------------------------------------------------------------------
def backfill_days(days: list[str], log_dir: Path) -> dict[str, dict]:
    """History in one Spark session (the same steps and gates as ingest_daily, minus ~8 s of JVM start per
    step per day): how a team lands weeks of history before the daily DAG takes over."""
    from evergreen.daily import backfill
    from evergreen.sparkutil import spark_session

    started = time.time()
    with _output_to(log_dir / "backfill.log"):
        spark = spark_session("evergreen-backfill")
        try:
            out = backfill(spark, days)
        finally:
            spark.stop()
    for r in out.values():
        r["seconds"] = round((time.time() - started) / len(out), 1)  # per day, on average
        r["state"] = "success" if r["stopped_at"] is None else "failed"
    return out


def run_retrain(conf: dict, log_dir: Path) -> dict:
    """One retrain run through Airflow's dag.test(); returns its state and what the challenge decided."""
    started = time.time()
    logical = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with _output_to(log_dir / f"retrain-{conf.get('as_of', 'latest')}.log"):
        run = _dag("retrain").test(logical_date=logical, run_conf=conf)
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    return {"run_id": run.run_id, "state": str(run.state), "tasks": states, "seconds": round(time.time() - started, 1)}


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


def cmd_demo(args) -> int:
    from evergreen import demo
    from evergreen.datagen import SCENARIO_KIND, Scenario, generate

    if SCENARIO_KIND.get(args.bad_scenario) != "bad_data":
        raise SystemExit(f"--bad-scenario must be a bad-data scenario, not {args.bad_scenario!r}")
    if args.drift_scenario and SCENARIO_KIND.get(args.drift_scenario) != "drift":
        raise SystemExit(f"--drift-scenario must be a drift scenario, not {args.drift_scenario!r}")
    started = time.time()
    home = Path(settings().home)
    demo.reset_home(home)
    if args.drift_scenario:
        os.environ["EVERGREEN_SPECS_DIR"] = str(demo.demo_specs(home))
    cfg = config.reload()
    days = [DEMO_START + dt.timedelta(days=i) for i in range(args.days)]
    bad_day = days[args.bad_day - 1]
    normal = min(args.drift_day - 1, args.days) if args.drift_scenario else args.days
    scenarios = [Scenario(args.bad_scenario, bad_day)]
    if args.drift_scenario and args.days >= args.drift_day:
        scenarios.append(Scenario(args.drift_scenario, days[args.drift_day - 1]))
    demo.say(
        f"generating {args.days} days x ~{args.rows_per_day} transactions from {days[0]}; "
        + "; ".join(f"{s.name} from {s.start}" for s in scenarios)
    )
    manifest = generate(days[0], days=args.days, rows_per_day=args.rows_per_day, seed=args.seed, scenarios=scenarios)
    landing = {d["date"]: d["rows"] for d in manifest["days"]}
    day_names = [str(d) for d in days]
    history, today, drifting = day_names[: normal - 1], day_names[normal - 1], day_names[normal:]

    demo.say(f"backfilling {history[0]}..{history[-1]} in one Spark session (same steps and gates)")
    runs = backfill_days(history, home / "logs")
    demo.say(f"ingest_daily {today} through Airflow")
    runs[today] = run_ingest_day(today, home / "logs")
    demo.say(f"ingest_daily {today}: {runs[today]['state']} in {runs[today]['seconds']:.1f}s")

    # Two trainings a day apart: the first sets a champion (if it clears the spec's minimum), the second is
    # a challenger the policy judges against it on the same holdout.
    retrains = []
    for as_of in (history[-1], today):
        r = run_retrain({"as_of": as_of}, home / "logs")
        retrains.append(r)
        demo.say(f"retrain as of {as_of}: {r['state']} in {r['seconds']:.1f}s {r['tasks']}")
    champion_before = champion_summary("fraud")

    drift = None
    if drifting:
        drift = demo.drift_loop(args, drifting, home / "logs")
        retrains += drift.pop("retrains")
        runs.update({d: {"state": "success"} for d in drifting})

    summary = summarize(day_names, landing)
    print()
    _print_table(summary["days"])
    for f in summary["gates"]["not_passed"]:
        print(f"[gate] {f['day']} {f['gate']} {f['status']}: {f['reason']}")
    layers = summary["layers"]
    reconciled = layers["landing"] == layers["silver"] + layers["quarantine"]
    demo.say(
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
        out["pr_auc"] = demo.pr_auc_story("fraud")
    out["lake"] = cfg.lake_root
    out["minutes"] = round((time.time() - started) / 60, 1)
    print(demo.summary_json(out))
    ok = reconciled and champion is not None and all(r["state"] == "success" for r in retrains)
    if drift is not None:
        ok = ok and drift.get("detected_day") is not None
    return 0 if ok else 1


# ---- registry: champion, rollback ---------------------------------------------------------------------------
def cmd_champion(args) -> int:
    from evergreen.registry.promotion import champion_info

    try:
        info = champion_info(args.model)
    except LookupError as e:
        print(f"no champion: {e}", file=sys.stderr)
        return 1
    print(json.dumps(info, default=str))
    return 0


def cmd_rollback(args) -> int:
    from evergreen.registry.rollback import RollbackError, rollback

    try:
        decision = rollback(args.model, to_version=args.to_version, reason=args.reason, actor=args.actor)
    except RollbackError as e:
        print(f"rollback refused, nothing changed: {e}", file=sys.stderr)
        return 2
    keys = ("model", "decision", "challenger_version", "champion_version", "reason", "actor", "decided_at", "audit_id")
    out = {k: getattr(decision, k) for k in keys}
    out["champion"] = out.pop("challenger_version")
    out["replaced"] = out.pop("champion_version")
    print(json.dumps(out))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="evergreen", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="write synthetic landing files, labels and source tables")
    g.add_argument("--start", default=str(DEMO_START))
    g.add_argument("--days", type=int, default=7)
    g.add_argument("--rows-per-day", type=int, default=20_000)
    g.add_argument("--seed", type=int, default=7)
    g.add_argument("--scenario", action="append", default=[], metavar="NAME[@YYYY-MM-DD]")
    g.set_defaults(func=cmd_generate)

    r = sub.add_parser("run-day", help="run ingest_daily for one day through Airflow")
    r.add_argument("--date", required=True)
    r.set_defaults(func=cmd_run_day)

    s = sub.add_parser("status", help="rows per layer and gate outcomes")
    s.set_defaults(func=cmd_status)

    d = sub.add_parser("demo", help="the daily loop on embedded defaults")
    d.add_argument("--days", type=int, default=30, help="14 normal days, then the drift scenario")
    d.add_argument("--rows-per-day", type=int, default=20_000)
    d.add_argument("--seed", type=int, default=7)
    d.add_argument("--bad-scenario", default="schema_break")
    d.add_argument("--bad-day", type=int, default=5, help="which day (1-based) gets the bad-data scenario")
    d.add_argument("--drift-scenario", default="fraud_pattern_shift", help="empty: no drift, no Kafka/Airflow")
    d.add_argument("--drift-day", type=int, default=15, help="first day (1-based) of the drift scenario")
    d.set_defaults(func=cmd_demo)

    ch = sub.add_parser("champion", help="the champion version of a model and its metrics, as JSON")
    ch.add_argument("--model", default="fraud")
    ch.set_defaults(func=cmd_champion)

    rb = sub.add_parser("rollback", help="point a model's champion back at a previous version (audited)")
    rb.add_argument("--model", default="fraud")
    rb.add_argument("--to-version", default=None, help="default: the previous_champion alias")
    rb.add_argument("--reason", required=True)
    rb.add_argument("--actor", required=True, help="who rolls back (recorded in the audit trail)")
    rb.set_defaults(func=cmd_rollback)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
