"""The data half of the loop on generated data, with the real Spark, GX and SQLAlchemy.

One small lake is built once for the module: a normal day, then one day per bad-data scenario, then a
normal day. The tests read that lake: reconciliation, the gates' verdicts, quarantine, re-runs, a crash.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from evergreen import config
from evergreen.devtools.datagen import Scenario, generate
from evergreen.pipeline import steps
from evergreen.storage.inventory import partition_counts
from evergreen.storage.lake import STAGING, Lake

DAYS = [str(dt.date(2026, 1, 1) + dt.timedelta(days=i)) for i in range(6)]
BAD = {"2026-01-03": "null_burst", "2026-01-04": "schema_break", "2026-01-05": "duplicate_flood"}


@pytest.fixture(scope="module")
def lake_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("pipeline")
    saved = os.environ.get("EVERGREEN_HOME")
    os.environ["EVERGREEN_HOME"] = str(home)
    config.reload()
    yield home
    if saved is not None:
        os.environ["EVERGREEN_HOME"] = saved
    config.reload()


@pytest.fixture(scope="module")
def pipeline(spark, lake_home):
    manifest = generate(
        dt.date(2026, 1, 1),
        days=len(DAYS),
        rows_per_day=3000,
        seed=11,
        scenarios=[Scenario(name, dt.date.fromisoformat(day)) for day, name in BAD.items()],
    )
    reports = {}
    for day in DAYS:
        reports[day] = {"ingest": steps.ingest_day(spark, day)}
        if reports[day]["ingest"]["gate"]["status"] == "failed":
            continue
        reports[day]["clean"] = steps.clean_day(spark, day)
        if reports[day]["clean"]["gate"]["status"] != "failed":
            reports[day]["features"] = steps.features_day(spark, day)
    return {"manifest": manifest, "reports": reports, "landing": {d["date"]: d["rows"] for d in manifest["days"]}}


def _rows(df, drop=()):
    return sorted(tuple(r) for r in df.drop(*drop).collect())


def test_every_landing_row_is_in_silver_or_in_quarantine(pipeline):
    silver = partition_counts("silver", "transactions", "event_date", DAYS)
    quarantine = partition_counts("quarantine", "transactions", "batch_id", [steps.batch_id(d) for d in DAYS])
    for day in DAYS:
        landed = pipeline["landing"][day]
        assert landed > 2000
        assert silver.get(day, 0) + quarantine.get(steps.batch_id(day), 0) == landed, day
        assert pipeline["reports"][day]["ingest"]["landing_rows"] == landed


@pytest.mark.parametrize(("day", "words"), [("2026-01-03", ["customer_id", "null"]), ("2026-01-04", ["amount_cents"])])
def test_a_batch_that_breaks_the_contract_goes_whole_to_quarantine(pipeline, spark, day, words):
    gate = pipeline["reports"][day]["ingest"]["gate"]
    assert gate["status"] == "failed"
    assert "\n" not in gate["reason"]
    assert all(w in gate["reason"] for w in words), gate["reason"]
    assert "clean" not in pipeline["reports"][day]  # the run stopped at the gate
    lake = Lake(spark)
    for layer, table in (("bronze", "transactions"), ("silver", "transactions"), ("gold", "features")):
        assert day not in lake.partitions(layer, table, "event_date"), f"{layer} has rows of a broken batch"
    batch_dir = Path(lake.path("quarantine", "transactions")) / f"batch_id={steps.batch_id(day)}"
    q = spark.read.parquet(str(batch_dir))
    assert q.count() == pipeline["landing"][day]
    # Both files of the day broke it: each is quarantined whole under its own reason, named in the day's.
    files = {r["reason"].split(":", 1)[0]: r["reason"] for r in q.select("reason").distinct().collect()}
    assert set(files) == {"web_app.csv", "pos.jsonl"}
    assert all(reason in gate["reason"] and all(w in reason for w in words) for reason in files.values())
    saved = json.loads((batch_dir / "_gate_result.json").read_text())
    assert saved["status"] == "failed"
    assert {f["status"] for f in saved["statistics"]["files"].values()} == {"refused"}


def test_a_duplicate_flood_is_a_partial_gate_and_silver_stays_unique(pipeline, spark):
    day = "2026-01-05"
    clean = pipeline["reports"][day]["clean"]
    assert pipeline["reports"][day]["ingest"]["gate"]["status"] == "passed"
    assert clean["gate"]["status"] == "partial"
    assert "duplicate_transaction_id" in clean["gate"]["reason"]
    dirt = next(d for d in pipeline["manifest"]["days"] if d["date"] == day)["dirt"]
    # Each injected dirty row is quarantined exactly once (a copy of an out-of-range row is out of range too).
    assert sum(clean["quarantine_reasons"].values()) == dirt["duplicates"] + dirt["out_of_range"]
    assert clean["quarantine_reasons"]["duplicate_transaction_id"] >= 0.95 * dirt["duplicates"] > 500
    silver = Lake(spark).read("silver", "transactions", "event_date", [day])
    assert silver.count() == silver.select("transaction_id").distinct().count()


def test_normal_days_pass_both_gates_and_reach_gold(pipeline):
    for day in ("2026-01-01", "2026-01-02", "2026-01-06"):
        r = pipeline["reports"][day]
        assert r["ingest"]["gate"]["status"] == "passed"
        assert r["clean"]["gate"]["status"] == "passed"
        assert r["features"]["gold_rows_today"] == r["clean"]["silver_rows"] > 0


def test_running_the_same_day_again_gives_identical_silver_and_gold(pipeline, spark):
    lake = Lake(spark)
    day = "2026-01-02"
    silver_before = _rows(lake.read("silver", "transactions", "event_date", [day]))
    gold_before = _rows(lake.read("gold", "features", "event_date", DAYS))
    steps.ingest_day(spark, day)
    steps.clean_day(spark, day)
    steps.features_day(spark, day)
    assert _rows(lake.read("silver", "transactions", "event_date", [day])) == silver_before
    assert _rows(lake.read("gold", "features", "event_date", DAYS)) == gold_before


def test_labels_arrive_late_and_gold_carries_them(pipeline, spark):
    gold = Lake(spark).read("gold", "features", "event_date", DAYS)
    labelled = gold.filter(F.col("is_fraud").isNotNull())
    assert 0 < labelled.count() < gold.count()  # some labels arrived, the latest days' have not
    assert labelled.filter(F.col("label_time") < F.col("event_time")).count() == 0


def test_labels_that_arrived_on_a_rejected_day_reach_silver_the_next_day(pipeline, spark):
    # 2026-01-04 broke the raw contract, so its own clean never ran; its label arrivals are still good data.
    lake = Lake(spark)
    bronze = lake.read("bronze", "labels", "label_date", ["2026-01-04"])
    silver = lake.read("silver", "labels", "label_date", ["2026-01-04"])
    assert bronze.count() > 0
    assert silver is not None
    assert silver.count() == bronze.count()
    assert "2026-01-04" in pipeline["reports"]["2026-01-05"]["clean"]["labels"]


def test_killing_the_job_mid_commit_leaves_no_partial_partition(pipeline, spark, lake_home):
    """SIGKILL spark-submit between staging and commit: readers still see the old partition, whole."""
    lake = Lake(spark)
    day = "2026-01-06"
    before = _rows(lake.read("silver", "transactions", "event_date", [day]))
    env = {**os.environ, "EVERGREEN_HOME": str(lake_home), "EVERGREEN_SPARK_MASTER": "local[1]"}
    job = Path(__file__).parents[1] / "paused_spark_job.py"
    spark_submit = Path(sys.executable).parent / "spark-submit"
    log = lake_home / "killed-clean.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(spark_submit), "--master", "local[1]", str(job), "300", "clean", "--date", day],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    staging = Path(lake.path("silver", "transactions")) / STAGING
    deadline = time.time() + 240
    try:
        while not any(staging.glob(f"*/event_date={day}/*.parquet")):
            if proc.poll() is not None:
                pytest.fail(
                    f"the job ended (rc {proc.returncode}) before staging its write:\n{log.read_text()[-3000:]}"
                )
            assert time.time() < deadline, "the job never staged its write"
            time.sleep(0.5)
        time.sleep(2)  # inside the pause: staged, counted, not committed
        assert proc.poll() is None, "the job must still be paused before its commit"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert _rows(lake.read("silver", "transactions", "event_date", [day])) == before
    assert any(staging.iterdir()), "the killed write left its staging behind (ignored by readers)"
    steps.clean_day(spark, day)  # the next run completes
    assert _rows(lake.read("silver", "transactions", "event_date", [day])) == before
