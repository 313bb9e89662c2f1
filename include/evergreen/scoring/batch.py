"""Batch scoring: the champion scores one day of gold into the lake's `predictions` layer.

    <lake>/predictions/<model>/event_date=<day>/part-00000.parquet   (part-00001... past FILE_ROWS rows)
        transaction_id, event_time, score (float64), model_name, model_version, scored_at (UTC)
        event_date is the partition folder (hive layout, as Spark writes gold): datasets read it back.

The model comes only from the MLflow registry: the `champion` alias (resolved to its version number first,
so the version stamped on every row is the one that scored) or an explicit version. Gold is read as Arrow
record batches and scored batch by batch (one vectorised predict per batch, no loop over rows); memory is
bounded by `batch_rows`, not by the day.

Why pyarrow and not Spark: a day is 20k-1M rows, which one process scores in seconds (bench/scoring_speed.py);
a SparkSession costs ~5 s to start on its own, and the model is a Python pyfunc, so Spark would only add
serialisation to Python workers around the same predict call. Past ~100M rows a day, a Spark
`mapInArrow` over the same `score_batch` is where to go.

The write is atomic and idempotent, the lake's stage -> swap (evergreen.storage.lake) done with pyarrow.fs:
1. stage: files go under `predictions/<model>/_staging/<write-id>/event_date=<day>/` (readers skip `_` paths);
   their rows are reconciled with gold's rows of the day before anything live is touched;
2. swap: the live partition is moved aside into `_trash/`, the staged one moved into place, the trash dropped.
A crash in (1) leaves the old partition; in (2) at worst no partition (the old one sits in `_trash/`), never
half of one. Re-scoring a day replaces its partition. On local disks a move is a rename; on object stores
(s3://) pyarrow moves folders file by file, so the partition can be briefly partial there (not exercised here).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from evergreen.common.days import iso_day
from evergreen.config import settings
from evergreen.contracts.model_spec import ModelSpec
from evergreen.registry import store
from evergreen.registry.mlflow_log import load_version
from evergreen.registry.model_input import conform, signature_types
from evergreen.storage.files import ArrowFolders, arrow_fs
from evergreen.storage.swap import new_stage, swap
from evergreen.training.dataset import gold_root, row_selection

log = logging.getLogger(__name__)

LAYER = "predictions"
PARTITION_KEY = "event_date"
DEFAULT_BATCH_ROWS = 262_144  # ~60 MB of features in flight; the same default training streams with
FILE_ROWS = 4_000_000  # rows per part file: one file for an ordinary day, a few for a huge one
OUTPUT_COLUMNS = ("transaction_id", "event_time", "score", "model_name", "model_version", "scored_at")


class NoChampionError(LookupError):
    """The model has no `champion` alias yet: nothing to score with (the first promotion has not happened)."""


class ReconciliationError(RuntimeError):
    """The rows scored or staged differ from gold's rows of the day; nothing was committed."""


@dataclass(frozen=True)
class LoadedModel:
    """A pyfunc loaded from the registry and the registry coordinates that identify it."""

    name: str
    version: str
    model: Any  # mlflow.pyfunc.PyFuncModel
    features: list[str]  # the model's own input columns (its signature), not necessarily today's spec


# ---- the model ---------------------------------------------------------------------------------------------
def load_for_scoring(spec: ModelSpec, model_version: str | None = None) -> LoadedModel:
    """The champion (or `model_version`) from the registry.

    The alias is resolved to a version number and that version is loaded, rather than loading
    `models:/<name>@champion` and asking afterwards: a promotion between the two calls would otherwise
    stamp rows with a version that did not score them.
    """
    client = store.connect()
    name = spec.name
    if model_version is None:
        aliases = store.aliases(client, name)
        if store.CHAMPION not in aliases:
            raise NoChampionError(
                f"model {name!r} has no champion yet (no '{store.CHAMPION}' alias in the registry at "
                f"{settings().mlflow_tracking_uri}); promote a version first or pass model_version"
            )
        version = aliases[store.CHAMPION]
    else:
        version = str(model_version)
        if store.version(client, name, version) is None:
            raise LookupError(f"model {name!r} has no version {version!r} in the registry")
    model = load_version(name, version)
    return LoadedModel(name=name, version=version, model=model, features=model_features(model, spec))


def model_features(model: Any, spec: ModelSpec | None = None) -> list[str]:
    """The input columns of a pyfunc's signature (a champion trained under an older spec reads its own
    features); the spec's features if the model has no named signature."""
    schema = model.metadata.get_input_schema()
    if schema is not None and schema.has_input_names():
        return list(schema.input_names())
    if spec is None:
        raise ValueError("the model has no input signature; pass the spec to name its features")
    return list(spec.features.names)


def score_frame(model: Any, frame: pd.DataFrame | pa.Table | pa.RecordBatch, spec: ModelSpec | None = None):
    """Scores (float64, one per row) of a pandas frame or Arrow table/batch by a loaded pyfunc model.
    Extra columns are ignored; each feature is cast to the type of the model's signature first (a batch's
    pandas types depend on whether it happens to hold a null), or refused with one line naming it."""
    features = model_features(model, spec)
    arrow = isinstance(frame, pa.Table | pa.RecordBatch)
    frame = frame.select(features).to_pandas() if arrow else frame[features]
    if len(frame) == 0:
        return np.zeros(0, dtype=np.float64)
    frame = conform(frame, signature_types(model), what=f"scoring input ({len(frame)} rows)")
    return np.asarray(model.predict(frame), dtype=np.float64).reshape(-1)


# ---- scoring a day -----------------------------------------------------------------------------------------
def predictions_root(model: str, lake_root: str | None = None) -> str:
    """`<lake>/predictions/<model>` (a folder or s3://...)."""
    if lake_root is None:
        return settings().layer(LAYER, model)
    return "/".join([str(lake_root).rstrip("/"), LAYER, model])


def score_day(
    spec: ModelSpec,
    day: str,
    *,
    model_version: str | None = None,
    lake_root: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    before_commit: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Score gold's `day` with the champion (or `model_version`) into `predictions/<model>/event_date=<day>/`,
    replacing that partition atomically. Returns {"model", "model_version", "day", "rows", "seconds", "path"}.

    Raises NoChampionError (a LookupError) without a champion, FileNotFoundError if gold has no such day,
    ReconciliationError if scored rows differ from gold's (nothing committed then). `before_commit(stage)`
    is a test hook: called with the staged partition's path after staging, before the swap.
    """
    day = iso_day(day)
    started = time.perf_counter()
    loaded = load_for_scoring(spec, model_version)
    gold = _gold_day(spec, day, lake_root)
    key, event_time = spec.source.key, spec.source.time
    missing = [c for c in [key, event_time, *loaded.features] if c not in gold.schema.names]
    if missing:
        raise ValueError(f"gold {day} lacks column(s) {missing} that {spec.name} version {loaded.version} reads")
    selected = row_selection(spec)  # the spec's `source.where`: a model scores only the rows it is for
    gold_rows = gold.count_rows(filter=selected)  # the number the write must reconcile with

    fs, root = arrow_fs(predictions_root(spec.name, lake_root))
    folders = ArrowFolders(fs)
    stage = new_stage(folders, root)
    staged = f"{stage}/{PARTITION_KEY}={day}"
    try:
        scored_at = datetime.now(UTC)
        batches = gold.scanner(
            columns=[key, event_time, *loaded.features], filter=selected, batch_size=batch_rows
        ).to_batches()
        scored = (
            score_batch(loaded, batch, key=key, event_time=event_time, scored_at=scored_at)
            for batch in batches
            if batch.num_rows
        )
        scored_rows = _write_parquet(fs, staged, scored, _output_schema(gold.schema, key, event_time))
        staged_rows = _count_rows(fs, staged)
        if not gold_rows == scored_rows == staged_rows:
            raise ReconciliationError(
                f"{spec.name} {day}: gold has {gold_rows} rows, {scored_rows} were scored and {staged_rows} "
                "staged; nothing committed"
            )
        if before_commit is not None:
            before_commit(staged)
        swap(folders, root, f"{PARTITION_KEY}={day}", staged)
    finally:
        folders.delete(stage)
    seconds = time.perf_counter() - started
    out_root = predictions_root(spec.name, lake_root)
    result = {
        "model": spec.name,
        "model_version": loaded.version,
        "day": day,
        "rows": int(gold_rows),
        "seconds": round(seconds, 3),
        "path": f"{out_root.rstrip('/')}/{PARTITION_KEY}={day}",
    }
    log.info("scored %s %s with version %s: %d rows in %.1f s", spec.name, day, loaded.version, gold_rows, seconds)
    return result


def score_batch(
    loaded: LoadedModel,
    batch: pa.RecordBatch,
    *,
    key: str = "transaction_id",
    event_time: str = "event_time",
    scored_at: datetime | None = None,
) -> pa.RecordBatch:
    """One gold batch -> its predictions batch (OUTPUT_COLUMNS): one predict call for the whole batch."""
    n = batch.num_rows
    scores = score_frame(loaded.model, batch.select(loaded.features), None)
    if scores.shape != (n,):
        raise ReconciliationError(f"the model returned {scores.shape} scores for a batch of {n} rows")
    stamp = pa.scalar(scored_at or datetime.now(UTC), pa.timestamp("us", tz="UTC"))
    return pa.RecordBatch.from_arrays(
        [
            batch.column(key),
            batch.column(event_time),
            pa.array(scores, pa.float64()),
            pa.repeat(pa.scalar(loaded.name, pa.string()), n),
            pa.repeat(pa.scalar(loaded.version, pa.string()), n),
            pa.repeat(stamp, n),
        ],
        names=list(OUTPUT_COLUMNS),
    )


# ---- reading predictions -----------------------------------------------------------------------------------
def read_predictions(model: str, days: Iterable[str], lake_root: str | None = None) -> pd.DataFrame:
    """Committed predictions of `model` for `days` (missing days are simply absent), with `event_date`."""
    table = _read_predictions_table(model, days, lake_root)
    return table.to_pandas()


def recent_outcomes(spec: ModelSpec, days: Iterable[str], lake_root: str | None = None) -> pd.DataFrame:
    """Predictions of `days` joined with gold's labels, for the rows whose label has arrived: columns
    event_date, transaction_id, score, <label>, <label time> (is_fraud, label_time for fraud). Gold is
    rebuilt as labels arrive, so the same days give more rows later; the monitoring room reads performance
    decay from it."""
    days = sorted({iso_day(d) for d in days})
    key, label, label_time = spec.source.key, spec.label.column, spec.label.time
    preds = _read_predictions_table(spec.name, days, lake_root).select([PARTITION_KEY, key, "score"])
    root = gold_root(spec, None if lake_root is None else str(lake_root))
    fs, base = arrow_fs(root)
    present = [d for d in days if _data_files(fs, f"{base}/{PARTITION_KEY}={d}")]
    columns = [PARTITION_KEY, key, "score", label, label_time]
    if not present or preds.num_rows == 0:
        # The spec's label and label time, whatever they are called (is_fraud, is_disputed, ...).
        dtypes = {"score": "float64", label: "Int32", label_time: "datetime64[ns]"}
        return pd.DataFrame({c: pd.Series(dtype=dtypes.get(c, "object")) for c in columns})
    gold = _dataset(fs, base, present)
    arrived = ds.field(label).is_valid() & ds.field(label_time).is_valid()
    labels = gold.to_table(columns=[PARTITION_KEY, key, label, label_time], filter=arrived)
    joined = preds.join(labels, keys=[PARTITION_KEY, key], join_type="inner")
    joined = joined.select(columns).sort_by([(PARTITION_KEY, "ascending"), (key, "ascending")])
    return joined.to_pandas()


# ---- internals ---------------------------------------------------------------------------------------------
def _data_files(fs: pafs.FileSystem, folder: str) -> list[str]:
    """Committed data files of one partition folder (skips `_SUCCESS`, `.crc`, empty files), sorted."""
    if fs.get_file_info(folder).type != pafs.FileType.Directory:
        return []
    return sorted(
        f.path
        for f in fs.get_file_info(pafs.FileSelector(folder, recursive=True))
        if f.type == pafs.FileType.File and not f.base_name.startswith((".", "_")) and f.size
    )


def _dataset(fs: pafs.FileSystem, base: str, days: Iterable[str]) -> ds.Dataset:
    files = [f for d in days for f in _data_files(fs, f"{base}/{PARTITION_KEY}={d}")]
    partitioning = ds.partitioning(pa.schema([(PARTITION_KEY, pa.string())]), flavor="hive")
    return ds.dataset(files, filesystem=fs, format="parquet", partitioning=partitioning, partition_base_dir=base)


def _gold_day(spec: ModelSpec, day: str, lake_root: str | None) -> ds.Dataset:
    root = gold_root(spec, None if lake_root is None else str(lake_root))
    fs, base = arrow_fs(root)
    if not _data_files(fs, f"{base}/{PARTITION_KEY}={day}"):
        raise FileNotFoundError(f"no committed gold partition {PARTITION_KEY}={day} under {root}")
    return _dataset(fs, base, [day])


def _read_predictions_table(model: str, days: Iterable[str], lake_root: str | None) -> pa.Table:
    fs, base = arrow_fs(predictions_root(model, lake_root))
    days = sorted({iso_day(d) for d in days})
    present = [d for d in days if _data_files(fs, f"{base}/{PARTITION_KEY}={d}")]
    if len(present) < len(days):
        log.info("no predictions of %s for %s", model, sorted(set(days) - set(present)))
    if not present:
        schema = pa.schema(
            [
                ("transaction_id", pa.string()),
                ("event_time", pa.timestamp("us")),
                ("score", pa.float64()),
                ("model_name", pa.string()),
                ("model_version", pa.string()),
                ("scored_at", pa.timestamp("us", tz="UTC")),
                (PARTITION_KEY, pa.string()),
            ]
        )
        return schema.empty_table()
    return _dataset(fs, base, present).to_table()


def _output_schema(gold: pa.Schema, key: str, event_time: str) -> pa.Schema:
    return pa.schema(
        [
            pa.field(key, gold.field(key).type),
            pa.field(event_time, gold.field(event_time).type),
            pa.field("score", pa.float64()),
            pa.field("model_name", pa.string()),
            pa.field("model_version", pa.string()),
            pa.field("scored_at", pa.timestamp("us", tz="UTC")),
        ]
    )


def _write_parquet(fs: pafs.FileSystem, folder: str, batches: Iterator[pa.RecordBatch], schema: pa.Schema) -> int:
    """Stream batches into `folder/part-NNNNN.parquet`, a new file every FILE_ROWS rows; returns rows written.
    An empty day still gets one (empty) file, so a scored day is distinguishable from an unscored one."""
    fs.create_dir(folder, recursive=True)
    rows, part, writer, in_file = 0, 0, None, 0
    # Timestamps as microseconds: what Spark reads without legacy flags (gold written by Spark already is).
    options = {"compression": "snappy", "coerce_timestamps": "us", "allow_truncated_timestamps": False}
    try:
        for batch in batches:
            if writer is None or in_file >= FILE_ROWS:
                if writer is not None:
                    writer.close()
                    part += 1
                writer = pq.ParquetWriter(f"{folder}/part-{part:05d}.parquet", schema, filesystem=fs, **options)
                in_file = 0
            writer.write_batch(batch.cast(schema) if batch.schema != schema else batch)
            rows += batch.num_rows
            in_file += batch.num_rows
        if writer is None:
            writer = pq.ParquetWriter(f"{folder}/part-00000.parquet", schema, filesystem=fs, **options)
    finally:
        if writer is not None:
            writer.close()
    return rows


def _count_rows(fs: pafs.FileSystem, folder: str) -> int:
    """Rows in the files as written (footers), the count readers of the partition will see."""
    total = 0
    for path in _data_files(fs, folder):
        with fs.open_input_file(path) as fh:
            total += pq.ParquetFile(fh).metadata.num_rows
    return total
