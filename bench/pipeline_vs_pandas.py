"""The data half (ingest + clean + features) with our Spark code vs one pandas process doing the same work.

    .venv/bin/python bench/pipeline_vs_pandas.py                     # 1M rows: 5 days x 200k
    .venv/bin/python bench/pipeline_vs_pandas.py --rows 5000000      # 5 days x 1M
    .venv/bin/python bench/pipeline_vs_pandas.py --runs spark:one_job,pandas:one_job --keep

Landing data is generated once with `evergreen.devtools.datagen.generate` (timed, not compared). Then each run is
its own child process, so its peak memory is its own: the Python process's `ru_maxrss` (RUSAGE_SELF) and,
for Spark, the JVM's (RUSAGE_CHILDREN after the JVM is shut down and reaped; VmHWM from /proc as a check).

- spark per-day: one SparkSession, then for each day what the DAG runs, minus the GX gates: landing
  (`read_landing` + `type_batch`) -> bronze, `clean_transactions` -> silver + quarantine, `build_features`
  -> gold (the day plus the label horizon before it, as `features_day` does), every write through
  `Lake.write_partitions`; labels and the two dimension tables go the same way as in `evergreen.pipeline.steps`.
- spark one job: the same calls, all days at once (one write per table, one `build_features`).
- spark gated: `evergreen.pipeline.steps.ingest_day / clean_day / features_day` per day (GX gates, persists,
  reports), so the cost of gating is the difference with spark per-day.
- pandas per-day / one job: the same steps and rules in pandas + pyarrow, written as Parquet partitions.

Every run must leave the same rows per partition in every table, the same quarantine reasons, and the same
gold values (floats to 1e-9) as the first Spark run; otherwise the bench exits 1: a benchmark comparing
different work is worthless. Spark runs write an event log (`--no-eventlog` to skip); the report lists where
Spark's time went: seconds per step in SQL executions and other jobs, per API and table, heaviest stages.
Prints a table, then one JSON line with every figure (also written to bench/results/, git-ignored).
Single runs on a shared 2-core machine: the load average is printed with the figures; rows/s is landing
rows over the run's total seconds (Spark's including its session start).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from functools import reduce
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.json as pjson
import pyarrow.parquet as pq

RUNS = ("spark:per_day", "pandas:per_day", "spark:one_job", "pandas:one_job", "spark:gated")
RESULTS = Path(__file__).resolve().parent / "results"
DAY_S = 86_400
LABEL_DELAY_MAX_DAYS = 14  # evergreen.pipeline.steps.LABEL_DELAY_MAX_DAYS (not imported: the pandas side has no Spark)


def _days(start: str, n: int) -> list[str]:
    first = dt.date.fromisoformat(start)
    return [str(first + dt.timedelta(days=i)) for i in range(n)]


def _shift(day: str, days: int) -> str:
    return str(dt.date.fromisoformat(day) + dt.timedelta(days=days))


def _mb(kib: float) -> float:
    return kib / 1024 if sys.platform != "darwin" else kib / 2**20


def _batches(days: list[str], mode: str) -> list[list[str]]:
    return [[d] for d in days] if mode in ("per_day", "gated") else [days]


# =========================================================================================================
# Spark side (a child process)
# =========================================================================================================
def spark_child(mode: str, days: list[str]) -> dict:
    from evergreen.config import settings

    cfg = settings()
    started = time.perf_counter()
    from evergreen.pipeline.spark import spark_session

    spark = spark_session(f"pipeline-vs-pandas-{mode}")
    session_s = time.perf_counter() - started

    from evergreen.pipeline import steps as daily_steps
    from evergreen.storage.lake import Lake

    lake = Lake(spark, cfg)
    steps = []
    began = time.perf_counter()
    for batch in _batches(days, mode):
        timing = {"days": batch}
        for step in ("ingest", "clean", "features"):
            spark.sparkContext.setJobGroup(step, f"{step} {batch[0]}..{batch[-1]}")
            t = time.perf_counter()
            if mode == "gated":
                getattr(daily_steps, f"{step}_day")(spark, batch[0], cfg=cfg)
            else:
                {"ingest": _spark_ingest, "clean": _spark_clean, "features": _spark_features}[step](
                    spark, lake, cfg, batch
                )
            timing[step] = time.perf_counter() - t
        steps.append(timing)
    pipeline_s = time.perf_counter() - began
    return {"session_s": session_s, "pipeline_s": pipeline_s, "steps": steps, **_stop_and_reap(spark)}


def _spark_ingest(spark, lake, cfg, batch: list[str]) -> None:
    from evergreen.contracts import data_contract
    from evergreen.pipeline import steps
    from evergreen.pipeline.transforms.ingest import read_landing, type_batch

    def staged(table: str, contract, key: str) -> tuple[object, list[str]]:
        frames, present = [], []
        for day in batch:
            files = steps.landing_files(lake, f"{cfg.layer('landing', table)}/{day}")
            if files:
                raw = read_landing(spark, files)
                tid = steps.batch_id(day, table)
                frames.append(type_batch(raw, contract, batch_id=tid, partition_key=key, partition_value=day))
                present.append(day)
        union = reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), frames) if frames else None
        return union, present

    tx, _ = staged("transactions", data_contract.TRANSACTION_COLUMNS, "event_date")
    lake.write_partitions(tx, "bronze", "transactions", "event_date", batch)
    for day in batch:  # what ingest_day does when the raw gate passes
        lake.drop_partition("quarantine", "transactions", "batch_id", steps.batch_id(day))
    labels, _ = staged("labels", data_contract.LABEL_COLUMNS, "label_date")
    if labels is None:
        for day in batch:
            lake.drop_partition("bronze", "labels", "label_date", day)
    else:
        lake.write_partitions(labels, "bronze", "labels", "label_date", batch)
    for table, contract in steps._DIMENSIONS.items():
        steps._ingest_table(spark, lake, cfg, table, contract)


def _spark_clean(spark, lake, cfg, batch: list[str]) -> None:
    from evergreen.pipeline import steps
    from evergreen.pipeline.transforms.clean import clean_labels, clean_transactions
    from evergreen.pipeline.transforms.quarantine import to_quarantine

    silver, rejected = clean_transactions(lake.read("bronze", "transactions", "event_date", batch))
    lake.write_partitions(silver, "silver", "transactions", "event_date", batch)
    q = to_quarantine(rejected, stage="clean")
    lake.write_partitions(q, "quarantine", "transactions", "batch_id", [steps.batch_id(d) for d in batch])

    bronze = lake.read("bronze", "labels", "label_date", batch)
    label_batches = [steps.batch_id(d, "labels") for d in batch]
    if bronze is None:
        for day, tid in zip(batch, label_batches, strict=True):
            lake.drop_partition("silver", "labels", "label_date", day)
            lake.drop_partition("quarantine", "labels", "batch_id", tid)
    else:
        good, bad = clean_labels(bronze)
        lake.write_partitions(good, "silver", "labels", "label_date", batch)
        lake.write_partitions(to_quarantine(bad, stage="clean"), "quarantine", "labels", "batch_id", label_batches)
    for table, contract in steps._DIMENSIONS.items():
        steps._clean_table(lake, table, contract[0].name)


def _spark_features(spark, lake, cfg, batch: list[str]) -> None:
    """`steps.features_day` for the batch's last day, without its report; one job: all the batch's days."""
    from evergreen.pipeline.transforms.features import build_features

    day, out_days, history, label_days = _feature_days(lake, cfg, batch)
    labels = lake.read("silver", "labels", "label_date", label_days) if label_days else None
    gold = build_features(
        lake.read("silver", "transactions", "event_date", history),
        labels,
        lake.read("silver", "customers"),
        lake.read("silver", "merchants"),
        as_of=max([day, *label_days]),
        out_dates=out_days,
    )
    lake.write_partitions(gold, "gold", "features", "event_date", out_days)


def _feature_days(lake, cfg, batch: list[str]) -> tuple[str, list[str], list[str], list[str]]:
    """What features_day reads and writes for a batch (both arms, either lake): the last day, the gold days
    to (re)write, the silver history and the label days."""
    day = batch[-1]
    silver_days = lake.partitions("silver", "transactions", "event_date")
    out_days = [d for d in silver_days if _shift(day, -cfg.label_horizon_days) <= d <= day]
    out_days = sorted(set(out_days) | set(batch))
    start = _shift(out_days[0], -(cfg.history_days + LABEL_DELAY_MAX_DAYS))
    history = [d for d in silver_days if start <= d <= day]
    label_days = [d for d in lake.partitions("silver", "labels", "label_date") if d >= start]
    return day, out_days, history, label_days


def _stop_and_reap(spark) -> dict:
    """Stop Spark, then shut the JVM down and wait for it, so RUSAGE_CHILDREN holds its peak RSS."""
    from pyspark import SparkContext

    hwm = None
    try:
        pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    spark.stop()
    gateway = SparkContext._gateway
    proc = getattr(gateway, "proc", None)
    reaped = False
    if gateway is not None and proc is not None:
        gateway.shutdown()
        proc.stdin.close()  # the JVM exits when its stdin closes
        try:
            proc.wait(timeout=120)
            reaped = True
        except subprocess.TimeoutExpired:
            pass
    children = _mb(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return {"jvm_peak_mb": children if reaped else None, "jvm_hwm_mb": hwm}


# =========================================================================================================
# pandas side (a child process): the same rules, stated again for pandas
# =========================================================================================================
class PandasLake:
    """`<root>/<layer>/<table>/<key>=<value>/part-00000.parquet`, each partition written aside then renamed
    into place (the same stage-then-swap idea as evergreen.storage.lake, on a local disk)."""

    def __init__(self, root: Path):
        self.root = root

    def _dir(self, layer: str, table: str) -> Path:
        return self.root / layer / table

    def partitions(self, layer: str, table: str, key: str) -> list[str]:
        d = self._dir(layer, table)
        if not d.exists():
            return []
        return sorted(p.name.split("=", 1)[1] for p in d.iterdir() if p.is_dir() and p.name.startswith(f"{key}="))

    def read(self, layer: str, table: str, key: str | None = None, values: list[str] | None = None):
        d = self._dir(layer, table)
        if key is None:
            return pq.read_table(d / "part-00000.parquet").to_pandas() if d.exists() else None
        wanted = sorted(set(self.partitions(layer, table, key)) & {str(v) for v in values or []})
        if not wanted:
            return None
        frames = []
        for v in wanted:
            t = pq.read_table(d / f"{key}={v}" / "part-00000.parquet")
            frames.append(t.append_column(key, pa.array([v] * t.num_rows, pa.string())))
        df = pa.concat_tables(frames, promote_options="default").to_pandas()
        if key.endswith("_date"):
            df[key] = pd.to_datetime(df[key]).dt.date
        return df

    def write_partitions(self, df: pd.DataFrame, layer: str, table: str, key: str, replace: list[str]) -> dict:
        d = self._dir(layer, table)
        values = df[key].astype(str) if len(df) else pd.Series([], dtype=str)
        unexpected = set(values.unique()) - {str(v) for v in replace}
        if unexpected:
            raise ValueError(f"write to {layer}/{table} has rows for {sorted(unexpected)} outside {replace}")
        counts = {}
        groups = dict(iter(df.drop(columns=[key]).groupby(values.to_numpy(), sort=True))) if len(df) else {}
        for value in sorted({str(v) for v in replace}):
            live = d / f"{key}={value}"
            stage = d / "_staging" / uuid.uuid4().hex[:8]
            if value in groups:
                stage.mkdir(parents=True)
                part = groups[value]
                pq.write_table(pa.Table.from_pandas(part, preserve_index=False), stage / "part-00000.parquet")
                counts[value] = len(part)
            if live.exists():
                shutil.rmtree(live)
            if value in groups:
                os.replace(stage, live)
        shutil.rmtree(d / "_staging", ignore_errors=True)
        return counts

    def drop_partition(self, layer: str, table: str, key: str, value: str) -> None:
        shutil.rmtree(self._dir(layer, table) / f"{key}={value}", ignore_errors=True)

    def write_table(self, df: pd.DataFrame, layer: str, table: str) -> int:
        d = self._dir(layer, table)
        stage = d.parent / "_staging" / f"{table}-{uuid.uuid4().hex[:8]}"
        stage.mkdir(parents=True)
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), stage / "part-00000.parquet")
        if d.exists():
            shutil.rmtree(d)
        os.replace(stage, d)
        return len(df)


def pandas_child(mode: str, days: list[str]) -> dict:
    from evergreen.config import settings

    cfg = settings()
    lake = PandasLake(Path(cfg.lake_root))
    steps = []
    began = time.perf_counter()
    for batch in _batches(days, mode):
        timing = {"days": batch}
        for step, fn in (("ingest", _pd_ingest), ("clean", _pd_clean), ("features", _pd_features)):
            t = time.perf_counter()
            fn(lake, cfg, batch)
            timing[step] = time.perf_counter() - t
        steps.append(timing)
    return {"session_s": 0.0, "pipeline_s": time.perf_counter() - began, "steps": steps}


def _batch_id(day: str, table: str = "transactions") -> str:
    return f"{table}-{day}"


# ---- ingest ---------------------------------------------------------------------------------------------
def _read_csv(path: Path) -> pd.DataFrame:
    # All columns as strings, an empty field is null: what Spark's CSV reader gives with inferSchema off.
    header = path.open().readline().strip().split(",")
    opts = pcsv.ConvertOptions(column_types=dict.fromkeys(header, pa.string()), strings_can_be_null=True)
    return pcsv.read_csv(path, convert_options=opts).to_pandas()


def _read_jsonl(path: Path, contract) -> pd.DataFrame:
    """JSON Lines as strings, a line that does not parse -> `_corrupt_record` (Spark's PERMISSIVE mode).

    Fast path: Arrow's reader with the contract's string columns declared (numbers stay numbers, then
    become strings); if any line is malformed or a type flips, fall back to one json.loads per line.
    """
    from evergreen.contracts import data_contract

    declared = pa.schema(
        [(c.name, pa.string()) for c in contract if c.type in (data_contract.STRING, data_contract.TIMESTAMP)]
    )
    try:
        opts = pjson.ParseOptions(explicit_schema=declared, unexpected_field_behavior="infer")
        table = pjson.read_json(path, parse_options=opts)
        table = pa.table({n: table.column(n).cast(pa.string()) for n in table.column_names})
        df = table.to_pandas()
        df["_corrupt_record"] = None
        return df
    except pa.ArrowInvalid:
        pass
    rows = []
    with path.open() as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                if not isinstance(rec, dict):
                    raise ValueError
                rows.append({k: None if v is None else str(v) for k, v in rec.items()})
            except ValueError:
                rows.append({"_corrupt_record": line.rstrip("\n")})
    return pd.DataFrame(rows)


def _typed(series: pd.Series, logical: str) -> pd.Series:
    """A string column -> its contract type; what does not parse becomes null (Spark's try_cast)."""
    from evergreen.contracts import data_contract

    if logical == data_contract.STRING:
        return series.astype(object).where(series.notna(), None)
    if logical == data_contract.DOUBLE:
        return pd.to_numeric(series, errors="coerce").astype("float64")
    if logical in (data_contract.LONG, data_contract.INT):
        num = pd.to_numeric(series, errors="coerce")
        whole = num.where(num == np.floor(num))
        return whole.astype("Int64" if logical == data_contract.LONG else "Int32")
    if logical == data_contract.TIMESTAMP:
        return pd.to_datetime(series, errors="coerce", utc=True, format="ISO8601")
    if logical == data_contract.DATE:
        return pd.to_datetime(series, errors="coerce").dt.date
    raise ValueError(logical)


def _pd_landing(cfg, table: str, day: str, contract, key: str) -> pd.DataFrame | None:
    from evergreen.contracts import data_contract

    folder = Path(cfg.layer("landing", table)) / day
    files = sorted(p for ext in ("csv", "jsonl", "json") for p in folder.glob(f"*.{ext}"))
    if not files:
        return None
    frames = []
    for f in files:
        raw = _read_csv(f) if f.suffix == ".csv" else _read_jsonl(f, contract)
        raw[data_contract.SOURCE_FILE] = f"file:{f.resolve()}"
        frames.append(raw)
    raw = pd.concat(frames, ignore_index=True)
    names = {c.name for c in contract}
    out = pd.DataFrame({c.name: _typed(raw[c.name], c.type) for c in contract if c.name in raw.columns})
    for extra in [c for c in raw.columns if c not in names and c not in (data_contract.SOURCE_FILE, "_corrupt_record")]:
        out[extra] = raw[extra]
    out[data_contract.SOURCE_FILE] = raw[data_contract.SOURCE_FILE]
    out[data_contract.BATCH_ID] = _batch_id(day, table)
    out[data_contract.INGESTED_AT] = pd.Timestamp.now(tz="UTC")
    out["_corrupt_record"] = raw["_corrupt_record"] if "_corrupt_record" in raw.columns else None
    out[key] = dt.date.fromisoformat(day)
    return out


def _pd_ingest(lake: PandasLake, cfg, batch: list[str]) -> None:
    from evergreen.contracts import data_contract

    for table, contract, key in (
        ("transactions", data_contract.TRANSACTION_COLUMNS, "event_date"),
        ("labels", data_contract.LABEL_COLUMNS, "label_date"),
    ):
        frames = [f for f in (_pd_landing(cfg, table, d, contract, key) for d in batch) if f is not None]
        if frames:
            lake.write_partitions(pd.concat(frames, ignore_index=True), "bronze", table, key, batch)
        else:
            for d in batch:
                lake.drop_partition("bronze", table, key, d)
        if table == "transactions":
            for d in batch:
                lake.drop_partition("quarantine", table, "batch_id", _batch_id(d))
    import sqlalchemy as sa

    from evergreen.storage.sql import engine

    eng = engine(cfg.source_db_url)
    for table, contract in (
        ("customers", data_contract.CUSTOMER_COLUMNS),
        ("merchants", data_contract.MERCHANT_COLUMNS),
    ):
        with eng.connect() as conn:
            df = pd.read_sql(sa.text(f"SELECT {', '.join(data_contract.names(contract))} FROM {table}"), conn)
        for c in contract:
            if c.type == data_contract.DATE:
                df[c.name] = pd.to_datetime(df[c.name]).dt.date
        lake.write_table(df, "bronze", table)


# ---- clean ----------------------------------------------------------------------------------------------
def _first_reason(rules: list[tuple[pd.Series, str]], n: int) -> np.ndarray:
    """The first rule a row breaks (a null condition counts as not broken, like Spark's `when`)."""
    conds = [np.asarray(c.fillna(False) if isinstance(c, pd.Series) else c, dtype=bool) for c, _ in rules]
    return np.select(conds, [name for _, name in rules], default=None) if conds else np.full(n, None)


def _to_quarantine(df: pd.DataFrame, reasons: pd.Series, stage: str) -> pd.DataFrame:
    """evergreen.pipeline.transforms.quarantine.to_quarantine: stage, reason, record_key, record (JSON), batch_id."""
    from evergreen.contracts import data_contract

    payload = [c for c in df.columns if c not in (data_contract.QUARANTINE_REASON, "event_date", "label_date")]

    def value(v):
        if isinstance(v, pd.Timestamp):
            return v.strftime("%Y-%m-%dT%H:%M:%S.") + f"{v.microsecond // 1000:03d}Z"
        if isinstance(v, dt.date):
            return v.isoformat()
        if isinstance(v, np.generic):
            return v.item()
        return v

    records = [
        json.dumps({k: value(v) for k, v in zip(payload, row, strict=True) if not pd.isna(v)}, separators=(",", ":"))
        for row in df[payload].itertuples(index=False, name=None)
    ]
    return pd.DataFrame({
        "stage": stage,
        "reason": reasons.to_numpy(),
        "record_key": df["transaction_id"].to_numpy() if "transaction_id" in df else None,
        "record": records,
        "batch_id": df[data_contract.BATCH_ID].to_numpy(),
    })  # fmt: skip


def clean_transactions_pd(bronze: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """evergreen.pipeline.transforms.clean.clean_transactions, in pandas: (silver rows, rejected rows + reason)."""
    from evergreen.contracts import data_contract
    from evergreen.pipeline.transforms import clean as spark_clean  # constants only: UNKNOWN, FILLED, SILVER_COLUMNS

    contract = data_contract.TRANSACTION_COLUMNS
    b = bronze
    rules: list[tuple[pd.Series, str]] = [(b["_corrupt_record"].notna(), "malformed_record")]
    rules += [(b[c.name].isna(), f"null_{c.name}") for c in contract if c.key]
    event_day = b["event_time"].dt.tz_convert("UTC").dt.tz_localize(None).dt.floor("D")
    other_day = (event_day != pd.to_datetime(b["event_date"])) & b["event_time"].notna()
    rules.append((other_day, "event_time_outside_batch_day"))
    amount = data_contract.column(contract, "amount")
    rules.append((b["amount"].isna(), "null_amount"))
    outside = ~b["amount"].between(amount.min_value, amount.max_value) & b["amount"].notna()
    rules.append((outside, "amount_out_of_range"))
    rules.append((~b["currency"].isin(data_contract.CURRENCIES), "unknown_currency"))
    for c in contract:
        if c.allowed and c.name in spark_clean.FILLED:
            rules.append((b[c.name].notna() & ~b[c.name].isin(c.allowed), f"unknown_{c.name}"))
    reason = pd.Series(_first_reason(rules, len(b)), index=b.index, dtype=object)

    # Duplicates: rank every row of a transaction_id by (event_time, every silver column), nulls last; a row
    # with no reason yet but rank > 1 is a duplicate. Only ids that occur twice need the sort.
    ids = b["transaction_id"]
    dup = ids.notna() & ids.duplicated(keep=False)
    if dup.any():
        # (a column named twice sorts the same as once: keep the first mention)
        order = list(dict.fromkeys(["transaction_id", "event_time", *spark_clean.SILVER_COLUMNS]))
        ranked = b.loc[dup, order].sort_values(order, na_position="last", kind="stable")
        later = ranked.index[ranked["transaction_id"].duplicated(keep="first")]
        later = later[reason.loc[later].isna()]
        reason.loc[later] = "duplicate_transaction_id"

    keep = reason.isna()
    silver = b.loc[keep, spark_clean.SILVER_COLUMNS].copy()
    for c in spark_clean.FILLED:
        silver[c] = silver[c].fillna(spark_clean.UNKNOWN)
    rejected = b.loc[~keep].copy()
    rejected[data_contract.QUARANTINE_REASON] = reason[~keep]
    return silver, rejected


def clean_labels_pd(bronze: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    from evergreen.contracts import data_contract

    b = bronze
    rules = [(b["_corrupt_record"].notna(), "malformed_record")]
    rules += [(b[c.name].isna(), f"null_{c.name}") for c in data_contract.LABEL_COLUMNS]
    rules.append((~b["is_fraud"].isin([0, 1]) & b["is_fraud"].notna(), "is_fraud_not_0_or_1"))
    reason = pd.Series(_first_reason(rules, len(b)), index=b.index, dtype=object)
    ranked = b.loc[b["transaction_id"].notna()].sort_values(
        ["transaction_id", "label_time", "is_fraud"], ascending=[True, False, False], na_position="last"
    )
    later = ranked.index[ranked["transaction_id"].duplicated(keep="first")]
    later = later[reason.loc[later].isna()]
    reason.loc[later] = "superseded_label"
    keep = reason.isna()
    cols = [
        *data_contract.names(data_contract.LABEL_COLUMNS),
        data_contract.SOURCE_FILE,
        data_contract.BATCH_ID,
        "label_date",
    ]
    rejected = b.loc[~keep].copy()
    rejected[data_contract.QUARANTINE_REASON] = reason[~keep]
    return b.loc[keep, cols], rejected


def _pd_clean(lake: PandasLake, cfg, batch: list[str]) -> None:
    from evergreen.contracts import data_contract

    bronze = lake.read("bronze", "transactions", "event_date", batch)
    silver, rejected = clean_transactions_pd(bronze)
    lake.write_partitions(silver, "silver", "transactions", "event_date", batch)
    q = _to_quarantine(rejected, rejected[data_contract.QUARANTINE_REASON], "clean")
    lake.write_partitions(q, "quarantine", "transactions", "batch_id", [_batch_id(d) for d in batch])

    labels = lake.read("bronze", "labels", "label_date", batch)
    label_batches = [_batch_id(d, "labels") for d in batch]
    if labels is None:
        for d, tid in zip(batch, label_batches, strict=True):
            lake.drop_partition("silver", "labels", "label_date", d)
            lake.drop_partition("quarantine", "labels", "batch_id", tid)
    else:
        good, bad = clean_labels_pd(labels)
        lake.write_partitions(good, "silver", "labels", "label_date", batch)
        q = _to_quarantine(bad, bad[data_contract.QUARANTINE_REASON], "clean")
        lake.write_partitions(q, "quarantine", "labels", "batch_id", label_batches)
    for table, key in (("customers", "customer_id"), ("merchants", "merchant_id")):
        dim = lake.read("bronze", table)
        lake.write_table(dim[dim[key].notna()].drop_duplicates([key]), "silver", table)


# ---- features -------------------------------------------------------------------------------------------
def _epoch_s(ts: pd.Series) -> np.ndarray:
    return ts.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[s]").astype(np.int64)


def _end_of(day: str) -> pd.Timestamp:
    return pd.Timestamp(f"{day} 23:59:59", tz="UTC")


def _rolling_left(df: pd.DataFrame, key: str, window: str, column: str, how: str) -> pd.Series:
    """Per `key`, `how` of `column` over rows strictly before each row's time, within `window`
    (time-based window with closed='left': [t - window, t), the same rows as rangeBetween(-w, -1))."""
    rolled = df.groupby(key, sort=False, observed=True).rolling(window, on="_t", closed="left")[column]
    out = getattr(rolled, how)()
    # `df` is sorted by key: groups are contiguous, so the result (group by group, in row order) lines up.
    return pd.Series(out.to_numpy(), index=df.index)


def build_features_pd(
    transactions: pd.DataFrame,
    labels: pd.DataFrame | None,
    customers: pd.DataFrame,
    merchants: pd.DataFrame,
    *,
    as_of: str,
    out_dates: list[str],
) -> pd.DataFrame:
    """evergreen.pipeline.transforms.features.build_features, in pandas."""
    from evergreen.pipeline.transforms.features import FEATURE_COLUMNS, ID_COLUMNS, LABEL_COLUMNS

    cols = [*ID_COLUMNS, "amount", "currency", "category", "channel", "device", "country"]
    tx = transactions[cols].reset_index(drop=True)
    tx["ts"] = _epoch_s(tx["event_time"])
    tx["_t"] = pd.to_datetime(tx["ts"], unit="s")  # the rolling windows' time axis (UTC, whole seconds)
    tx["cust"] = pd.factorize(tx["customer_id"])[0]
    tx["merch"] = pd.factorize(tx["merchant_id"])[0]
    tx["_one"] = 1.0

    by_cust = tx.sort_values(["cust", "ts"], kind="stable")
    tx["cust_txn_count_24h"] = _rolling_left(by_cust, "cust", f"{DAY_S}s", "_one", "sum").fillna(0).astype("int64")
    tx["cust_txn_count_7d"] = _rolling_left(by_cust, "cust", "7D", "_one", "sum").fillna(0).astype("int64")
    tx["cust_amount_mean_30d"] = _rolling_left(by_cust, "cust", "30D", "amount", "mean")
    tx["cust_distinct_merchants_7d"] = _distinct_before(tx["cust"], tx["merch"], tx["ts"], 7 * DAY_S)
    tx["secs_since_prev_txn"] = _secs_since_prev(tx["cust"], tx["ts"])
    by_merch = tx.sort_values(["merch", "ts"], kind="stable")
    tx["merchant_txn_count_7d"] = _rolling_left(by_merch, "merch", "7D", "_one", "sum").fillna(0).astype("int64")
    known, rate = _merchant_label_events(tx, labels, as_of)
    tx["merchant_known_labels_30d"], tx["merchant_known_fraud_rate_30d"] = known, rate

    out = {dt.date.fromisoformat(d) for d in out_dates}
    tx = tx[tx["event_date"].isin(out)]
    tx = tx.merge(customers, on="customer_id", how="left").merge(merchants, on="merchant_id", how="left")
    et = tx["event_time"].dt.tz_convert("UTC")
    event_day = pd.to_datetime(tx["event_date"])
    mismatch = (tx["country"] != tx["home_country"]).astype("Int32").where(tx["home_country"].notna())
    gold = pd.DataFrame({
        **{c: tx[c] for c in ID_COLUMNS},
        "amount": tx["amount"],
        "log_amount": np.log1p(np.maximum(tx["amount"].to_numpy(), 0.0)),
        "hour": et.dt.hour.astype("int32"),
        "weekday": ((et.dt.dayofweek + 1) % 7 + 1).astype("int32"),  # Spark: Sunday=1 .. Saturday=7
        **{c: tx[c] for c in ("currency", "category", "channel", "device", "country")},
        "customer_age_days": (event_day - pd.to_datetime(tx["signup_date"])).dt.days.astype("Int32"),
        "customer_segment": tx["segment"].fillna("unknown"),
        "country_mismatch": mismatch,
        "merchant_age_days": (event_day - pd.to_datetime(tx["onboarded_date"])).dt.days.astype("Int32"),
        "cust_txn_count_24h": tx["cust_txn_count_24h"],
        "cust_txn_count_7d": tx["cust_txn_count_7d"],
        "cust_amount_mean_30d": tx["cust_amount_mean_30d"],
        "amount_to_cust_mean_30d": tx["amount"] / tx["cust_amount_mean_30d"],
        "cust_distinct_merchants_7d": tx["cust_distinct_merchants_7d"].astype("int32"),
        "secs_since_prev_txn": tx["secs_since_prev_txn"],
        "merchant_txn_count_7d": tx["merchant_txn_count_7d"],
        "merchant_known_fraud_rate_30d": tx["merchant_known_fraud_rate_30d"],
        "merchant_known_labels_30d": tx["merchant_known_labels_30d"].fillna(0).astype("int64"),
    })  # fmt: skip
    assert list(gold.columns) == [*ID_COLUMNS, *FEATURE_COLUMNS]
    if labels is None:
        gold["is_fraud"] = pd.array([None] * len(gold), dtype="Int32")
        gold["label_time"] = pd.Series(pd.NaT, index=gold.index, dtype="datetime64[ns, UTC]")
        return gold
    known_now = labels[labels["label_time"] <= _end_of(as_of)].sort_values(
        ["transaction_id", "label_time", "is_fraud"], ascending=[True, False, False]
    )
    known_now = known_now.drop_duplicates("transaction_id")[["transaction_id", *LABEL_COLUMNS]]
    return gold.merge(known_now, on="transaction_id", how="left")


def _secs_since_prev(cust: pd.Series, ts: pd.Series) -> pd.Series:
    """ts minus the customer's latest ts strictly before it (same-second rows do not see each other)."""
    c, t = cust.to_numpy(np.int64), ts.to_numpy(np.int64)
    key = (c << 32) + t
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    idx = np.searchsorted(sorted_key, key, side="left") - 1
    ok = idx >= 0
    prev = np.where(ok, sorted_key[np.maximum(idx, 0)], 0)
    ok &= (prev >> 32) == c
    out = pd.Series(t - (prev & 0xFFFFFFFF), index=cust.index, dtype="Int64")
    return out.where(ok)


def _distinct_before(cust: pd.Series, merch: pd.Series, ts: pd.Series, window: int) -> np.ndarray:
    """Distinct merchants of the customer among rows in [t - window, t - 1].

    A (customer, merchant) occurrence at s is in the window of times s+1 .. s+window; its next occurrence
    at s' takes over from s'+1, so occurrence k covers [s_k + 1, min(s_k + window, s_{k+1})] and these
    intervals are disjoint per pair. The distinct count at t is the number of intervals that contain t:
    (#starts <= t) - (#ends < t), per customer, by binary search on (customer << 32) + time keys.
    """
    c, m, t = cust.to_numpy(np.int64), merch.to_numpy(np.int64), ts.to_numpy(np.int64)
    order = np.lexsort((t, m, c))
    cs, ms, tsr = c[order], m[order], t[order]
    same_next = np.zeros(len(cs), dtype=bool)
    same_next[:-1] = (cs[1:] == cs[:-1]) & (ms[1:] == ms[:-1])
    nxt = np.full(len(cs), np.iinfo(np.int64).max // 4)
    nxt[:-1] = np.where(same_next[:-1], tsr[1:], nxt[:-1])
    start, end = tsr + 1, np.minimum(tsr + window, nxt)
    valid = start <= end
    starts = np.sort((cs[valid] << 32) + start[valid])
    ends = np.sort((cs[valid] << 32) + end[valid])
    query = (c << 32) + t
    return np.searchsorted(starts, query, side="right") - np.searchsorted(ends, query, side="left")


def _merchant_label_events(tx: pd.DataFrame, labels: pd.DataFrame | None, as_of: str):
    """Per transaction: (labels of its merchant known in the 30 days before it, their fraud rate).

    The same time line as the Spark code: transactions (known 0) and first-label arrivals (known 1) per
    merchant, summed over [t - 30d, t) with a closed='left' rolling window."""
    rows = tx[["merch", "ts", "_t"]].assign(fraud=0.0, known=0.0, is_tx=True)
    if labels is not None:
        arrived = labels[labels["label_time"] <= _end_of(as_of)].sort_values(
            ["transaction_id", "label_time", "is_fraud"], ascending=[True, True, False]
        )
        arrived = arrived.drop_duplicates("transaction_id")
        arrived = arrived.merge(tx[["transaction_id", "merch"]], on="transaction_id", how="inner")
        events = pd.DataFrame({
            "merch": arrived["merch"].to_numpy(),
            "ts": _epoch_s(arrived["label_time"]),
            "_t": pd.to_datetime(_epoch_s(arrived["label_time"]), unit="s"),
            "fraud": arrived["is_fraud"].astype("float64").to_numpy(),
            "known": 1.0,
            "is_tx": False,
        })  # fmt: skip
        rows = pd.concat([rows, events], ignore_index=False)
        rows = rows.reset_index(names="tx_index")
    else:
        rows = rows.reset_index(names="tx_index")
    line = rows.sort_values(["merch", "ts"], kind="stable").reset_index(drop=True)
    known = _rolling_left(line, "merch", "30D", "known", "sum")
    fraud = _rolling_left(line, "merch", "30D", "fraud", "sum")
    is_tx = line["is_tx"].to_numpy(bool)
    at = line.loc[is_tx, "tx_index"].to_numpy()
    k = pd.Series(known.to_numpy()[is_tx], index=at).reindex(tx.index)
    f = pd.Series(fraud.to_numpy()[is_tx], index=at).reindex(tx.index)
    rate = (f / k).where(k > 0)
    return k.astype("Int64"), rate


def _pd_features(lake: PandasLake, cfg, batch: list[str]) -> None:
    day, out_days, history, label_days = _feature_days(lake, cfg, batch)
    labels = lake.read("silver", "labels", "label_date", label_days) if label_days else None
    gold = build_features_pd(
        lake.read("silver", "transactions", "event_date", history),
        labels,
        lake.read("silver", "customers"),
        lake.read("silver", "merchants"),
        as_of=max([day, *label_days]),
        out_dates=out_days,
    )
    lake.write_partitions(gold, "gold", "features", "event_date", out_days)


# =========================================================================================================
# Parent: generate, run each side in its own process, check they did the same work, report
# =========================================================================================================
def child_main(run: str, days: list[str]) -> None:
    side, mode = run.split(":")
    wall = time.perf_counter()
    result = spark_child(mode, days) if side == "spark" else pandas_child(mode, days)
    result.update(
        run=run,
        python_peak_mb=_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss),
        child_wall_s=time.perf_counter() - wall,
    )
    print("RESULT " + json.dumps(result), flush=True)


def _table_dirs(lake_root: Path) -> list[tuple[str, str, Path]]:
    out = []
    for layer in ("bronze", "silver", "quarantine", "gold"):
        base = lake_root / layer
        if base.exists():
            out += [(layer, t.name, t) for t in sorted(base.iterdir()) if t.is_dir() and t.name[0] not in "_."]
    return out


def inventory(lake_root: Path) -> dict[str, dict[str, int]]:
    """Rows per committed partition of every partitioned table, from Parquet footers."""
    counts: dict[str, dict[str, int]] = {}
    for layer, table, path in _table_dirs(lake_root):
        parts = {}
        for part in sorted(p for p in path.iterdir() if p.is_dir() and "=" in p.name):
            files = [f for f in part.glob("*.parquet") if f.name[0] not in "_."]
            parts[part.name] = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
        if parts:
            counts[f"{layer}/{table}"] = parts
    return counts


def quarantine_reasons(lake_root: Path) -> dict[str, dict[str, int]]:
    """Quarantined rows per table and reason."""
    out: dict[str, dict[str, int]] = {}
    for table in ("transactions", "labels"):
        files = [f for f in (lake_root / "quarantine" / table).glob("batch_id=*/*.parquet") if f.name[0] not in "_."]
        if files:
            reasons = pa.concat_arrays([pq.read_table(f, columns=["reason"]).column(0).combine_chunks() for f in files])
            counts = reasons.value_counts().to_pylist()
            out[table] = {c["values"]: c["counts"] for c in sorted(counts, key=lambda c: str(c["values"]))}
    return out


def read_gold(lake_root: Path) -> pd.DataFrame:
    from evergreen.pipeline.transforms.features import FEATURE_COLUMNS, LABEL_COLUMNS

    frames = []
    for part in sorted((lake_root / "gold" / "features").glob("event_date=*")):
        for f in sorted(part.glob("*.parquet")):
            frames.append(pq.read_table(f, columns=["transaction_id", *FEATURE_COLUMNS, *LABEL_COLUMNS]))
    df = pa.concat_tables(frames, promote_options="permissive").to_pandas()
    df["label_time"] = _epoch_s(pd.to_datetime(df["label_time"], utc=True)).astype("float64")
    df.loc[df["label_time"] < -1e15, "label_time"] = np.nan  # NaT
    return df.set_index("transaction_id").sort_index()


def compare_gold(ref: pd.DataFrame, other: pd.DataFrame) -> dict[str, int]:
    """Rows whose value differs, per column (floats: relative 1e-9; nulls equal nulls)."""
    diffs = {}
    if not ref.index.equals(other.index):
        diffs["transaction_id"] = len(ref.index.symmetric_difference(other.index))
        other = other.reindex(ref.index)
    for col in ref.columns:
        a, b = ref[col], other[col]
        if pd.api.types.is_numeric_dtype(a) or pd.api.types.is_numeric_dtype(b):
            x, y = a.astype("float64").to_numpy(), b.astype("float64").to_numpy()
            same = np.isclose(x, y, rtol=1e-9, atol=1e-12, equal_nan=True)
        else:
            same = (a.fillna("\0").astype(str) == b.fillna("\0").astype(str)).to_numpy()
        if not same.all():
            diffs[col] = int((~same).sum())
    return diffs


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


_TARGET = re.compile(r"/(lake-[^/]+|landing)/([^/\],]+)/([^/\],]+)(?:/([^/\],]+))?")


def _sql_kind(details: str, plan: str) -> str:
    """`DataFrameWriter.parquet -> silver/transactions (staging)`: the API that ran a SQL execution (first
    JVM frame of its call stack) and the lake table it wrote or, for reads and counts, read."""
    frame = details.split("(", 1)[0].rsplit(".", 2)
    api = ".".join(frame[-2:])
    paths = re.findall(r"Arguments: (file:\S+)", plan) if "InsertIntoHadoopFsRelationCommand" in plan else []
    paths = paths or re.findall(r"Location: \w+ \[([^\]]+)\]", plan)
    target = ""
    if paths:
        m = _TARGET.search(paths[0])
        if m:
            layer, table = (m.group(2), m.group(3)) if m.group(1).startswith("lake-") else ("landing", m.group(2))
            if table == "_staging" and m.group(4):  # write_table stages `<layer>/_staging/<table>-<id>`
                table = m.group(4).rsplit("-", 1)[0]
            target = f"{layer}/{table}"
            target += " (staging)" if "/_staging/" in paths[0] else ""
    return f"{api} -> {target}" if target else api


def spark_time_breakdown(eventlog_dir: Path, top: int = 12) -> dict:
    """Where Spark's time went, from its own event log: wall time of the SQL executions per step (job group)
    and per kind (API + table), and the stages with the most executor time and the operators in them."""
    files = [f for f in eventlog_dir.iterdir() if f.is_file() and not f.name.endswith(".inprogress")]
    if not files:
        return {}
    executions: dict[int, dict] = {}
    jobs_outside: dict[int, dict] = {}
    job_group, stage_job, stages = {}, {}, {}
    for line in files[0].open():
        ev = json.loads(line)
        kind = ev.get("Event", "")
        if kind.endswith("SQLExecutionStart"):
            executions[ev["executionId"]] = {
                "start": ev["time"],
                "kind": _sql_kind(ev.get("details", ""), ev.get("physicalPlanDescription", "")),
            }
        elif kind.endswith("SQLExecutionEnd") and ev["executionId"] in executions:
            executions[ev["executionId"]]["end"] = ev["time"]
        elif kind == "SparkListenerJobStart":
            props = ev.get("Properties", {})
            job_group[ev["Job ID"]] = props.get("spark.jobGroup.id", "?")
            eid = props.get("spark.sql.execution.id")
            if eid is None:  # a job outside SQL: JSON schema inference, Parquet footer reads on `read.parquet`
                what = ev["Stage Infos"][0]["Stage Name"].split(" at ")[0] if ev.get("Stage Infos") else "?"
                jobs_outside[ev["Job ID"]] = {"start": ev["Submission Time"], "kind": f"{what} schema job"}
                jobs_outside[ev["Job ID"]]["step"] = props.get("spark.jobGroup.id", "?")
            if eid is not None and int(eid) in executions:
                executions[int(eid)].setdefault("step", props.get("spark.jobGroup.id", "?"))
            for sid in ev.get("Stage IDs", []):
                stage_job[sid] = ev["Job ID"]
        elif kind == "SparkListenerJobEnd" and ev["Job ID"] in jobs_outside:
            jobs_outside[ev["Job ID"]]["end"] = ev["Completion Time"]
        elif kind == "SparkListenerStageCompleted":
            info = ev["Stage Info"]
            acc = {a["Name"]: a.get("Value") for a in info.get("Accumulables", [])}
            ops = []
            for rdd in info.get("RDD Info", []):
                scope = rdd.get("Scope")
                name = json.loads(scope)["name"] if scope else rdd.get("Name", "")
                if name not in ops:
                    ops.append(name)
            stages[info["Stage ID"]] = {
                "tasks": info.get("Number of Tasks"),
                "wall_s": ((info.get("Completion Time") or 0) - (info.get("Submission Time") or 0)) / 1000,
                "executor_run_s": float(acc.get("internal.metrics.executorRunTime", 0) or 0) / 1000,
                "shuffle_write_mb": float(acc.get("internal.metrics.shuffle.write.bytesWritten", 0) or 0) / 2**20,
                "spill_mb": float(acc.get("internal.metrics.diskBytesSpilled", 0) or 0) / 2**20,
                "ops": ops,
            }
    by_step: dict[str, float] = defaultdict(float)
    by_kind: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0])
    for e in [*executions.values(), *jobs_outside.values()]:
        if "end" not in e:
            continue
        secs, step = (e["end"] - e["start"]) / 1000, e.get("step", "(no job)")
        by_step[step] += secs
        by_kind[(step, e["kind"])][0] += secs
        by_kind[(step, e["kind"])][1] += 1
    heavy = sorted(stages.items(), key=lambda kv: -kv[1]["executor_run_s"])[:top]
    return {
        "sql_executions": len(executions),
        "jobs": len(job_group),
        "stages": len(stages),
        "tasks": sum(s["tasks"] or 0 for s in stages.values()),
        "spark_seconds_by_step": {k: round(v, 2) for k, v in sorted(by_step.items())},
        "spark_seconds_by_kind": [
            {"step": step, "kind": k, "seconds": round(v[0], 2), "executions": v[1]}
            for (step, k), v in sorted(by_kind.items(), key=lambda kv: -kv[1][0])
        ],
        "heaviest_stages": [{"stage": sid, "step": job_group.get(stage_job.get(sid), "?"), **st} for sid, st in heavy],
    }


def _run_child(run: str, root: Path, days: list[str], eventlog: bool) -> dict:
    name = run.replace(":", "-")
    env = {
        **os.environ,
        "EVERGREEN_HOME": str(root / f"home-{name}"),
        "EVERGREEN_LAKE_ROOT": str(root / f"lake-{name}"),
        "EVERGREEN_LANDING_ROOT": str(root / "landing"),
        "EVERGREEN_SOURCE_DB_URL": f"sqlite:///{root / 'source.db'}",
    }
    env.pop("EVERGREEN_CONFIG", None)
    if run.startswith("spark") and eventlog:
        logdir = root / f"eventlog-{name}"
        logdir.mkdir(parents=True, exist_ok=True)
        conf = " ".join(
            f"--conf {k}={v}"
            for k, v in {
                "spark.eventLog.enabled": "true",
                "spark.eventLog.dir": f"file://{logdir}",
                "spark.eventLog.compress": "false",
                "spark.eventLog.rolling.enabled": "false",
            }.items()
        )
        env["PYSPARK_SUBMIT_ARGS"] = f"{conf} {env.get('PYSPARK_SUBMIT_ARGS', 'pyspark-shell')}"
    cmd = [sys.executable, __file__, "--child", run, "--child-days", ",".join(days)]
    load_before = _loadavg()
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if proc.returncode or line is None:
        sys.exit(f"{run} failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-5000:]}")
    out = json.loads(line.removeprefix("RESULT "))
    out.update(process_wall_s=wall, load_before=load_before, load_after=_loadavg())
    out["total_s"] = out["session_s"] + out["pipeline_s"]
    if run.startswith("spark") and eventlog:
        out["spark_breakdown"] = spark_time_breakdown(root / f"eventlog-{name}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="transactions in all (split over --days)")
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--start", default="2026-01-01")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", default=",".join(RUNS), help=f"comma-separated subset of {','.join(RUNS)}")
    parser.add_argument("--no-eventlog", action="store_true", help="Spark runs without an event log")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (landing, lakes, event logs)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-days", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(args.child, args.child_days.split(","))
        return 0

    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    if any(r not in RUNS for r in runs) or not any(r.startswith("spark:") for r in runs):
        parser.error(f"--runs: one or more of {RUNS}, at least one of them Spark's")
    days = _days(args.start, args.days)
    root = Path(tempfile.mkdtemp(prefix="pipeline-vs-pandas-"))
    try:
        return _bench(args, runs, days, root)
    finally:
        if args.keep:
            print(f"kept: {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


def _bench(args, runs: list[str], days: list[str], root: Path) -> int:
    from evergreen.devtools.datagen import generate

    load_start = _loadavg()
    started = time.perf_counter()
    manifest = generate(
        dt.date.fromisoformat(args.start),
        args.days,
        args.rows // args.days,
        seed=args.seed,
        landing_root=str(root / "landing"),
        db_url=f"sqlite:///{root / 'source.db'}",
    )
    generate_s = time.perf_counter() - started
    landing_rows = sum(d["rows"] for d in manifest["days"])
    print(f"generated {landing_rows:,} landing rows ({args.days} days) in {generate_s:.1f} s; load {load_start}")

    results = {}
    for run in runs:
        print(f"running {run} ...", flush=True)
        results[run] = _run_child(run, root, days, eventlog=not args.no_eventlog)
        r = results[run]
        print(f"  {r['total_s']:.1f} s (session {r['session_s']:.1f} s), load {r['load_before']} -> {r['load_after']}")

    # ---- same work? Everything is checked against our code's output: the first Spark run. ---------------
    ref_run = next(r for r in runs if r.startswith("spark:"))
    counts = {run: inventory(root / f"lake-{run.replace(':', '-')}") for run in runs}
    totals = {run: {t: sum(p.values()) for t, p in c.items()} for run, c in counts.items()}
    problems = []
    for run in runs:
        if counts[run] != counts[ref_run]:
            problems.append(f"row counts of {run} differ from {ref_run}: {totals[run]} vs {totals[ref_run]}")
    reasons = {run: quarantine_reasons(root / f"lake-{run.replace(':', '-')}") for run in runs}
    for run in runs:
        if reasons[run] != reasons[ref_run]:
            problems.append(f"quarantine reasons of {run} differ: {reasons[run]} vs {reasons[ref_run]}")
    ref_gold = read_gold(root / f"lake-{ref_run.replace(':', '-')}")
    gold_diffs = {}
    for run in runs:
        if run != ref_run:
            gold_diffs[run] = compare_gold(ref_gold, read_gold(root / f"lake-{run.replace(':', '-')}"))
            if gold_diffs[run]:
                problems.append(f"gold values of {run} differ from {ref_run} (rows per column): {gold_diffs[run]}")
    del ref_gold
    ref_totals = totals[ref_run]
    accounted = ref_totals.get("silver/transactions", 0) + ref_totals.get("quarantine/transactions", 0)
    if accounted != landing_rows:
        problems.append(f"landing {landing_rows} != silver + quarantine {accounted}")

    report = _report(args, days, landing_rows, generate_s, load_start, results, totals, gold_diffs, problems)
    report["quarantine_reasons"] = reasons[ref_run]
    report["reference_run"] = ref_run
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"pipeline_vs_pandas-{args.rows}.json"
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(json.dumps(report, default=str, separators=(",", ":")))
    if problems:
        print("\nBOTH SIDES DID NOT DO THE SAME WORK:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    return 0


def _report(args, days, landing_rows, generate_s, load_start, results, totals, gold_diffs, problems) -> dict:
    def rate(seconds: float) -> float:
        return landing_rows / seconds if seconds else float("nan")

    print()
    print(f"rows: {landing_rows:,} landing rows over {len(days)} days ({days[0]}..{days[-1]}), generated in "
          f"{generate_s:.1f} s (not compared); load average at start {load_start}, at end {_loadavg()}")  # fmt: skip
    head = f"{'run':<16}{'total s':>9}{'session s':>11}{'steps s':>9}{'rows/s':>11}"
    head += f"{'py peak MB':>12}{'jvm peak MB':>13}"
    print(head)
    print("-" * len(head))
    for run, r in results.items():
        jvm = r.get("jvm_peak_mb") or r.get("jvm_hwm_mb")
        print(
            f"{run:<16}{r['total_s']:>9.1f}{r['session_s']:>11.1f}{r['pipeline_s']:>9.1f}{rate(r['total_s']):>11,.0f}"
            f"{r['python_peak_mb']:>12,.0f}{(f'{jvm:,.0f}' if jvm else '-'):>13}"
        )
    for run, r in results.items():
        per = defaultdict(float)
        for s in r["steps"]:
            for k in ("ingest", "clean", "features"):
                per[k] += s[k]
        print(f"  {run:<14} ingest {per['ingest']:6.1f}  clean {per['clean']:6.1f}  features {per['features']:6.1f} s")

    ratios = {}
    for mode in ("per_day", "one_job"):
        s, p = results.get(f"spark:{mode}"), results.get(f"pandas:{mode}")
        if s and p:
            ratios[mode] = {
                "pandas_over_spark_incl_session": p["total_s"] / s["total_s"],
                "pandas_over_spark_excl_session": p["total_s"] / s["pipeline_s"],
            }
            print(
                f"ratio pandas/spark ({mode}): {ratios[mode]['pandas_over_spark_incl_session']:.2f} with Spark's "
                f"session start, {ratios[mode]['pandas_over_spark_excl_session']:.2f} without (>1: Spark faster)"
            )
    if "spark:gated" in results and "spark:per_day" in results:
        g, s = results["spark:gated"], results["spark:per_day"]
        print(
            f"cost of gating (steps.* per day vs the same without GX): {g['pipeline_s'] - s['pipeline_s']:+.1f} s "
            f"({g['pipeline_s'] / s['pipeline_s']:.2f}x)"
        )
    ref = totals[next(r for r in results if r.startswith("spark:"))]
    print("rows: " + ", ".join(f"{k} {v:,}" for k, v in sorted(ref.items())))
    print("same rows, quarantine reasons and gold values in every run: " + ("yes" if not problems else "NO"))
    for run, r in results.items():
        b = r.get("spark_breakdown")
        if not b:
            continue
        size = f"{b['jobs']} jobs, {b['stages']} stages, {b['tasks']} tasks"
        print(f"\nwhere {run}'s time went (Spark event log: {size})")
        steps = defaultdict(float)
        for st in r["steps"]:
            for k in ("ingest", "clean", "features"):
                steps[k] += st[k]
        for k, v in b["spark_seconds_by_step"].items():
            print(f"  {k:<9} step {steps.get(k, 0):6.1f} s, in Spark (SQL executions + other jobs) {v:6.1f} s")
        for e in b["spark_seconds_by_kind"][:12]:
            print(f"  {e['seconds']:7.1f} s {e['executions']:4d} x  {e['step']:<9} {e['kind']}")
        for st in b["heaviest_stages"][:6]:
            print(
                f"  stage {st['stage']:4d} ({st['step']}) executor {st['executor_run_s']:6.1f} s, wall "
                f"{st['wall_s']:5.1f} s, {st['tasks']} tasks, shuffle write {st['shuffle_write_mb']:.0f} MB, "
                f"spill {st['spill_mb']:.0f} MB: {' > '.join(st['ops'][-8:])}"
            )
    return {
        "bench": "pipeline_vs_pandas",
        "rows": landing_rows,
        "rows_arg": args.rows,
        "days": days,
        "generate_s": generate_s,
        "load_start": load_start,
        "load_end": _loadavg(),
        "cores": os.cpu_count(),
        "runs": results,
        "ratios": ratios,
        "rows_per_table": totals,
        "gold_value_diffs": gold_diffs,
        "same_work": not problems,
        "problems": problems,
    }


if __name__ == "__main__":
    raise SystemExit(main())
