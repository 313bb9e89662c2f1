"""Lake paths and atomic, idempotent partition writes, for local folders and Hadoop URIs (s3a://) alike.

A write never touches a live partition until the new one is complete: Spark stages the DataFrame under
`<table>/_staging/<write-id>/` (Spark ignores `_` paths), the staged rows are counted and checked, then each
partition is swapped into place (`storage.swap`, the one stage-then-swap of the lake and of scoring).
"""

from __future__ import annotations

from collections.abc import Iterable

from pyspark.sql import DataFrame, SparkSession

from evergreen.config import Settings, settings
from evergreen.storage.swap import STAGING, TRASH, new_stage, swap

__all__ = ["STAGING", "TRASH", "Lake"]


class HadoopFolders:
    """`storage.swap.Folders` over Spark's Hadoop FileSystem (local paths and s3a:// alike)."""

    def __init__(self, spark: SparkSession):
        self._Path = spark.sparkContext._jvm.org.apache.hadoop.fs.Path
        self._hconf = spark.sparkContext._jsc.hadoopConfiguration()

    def fs(self, path: str):
        p = self._Path(path)
        return p.getFileSystem(self._hconf), p

    def exists(self, path: str) -> bool:
        fs, p = self.fs(path)
        return bool(fs.exists(p))

    def mkdirs(self, path: str) -> None:
        fs, p = self.fs(path)
        fs.mkdirs(p)

    def move(self, src: str, dst: str) -> None:
        fs, p = self.fs(src)
        if not fs.rename(p, self._Path(dst)):
            raise OSError(f"could not move {src} -> {dst}")

    def delete(self, path: str) -> None:
        fs, p = self.fs(path)
        if fs.exists(p):
            fs.delete(p, True)

    def children(self, path: str) -> list[tuple[str, float]]:
        fs, p = self.fs(path)
        if not fs.exists(p):
            return []
        return [(str(s.getPath().toString()), s.getModificationTime() / 1000) for s in fs.listStatus(p)]


class Lake:
    def __init__(self, spark: SparkSession, cfg: Settings | None = None):
        self.spark = spark
        self.cfg = cfg or settings()
        self.folders = HadoopFolders(spark)

    # ---- paths -------------------------------------------------------------------------------------
    def path(self, layer: str, table: str) -> str:
        return self.cfg.layer(layer, table)

    def _fs(self, path: str):
        return self.folders.fs(path)

    def exists(self, path: str) -> bool:
        return self.folders.exists(path)

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
        self.folders.delete(path)

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
        stage = new_stage(self.folders, root)
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
            swap(self.folders, root, f"{key}={value}", staged[value] if value in counts else None)
        self.delete(stage)
        return counts

    def write_table(self, df: DataFrame, layer: str, table: str) -> int:
        """Replace a whole unpartitioned table (small snapshots: customers, merchants)."""
        root = self.path(layer, table)
        parent, name = root.rsplit("/", 1)
        stage = f"{new_stage(self.folders, parent)}-{name}"
        df.write.mode("overwrite").parquet(stage)
        rows = self.spark.read.parquet(stage).count()
        swap(self.folders, parent, name, stage)
        return rows

    def drop_partition(self, layer: str, table: str, key: str, value: str) -> None:
        """Remove one partition the same way a commit replaces it (moved aside, then deleted)."""
        swap(self.folders, self.path(layer, table), f"{key}={value}", None)

    def write_text(self, path: str, text: str) -> None:
        fs, p = self._fs(path)
        out = fs.create(p, True)
        try:
            out.write(bytearray(text.encode()))
        finally:
            out.close()

    def read_text(self, path: str) -> str | None:
        """A small text file in the lake (a gate result beside its quarantine), None if it is not there."""
        import pyarrow.fs as pafs

        from evergreen.storage.files import arrow_fs

        fs, inner = arrow_fs(path)
        if fs.get_file_info(inner).type != pafs.FileType.File:
            return None
        with fs.open_input_stream(inner) as fh:
            return fh.read().decode()

    def _child_values(self, path: str, key: str) -> list[str]:
        fs, p = self._fs(path)
        if not fs.exists(p):
            return []
        return [
            s.getPath().getName().split("=", 1)[1]
            for s in fs.listStatus(p)
            if s.isDirectory() and s.getPath().getName().startswith(f"{key}=")
        ]
