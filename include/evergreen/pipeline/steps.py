"""The daily data steps: ingest -> raw gate -> clean -> quality gate -> features; and the refund-dispute feed's
own two: disputes (file gate -> bronze -> silver) -> disputes_gold.

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

from evergreen.common.days import days_between, shift_day
from evergreen.config import Settings, settings
from evergreen.contracts import data_contract
from evergreen.pipeline.quality import PASSED, GateResult, clean_quality_gate, file_gate, raw_contract_gate
from evergreen.pipeline.transforms.clean import clean_disputes, clean_labels, clean_transactions
from evergreen.pipeline.transforms.disputes import dispute_gold
from evergreen.pipeline.transforms.features import build_features
from evergreen.pipeline.transforms.ingest import (
    json_keys,
    read_csv_file,
    read_jsonl_file,
    read_lines,
    read_sql_table,
    type_batch,
    union,
)
from evergreen.pipeline.transforms.quarantine import (
    CLEAN,
    CLEAN_QUALITY,
    INGEST_STAGES,
    LANDING_FILE,
    RAW_CONTRACT,
    reason_counts,
    to_quarantine,
)
from evergreen.pipeline.transforms.quarantine import COLUMNS as QUARANTINE_COLUMNS
from evergreen.storage.lake import Lake
from evergreen.storage.lake_names import batch_id
from evergreen.storage.landing_scan import CSV, file_format, file_name
from evergreen.storage.landing_scan import scan as scan_file
from evergreen.storage.step_reports import read_report, write_report

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
    source: data_contract.Source = data_contract.TRANSACTIONS,
    label_source: data_contract.Source = data_contract.LABELS,
) -> dict:
    """One day's transactions (file gate, GX raw contract, bronze, quarantine), its label arrivals (file
    gate, bronze, quarantine) and the dimension tables. `source`/`label_source` are the feeds' contracts
    (tests pass one that declares another encoding)."""
    cfg = cfg or settings()
    lake = Lake(spark, cfg)
    drop = landing or f"{cfg.layer('landing', source.name)}/{day}"
    files = landing_files(lake, drop)
    if not files:
        raise LandingMissingError(f"no landing files (.csv/.jsonl) for {day} under {drop}")
    tx = ingest_source(spark, lake, source, day, files, contract_gate=True, before_commit=before_commit)
    labels = _ingest_labels(spark, lake, cfg, day, label_source)
    dims = {t: _ingest_table(spark, lake, cfg, t, c) for t, c in _DIMENSIONS.items()}
    report = {"day": day, **tx, "labels": labels, "dimensions": dims}
    write_report(day, "ingest", report)
    return report


def ingest_source(
    spark: SparkSession,
    lake: Lake,
    source: data_contract.Source,
    day: str,
    files: list[str],
    *,
    contract_gate: bool,
    before_commit=None,
) -> dict:
    """Landing files of one feed and day -> bronze (the files that passed) + quarantine (the rest, whole).

    Each file is gated on its own (evergreen.pipeline.quality.file_gate); with `contract_gate` the files
    left also pass the GX raw contract together. Returns the feed's part of the ingest report.
    """
    batch = batch_id(day, source.name)
    read = [_read_gated(spark, path, source) for path in files]
    verdicts = [v for v, _ in read]
    frames = [f for _, f in read if f is not None]

    staged = None
    if frames:
        staged = type_batch(
            union(frames), source.columns, batch_id=batch, partition_key=source.partition_key, partition_value=day
        ).persist()
        file_gate.check_content(staged, [v for v, f in read if f is not None], source, settings())
    accepted = [v.path for v in verdicts if v.accepted]
    kept = staged.filter(F.col(data_contract.SOURCE_FILE).isin(accepted)) if staged is not None and accepted else None
    contract = raw_contract_gate(kept, batch) if contract_gate and kept is not None else None
    gate = file_gate.day_gate(batch, verdicts, contract)

    key = source.partition_key
    if gate.passed and kept is not None:
        bronze = lake.write_partitions(kept, "bronze", source.name, key, [day], before_commit=before_commit)
        bronze_rows = bronze.get(day, 0)
    else:
        # Nothing of this batch gets past quarantine: drop whatever an earlier run of the same day left, so
        # the lake never mixes an old version of the day with this rejection.
        for layer in ("bronze", "silver"):
            lake.drop_partition(layer, source.name, key, day)
        bronze_rows = 0

    parts = []
    for v in verdicts:
        if v.accepted:
            continue
        if v.parsed and staged is not None:
            rows = staged.filter(F.col(data_contract.SOURCE_FILE) == v.path)
            parts.append(to_quarantine(rows, stage=LANDING_FILE, reason=v.reason))
        else:
            lines = read_lines(spark, v.path, v.format, encoding=source.encoding_of(v.name))
            parts.append(to_quarantine(lines.withColumn(data_contract.BATCH_ID, F.lit(batch)), stage=LANDING_FILE,
                                       reason=v.reason))  # fmt: skip
    if not gate.passed and kept is not None:
        parts.append(to_quarantine(kept, stage=RAW_CONTRACT, reason=gate.reason))
    result = gate.to_dict() if gate.status != PASSED else None
    quarantined = _replace_quarantine(lake, source.name, batch, union(parts) if parts else None, gate=result)
    if staged is not None:
        staged.unpersist()
    return {
        "batch_id": batch,
        "files": [v.to_dict() for v in verdicts],
        "landing_rows": sum(v.rows for v in verdicts),
        "bronze_rows": bronze_rows,
        "quarantined_rows": quarantined,
        "gate": gate.to_dict(),
    }


def _read_gated(
    spark: SparkSession, path: str, source: data_contract.Source
) -> tuple[file_gate.FileVerdict, DataFrame | None]:
    """One landing file through the structure checks: its verdict, and its rows as text if it passed them."""
    name = file_name(path)
    fmt = file_format(path)
    if fmt is None:
        verdict = file_gate.FileVerdict(path, name, "", 0, "not a .csv or .jsonl file")
        return verdict, None
    encoding = source.encoding_of(name)
    scan = scan_file(path, encoding=encoding, max_line_bytes=source.max_line_bytes, fmt=fmt)
    verdict = file_gate.from_scan(scan)
    frame = None
    if fmt == CSV:
        header = file_gate.check_header(verdict, scan.header, source)
        if header is not None:
            frame = read_csv_file(spark, path, header, encoding=encoding, delimiter=source.delimiter)
    elif verdict.accepted:
        frame = read_jsonl_file(spark, path, encoding=encoding)
        if not file_gate.check_keys(verdict, json_keys(frame), source):
            frame = None
    return verdict, frame


_DIMENSIONS = {"customers": data_contract.CUSTOMER_COLUMNS, "merchants": data_contract.MERCHANT_COLUMNS}


def _ingest_labels(spark: SparkSession, lake: Lake, cfg: Settings, day: str, source: data_contract.Source) -> dict:
    """The label arrivals of `day`: a gated feed like transactions (file gate; no GX suite of its own), so a
    broken label file is quarantined with its reason and never reaches clean."""
    batch = batch_id(day, source.name)
    files = landing_files(lake, f"{cfg.layer('landing', source.name)}/{day}")
    if not files:
        lake.drop_partition("bronze", source.name, source.partition_key, day)
        _replace_quarantine(lake, source.name, batch, None)
        return {"batch_id": batch, "files": [], "landing_rows": 0, "bronze_rows": 0, "quarantined_rows": 0,
                "gate": None}  # fmt: skip
    return ingest_source(spark, lake, source, day, files, contract_gate=False)


def _ingest_table(spark: SparkSession, lake: Lake, cfg: Settings, table: str, contract) -> int:
    from evergreen.storage.sql import engine

    df = read_sql_table(spark, engine(cfg.source_db_url), table, contract)
    return lake.write_table(df, "bronze", table)


def _replace_quarantine(
    lake: Lake,
    table: str,
    batch: str,
    rows: DataFrame | None,
    gate: dict | None = None,
    *,
    keep_stages: tuple[str, ...] = (),
) -> int:
    """Make the quarantine of one batch exactly `rows` (none: the batch has nothing in quarantine), plus the
    rows of `keep_stages` already there (clean keeps what ingest quarantined, and ingest's gate result)."""
    folder = f"{lake.path('quarantine', table)}/batch_id={batch}"
    result_file = f"{folder}/_gate_result.json"
    kept_result = None
    if keep_stages:
        # A refused empty file leaves a partition holding only its gate result: nothing to read there.
        old = lake.read("quarantine", table, "batch_id", [batch]) if lake.glob(f"{folder}/*.parquet") else None
        if old is not None:
            old = old.filter(F.col("stage").isin(*keep_stages)).select(*QUARANTINE_COLUMNS)
            rows = old if rows is None else old.unionByName(rows.select(*QUARANTINE_COLUMNS))
        kept_result = lake.read_text(result_file) if gate is None else None
    if rows is None:
        lake.drop_partition("quarantine", table, "batch_id", batch)
        return 0
    counts = lake.write_partitions(rows, "quarantine", table, "batch_id", [batch])
    if gate is not None:
        # The gate's result travels with the rows it rejected: whoever opens the quarantine sees why.
        lake.write_text(result_file, json.dumps(gate, indent=2, default=str))
    elif kept_result is not None and batch in counts:
        lake.write_text(result_file, kept_result)
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
    rejected = to_quarantine(rejected, stage=CLEAN).persist()
    reasons = reason_counts(rejected)
    previous_day = _previous_complete_day(lake, day)
    previous_rows = lake.read("silver", "transactions", "event_date", [previous_day]).count() if previous_day else None
    # A day whose file gate refused a file is short by rows that are named in quarantine, not lost: the
    # row-count check then only asks for rows at all (the raw gate already reported the day partial).
    refused_files = _ingest_gate(day).get("statistics", {}).get("refused_files", 0)
    gate = clean_quality_gate(
        silver, batch, previous_row_count=previous_rows, quarantined=reasons, partial_landing=refused_files > 0
    )

    if gate.passed:
        counts = lake.write_partitions(
            silver, "silver", "transactions", "event_date", [day], before_commit=before_commit
        )
        silver_rows = counts.get(day, 0)
        quarantined = _replace_quarantine(
            lake, "transactions", batch, rejected if reasons else None, keep_stages=INGEST_STAGES
        )
    else:
        lake.drop_partition("silver", "transactions", "event_date", day)
        whole = rejected.unionByName(to_quarantine(silver, stage=CLEAN_QUALITY, reason=gate.reason))
        quarantined = _replace_quarantine(
            lake, "transactions", batch, whole, gate=gate.to_dict(), keep_stages=INGEST_STAGES
        )
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
        "previous_day": previous_day,
        "gate": gate.to_dict(),
        "labels": _clean_label_days(lake, day),
        "dimensions": {t: _clean_table(lake, t, c[0].name) for t, c in _DIMENSIONS.items()},
    }
    write_report(day, "clean", report)
    return report


def _ingest_gate(day: str) -> dict:
    try:
        return read_report(day, "ingest").get("gate") or {}
    except FileNotFoundError:
        return {}


def _previous_complete_day(lake: Lake, day: str, look_back: int = 7) -> str | None:
    """The latest earlier silver day whose files all passed (the row-count yardstick), else the latest one.

    A day with a refused file is short on purpose; measured against it, the next normal day would look
    like a jump and fail.
    """
    previous = [d for d in lake.partitions("silver", "transactions", "event_date") if d < day]
    for d in reversed(previous[-look_back:]):
        if _ingest_gate(d).get("status", PASSED) == PASSED:
            return d
    return previous[-1] if previous else None


def _clean_label_days(lake: Lake, day: str) -> dict:
    """Clean `day`'s label arrivals and catch up earlier ones. A catch-up day that fails is reported in the
    clean report and retried the next time; it never stops today's clean."""
    out = {}
    for d in _label_days_to_clean(lake, day):
        if d == day:
            out[d] = _clean_labels(lake, d)
            continue
        try:
            out[d] = _clean_labels(lake, d)
        except Exception as exc:  # one earlier day's labels must never block every later day
            log.exception("catching up the labels of %s failed", d)
            out[d] = {"error": " ".join(f"{type(exc).__name__}: {exc}".split())[:500]}
    return out


def _label_days_to_clean(lake: Lake, day: str) -> list[str]:
    """`day`, plus earlier label arrivals that never went through clean.

    Labels are their own feed: a day whose transactions broke the raw contract stops before clean, but the
    chargebacks that arrived that day are fine and must not be lost. The next day that gets through clean
    catches them up (a re-run of `day` alone would never see them). A day whose every label clean
    quarantined has no silver partition but has been cleaned: its quarantine holds clean's rows.
    """
    done = set(lake.partitions("silver", "labels", "label_date"))
    behind = [d for d in lake.partitions("bronze", "labels", "label_date") if d < day and d not in done]
    if behind:
        q = lake.read("quarantine", "labels", "batch_id", [batch_id(d, "labels") for d in behind])
        if q is not None:
            cleaned = {r["batch_id"] for r in q.filter(F.col("stage") == CLEAN).select("batch_id").distinct().collect()}
            behind = [d for d in behind if batch_id(d, "labels") not in cleaned]
    return [*behind, day]


def _clean_labels(lake: Lake, day: str) -> dict:
    return _clean_feed(lake, data_contract.LABELS, day, clean_labels)


def _clean_feed(
    lake: Lake,
    source: data_contract.Source,
    day: str,
    clean,
    *,
    count_reasons: bool = False,
    before_commit=None,
) -> dict:
    """One day of a delayed feed (labels, disputes), bronze -> silver by `clean` (bronze -> (good, rejected));
    its rejected rows join what ingest quarantined for the batch. `count_reasons` adds the reason counts."""
    key = source.partition_key
    bronze = lake.read("bronze", source.name, key, [day])
    batch = batch_id(day, source.name)
    out: dict = {"silver_rows": 0, "quarantined_rows": 0}
    if bronze is None:
        lake.drop_partition("silver", source.name, key, day)
        out["quarantined_rows"] = _replace_quarantine(lake, source.name, batch, None, keep_stages=INGEST_STAGES)
        reasons: dict[str, int] = {}
    else:
        good, bad = clean(bronze)
        written = lake.write_partitions(good, "silver", source.name, key, [day], before_commit=before_commit)
        out["silver_rows"] = written.get(day, 0)
        q = to_quarantine(bad, stage=CLEAN)
        reasons = reason_counts(q) if count_reasons else {}
        out["quarantined_rows"] = _replace_quarantine(lake, source.name, batch, q, keep_stages=INGEST_STAGES)
    if count_reasons:
        out["quarantine_reasons"] = reasons
    return out


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


# ---- refund disputes (their own feed and DAG: ingest_disputes) ---------------------------------------------
def disputes_day(
    spark: SparkSession,
    day: str,
    *,
    cfg: Settings | None = None,
    before_commit=None,
    since: str | None = None,
    source: data_contract.Source = data_contract.DISPUTES,
) -> dict:
    """The refund disputes raised on `day` (and on every day from `since`, if given): each raise-day folder
    through the file gate into bronze, then clean into silver (de-duplicated on `dispute_id`); every landed row
    ends in silver or in quarantine with its reason. One step report per day (`disputes`), whose gate the DAG
    checks: `passed`, `partial` (a file refused whole, the others went on) or `failed` (every file refused).
    A day with no dispute files is `passed` with nothing new: disputes are sparse."""
    cfg = cfg or settings()
    lake = Lake(spark, cfg)
    days = days_between(since or day, day)
    reports = {d: _disputes_of(spark, lake, cfg, source, d, before_commit=before_commit) for d in days}
    summary = {d: {k: v for k, v in r.items() if k != "files"} for d, r in reports.items()}
    return {"day": day, "since": since, "days": summary}


def _disputes_of(
    spark: SparkSession, lake: Lake, cfg: Settings, source: data_contract.Source, day: str, *, before_commit=None
) -> dict:
    batch = batch_id(day, source.name)
    drop = f"{cfg.layer('landing', source.name)}/{day}"
    files = landing_files(lake, drop)
    if files:
        ingested = ingest_source(spark, lake, source, day, files, contract_gate=False)
        cleaned = _clean_feed(lake, source, day, clean_disputes, count_reasons=True, before_commit=before_commit)
        report = {"day": day, **ingested, **cleaned}
    else:
        # Nothing landed (a quiet day, or none yet): whatever an earlier run of the day left goes too.
        for layer in ("bronze", "silver"):
            lake.drop_partition(layer, source.name, source.partition_key, day)
        _replace_quarantine(lake, source.name, batch, None)
        reason = f"no {source.name} files for {day} under {drop}: nothing new"
        gate = GateResult(gate=RAW_CONTRACT, batch_id=batch, status=PASSED, reason=reason, row_count=0)
        report = {"day": day, "batch_id": batch, "files": [], "landing_rows": 0, "bronze_rows": 0, "silver_rows": 0,
                  "quarantined_rows": 0, "quarantine_reasons": {}, "gate": gate.to_dict()}  # fmt: skip
    report["drop"] = drop
    write_report(day, source.name, report)
    return report


def disputes_gold_day(
    spark: SparkSession, day: str, *, cfg: Settings | None = None, before_commit=None, since: str | None = None
) -> dict:
    """gold/disputes for every event day a dispute delivered by `day` can still change: `day` and the
    DISPUTE_WINDOW_DAYS before it (from `since` minus the window, if given: a catch-up over several run days
    in one pass). Each event day is gold/features' rows and features with the dispute outcome known at its cut
    day (evergreen.pipeline.transforms.disputes); a day without gold/features has no gold/disputes either."""
    cfg = cfg or settings()
    lake = Lake(spark, cfg)
    window = data_contract.DISPUTE_WINDOW_DAYS
    feature_days = lake.partitions("gold", "features", "event_date")
    if day not in feature_days:
        raise FileNotFoundError(
            f"no gold/features partition for {day}: ingest_daily has not built it, or its gates stopped the day"
        )
    out_days = days_between(shift_day(since or day, -window), day)
    features = lake.read("gold", "features", "event_date", [d for d in feature_days if d in set(out_days)])
    source = data_contract.DISPUTES
    delivered = [d for d in lake.partitions("silver", source.name, source.partition_key) if out_days[0] <= d <= day]
    disputes = lake.read("silver", source.name, source.partition_key, delivered) if delivered else None
    gold = dispute_gold(features, disputes, as_of=day, window_days=window)
    counts = lake.write_partitions(gold, "gold", "disputes", "event_date", out_days, before_commit=before_commit)
    written = lake.read("gold", "disputes", "event_date", list(counts))
    outcomes = {str(r[0]): r[1] for r in written.groupBy("is_disputed").count().collect()} if written else {}
    report = {
        "day": day,
        "since": since,
        "gold_partitions": counts,
        "gold_rows_today": counts.get(day, 0),
        "disputed": outcomes.get("1", 0),
        "not_disputed": outcomes.get("0", 0),
        "undecided": outcomes.get("None", 0),
        "silver_days_read": len(delivered),
    }
    write_report(day, "disputes_gold", report)
    return report


def backfill(spark: SparkSession, days: list[str], *, cfg: Settings | None = None) -> dict[str, dict]:
    """Many days in one session: ingest and clean each (gates included), then gold for all in one pass, then
    the refund-dispute feed raised over the same days into gold/disputes (what ingest_disputes does after
    each day's gold/features: without it the dispute model would see every history purchase undisputed).

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
        raised = disputes_day(spark, passed[-1], cfg=cfg, since=passed[0])["days"]
        gold = disputes_gold_day(spark, passed[-1], cfg=cfg, since=passed[0])
        for day in passed:
            out[day]["disputes"] = {"raised": raised.get(day), "gold_rows": gold["gold_partitions"].get(day, 0)}
    return out
