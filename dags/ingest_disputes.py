"""ingest_disputes: the refund-dispute feed -> bronze/silver -> gold/disputes, after each day's gold features."""

from __future__ import annotations

import datetime as dt

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import Param, dag, task

from evergreen.orchestration.dagkit import (
    DAGRUN_TIMEOUT,
    DEFAULT_ARGS,
    Tag,
    gold_disputes_asset,
    gold_disputes_written,
    gold_features_asset,
    spark_job,
)

DOC = """
### ingest_disputes
Refund disputes customers open with their card issuer (`not_received`, `not_as_described`,
`duplicate_charge`) arrive 2-14 days after the purchase as their own feed,
`landing/disputes/<raise day>/*.csv`. This DAG turns them into the label of the `dispute` model:
**disputes** (Spark: each file through the file gate, bronze, then silver de-duplicated on `dispute_id`;
bad files and rows to `quarantine/disputes/` with their reason) -> **gate_disputes** -> **disputes_gold**
(Spark: `gold/disputes` for the run day and the 14 days before it, i.e. gold/features' rows and features
with `is_disputed` / `dispute_label_time` as known at the end of the run day: 1 once disputed, 0 once 14
days passed without a dispute, empty before). It emits the `gold/disputes` asset with
`extra = {"table": "disputes", "days": [...]}`.

**Schedule:** on the `gold/features` asset (`ingest_daily`): gold/features of day D must exist before
disputes can be joined to it; the event's `extra.days` names the days. Several events in one run: every
day from the first to the last in one pass. **Owner:** data platform (`evergreen-data-platform`).
**Manual run:** pick a `date` (it must have gold/features; empty = the newest gold/features day).
Re-running a day is safe and gives the same gold (writes are per-partition swaps).

**When it fails**
- `resolve_days` failed "no gold/features for D": ingest_daily has not built that day (or its gates
  stopped it); run it first. No retries: it will not appear by itself.
- A day without dispute files is **not** a failure: `resolve_days` and `gate_disputes` log "nothing new".
- `gate_disputes` partial (task green, warning in the log): a dispute file was refused whole (not UTF-8,
  renamed column, ...); it is in `quarantine/disputes/batch_id=disputes-<day>/` with `<file>: <problem>`,
  the day's other files went on. Fix and re-land it, then re-run the day.
- `gate_disputes` failed: every dispute file of a day was refused; its rows are in quarantine with the
  reasons, gold/disputes is untouched. Fix or re-land the files, then clear the run.
- a Spark task failed: read its log; re-running is safe (stage-then-commit writes).
"""

DAYS = "ti.xcom_pull(task_ids='resolve_days')"


@dag(
    dag_id="ingest_disputes",
    schedule=[gold_features_asset()],
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    dagrun_timeout=DAGRUN_TIMEOUT,
    tags=[Tag.EVERGREEN, Tag.INGEST, Tag.QUALITY],
    doc_md=DOC,
    params={
        "date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Day",
            description="YYYY-MM-DD, a day with gold features; empty = the days the triggering events name "
            "(manual: the newest gold features day)",
        ),
    },
)
def ingest_disputes():
    @task
    def resolve_days(params=None, triggering_asset_events=None) -> list[str]:
        from airflow.sdk.exceptions import AirflowFailException

        from evergreen.orchestration.disputes import NoGoldFeaturesError, log_landed, resolve_days
        from evergreen.orchestration.score_and_watch import asset_events

        try:
            days = resolve_days(dict(params or {}), asset_events(triggering_asset_events))
        except NoGoldFeaturesError as e:  # a retry in minutes will not build gold: fail now, tell people
            raise AirflowFailException(str(e)) from e
        log_landed(days)
        return days

    days = resolve_days()

    def spark(step: str, **kwargs) -> SparkSubmitOperator:
        return SparkSubmitOperator(
            task_id=step,
            application=spark_job(),
            application_args=[step, "--date", "{{ " + DAYS + "[-1] }}", "--since", "{{ " + DAYS + "[0] }}"],
            conn_id="spark_default",
            name=f"evergreen-{step}",
            **kwargs,
        )

    disputes = spark("disputes")

    @task
    def gate_disputes(days: list[str]) -> dict:
        from evergreen.orchestration.disputes import check_gates

        return check_gates(days)

    disputes_gold = spark("disputes_gold", outlets=[gold_disputes_asset()], post_execute=gold_disputes_written)

    days >> disputes >> gate_disputes(days) >> disputes_gold


ingest_disputes()
