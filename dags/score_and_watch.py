"""score_and_watch: the champion scores the day's gold rows, whylogs watches them for drift, drift is published."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, task, task_group

from evergreen.orchestration.dagkit import (
    DAGRUN_TIMEOUT,
    DEFAULT_ARGS,
    Tag,
    gold_disputes_asset,
    gold_features_asset,
    gold_watched_asset,
    model_param,
)

DOC = """
### score_and_watch
Runs when `ingest_daily` lands new gold features or `ingest_disputes` new gold disputes, for exactly the
days their asset events name (several events in one run: each day once, oldest first), for every model
whose source table those events wrote (one mapped `watch_model` group each: a failure in one model never
stops another's scoring, watching or events; a model with no champion yet shows as skipped with that
reason). The **champion** (loaded from the MLflow registry, never from a file) scores each day into
`predictions/<model>/event_date=<day>/`, the model version on every row.
Then the day's inputs and scores are profiled with whylogs and compared with the **reference profile** stored
with that model version: Hellinger distance per feature, prediction drift, and recall on the frauds whose
labels have arrived. The spec's drift rule (`drift:` in `include/evergreen/contracts/specs/<model>.yaml`:
thresholds, k of the last n windows) decides; the report goes to the `drift_reports` table and an HTML page under
`$EVERGREEN_HOME/reports/drift/<model>/<day>.html`. When the rule newly fires, a `DriftDetected` event goes
to Kafka and the `retrain` DAG starts at once (its drift watcher runs in the triggerer). Last, `publish`
emits the `gold/watched` asset naming the days watched: the daily retraining follows it.

**Owner:** data platform (`evergreen-data-platform`). **Manual run:** pick a model (empty: every model);
set `date` to re-score and re-watch a day (empty: the newest gold day; idempotent: the day's predictions and
report are replaced; a re-published event has the same id).

**When it fails**
- `score` skipped "has no champion": that model has not been promoted yet; run `retrain` for it.
- `score` reconciliation error: gold changed while scoring; re-run the task.
- `watch` cannot find `monitoring/reference.bin`: the champion was trained before references existed;
  retrain (or roll back to a version that has one).
- `publish` BrokerUnavailableError: Kafka is down. The drift report is saved; clear `publish` once the
  broker is back (`scripts/kafka.sh status`). The daily retrain still runs on its cron meanwhile.
"""


@dag(
    dag_id="score_and_watch",
    # Either gold table's new days start it (AssetAny); each model scores the days of its own source table.
    schedule=gold_features_asset() | gold_disputes_asset(),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    dagrun_timeout=DAGRUN_TIMEOUT,
    tags=[Tag.EVERGREEN, Tag.MONITORING],
    doc_md=DOC,
    params={
        "model": model_param(),
        "date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Day",
            description="YYYY-MM-DD; empty = the days the triggering gold events wrote (manual: the newest)",
        ),
    },
)
def score_and_watch():
    @task
    def models(params=None, triggering_asset_events=None) -> list[str]:
        from evergreen.orchestration.score_and_watch import asset_events, models_to_watch

        return models_to_watch(dict(params or {}), asset_events(triggering_asset_events))

    @task
    def resolve_days(model: str, params=None, triggering_asset_events=None) -> list[str]:
        from evergreen.orchestration.score_and_watch import asset_events, resolve_days

        return resolve_days(dict(params or {}), model, asset_events(triggering_asset_events))

    @task
    def score(model: str, days: list[str]) -> list[dict]:
        from airflow.sdk.exceptions import AirflowSkipException

        from evergreen.orchestration.score_and_watch import NothingToScoreError, score

        try:
            return [score(model, day) for day in days]
        except NothingToScoreError as e:
            raise AirflowSkipException(str(e)) from e

    @task
    def watch(model: str, days: list[str], scored: list[dict]) -> list[dict]:
        from evergreen.orchestration.score_and_watch import watch

        return [watch(model, day, s) for day, s in zip(days, scored, strict=True)]

    @task(outlets=[gold_watched_asset()])
    def publish(model: str, reports: list[dict], outlet_events=None) -> list[dict | None]:
        from evergreen.orchestration.score_and_watch import publish

        published = [publish(model, report) for report in reports]
        outlet_events[gold_watched_asset()].extra = {
            "model": model,
            "days": [r["window"] for r in reports],
            "fired": [r["window"] for r in reports if r["fires"]],
        }
        return published

    @task_group
    def watch_model(model: str):
        """One model's day(s): a failure or a skip here never stops another model's group."""
        days = resolve_days(model)
        publish(model, watch(model, days, score(model, days)))

    watch_model.expand(model=models())


score_and_watch()
