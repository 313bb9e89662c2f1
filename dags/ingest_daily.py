"""ingest_daily: landing -> bronze -> raw gate -> silver -> quality gate -> gold features."""

from __future__ import annotations

import datetime as dt

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from evergreen.orchestration.dagkit import (
    DAGRUN_TIMEOUT,
    DEFAULT_ARGS,
    Tag,
    gold_features_asset,
    gold_written,
    spark_job,
)

DOC = """
### ingest_daily
Lands one day of e-commerce transactions (CSV + JSON Lines drops, plus the customers and merchants
tables) and turns it into model-ready features: **bronze** (typed, lineage) -> **raw contract gate**
(Great Expectations) -> **silver** (de-duplicated, null policy, bad rows to quarantine) -> **clean quality
gate** -> **gold features** (point-in-time correct), which emits the `gold/features` asset with the day it
wrote (`extra.days`): `score_and_watch` scores exactly those days, `retrain` trains on the new gold.

**Schedule:** 00:30 UTC for the day that just ended: the run at D+1 00:30 has the data interval
[D 00:30, D+1 00:30) and ingests day D. **Backfill** (UI "Backfill" or `airflow backfill create --dag-id
ingest_daily --from-date 2026-01-02 --to-date 2026-01-05`): one run per day, logical date D 00:30 ingests
day D; running it again re-processes the same days (writes are per-day swaps).

**Owner:** data platform (`evergreen-data-platform`). **Manual run:** pick a `date`; `landing` reads
another drop folder (local path or `s3a://`) instead of the default one.

**When it fails**
- `resolve_day` failed "nothing landed": the day's drop folder is missing or empty (fails at once, no
  retries, everyone is notified). Land the files, then clear the run.
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
    # A data interval of one day ending at 00:30 (Airflow 3 turns a bare cron string into a trigger
    # timetable whose interval is empty: the day would be the one that has just begun).
    schedule=CronDataIntervalTimetable("30 0 * * *", timezone="UTC"),
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
    def resolve_day(params=None, data_interval_start=None, data_interval_end=None, logical_date=None) -> str:
        from airflow.sdk.exceptions import AirflowFailException

        from evergreen.orchestration.dagkit import landed_files
        from evergreen.orchestration.dagkit import resolve_day as resolve

        params = params or {}
        day = resolve(params, data_interval_start, logical_date, data_interval_end)
        drop, files = landed_files(day, params.get("landing"))
        if files == []:  # a retry in minutes will not make an upstream drop appear: fail now, tell people
            raise AirflowFailException(f"nothing landed for {day} under {drop}: land the files, then clear this run")
        return day

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

    features = spark("features", outlets=[gold_features_asset()], post_execute=gold_written)

    day >> ingest >> gate_raw(day) >> clean >> gate_clean(day) >> features


ingest_daily()
