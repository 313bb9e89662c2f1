"""Two models, one scheduler: fraud (gold/features) and dispute (gold/disputes, its own late label and feed)
are trained, scored and watched every day by the scheduler alone, each with its own champion; a wave of
refund disputes (`dispute_wave`, concept drift on the dispute label only) fires the dispute model's own
drift event, which retrains the dispute model and nothing else.

On a running stack (`evergreen up`): history is backfilled in one Spark session, a person's `retrain` run
(empty form: every model) makes the first champions, then `evergreen replay` lands each wave day and starts
ingest_daily for it; ingest_disputes, score_and_watch, the watcher and retrain are the scheduler's.

The specs are the shipped two, narrowed to what the test is about (tests/e2e/specs.py): fraud watches
`category` only (the wave moves nothing of it), dispute watches only its recall on known disputes (what the
wave moves: the shipped rule), so which model fires is the scenario's doing, not small-data noise.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from tests.e2e.local_stack import airflow_of, drift_event, retrain_by_hand, stack_with_history, wait_quiet
from tests.e2e.specs import narrowed, write_spec

HISTORY_START = dt.date(2026, 1, 1)
# The dispute model's labels mature 15 days after a purchase; 30 days of history give it 15 mature days.
HISTORY_DAYS = 30
ROWS = 5000
SEED = 11  # history and replayed days from one population (the dispute wave fires ~5 days in: docs/adding-a-model.md)
WAVE_DAYS = max(3, int(os.environ.get("EVERGREEN_E2E_WAVE_DAYS", "8")))
WAVE_START = HISTORY_START + dt.timedelta(days=HISTORY_DAYS)
DAYS = [(WAVE_START + dt.timedelta(days=i)).isoformat() for i in range(WAVE_DAYS)]
MODELS = ("dispute", "fraud")

pytestmark = [pytest.mark.timeout(5400), pytest.mark.long]


def _specs() -> Path:
    from evergreen.contracts.model_spec import SPECS_DIR
    from evergreen.devtools.demo import demo_specs

    root = Path(tempfile.mkdtemp(prefix="evergreen-two-models-"))
    root.chmod(0o755)
    folder = demo_specs(root)  # fraud without the young lake's history features
    fraud = yaml.safe_load((folder / "fraud.yaml").read_text())
    fraud["policy"]["min_pr_auc"] = 0.0  # 5,000 rows a day: fraud's quality is not the subject here
    write_spec(folder, narrowed(fraud, watch={"category"}))
    dispute = yaml.safe_load((SPECS_DIR / "dispute.yaml").read_text())
    write_spec(folder, narrowed(dispute, performance=True))
    return folder


@pytest.fixture(scope="module")
def loop():
    with stack_with_history(_specs(), HISTORY_START.isoformat(), HISTORY_DAYS, ROWS, SEED) as (stack, env):
        yield stack, env


def _rows(env, sql: str, **params) -> list[dict]:
    import sqlalchemy as sa

    eng = sa.create_engine(env["EVERGREEN_EVERGREEN_DB_URL"])
    try:
        with eng.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.text(sql), params)]
    finally:
        eng.dispose()


def _decisions(env, model: str) -> list[dict]:
    """The model's champion/challenger decisions (the audit table), oldest first."""
    from evergreen import config
    from evergreen.registry import audit

    with config.overridden(env):
        return list(reversed(audit.history(model)))


def test_both_models_live_daily_and_a_dispute_wave_retrains_only_the_dispute_model(loop):
    from evergreen.devtools.replay import watched, xcom

    stack, env = loop
    airflow = airflow_of(env)

    # First champions: a person's run with an empty form covers every model of the specs folders.
    last_history = (WAVE_START - dt.timedelta(days=1)).isoformat()
    first, done = retrain_by_hand(airflow, {"as_of": last_history})
    assert done["state"] == "success", airflow.task_states("retrain", first)
    assert sorted(p["model"] for p in xcom(airflow, "retrain", first, "plan")[0]) == list(MODELS)
    for model in MODELS:
        (decision,) = [d for d in _decisions(env, model) if (d["triggered_by"] or {}).get("run_id") == first]
        assert decision["decision"] == "promote", decision

    out = stack.cli(
        "replay", "--start", DAYS[0], "--days", str(WAVE_DAYS), "--rows-per-day", str(ROWS), "--seed", str(SEED),
        "--scenario", f"dispute_wave@{DAYS[0]}", timeout=5000,
    )  # fmt: skip
    replayed = json.loads(out.stdout.splitlines()[-1])
    assert replayed["ok"], replayed
    wait_quiet(airflow, ("ingest_daily", "ingest_disputes", "score_and_watch", "retrain"), timeout=2400)

    # Every day, each model scored and watched once, by runs the scheduler started from gold events.
    watch_runs = airflow.runs("score_and_watch")
    assert {r["run_type"] for r in watch_runs} == {"asset_triggered"}
    assert {r["state"] for r in watch_runs} == {"success"}, [(r["run_id"], r["state"]) for r in watch_runs]
    for model in MODELS:
        scored = [d for r in watch_runs for d in (watched(airflow, r["run_id"], "resolve_days", model) or [])]
        assert sorted(scored) == DAYS, (model, scored)
        reports = _rows(env, "SELECT window_day FROM drift_reports WHERE model = :m", m=model)
        assert sorted(str(r["window_day"])[:10] for r in reports) == DAYS, (model, reports)
    assert {r["run_type"] for r in airflow.runs("ingest_disputes")} == {"asset_triggered"}

    # The wave fired the dispute model's event (through Kafka, into the ledger), and no fraud event.
    events = _rows(env, "SELECT model, status, run_id, drift_window FROM drift_events")
    assert {e["model"] for e in events} == {"dispute"}, events
    assert {e["status"] for e in events} <= {"consumed", "covered"}, events

    # The drift-triggered retrain runs planned the dispute model only; fraud's decisions came from the
    # person's first run and the daily watched-gold runs, never from a drift event.
    drift_runs = [
        r["run_id"]
        for r in airflow.query(
            "SELECT DISTINCT dr.run_id FROM dag_run dr JOIN dagrun_asset_event dae ON dae.dag_run_id = dr.id "
            "JOIN asset_event ae ON ae.id = dae.event_id JOIN asset a ON a.id = ae.asset_id "
            "WHERE dr.dag_id = 'retrain' AND a.uri = 'evergreen://events/drift'"
        )
    ]
    assert drift_runs, "no retrain run was started by the drift event"
    for run_id in drift_runs:
        plans = xcom(airflow, "retrain", run_id, "plan")
        if plans:
            assert [p["model"] for p in plans[0]] == ["dispute"], (run_id, plans)
        else:
            # The day's own gold/watched run trained the dispute model on the same data first (a race either run
            # may win): the drift run skips as a whole, its events covered by that training (checked below).
            states = airflow.task_states("retrain", run_id)
            assert states.get("plan") == "skipped", states
            assert {s for t, s in states.items() if t.startswith("retrain_model")} <= {"skipped"}, states
    assert all(not (d["triggered_by"] or {}).get("drift_events") for d in _decisions(env, "fraud"))
    # Each dispute event names the run that took it (or covered it), and that run trained the dispute model.
    trained_dispute = {(d["triggered_by"] or {}).get("run_id") for d in _decisions(env, "dispute")}
    assert {e["run_id"] for e in events} <= {f"{r}#dispute" for r in trained_dispute}, (events, trained_dispute)

    # Each model has its own champion, trained by the stack.
    for model in MODELS:
        assert [d for d in _decisions(env, model) if d["decision"] in ("promote", "force_promote")], model
    retrains = airflow.runs("retrain")
    assert {r["state"] for r in retrains} == {"success"}, [(r["run_id"], r["state"]) for r in retrains]
    assert {r["run_type"] for r in retrains if r["run_id"] != first} <= {"asset_triggered", "scheduled"}

    # After the days, an operator's drift event (Kafka's producer, as any outside system) for a day the daily
    # retraining already trained fraud on is covered at once, naming that training; it starts no run.
    from evergreen.events.producer import make_producer, send

    late = drift_event("fraud", DAYS[-1])
    producer = make_producer(env["EVERGREEN_KAFKA_BOOTSTRAP"])
    try:
        send(producer, "evergreen.drift", late.to_json(), key=b"fraud", bootstrap=env["EVERGREEN_KAFKA_BOOTSTRAP"])
    finally:
        producer.close()
    sql = "SELECT status, run_id, as_of FROM drift_events WHERE event_id = :e"
    (row,) = airflow.wait_until(lambda: _rows(env, sql, e=late.event_id), 120, "the operator's event in the ledger")
    assert row["status"] == "covered", row
    assert row["run_id"].split("#")[0] in {r["run_id"] for r in retrains}
    assert str(row["as_of"])[:10] >= DAYS[-1]
    time.sleep(30)
    assert len(airflow.runs("retrain")) == len(retrains)
