"""retrain: train a challenger on gold, judge it against the champion on the same holdout, promote or keep."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, task, task_group

from evergreen.orchestration.dagkit import (
    DAGRUN_TIMEOUT,
    DEFAULT_ARGS,
    Tag,
    drift_events_asset,
    gold_watched_asset,
    model_param,
    training_params,
)

DOC = """
### retrain
Trains an XGBoost **challenger** on the latest mature gold features (the model spec
`include/evergreen/contracts/specs/<model>.yaml` says which features, which days, which metric), logs it
to MLflow with its lineage, and lets the **promotion policy** judge it against the current **champion** on the same
holdout. Runs daily at 03:00 UTC, whenever new gold features have been scored and watched (`gold/watched`,
after `ingest_daily` -> `score_and_watch`: it knows whether the day drifted), and at once when
`score_and_watch` publishes a `DriftDetected` event to Kafka (the `drift_events` asset's watcher runs in the
triggerer). A drift-triggered run retrains the models its events name; the spec's cooldown keeps one day's
data from training twice, and the event ledger (`drift_events` table) records which run took which event:
a storm of events is one run, and an event that arrives during a run is covered by it (same data) or
starts one follow-up run (newer data).

Every model in the specs folders (`contracts/specs/` plus `EVERGREEN_SPECS_DIRS`) is its own mapped
`retrain_model` group: the cron run and an empty form cover every model, a `gold/watched` run the models
that were watched, a drift run the models its events name. One model's broken spec or failed training fails
only its own group (and the run's final state), never another model's training.

**Owner:** data platform (`evergreen-data-platform`). **Manual run:** always trains (the spec's cooldown
holds only automatic triggers: the 03:00 tick, watched gold, drift events). The form sets the data day
(`as_of`), training window, hyper-parameters and search budget. `force_promote` promotes whatever the
metrics say and is recorded in the audit trail under `requested_by` (required with it).

**When it fails**
- `plan` failed: no gold yet (run `ingest_daily`), or `force_promote` without `requested_by`.
- one model's `train` failed at once (no retries): its spec is broken or unreadable (the line names the
  file and field; `evergreen specs check`); the other models ran. Its `settle` fails as well, on purpose.
- `plan` skipped the rest (automatic runs only): this day's data already trained within the cooldown (the
  log names the run); drift events it would have taken are marked covered by that run in the ledger. A
  model skipped alone (cooldown, or too few mature days yet) is a skipped `retrain_model` task with its reason.
- `settle` lists events still pending (newer data than this run trained on): their own run follows.
- `train` failed with "not enough mature days": labels take `label.mature_after_days` to mature; wait, or
  lower `training_window_days`. A failed training never touches the champion.
- `challenge` ended with decision `reject`: not a failure. The champion stays; the reason (numbers
  included) is on the model version's tags and in the `promotions` audit table (`evergreen champion`).
- To undo a promotion: trigger `rollback_model` (or `evergreen rollback --reason ... --actor ...`).
"""


@dag(
    dag_id="retrain",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 3 * * *", timezone="UTC"),
        assets=gold_watched_asset() | drift_events_asset(),
    ),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    dagrun_timeout=DAGRUN_TIMEOUT,
    tags=[Tag.EVERGREEN, Tag.TRAINING],
    doc_md=DOC,
    params={
        "model": model_param("empty = every model; a run you trigger always trains (cooldowns hold automatic runs)"),
        "as_of": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Data as of",
            description="YYYY-MM-DD; empty = the latest gold day",
        ),
        **training_params(),
        "force_promote": Param(
            False,
            type="boolean",
            title="Force promote",
            description="promote regardless of the policy (audited under requested_by)",
        ),
        "requested_by": Param(
            None, type=["null", "string"], title="Requested by", description="your name; required with force_promote"
        ),
    },
)
def retrain():
    @task
    def plan(params=None, dag_run=None, triggering_asset_events=None) -> list[dict]:
        from evergreen.orchestration import retraining

        events = [
            {"asset": getattr(asset, "uri", str(asset)), "extra": dict(e.extra or {})}
            for asset, evs in (triggering_asset_events or {}).items()
            for e in evs
        ]
        planned = retraining.plan_models(
            dict(params or {}),
            dag_id=dag_run.dag_id,
            run_id=dag_run.run_id,
            run_type=str(dag_run.run_type),
            asset_events=events,
        )
        return retraining.mapped_plans(planned)

    @task(execution_timeout=dt.timedelta(hours=3))  # a hyper-parameter search may take a while
    def train(planned: dict) -> dict:
        from evergreen.orchestration.retraining import train_challenger

        return train_challenger(planned)

    @task
    def challenge(planned: dict, challenger: dict) -> dict:
        from evergreen.orchestration.retraining import challenge as judge

        return judge(planned, challenger)

    @task(trigger_rule="all_done")
    def settle(planned: dict, ti=None, dag_run=None) -> dict:
        """This model's drift events: covered by its training, or given back (queued again) if it failed,
        and then this task fails too, so a run in which a model's training failed never ends `success`."""
        from evergreen.orchestration.retraining import settle as settle_events

        judged = ti.xcom_pull(task_ids="retrain_model.challenge", map_indexes=ti.map_index)
        return settle_events(planned, dag_run.run_id, "success" if judged else "failed")

    @task_group
    def retrain_model(planned: dict):
        challenge(planned, train(planned)) >> settle(planned)

    retrain_model.expand(planned=plan())


retrain()
