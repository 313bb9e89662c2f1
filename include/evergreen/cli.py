"""The `evergreen` command: up, status, down, replay, demo, generate, run-day, lake, champion, rollback, db.

evergreen up                         # PostgreSQL, Kafka, MLflow, Airflow as local services (idempotent)
evergreen status                     # each service (pid, port, health, log), then every day of the lake
evergreen down                       # stop what `up` started
evergreen replay --start 2026-01-15 --days 8 --scenario price_inflation@2026-01-16   # days through the stack
evergreen demo                       # 30 days: a broken batch, a champion, drift, a Kafka event, a retraining
evergreen db upgrade                 # create / migrate the project's own DB (once per setup; safe to repeat)
evergreen generate --days 14 --scenario fraud_pattern_shift@2026-01-10
evergreen run-day --date 2026-01-03  # one ingest_daily run through Airflow (dag.test)
evergreen lake                       # the lake alone: rows per layer, gates per day, reconciled, JSON
evergreen specs check [FILE ...]     # validate the model specs (default: every one the deployment loads)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path

from evergreen.config import settings
from evergreen.devtools.demo import DEMO_START


# ---- generate --------------------------------------------------------------------------------------------
def _parse_scenarios(items: list[str]) -> list:
    from evergreen.devtools.datagen import SCENARIOS, Scenario

    out = []
    for item in items:
        name, _, start = item.partition("@")
        if name not in SCENARIOS:
            raise SystemExit(f"unknown scenario {name!r}; known: {', '.join(sorted(SCENARIOS))}")
        out.append(Scenario(name, dt.date.fromisoformat(start) if start else 0))
    return out


def cmd_generate(args) -> int:
    from evergreen.devtools.datagen import generate

    manifest = generate(
        dt.date.fromisoformat(args.start),
        days=args.days,
        rows_per_day=args.rows_per_day,
        seed=args.seed,
        scenarios=_parse_scenarios(args.scenario),
    )
    print(json.dumps({"days": len(manifest["days"]), "landing": settings().landing_root}))
    return 0


# ---- running days through Airflow (development: dag.test) ----------------------------------------------
def cmd_run_day(args) -> int:
    from evergreen.devtools.dag_runs import run_ingest_day

    result = run_ingest_day(args.date, Path(settings().home) / "logs")
    if result["state"] != "success" and result.get("reason"):
        print(f"run-day {args.date} failed: {result['reason']}", file=sys.stderr)
    print(json.dumps(result))
    return 0 if result["state"] == "success" else 1


# ---- the local stack: up, status, down ---------------------------------------------------------------------
def cmd_up(args) -> int:
    from evergreen.devtools.stack import LocalStack, StackError, status_table

    stack = LocalStack()
    try:
        health = stack.up()
    except StackError as e:
        print(f"[up] FAILED: {e}", file=sys.stderr)
        return 1
    bad = [h for h in health if not h.healthy]
    if bad:
        print(status_table(health))
        return 1
    for line in stack.login_lines():
        print(line)
    return 0


def cmd_stack_status(args) -> int:
    """The local services, then the lake's days. Exit 1 when a service is dead or unhealthy, or only part of
    the stack runs; a stack that is wholly stopped (or never started) is not an error."""
    from evergreen.devtools.stack import LocalStack, status_table

    health = LocalStack().status()
    if args.json:
        print(json.dumps([h.row() for h in health]))
    else:
        print(status_table(health))
    broken = [h.name for h in health if h.state in ("dead", "unhealthy")]
    # Half a stack: some of its own services up, others never started. PostgreSQL and Kafka do not count
    # here: `make kafka-up` or a test fixture may run them with no stack around.
    own = {h.state for h in health if h.name not in ("postgres", "kafka")}
    partial = "healthy" in own and "stopped" in own
    if (broken or partial) and not args.json:
        print(
            f"not healthy: {', '.join(h.name for h in health if h.state not in ('healthy', 'off'))} "
            "(`make up` restarts them)"
        )
    elif "healthy" not in own and not args.json:
        print("the stack is not running (`make up` starts it)")
    if not args.json:
        print()
        _print_lake()
    return 1 if broken or partial else 0


def cmd_replay(args) -> int:
    from evergreen.devtools.replay import replay

    out = replay(
        dt.date.fromisoformat(args.start),
        args.days,
        rows_per_day=args.rows_per_day,
        seed=args.seed,
        scenarios=_parse_scenarios(args.scenario),
    )
    print(json.dumps(out))
    return 0 if out["ok"] else 1


def cmd_down(args) -> int:
    from evergreen.devtools.stack import LocalStack

    LocalStack().down()
    return 0


# ---- lake status -----------------------------------------------------------------------------------------
def _print_lake() -> dict:
    """Every day the lake knows of (failed ones too): rows per layer, gate verdicts, landing reconciled."""
    from evergreen.common.console import table
    from evergreen.storage.inventory import DAY_COLUMNS, known_days, summarize

    summary = summarize(known_days())
    if not summary["days"]:
        print(f"the lake has no days yet ({settings().lake_root})")
        return summary
    print(table(summary["days"], DAY_COLUMNS))
    for f in summary["gates"]["not_passed"]:
        print(f"[{f['gate']}] {f['day']} {f['status']}: {f['reason']}")
    layers = summary["layers"]
    verdict = "reconciled" if summary["reconciled"] else f"NOT RECONCILED ({layers['unaccounted']} rows unaccounted)"
    print(f"landing {layers['landing']} = silver {layers['silver']} + quarantine {layers['quarantine']}: {verdict}")
    return summary


def cmd_lake(args) -> int:
    summary = _print_lake()
    print(json.dumps({k: summary[k] for k in ("layers", "reconciled", "labels", "disputes", "gates")}))
    return 0


# ---- demo ------------------------------------------------------------------------------------------------
def cmd_demo(args) -> int:
    from evergreen.devtools import demo

    return demo.run(args)


# ---- registry: champion, rollback ---------------------------------------------------------------------------
def cmd_champion(args) -> int:
    """One JSON line per model (every spec, or `--model`); exit 1 when one of them has no champion."""
    from evergreen.contracts.model_spec import known_models
    from evergreen.registry.promotion import champion_info

    missing = 0
    for model in [args.model] if args.model else known_models():
        try:
            info = champion_info(model)
        except LookupError as e:
            print(f"{model}: no champion: {e}", file=sys.stderr)
            missing += 1
            continue
        print(json.dumps(info, default=str))
    return 1 if missing else 0


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


# ---- specs: validate model specs -------------------------------------------------------------------------
def cmd_specs_check(args) -> int:
    """One line per spec, `ok  <name>  <file>` or its error; exit 1 if any is bad. No files: every spec the
    deployment loads (the built-in folder and EVERGREEN_SPECS_DIRS)."""
    from evergreen.contracts.model_spec import SPEC_SUFFIX, SpecError, parse_spec_file, spec_files

    try:
        files = (
            [(Path(f).name.removesuffix(SPEC_SUFFIX), Path(f)) for f in args.files]
            if args.files
            else sorted(spec_files().items())
        )
    except SpecError as e:
        print(e)
        return 1
    bad = 0
    for name, file in files:
        try:
            parse_spec_file(file)
        except SpecError as e:
            print(e)
            bad += 1
            continue
        print(f"ok  {name}  {file}")
    return 1 if bad else 0


# ---- db: the project's own database (migrations) ---------------------------------------------------------
def cmd_db_upgrade(args) -> int:
    from evergreen.storage import migrate

    url = args.url or settings().evergreen_db_url
    before = migrate.current(url)
    try:
        after = migrate.upgrade(url)
    except (migrate.SchemaOutdatedError, migrate.MigrationError) as e:
        print(str(e), file=sys.stderr)
        return 2
    print(json.dumps({"db": migrate.shown(url), "from": before, "to": after}))
    return 0


def cmd_db_current(args) -> int:
    from evergreen.storage import migrate

    url = args.url or settings().evergreen_db_url
    have, need = migrate.current(url), migrate.head()
    print(json.dumps({"db": migrate.shown(url), "current": have, "head": need, "up_to_date": have == need}))
    return 0 if have == need else 1


def main(argv: list[str] | None = None) -> int:
    # MLflow logs to the console at INFO by itself ("Creating initial MLflow database tables..." on a first
    # call): people see our progress and results; its warnings still show.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
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

    s = sub.add_parser("lake", help="the lake alone: rows per layer, gate outcomes, reconciliation, one JSON line")
    s.set_defaults(func=cmd_lake)

    up = sub.add_parser("up", help="start PostgreSQL, Kafka, MLflow and Airflow as local services (idempotent)")
    up.set_defaults(func=cmd_up)
    st = sub.add_parser("status", help="the local services (pid, port, health, log), then the lake's days")
    st.add_argument("--json", action="store_true", help="the services as one JSON list, nothing else")
    st.set_defaults(func=cmd_stack_status)
    rp = sub.add_parser("replay", help="land each day's files and run ingest_daily for it on the running stack")
    rp.add_argument("--start", required=True, help="first day, YYYY-MM-DD")
    rp.add_argument("--days", type=int, default=1)
    rp.add_argument("--rows-per-day", type=int, default=20_000)
    rp.add_argument("--seed", type=int, default=7)
    rp.add_argument("--scenario", action="append", default=[], metavar="NAME@YYYY-MM-DD")
    rp.set_defaults(func=cmd_replay)
    dn = sub.add_parser("down", help="stop the local services `up` started")
    dn.set_defaults(func=cmd_down)

    d = sub.add_parser("demo", help="the whole loop: a broken batch, a champion, drift, a Kafka event, a retraining")
    d.add_argument("--days", type=int, default=30, help="days to generate; drift runs from --drift-day on")
    d.add_argument("--rows-per-day", type=int, default=20_000)
    d.add_argument("--seed", type=int, default=7)
    d.add_argument("--bad-scenario", default="schema_break")
    d.add_argument("--bad-day", type=int, default=5, help="which day (1-based) gets the bad-data scenario")
    d.add_argument("--drift-scenario", default="fraud_pattern_shift", help="empty: no drift, no Kafka/Airflow")
    d.add_argument("--drift-day", type=int, default=15, help="first day (1-based) of the drift scenario")
    d.set_defaults(func=cmd_demo)

    ch = sub.add_parser("champion", help="the champion version of a model and its metrics, as JSON")
    ch.add_argument("--model", default=None, help="default: every model in the specs folders")
    ch.set_defaults(func=cmd_champion)

    rb = sub.add_parser("rollback", help="point a model's champion back at a previous version (audited)")
    rb.add_argument("--model", required=True)
    rb.add_argument("--to-version", default=None, help="default: the previous_champion alias")
    rb.add_argument("--reason", required=True)
    rb.add_argument("--actor", required=True, help="who rolls back (recorded in the audit trail)")
    rb.set_defaults(func=cmd_rollback)

    sp = sub.add_parser("specs", help="the model specs: validate them")
    sp_sub = sp.add_subparsers(dest="specs_command", required=True)
    chk = sp_sub.add_parser("check", help="validate specs, one line each; exit 1 if any is bad")
    chk.add_argument("files", nargs="*", metavar="FILE", help="default: every spec the deployment loads")
    chk.set_defaults(func=cmd_specs_check)

    db = sub.add_parser("db", help="the project's own database: upgrade it to the code's migrations, or ask")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser("upgrade", help="apply pending migrations (adopts a DB made before migrations)")
    up.set_defaults(func=cmd_db_upgrade)
    cur = db_sub.add_parser("current", help="the DB's revision and the code's; exit 1 if they differ")
    cur.set_defaults(func=cmd_db_current)
    for p in (up, cur):
        p.add_argument("--url", default=None, help="SQLAlchemy URL (default: EVERGREEN_EVERGREEN_DB_URL's setting)")

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
