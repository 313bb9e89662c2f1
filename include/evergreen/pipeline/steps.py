"""The daily data steps: ingest -> raw gate -> clean -> quality gate -> features.

Each step is what one Spark job runs (`evergreen.pipeline.jobs` is the spark-submit application that calls
it); each ends by writing a step report (evergreen.storage.step_reports) that the DAG's gate tasks read. A
failed gate never raises here: the job did its work (the batch is safely in quarantine), and the gate task
is the one that stops the run with the one-line reason.
"""

from __future__ import annotations

import json
import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from evergreen.common.days import shift_day
from evergreen.config import Settings, settings
from evergreen.contracts import data_contract
from evergreen.pipeline.quality import clean_quality_gate, raw_contract_gate
from evergreen.pipeline.transforms.clean import clean_labels, clean_transactions
from evergreen.pipeline.transforms.features import build_features
from evergreen.pipeline.transforms.ingest import read_landing, read_sql_table, type_batch
from evergreen.pipeline.transforms.quarantine import reason_counts, to_quarantine
from evergreen.storage.lake import Lake
from evergreen.storage.lake_names import batch_id
from evergreen.storage.step_reports import write_report

log = logging.getLogger(__name__)

LABEL_DELAY_MAX_DAYS = 14  # look-back margin so a merchant's known-label window sees its transactions


class LandingMissingError(FileNotFoundError):
    pass


def landing_files(lake: Lake, drop: str) -> list[str]:
    return [f for ext in ("csv", "jsonl", "json") for f in lake.glob(f"{drop}/*.{ext}")]


# ---- ingest --------------------------------------------------------------------------------------------
def ingest_day(
    spark: SparkSession,
    day: str,
    *,
    landing: str | None = None,
    cfg: Settings | None = None,
    before_commit=None,
) -> dict:
    cfg = cfg or settings()
    lake = Lake(spark, cfg)
    batch = batch_id(day)
    drop = landing or f"{cfg.layer('landing', 'transactions')}/{day}"
    files = landing_files(lake, drop)
    if not files:
        raise LandingMissingError(f"no landing files (.csv/.jsonl) for {day} under {drop}")

    staged = type_batch(
        read_landing(spark, files),
        data_contract.TRANSACTION_COLUMNS,
        batch_id=batch,
        partition_key="event_date",
        partition_value=day,
    ).persist()
    landing_rows = staged.count()
    gate = raw_contract_gate(staged, batch)

    if gate.passed:
        bronze = lake.write_partitions(
            staged, "bronze", "transactions", "event_date", [day], before_commit=before_commit
        )
        _replace_quarantine(lake, "transactions", batch, None)
        bronze_rows, quarantined = bronze.get(day, 0), 0
    else:
        # A batch that broke its contract has no rows past quarantine: drop whatever an earlier run of the
        # same day left, so the lake never mixes an old version of the day with this rejection.
        for layer in ("bronze", "silver"):
            lake.drop_partition(layer, "transactions", "event_date", day)
        q = to_quarantine(staged, stage="raw_contract", reason=gate.reason)
        quarantined = _replace_quarantine(lake, "transactions", batch, q, gate=gate.to_dict())
        bronze_rows = 0
    staged.unpersist()

    labels = _ingest_labels(spark, lake, cfg, day)
    dims = {t: _ingest_table(spark, lake, cfg, t, c) for t, c in _DIMENSIONS.items()}
    report = {
        "day": day,
        "batch_id": batch,
        "files": files,
        "landing_rows": landing_rows,
        "bronze_rows": bronze_rows,
        "quarantined_rows": quarantined,
        "gate": gate.to_dict(),
        "labels": labels,
        "dimensions": dims,
    }
    write_report(day, "ingest", report)
    return report


_DIMENSIONS = {"customers": data_contract.CUSTOMER_COLUMNS, "merchants": data_contract.MERCHANT_COLUMNS}


def _ingest_labels(spark: SparkSession, lake: Lake, cfg: Settings, day: str) -> dict:
    files = landing_files(lake, f"{cfg.layer('landing', 'labels')}/{day}")
    if not files:
        lake.drop_partition("bronze", "labels", "label_date", day)
        return {"landing_rows": 0, "bronze_rows": 0}
    staged = type_batch(
        read_landing(spark, files),
        data_contract.LABEL_COLUMNS,
        batch_id=batch_id(day, "labels"),
        partition_key="label_date",
        partition_value=day,
    )
    counts = lake.write_partitions(staged, "bronze", "labels", "label_date", [day])
    return {"landing_rows": counts.get(day, 0), "bronze_rows": counts.get(day, 0)}


def _ingest_table(spark: SparkSession, lake: Lake, cfg: Settings, table: str, contract) -> int:
    from evergreen.storage.sql import engine

    df = read_sql_table(spark, engine(cfg.source_db_url), table, contract)
    return lake.write_table(df, "bronze", table)


def _replace_quarantine(lake: Lake, table: str, batch: str, rows: DataFrame | None, gate: dict | None = None) -> int:
    """Make the quarantine of one batch exactly `rows` (none: the batch has nothing in quarantine)."""
    if rows is None:
        lake.drop_partition("quarantine", table, "batch_id", batch)
        return 0
    counts = lake.write_partitions(rows, "quarantine", table, "batch_id", [batch])
    if gate is not None:
        # The GX result travels with the rows it rejected: whoever opens the quarantine sees why.
        path = f"{lake.path('quarantine', table)}/batch_id={batch}/_gate_result.json"
        lake.write_text(path, json.dumps(gate, indent=2, default=str))
    return counts.get(batch, 0)


# ---- clean ---------------------------------------------------------------------------------------------
def clean_day(spark: SparkSession, day: str, *, cfg: Settings | None = None, before_commit=None) -> dict:
    cfg = cfg or settings()
    lake = Lake(spark, cfg)
    batch = batch_id(day)
    bronze = lake.read("bronze", "transactions", "event_date", [day])
    if bronze is None:
        raise FileNotFoundError(
            f"no bronze partition for {day}: ingest has not run for it, or its raw contract gate failed "
            f"(see quarantine/transactions/batch_id={batch})"
        )
    silver, rejected = clean_transactions(bronze)
    silver = silver.persist()
    rejected = to_quarantine(rejected, stage="clean").persist()
    reasons = reason_counts(rejected)
    previous = [d for d in lake.partitions("silver", "transactions", "event_date") if d < day]
    previous_rows = lake.read("silver", "transactions", "event_date", [previous[-1]]).count() if previous else None
    gate = clean_quality_gate(silver, batch, previous_row_count=previous_rows, quarantined=reasons)

    if gate.passed:
        counts = lake.write_partitions(
            silver, "silver", "transactions", "event_date", [day], before_commit=before_commit
        )
        silver_rows = counts.get(day, 0)
        quarantined = _replace_quarantine(lake, "transactions", batch, rejected if reasons else None)
    else:
        lake.drop_partition("silver", "transactions", "event_date", day)
        whole = rejected.unionByName(to_quarantine(silver, stage="clean_quality", reason=gate.reason))
        quarantined = _replace_quarantine(lake, "transactions", batch, whole, gate=gate.to_dict())
        silver_rows = 0
    silver.unpersist()
    rejected.unpersist()

    report = {
        "day": day,
        "batch_id": batch,
        "bronze_rows": bronze.count(),
        "silver_rows": silver_rows,
        "quarantined_rows": quarantined,
        "quarantine_reasons": reasons,
        "previous_silver_rows": previous_rows,
        "gate": gate.to_dict(),
        "labels": {d: _clean_labels(lake, d) for d in _label_days_to_clean(lake, day)},
        "dimensions": {t: _clean_table(lake, t, c[0].name) for t, c in _DIMENSIONS.items()},
    }
    write_report(day, "clean", report)
    return report


def _label_days_to_clean(lake: Lake, day: str) -> list[str]:
    """`day`, plus earlier label arrivals that never reached silver.

    Labels are their own feed: a day whose transactions broke the raw contract stops before clean, but the
    chargebacks that arrived that day are fine and must not be lost. The next day that gets through clean
    catches them up (a re-run of `day` alone would never see them).
    """
    done = set(lake.partitions("silver", "labels", "label_date"))
    behind = [d for d in lake.partitions("bronze", "labels", "label_date") if d < day and d not in done]
    return [*behind, day]


def _clean_labels(lake: Lake, day: str) -> dict:
    bronze = lake.read("bronze", "labels", "label_date", [day])
    batch = batch_id(day, "labels")
    if bronze is None:
        lake.drop_partition("silver", "labels", "label_date", day)
        _replace_quarantine(lake, "labels", batch, None)
        return {"silver_rows": 0, "quarantined_rows": 0}
    good, bad = clean_labels(bronze)
    silver = lake.write_partitions(good, "silver", "labels", "label_date", [day]).get(day, 0)
    q = to_quarantine(bad, stage="clean")
    quarantined = _replace_quarantine(lake, "labels", batch, q)
    return {"silver_rows": silver, "quarantined_rows": quarantined}


def _clean_table(lake: Lake, table: str, key: str) -> int:
    bronze = lake.read("bronze", table)
    if bronze is None:
        raise FileNotFoundError(f"no bronze {table}: run ingest first")
    return lake.write_table(bronze.filter(F.col(key).isNotNull()).dropDuplicates([key]), "silver", table)


# ---- features ------------------------------------------------------------------------------------------
def features_day(
    spark: SparkSession, day: str, *, cfg: Settings | None = None, before_commit=None, since: str | None = None
) -> dict:
    """Gold for `day` and the label horizon before it (so labels that arrived since are attached).

    `since` widens the output to every silver day from `since` on (a backfill builds them in one pass).
    """
    cfg = cfg or settings()
    lake = Lake(spark, cfg)
    silver_days = lake.partitions("silver", "transactions", "event_date")
    first = min(since or day, shift_day(day, -cfg.label_horizon_days))
    out_days = [d for d in silver_days if first <= d <= day]
    if day not in out_days:
        raise FileNotFoundError(f"no silver partition for {day}: its clean quality gate failed or clean has not run")
    start = shift_day(out_days[0], -(cfg.history_days + LABEL_DELAY_MAX_DAYS))
    history = [d for d in silver_days if start <= d <= day]
    tx = lake.read("silver", "transactions", "event_date", history)
    # Labels: every one that has arrived so far, not only up to `day`. Features never see a label from
    # their own future (build_features cuts at each row's time), gold rows carry `label_time` so a
    # training run can apply its own as-of cut, and re-running an old day never takes labels away.
    label_days = [d for d in lake.partitions("silver", "labels", "label_date") if d >= start]
    labels = lake.read("silver", "labels", "label_date", label_days) if label_days else None
    gold = build_features(
        tx,
        labels,
        lake.read("silver", "customers"),
        lake.read("silver", "merchants"),
        as_of=max([day, *label_days]),
        out_dates=out_days,
    )
    counts = lake.write_partitions(gold, "gold", "features", "event_date", out_days, before_commit=before_commit)
    report = {
        "day": day,
        "gold_partitions": counts,
        "gold_rows_today": counts.get(day, 0),
        "history_days_read": len(history),
        "labelled_rows": _labelled(lake, out_days),
    }
    write_report(day, "features", report)
    return report


def _labelled(lake: Lake, days: list[str]) -> int:
    gold = lake.read("gold", "features", "event_date", days)
    return gold.filter(F.col("is_fraud").isNotNull()).count() if gold is not None else 0


def backfill(spark: SparkSession, days: list[str], *, cfg: Settings | None = None) -> dict[str, dict]:
    """Many days in one session: ingest and clean each (gates included), then gold for all in one pass.

    Gold is identical to running `features_day` day by day at the end (each row's features only look
    backwards, and labels are attached as known now), at one window computation instead of one per day.
    """
    cfg = cfg or settings()
    out: dict[str, dict] = {}
    for day in sorted(days):
        out[day] = {"day": day, "ingest": ingest_day(spark, day, cfg=cfg), "stopped_at": "raw_contract"}
        if out[day]["ingest"]["gate"]["status"] == "failed":
            continue
        out[day]["clean"] = clean_day(spark, day, cfg=cfg)
        out[day]["stopped_at"] = "clean_quality" if out[day]["clean"]["gate"]["status"] == "failed" else None
    passed = [d for d, r in out.items() if r["stopped_at"] is None]
    if passed:
        report = features_day(spark, passed[-1], cfg=cfg, since=passed[0])
        for day in passed:
            out[day]["features"] = {**report, "gold_rows_today": report["gold_partitions"].get(day, 0)}
    return out
