"""rollback_model: point a model's champion back at a chosen or the previous version (manual only)."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, task

from evergreen.orchestration.dagkit import DAGRUN_TIMEOUT, DEFAULT_ARGS, Tag, model_param

DOC = """
### rollback_model
Moves a model's `champion` alias back to `to_version`, or to the version marked `previous_champion`, and
writes an audit row (decision `rollback`, your name and reason) to the `promotions` table and onto the
model versions. Nothing is retrained. Manual only: trigger it from the UI form, or with "Roll back" on the
model's Evergreen page (Models in the navigation), which fills `requested_by` with your user name.

**Owner:** data platform (`evergreen-data-platform`). Same as `evergreen rollback --model fraud --reason
"..." --actor NAME [--to-version N]`.

**When it fails** nothing changed: the log says why (no such version, the version is already champion,
no previous champion to go back to, or `requested_by` missing). Pick an existing version from MLflow's
model page or `evergreen champion`, and run it again.
"""


@dag(
    dag_id="rollback_model",
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    dagrun_timeout=DAGRUN_TIMEOUT,
    tags=[Tag.EVERGREEN, Tag.TRAINING, Tag.MANUAL],
    doc_md=DOC,
    params={
        "model": model_param("the registered model's name", every=False),
        "to_version": Param(
            None, type=["null", "string"], title="Target version", description="empty = the previous champion"
        ),
        "reason": Param("", type="string", minLength=3, title="Reason", description="recorded in the audit trail"),
        "requested_by": Param("", type="string", minLength=1, title="Requested by", description="your name"),
    },
)
def rollback_model():
    @task
    def rollback(params=None, dag_run=None) -> dict:
        from evergreen.orchestration.retraining import rollback as move_back

        return move_back(
            dict(params or {}),
            dag_id=dag_run.dag_id,
            run_id=dag_run.run_id,
            triggering_user=getattr(dag_run, "triggering_user_name", None),
        )

    rollback()


rollback_model()
