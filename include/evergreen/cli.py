"""The `evergreen` command: demo, generate, run-day, status, champion, rollback.

evergreen demo                       # 30 days: a broken batch, a champion, drift, a Kafka event, a retraining
evergreen generate --days 14 --scenario fraud_pattern_shift@2026-01-10
evergreen run-day --date 2026-01-03  # one ingest_daily run through Airflow (dag.test)
evergreen status                     # rows per layer, gates per day
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
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


# ---- status ----------------------------------------------------------------------------------------------
def cmd_status(args) -> int:
    from evergreen.common.console import table
    from evergreen.storage.inventory import DAY_COLUMNS, known_days, summarize

    summary = summarize(known_days())
    print(table(summary["days"], DAY_COLUMNS))
    for f in summary["gates"]["not_passed"]:
        print(f"[{f['gate']}] {f['day']} {f['status']}: {f['reason']}")
    layers = summary["layers"]
    verdict = "reconciled" if summary["reconciled"] else f"NOT RECONCILED ({layers['unaccounted']} rows unaccounted)"
    print(f"landing {layers['landing']} = silver {layers['silver']} + quarantine {layers['quarantine']}: {verdict}")
    print(json.dumps({k: summary[k] for k in ("layers", "reconciled", "labels", "gates")}))
    return 0


# ---- demo ------------------------------------------------------------------------------------------------
def cmd_demo(args) -> int:
    from evergreen.devtools import demo

    return demo.run(args)


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
