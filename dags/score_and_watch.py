"""score_and_watch: the champion scores the day's gold rows, whylogs watches them for drift, drift is published."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Asset, Param, dag, task

from evergreen.orchestration.dagkit import DEFAULT_ARGS, GOLD_FEATURES_URI, Tag, model_param

DOC = """
### score_and_watch
Runs when `ingest_daily` lands new gold features. The **champion** (loaded from the MLflow registry, never
from a file) scores the day into `predictions/<model>/event_date=<day>/`, the model version on every row.
Then the day's inputs and scores are profiled with whylogs and compared with the **reference profile** stored
with that model version: Hellinger distance per feature, prediction drift, and recall on the frauds whose
labels have arrived. The spec's drift rule (`drift:` in `include/evergreen/contracts/specs/<model>.yaml`:
thresholds, k of the last n windows) decides; the report goes to the `drift_reports` table and an HTML page under
`$EVERGREEN_HOME/reports/drift/<model>/<day>.html`. When the rule newly fires, a `DriftDetected` event goes
to Kafka and the `retrain` DAG starts at once (its drift watcher runs in the triggerer).

**Owner:** data platform (`evergreen-data-platform`). **Manual run:** set `date` to re-score and re-watch a
day (idempotent: the day's predictions and report are replaced; a re-published event has the same id).

**When it fails**
- `score` "has no champion": no model has been promoted yet; run `retrain`.
- `score` reconciliation error: gold changed while scoring; re-run the task.
- `watch` cannot find `monitoring/reference.bin`: the champion was trained before references existed;
  retrain (or roll back to a version that has one).
- `publish` BrokerUnavailableError: Kafka is down. The drift report is saved; clear `publish` once the
  broker is back (`scripts/kafka.sh status`). The daily retrain still runs on its cron meanwhile.
"""


@dag(
    dag_id="score_and_watch",
    schedule=[Asset(name="gold_features", uri=GOLD_FEATURES_URI)],
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[Tag.EVERGREEN, Tag.MONITORING],
    doc_md=DOC,
    params={
        "model": model_param(),
        "date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Day",
            description="YYYY-MM-DD; empty = the newest gold day",
        ),
    },
)
def score_and_watch():
    @task
    def resolve_day(params=None) -> str:
        from evergreen.orchestration.score_and_watch import resolve_day as day_to_watch

        return day_to_watch(dict(params or {}), model=params["model"])

    @task
    def score(day: str, params=None) -> dict:
        from evergreen.orchestration.score_and_watch import score as score_day

        return score_day(params["model"], day)

    @task
    def watch(day: str, scored: dict, params=None) -> dict:
        from evergreen.orchestration.score_and_watch import watch as watch_day

        return watch_day(params["model"], day, scored)

    @task
    def publish(report: dict, params=None) -> dict | None:
        from evergreen.orchestration.score_and_watch import publish as publish_drift

        return publish_drift(params["model"], report)

    day = resolve_day()
    publish(watch(day, score(day)))


score_and_watch()
