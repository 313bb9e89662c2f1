"""Gold partitions -> a time-split, as-of-correct training set, through Arrow (no Spark session).

The rules, all read from the model spec:

* A row is *labelled* only if its label had arrived by the end of `as_of` (`label_time <= as_of 23:59:59`,
  UTC like the rest of the lake). Gold carries every label arrived when it was last built, so an older
  `as_of` (a backfill, a reproduction) sees exactly what was known then; a later label is "not yet".
* An event day is *mature* once `label.mature_after_days` have passed: `event_date <= as_of - mature_after_days`.
  Younger days are never used, or the few early chargebacks would make them look fraud-heavy.
* The split is by committed mature days, newest first: holdout = the latest `holdout_days` (never trained on),
  validation = the `validation_days` before them (early stopping, threshold), train = up to `train_days`
  (or `window_days`) before that. Days missing from gold (a quarantined batch) are skipped, not counted.
  Unlabelled rows in a mature day are dropped and counted in the lineage.

Splits stay on disk until asked for: `Split.read()` materializes an Arrow table, `Split.batches()` streams
record batches (the QuantileDMatrix iterator path), so a training set larger than memory never becomes one
pandas frame. The file list of every split is fixed at load time; the lineage digest covers its content.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from evergreen.common.days import iso_day
from evergreen.config import settings
from evergreen.contracts.model_spec import ModelSpec
from evergreen.storage.files import arrow_fs

log = logging.getLogger(__name__)

PARTITION_KEY = "event_date"
SPLITS = ("train", "validation", "holdout")
MIN_TRAIN_DAYS = 1
# A mature day should be almost fully labelled; more unlabelled rows than this means gold was built before
# the labels arrived (a stale gold partition, or a label feed that stopped): worth a warning in the task log.
UNLABELLED_WARN_SHARE = 0.05
DEFAULT_BATCH_ROWS = 262_144


class InsufficientDataError(ValueError):
    """Not enough mature, labelled gold data for the spec's split; the message says what is missing."""


@dataclass
class Split:
    """One time slice of gold: its event days, the exact files that hold them, and the labelled-row filter."""

    name: str
    dates: list[str]
    files: list[str]
    filesystem: pafs.FileSystem
    base_dir: str
    labelled: ds.Expression
    rows: int = 0
    positives: int = 0
    unlabelled: int = 0
    bytes: int = 0

    def dataset(self) -> ds.Dataset:
        return _dataset(self.files, self.filesystem, self.base_dir)

    def read(self, columns: list[str] | None = None) -> pa.Table:
        """Labelled rows of this split as one Arrow table (all gold columns unless `columns`)."""
        return self.dataset().to_table(columns=columns, filter=self.labelled)

    def batches(
        self, columns: list[str] | None = None, batch_rows: int = DEFAULT_BATCH_ROWS
    ) -> Iterator[pa.RecordBatch]:
        """Labelled rows as a stream of record batches, read from disk file by file (bounded memory)."""
        scanner = self.dataset().scanner(columns=columns, filter=self.labelled, batch_size=batch_rows, use_threads=True)
        for batch in scanner.to_batches():
            if batch.num_rows:
                yield batch

    def to_pandas(self, columns: list[str] | None = None) -> pd.DataFrame:
        return self.read(columns).to_pandas()


@dataclass
class TrainingData:
    """The three splits, the spec they were cut for, and the lineage that identifies them."""

    spec: ModelSpec
    as_of: str
    splits: dict[str, Split]
    lineage: dict[str, Any]
    _frames: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)

    def frame(self, name: str) -> pd.DataFrame:
        """A split as pandas (ID, feature and label columns), read once and kept."""
        if name not in self._frames:
            self._frames[name] = self.splits[name].to_pandas()
        return self._frames[name]

    @property
    def train(self) -> pd.DataFrame:
        return self.frame("train")

    @property
    def validation(self) -> pd.DataFrame:
        return self.frame("validation")

    @property
    def holdout(self) -> pd.DataFrame:
        return self.frame("holdout")


def gold_root(spec: ModelSpec, lake_root: str | None = None) -> str:
    if lake_root is None:
        return settings().layer(spec.source.layer, spec.source.table)
    return "/".join([lake_root.rstrip("/"), spec.source.layer, spec.source.table])


def row_selection(spec: ModelSpec) -> ds.Expression | None:
    """The spec's `source.where` as an Arrow filter (None: every row). Training, scoring and monitoring read
    gold through it, so a POS-only model never sees, scores or watches a web row."""
    where = getattr(spec.source, "where", None) or {}
    selected = None
    for column, values in where.items():
        term = ds.field(column).isin(list(values))
        selected = term if selected is None else selected & term
    return selected


def _and(a: ds.Expression | None, b: ds.Expression) -> ds.Expression:
    return b if a is None else a & b


def end_of_day(day: str) -> datetime:
    """The last instant of a run day, as the gold job defines it: labels arriving during the day count."""
    return datetime.fromisoformat(f"{day} 23:59:59")


def load_training_data(
    spec: ModelSpec, *, as_of: str, lake_root: str | None = None, window_days: int | None = None
) -> TrainingData:
    """The spec's time split of gold as known at the end of `as_of` (see the module doc for the rules).

    `lake_root` is the lake (gold is `<lake_root>/<source.layer>/<source.table>`), default the settings'.
    `window_days` replaces `spec.split.train_days` (a Param of the retrain DAG).
    """
    as_of = iso_day(as_of, "as_of")
    train_days = spec.split.train_days if window_days is None else int(window_days)
    holdout_days, validation_days = spec.split.holdout_days, spec.split.validation_days
    root = gold_root(spec, lake_root)
    fs, base = arrow_fs(root)
    days = _partitions(fs, base)
    mature, mature_through = _mature_days(spec, as_of, train_days, sorted(days), root)
    cut_h = len(mature) - holdout_days
    cut_v = cut_h - validation_days
    by_split = {
        "train": mature[max(0, cut_v - train_days) : cut_v],
        "validation": mature[cut_v:cut_h],
        "holdout": mature[cut_h:],
    }

    label, label_time = spec.label.column, spec.label.time
    splits: dict[str, Split] = {}
    digest, files_digest = hashlib.sha256(), hashlib.sha256()
    for name in SPLITS:
        files = [f for d in by_split[name] for f in days[d]]
        for path, size in files:
            files_digest.update(f"{name}\t{path.removeprefix(base).lstrip('/')}\t{size}\n".encode())
        dataset = _dataset([p for p, _ in files], fs, base)
        _check_columns(dataset.schema, spec, root)
        end = pa.scalar(end_of_day(as_of)).cast(dataset.schema.field(label_time).type)
        selected = row_selection(spec)
        labelled = _and(selected, ds.field(label).is_valid() & (ds.field(label_time) <= end))
        split = Split(name, by_split[name], [p for p, _ in files], fs, base, labelled, bytes=sum(s for _, s in files))
        keys = dataset.to_table(columns=[spec.source.key, label], filter=labelled)
        split.rows = keys.num_rows
        split.positives = int(pc.sum(keys[label]).as_py() or 0)
        split.unlabelled = dataset.count_rows(filter=selected) - split.rows
        _digest_split(digest, name, keys, spec.source.key, label)
        splits[name] = split
        total = split.rows + split.unlabelled
        if total and split.unlabelled / total > UNLABELLED_WARN_SHARE:
            log.warning(
                "%s split (%s): %d of %d rows have no label as of %s although their days are mature; is gold "
                "older than its labels?", name, ", ".join(split.dates), split.unlabelled, total, as_of,
            )  # fmt: skip

    empty = [
        f"{s.name} ({', '.join(s.dates)}): {s.positives} positive(s) in {s.rows} labelled row(s)"
        for s in splits.values()
        if s.positives == 0 or s.positives == s.rows
    ]
    if empty:
        raise InsufficientDataError(
            f"a split needs both classes to train and judge a model, as_of {as_of}: " + "; ".join(empty)
        )

    lineage = {
        "as_of": as_of,
        "source": root,
        "where": {c: list(v) for c, v in (getattr(spec.source, "where", None) or {}).items()},
        "mature_through": mature_through,
        "window_days": train_days,
        "mature_days_available": len(mature),
        "partitions": {n: s.dates for n, s in splits.items()},
        "rows": {n: s.rows for n, s in splits.items()},
        "positives": {n: s.positives for n, s in splits.items()},
        "unlabelled": {n: s.unlabelled for n, s in splits.items()},
        "files": {n: len(s.files) for n, s in splits.items()},
        "bytes": {n: s.bytes for n, s in splits.items()},
        "digest": digest.hexdigest(),
        "digest_of": f"sha256 over each split's ({spec.source.key}, {label}) sorted by {spec.source.key}",
        # Which committed files were read: changes whenever gold is rewritten, even with equal content.
        "files_digest": files_digest.hexdigest(),
    }
    return TrainingData(spec=spec, as_of=as_of, splits=splits, lineage=lineage)


def check_mature_days(spec: ModelSpec, as_of: str, *, window_days: int | None = None) -> None:
    """Raise InsufficientDataError (the same message training would give) when gold has too few mature days
    for the spec's split as of `as_of`: a listing of partition folders, no data read. Planning calls it, so a
    model too young to train is skipped with the reason instead of failing its training."""
    train_days = spec.split.train_days if window_days is None else int(window_days)
    root = gold_root(spec)
    fs, base = arrow_fs(root)
    _mature_days(spec, iso_day(as_of, "as_of"), train_days, sorted(_partitions(fs, base)), root)


def _mature_days(spec: ModelSpec, as_of: str, train_days: int, days: list[str], root: str) -> tuple[list[str], str]:
    if train_days < MIN_TRAIN_DAYS:
        raise ValueError(f"window_days must be at least {MIN_TRAIN_DAYS}, got {train_days}")
    holdout_days, validation_days = spec.split.holdout_days, spec.split.validation_days
    mature_through = (date.fromisoformat(as_of) - timedelta(days=spec.label.mature_after_days)).isoformat()
    mature = [d for d in days if d <= mature_through]
    needed = holdout_days + validation_days + MIN_TRAIN_DAYS
    if len(mature) < needed:
        raise InsufficientDataError(
            f"{len(mature)} mature gold day(s) at {root} for as_of {as_of} (event days on or before "
            f"{mature_through}, i.e. {spec.label.mature_after_days} days for labels to mature; "
            f"{len(days)} day(s) in gold in all); the split needs at least {needed}: {holdout_days} holdout + "
            f"{validation_days} validation + at least {MIN_TRAIN_DAYS} training (up to {train_days})"
        )
    return mature, mature_through


# ---- internals ---------------------------------------------------------------------------------------------


def _partitions(fs: pafs.FileSystem, base: str) -> dict[str, list[tuple[str, int]]]:
    """Committed `event_date=` folders -> their data files (path, size). `_staging`/`_trash` are not gold."""
    if fs.get_file_info(base).type == pafs.FileType.NotFound:
        return {}
    out: dict[str, list[tuple[str, int]]] = {}
    for entry in fs.get_file_info(pafs.FileSelector(base)):
        if entry.type != pafs.FileType.Directory or not entry.base_name.startswith(f"{PARTITION_KEY}="):
            continue
        day = entry.base_name.split("=", 1)[1]
        files = sorted(
            (f.path, f.size)
            for f in fs.get_file_info(pafs.FileSelector(entry.path, recursive=True))
            if f.type == pafs.FileType.File and not f.base_name.startswith((".", "_")) and f.size
        )
        if files:
            out[day] = files
    return out


def _dataset(files: list[str], fs: pafs.FileSystem, base: str) -> ds.Dataset:
    partitioning = ds.partitioning(pa.schema([(PARTITION_KEY, pa.string())]), flavor="hive")
    return ds.dataset(files, filesystem=fs, format="parquet", partitioning=partitioning, partition_base_dir=base)


def _check_columns(schema: pa.Schema, spec: ModelSpec, root: str) -> None:
    wanted = [spec.source.key, *spec.features.names, spec.label.column, spec.label.time]
    missing = [c for c in wanted if c not in schema.names]
    if missing:
        raise ValueError(f"gold at {root} lacks column(s) the spec {spec.name!r} needs: {missing}")


def _digest_split(digest: Any, name: str, keys: pa.Table, key: str, label: str) -> None:
    """Feed one split's sorted (key, label) pairs into the digest, in a layout that does not depend on chunking."""
    keys = keys.take(pc.sort_indices(keys, sort_keys=[(key, "ascending")]))
    ids = keys[key].combine_chunks().cast(pa.large_string())
    offsets = np.frombuffer(ids.buffers()[1], dtype=np.int64)[ids.offset : ids.offset + len(ids) + 1]
    data = ids.buffers()[2]
    digest.update(f"{name}\n{len(ids)}\n".encode())
    digest.update((offsets - offsets[0]).astype("<i8").tobytes())
    if data is not None:
        digest.update(memoryview(data)[offsets[0] : offsets[-1]])
    digest.update(keys[label].to_numpy(zero_copy_only=False).astype("<i1").tobytes())
