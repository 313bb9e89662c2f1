"""ingest_daily: landing -> bronze -> raw gate -> silver -> quality gate -> gold features."""

from __future__ import annotations

import datetime as dt

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import Asset, Param, dag, task

from evergreen.orchestration.dagkit import DEFAULT_ARGS, GOLD_FEATURES_URI, Tag, spark_job

DOC = """
### ingest_daily
Lands one day of e-commerce transactions (CSV + JSON Lines drops, plus the customers and merchants
tables) and turns it into model-ready features: **bronze** (typed, lineage) -> **raw contract gate**
(Great Expectations) -> **silver** (de-duplicated, null policy, bad rows to quarantine) -> **clean quality
gate** -> **gold features** (point-in-time correct), which emits the `gold/features` asset.

**Owner:** data platform (`evergreen-data-platform`). **Manual run:** pick a `date`; `landing` reads
another drop folder (local path or `s3a://`) instead of the default one.

**When it fails**
- `gate_raw` partial (task green, warning in the log): the file gate refused some of the day's files
  (not UTF-8, empty, header only, renamed column, a burst of nulls...); each is in quarantine whole with
  `<file>: <problem>`, the other files went on. Fix and re-land the file, then re-run the day.
- `gate_raw` failed: every file was refused, or the files left broke the GX raw contract. The whole
  batch is in `quarantine/transactions/batch_id=transactions-<date>/` with `_gate_result.json` (every
  file's verdict, and a Data Docs link when GX ran); nothing downstream changed. Fix or re-land the
  files, then clear the run. `evergreen run-day` prints the reason.
- `gate_clean` failed: silver broke a quality rule (duplicates left, ranges, row count far from the
  day before). The batch is in quarantine; yesterday's gold is untouched.
- `gate_clean` partial (task green, warning in the log): more than 1% of rows were quarantined; read the
  reason counts in the clean report.
- a Spark task failed: read its log; re-running the same day is safe (writes are stage-then-commit).
"""


@dag(
    dag_id="ingest_daily",
    schedule="30 0 * * *",
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[Tag.EVERGREEN, Tag.INGEST, Tag.QUALITY],
    doc_md=DOC,
    params={
        "date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Day to ingest",
            description="YYYY-MM-DD; empty = the day that just ended",
        ),
        "landing": Param(
            None,
            type=["null", "string"],
            title="Source override",
            description="A landing folder to read instead of the default drop for that day",
        ),
    },
)
def ingest_daily():
    @task
    def resolve_day(params=None, data_interval_start=None, logical_date=None) -> str:
        from evergreen.orchestration.dagkit import resolve_day as resolve

        return resolve(params or {}, data_interval_start, logical_date)

    day = resolve_day()

    def spark(step: str, *extra: str, **kwargs) -> SparkSubmitOperator:
        return SparkSubmitOperator(
            task_id=step,
            application=spark_job(),
            application_args=[step, "--date", "{{ ti.xcom_pull(task_ids='resolve_day') }}", *extra],
            conn_id="spark_default",
            name=f"evergreen-{step}",
            **kwargs,
        )

    ingest = spark("ingest", "{{ '--landing=' ~ params.landing if params.landing else '' }}")

    @task
    def gate_raw(day: str) -> dict:
        from evergreen.orchestration.dagkit import check_gate

        return check_gate(day, "ingest")

    clean = spark("clean")

    @task
    def gate_clean(day: str) -> dict:
        from evergreen.orchestration.dagkit import check_gate

        return check_gate(day, "clean")

    features = spark("features", outlets=[Asset(name="gold_features", uri=GOLD_FEATURES_URI)])

    day >> ingest >> gate_raw(day) >> clean >> gate_clean(day) >> features


ingest_daily()
