"""drift_event_sweep: every 10 minutes, drift events that no run has taken get a `retrain` run."""

from __future__ import annotations

import datetime as dt

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import CronTriggerTimetable, dag, task

from evergreen.orchestration.dagkit import DAGRUN_TIMEOUT, DEFAULT_ARGS, Tag

DOC = """
### drift_event_sweep
A safety net for the drift path. The event ledger (`drift_events` table) keeps every valid drift event
pending until a `retrain` run claims it or a training covers its data. Airflow can drop the asset event of
a drift event while `retrain` is running (apache/airflow#56050), and an event for newer data that arrives
during a run waits for a follow-up run nothing starts. Every 10 minutes this DAG lists the models with
events pending for longer than `EVERGREEN_DRIFT_REARM_AFTER_S` (300 s) and starts one `retrain` run for
each (run id `sweep__<model>__<oldest event>`, so a later sweep never starts a second run for the same
events). With nothing stale, or while a `retrain` run is queued or running (it takes them first), the run
shows as skipped, with that reason.

**Owner:** data platform (`evergreen-data-platform`). **Manual run:** trigger it to sweep now.

**When it fails**
- `find_stale` failed: the evergreen DB is unreachable (run `evergreen status`); nothing changed.
- `start_retrain` skipped for a model: its sweep run already exists (a run for those events is queued or
  done); failed: `retrain` is missing or paused.
"""


@dag(
    dag_id="drift_event_sweep",
    schedule=CronTriggerTimetable("*/10 * * * *", timezone="UTC"),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    dagrun_timeout=DAGRUN_TIMEOUT,
    tags=[Tag.EVERGREEN, Tag.MONITORING],
    doc_md=DOC,
)
def drift_event_sweep():
    @task
    def find_stale(ti=None) -> list[dict]:
        from evergreen.orchestration.event_sweep import stale_runs

        return stale_runs(active_retrains=ti.get_dr_count(dag_id="retrain", states=["queued", "running"]))

    TriggerDagRunOperator.partial(
        task_id="start_retrain", trigger_dag_id="retrain", skip_when_already_exists=True
    ).expand_kwargs(find_stale())


drift_event_sweep()
