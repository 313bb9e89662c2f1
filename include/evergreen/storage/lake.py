"""Lake paths and atomic, idempotent partition writes, for local folders and Hadoop URIs (s3a://) alike.

A write never touches a live partition until the new one is complete:

1. stage: Spark writes the DataFrame under `<table>/_staging/<write-id>/` (Spark ignores `_` paths,
   so readers never see staged files);
2. commit, per partition: move the live `<table>/<key>=<value>` aside into `_trash/`, rename the staged
   one into place, then drop the trash.

A crash during (1) leaves only staging garbage; during (2) at worst one partition that is absent (its
previous version sits in `_trash/`), never one that is half written. The next run of the same day
re-stages and commits, so a re-run gives the same rows. On object stores a rename is a copy: the
partition is still never half visible to readers that list `key=value` folders, but the swap is slower.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

from pyspark.sql import DataFrame, SparkSession

from evergreen.config import Settings, settings

STAGING, TRASH = "_staging", "_trash"
STALE_STAGING_SECONDS = 6 * 3600


class Lake:
    def __init__(self, spark: SparkSession, cfg: Settings | None = None):
        self.spark = spark
        self.cfg = cfg or settings()
        jvm = spark.sparkContext._jvm
        self._Path = jvm.org.apache.hadoop.fs.Path
        self._hconf = spark.sparkContext._jsc.hadoopConfiguration()

    # ---- paths -------------------------------------------------------------------------------------
    def path(self, layer: str, table: str) -> str:
        return self.cfg.layer(layer, table)

    def _fs(self, path: str):
        p = self._Path(path)
        return p.getFileSystem(self._hconf), p

    def exists(self, path: str) -> bool:
        fs, p = self._fs(path)
        return bool(fs.exists(p))

    def glob(self, pattern: str) -> list[str]:
        """Files matching a glob, sorted: the one listing used for landing drops, local or s3a."""
        fs, p = self._fs(pattern)
        statuses = fs.globStatus(p) or []
        return sorted(str(s.getPath().toString()) for s in statuses if s.isFile())

    def partitions(self, layer: str, table: str, key: str) -> list[str]:
        """Committed partition values of a table, sorted."""
        root = self.path(layer, table)
        fs, p = self._fs(root)
        if not fs.exists(p):
            return []
        values = []
        for status in fs.listStatus(p):
            name = status.getPath().getName()
            if status.isDirectory() and name.startswith(f"{key}="):
                values.append(name.split("=", 1)[1])
        return sorted(values)

    def delete(self, path: str) -> None:
        fs, p = self._fs(path)
        if fs.exists(p):
            fs.delete(p, True)

    # ---- reads -------------------------------------------------------------------------------------
    def read(self, layer: str, table: str, key: str | None = None, values: Iterable[str] | None = None):
        """Committed rows of a table (optionally only some partitions); None if nothing is there."""
        root = self.path(layer, table)
        if key is None:
            return self.spark.read.parquet(root) if self.exists(root) else None
        wanted = set(self.partitions(layer, table, key))
        if values is not None:
            wanted &= {str(v) for v in values}
        if not wanted:
            return None
        paths = [f"{root}/{key}={v}" for v in sorted(wanted)]
        return self.spark.read.option("basePath", root).parquet(*paths)

    # ---- writes ------------------------------------------------------------------------------------
    def write_partitions(
        self,
        df: DataFrame,
        layer: str,
        table: str,
        key: str,
        replace: Iterable[str],
        *,
        before_commit=None,
    ) -> dict[str, int]:
        """Make partitions `replace` of `layer/table` hold exactly the rows of `df` for those values.

        Partitions in `replace` for which `df` has no rows are removed. Returns rows per committed
        partition (counted from the staged files, so the count is what readers will see).
        `before_commit` is a test hook: called after staging, before the first swap.
        """
        root = self.path(layer, table)
        replace = sorted({str(v) for v in replace})
        write_id = f"{int(time.time())}-{uuid.uuid4().hex[:8]}"
        stage = f"{root}/{STAGING}/{write_id}"
        self._drop_stale(f"{root}/{STAGING}")
        df.write.mode("overwrite").partitionBy(key).parquet(stage)

        staged = {v: f"{stage}/{key}={v}" for v in replace}
        counts = {}
        for value, path in staged.items():
            if self.exists(path):
                counts[value] = self.spark.read.parquet(path).count()
        unexpected = set(self._child_values(stage, key)) - set(replace)
        if unexpected:
            self.delete(stage)
            raise ValueError(f"write to {layer}/{table} has rows for {sorted(unexpected)} outside {replace}")
        if before_commit is not None:
            before_commit(stage)
        for value in replace:
            self._swap(root, f"{key}={value}", staged[value] if value in counts else None)
        self.delete(stage)
        return counts

    def write_table(self, df: DataFrame, layer: str, table: str) -> int:
        """Replace a whole unpartitioned table (small snapshots: customers, merchants)."""
        root = self.path(layer, table)
        parent, name = root.rsplit("/", 1)
        stage = f"{parent}/{STAGING}/{name}-{uuid.uuid4().hex[:8]}"
        df.write.mode("overwrite").parquet(stage)
        rows = self.spark.read.parquet(stage).count()
        fs, _ = self._fs(root)
        trash = f"{parent}/{TRASH}/{name}-{uuid.uuid4().hex[:8]}"
        if self.exists(root):
            fs.mkdirs(self._Path(f"{parent}/{TRASH}"))
            fs.rename(self._Path(root), self._Path(trash))
        if not fs.rename(self._Path(stage), self._Path(root)):
            raise OSError(f"could not commit {stage} -> {root}")
        self.delete(trash)
        return rows

    def drop_partition(self, layer: str, table: str, key: str, value: str) -> None:
        """Remove one partition the same way a commit replaces it (moved aside, then deleted)."""
        self._swap(self.path(layer, table), f"{key}={value}", None)

    def write_text(self, path: str, text: str) -> None:
        fs, p = self._fs(path)
        out = fs.create(p, True)
        try:
            out.write(bytearray(text.encode()))
        finally:
            out.close()

    def _swap(self, root: str, part: str, staged: str | None) -> None:
        fs, _ = self._fs(root)
        live = f"{root}/{part}"
        trash = f"{root}/{TRASH}/{part}-{uuid.uuid4().hex[:8]}"
        if self.exists(live):
            fs.mkdirs(self._Path(f"{root}/{TRASH}"))
            if not fs.rename(self._Path(live), self._Path(trash)):
                raise OSError(f"could not move {live} aside")
        if staged is not None and not fs.rename(self._Path(staged), self._Path(live)):
            raise OSError(f"could not commit {staged} -> {live}")
        self.delete(trash)

    def _child_values(self, path: str, key: str) -> list[str]:
        fs, p = self._fs(path)
        if not fs.exists(p):
            return []
        return [
            s.getPath().getName().split("=", 1)[1]
            for s in fs.listStatus(p)
            if s.isDirectory() and s.getPath().getName().startswith(f"{key}=")
        ]

    def _drop_stale(self, staging_root: str) -> None:
        """Remove staging left by crashed writes, once it is old enough not to belong to a live one."""
        fs, p = self._fs(staging_root)
        if not fs.exists(p):
            return
        now_ms = time.time() * 1000
        for status in fs.listStatus(p):
            if now_ms - status.getModificationTime() > STALE_STAGING_SECONDS * 1000:
                fs.delete(status.getPath(), True)
