"""The daily loop by the scheduler alone, on a running stack (`evergreen up`): `evergreen replay` lands 8 days
(a drift scenario on the last two) and starts ingest_daily for each through the REST API; everything after
that happens through assets, Kafka, the triggerer and the scheduler.

Expected: one ingest_daily run and one score_and_watch run per day, each scoring its own day; a drift event
through Kafka; exactly one retrain run triggered by a drift event; every score_and_watch / retrain run
started by the scheduler (asset-triggered). (Airflow's own backfill: tests/e2e/test_backfill.py.)

History (14 days) is backfilled in one Spark session before, and a first champion trained through the
stack: a young lake's history-window features would drift by construction, so the spec is the demo's copy
(evergreen.devtools.demo.demo_specs), with the first-champion floor off for this small data.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from pathlib import Path

import pytest
import yaml

from tests.e2e.local_stack import airflow_of, retrain_by_hand, stack_with_history, wait_quiet
from tests.e2e.specs import narrowed, write_spec

HISTORY_START = dt.date(2026, 1, 1)
HISTORY_DAYS = 14
# At least 8 (the acceptance); a smaller number checks the mechanics on a crowded machine (min 3).
REPLAY_DAYS = max(3, int(os.environ.get("EVERGREEN_E2E_REPLAY_DAYS", "8")))
ROWS = 3000
REPLAY_START = HISTORY_START + dt.timedelta(days=HISTORY_DAYS)
DRIFT_START = REPLAY_START + dt.timedelta(days=REPLAY_DAYS - 2)  # 2 of the last 3 windows: fires on the last day
DAYS = [(REPLAY_START + dt.timedelta(days=i)).isoformat() for i in range(REPLAY_DAYS)]

# Not in `make test` (`make test-long`): 20 minutes on 2 cores, most of it three spark-submits a day.
pytestmark = [pytest.mark.timeout(5400), pytest.mark.long]


def _specs() -> Path:
    from evergreen.devtools.demo import demo_specs

    folder = Path(tempfile.mkdtemp(prefix="evergreen-replay-specs-"))
    folder.chmod(0o755)
    demo_specs(folder)
    spec_file = folder / "specs" / "fraud.yaml"
    spec = yaml.safe_load(spec_file.read_text())
    spec["policy"]["min_pr_auc"] = 0.0  # 3,000 rows a day: the subject is the loop, not the model's quality
    # The subject is the event path (one episode -> one event -> one retrain), so the rule watches only what
    # the scenario moves. At 3,000 rows a day, champions retrained daily on gold breached on their own
    # (country_mismatch 0.15-0.32, in-sample score distribution) before the scenario began, and each new
    # version opened its own episode; which day fires at full size is tests/integration/test_monitoring.py's.
    # Recall on ~40 known frauds a day is noise at this size (a 40% fall happens by chance): not watched.
    # new_merchant_category: ~15% of volume in a new category (Hellinger ~0.28).
    write_spec(folder / "specs", narrowed(spec, watch={"category"}))
    return folder / "specs"


@pytest.fixture(scope="module")
def loop():
    with stack_with_history(_specs(), HISTORY_START.isoformat(), HISTORY_DAYS, ROWS) as (stack, env):
        yield stack, env


def _watched_days(airflow, run_id):
    from evergreen.devtools.replay import watched

    return watched(airflow, run_id, "resolve_days", "fraud")


def _fired_before(by_day: dict, day: str, version: str) -> bool:
    """Whether the rule fired on the window before `day` under the same model version."""
    before = (dt.date.fromisoformat(day) - dt.timedelta(days=1)).isoformat()
    r = by_day.get(before)
    return bool(r and r["fires"] and r["model_version"] == version)


def test_replayed_days_run_through_assets_kafka_and_the_scheduler(loop):
    stack, env = loop
    airflow = airflow_of(env)

    # A first champion, trained by the stack (a person's manual run, through the API).
    last_history = (REPLAY_START - dt.timedelta(days=1)).isoformat()
    first_run, first = retrain_by_hand(airflow, {"as_of": last_history}, 1200)
    assert first["state"] == "success", airflow.task_states("retrain", first_run)

    out = stack.cli(
        "replay",
        "--start",
        DAYS[0],
        "--days",
        str(REPLAY_DAYS),
        "--rows-per-day",
        str(ROWS),
        "--scenario",
        f"new_merchant_category@{DRIFT_START.isoformat()}",
        timeout=4000,
    )
    replayed = json.loads(out.stdout.splitlines()[-1])
    assert replayed["ok"], replayed
    assert sorted(replayed["days"]) == DAYS
    wait_quiet(airflow, ("ingest_daily", "ingest_disputes", "score_and_watch", "retrain"))

    # One ingest_daily run per day (started through the API), each a success.
    ingest = {r["run_id"]: r for r in airflow.runs("ingest_daily") if r["run_id"].startswith("replay__")}
    assert sorted(ingest) == [f"replay__{d}" for d in DAYS]
    assert {r["state"] for r in ingest.values()} == {"success"}

    # score_and_watch runs started by the scheduler on gold events (gold/features, and gold/disputes for the
    # dispute model); fraud's group scored each day exactly once, in its own run.
    watched = airflow.runs("score_and_watch")
    assert {r["run_type"] for r in watched} == {"asset_triggered"}
    assert {r["state"] for r in watched} == {"success"}
    scored = [days for days in (_watched_days(airflow, r["run_id"]) for r in watched) if days is not None]
    assert scored == [[d] for d in DAYS], scored

    # The drift went through Kafka: an event in the ledger, taken by a run.
    import sqlalchemy as sa

    eng = sa.create_engine(env["EVERGREEN_EVERGREEN_DB_URL"])
    with eng.connect() as conn:
        events = [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM drift_events WHERE model = 'fraud'"))]
        reports = [
            dict(r._mapping)
            for r in conn.execute(
                sa.text(
                    "SELECT window_day, model_version, breached, fires, reasons FROM drift_reports "
                    "WHERE model = 'fraud' ORDER BY window_day"
                )
            )
        ]
    eng.dispose()
    assert events, f"no drift event reached the ledger; reports: {reports}"
    assert {e["status"] for e in events} <= {"consumed", "covered"}, events
    # Edge-triggered: one event per episode (the first day the rule fires under a champion version), each
    # through Kafka into the ledger. The new category opens on the second-to-last day: no window breaches before
    # it, and the rule (2 of the last 3) fires on the last day, once.
    by_day = {str(r["window_day"])[:10]: r for r in reports}
    assert sorted(by_day) == DAYS, f"one drift report per replayed day: {sorted(by_day)}"
    assert [d for d, r in by_day.items() if r["breached"]] == DAYS[-2:], reports
    newly = [day for day, r in by_day.items() if r["fires"] and not _fired_before(by_day, day, r["model_version"])]
    assert newly == DAYS[-1:], f"the rule should fire on the last day only; reports: {reports}"
    assert sorted(str(e["drift_window"])[:10] for e in events) == newly, (events, reports)

    # Exactly one retrain run triggered by a drift event; every retrain but the person's first by the scheduler.
    drift_runs = airflow.query(
        "SELECT DISTINCT dr.run_id, dr.run_type FROM dag_run dr "
        "JOIN dagrun_asset_event dae ON dae.dag_run_id = dr.id JOIN asset_event ae ON ae.id = dae.event_id "
        "JOIN asset a ON a.id = ae.asset_id WHERE dr.dag_id = 'retrain' AND a.uri = 'evergreen://events/drift'"
    )
    assert len(drift_runs) == len(newly) == 1, (drift_runs, newly, reports)
    assert drift_runs[0]["run_type"] == "asset_triggered"
    retrains = [r for r in airflow.runs("retrain") if r["run_id"] != first_run]
    assert {r["run_type"] for r in retrains} <= {"asset_triggered", "scheduled"}
    assert {r["state"] for r in retrains} == {"success"}, [(r["run_id"], r["state"]) for r in retrains]
