"""Delta Lake tables: the building blocks for moving the lake to Delta later. Nothing uses them yet.

Why Delta: a write becomes one commit, a JSON file added to `<table>/_delta_log/`. Readers see the version
before it or the one after, never half of it, with no stage-then-swap of folders (`storage.swap`); two
writers of the same day conflict instead of both "winning"; and every version stays readable (time travel)
until `vacuum` deletes the files it no longer needs.

Two sides, one table:
- Spark writes, and reads with history. The session needs the Delta jars (`scripts/spark-jars.sh classpath
  delta`) and the settings of `session_conf`. Table operations go through Spark SQL (`DESCRIBE HISTORY`,
  `VACUUM`, `versionAsOf`), not the `delta-spark` pip package (its importlib_metadata pin conflicts with the
  lock).
- Readers without a JVM (scoring, the UI) use the `deltalake` package, which replays the log.

Never read a Delta folder with plain pyarrow or `spark.read.parquet`: the folder also holds the files of
replaced versions (until a vacuum) and of writes that failed or were killed (until a vacuum), so such a reader
sees rows twice or rows that were never committed. Only the log says which files make up a version.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

import deltalake
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, StringType

__all__ = ["current_version", "read_arrow", "session_conf", "vacuum", "versions", "write_days"]

EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"

# Values go into a SQL predicate (replaceWhere), so they are checked, not escaped: only ASCII digits in the
# ISO shape, and a date that exists. `re.ASCII` because `\d` would also match other scripts' digits.
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
_REPLACE_WHERE_MISMATCH = "DELTA_REPLACE_WHERE_MISMATCH"


def session_conf(jars: list[str], *, partitions: int = 2) -> dict[str, str]:
    """The Spark settings a session needs for Delta, to pass to `SparkSession.builder.config` (or --conf).

    `jars`: the paths `scripts/spark-jars.sh classpath delta` prints (split on commas). They go in as
    `spark.jars`, never `spark.jars.packages` (Ivy fails on the pom-only entries Maven leaves in ~/.m2).
    `partitions`: how many tasks Delta's own bookkeeping jobs use (see below); 2 suits a 2-core machine, a
    cluster wants about its core count. The jars and the extension are static: they take effect only in a
    session started with them.
    """
    if not jars:
        raise ValueError("no Delta jars given: pass the paths of `scripts/spark-jars.sh classpath delta`")
    for jar in jars:
        if not jar or "," in jar:  # spark.jars is comma-separated: a comma would split one path in two
            raise ValueError(f"bad jar path {jar!r}")
    if partitions < 1:
        raise ValueError(f"partitions must be >= 1, got {partitions}")
    return {
        "spark.jars": ",".join(jars),
        "spark.sql.extensions": EXTENSION,  # DESCRIBE HISTORY, VACUUM, time travel in SQL
        "spark.sql.catalog.spark_catalog": CATALOG,  # delta.`path` tables and versionAsOf
        # Delta rebuilds a table's snapshot state with this many shuffle partitions (default 50): on a 2-core
        # machine that is 50 tiny tasks on every write and read of a table with a few files.
        "spark.databricks.delta.snapshotPartitions": str(partitions),
        # VACUUM lists the table's files and joins them with the snapshot in this many tasks (Spark's default,
        # 10000, is meant for listing many paths on a cluster): a VACUUM of a 6-file table took 35-100 s on
        # 2 cores with the default and 5-8 s with 2. Spark's own listing uses it only beyond 32 paths.
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": str(partitions),
    }


def write_days(
    df: DataFrame,
    path: str,
    key: str,
    days: Iterable[str | date],
    *,
    before_commit: Callable[[str], object] | None = None,
) -> dict[str, Any]:
    """Make days `days` of the Delta table at `path` hold exactly the rows of `df`, in one commit.

    The table is partitioned by `key` (a string or date column) and created if absent. Days in `days` for
    which `df` has no rows end up empty; other days are untouched. Writing the same rows twice gives the same
    table (a new version with the same rows). If `df` has rows whose `key` is not in `days`, nothing is
    committed and ValueError names the table and those values.

    Returns `{"version": V, "rows": {day: n}}`: the version this write committed and the rows per day read
    back from that version (so they are what readers of V see), every day of `days` included.

    `before_commit(path)` is the crash tests' hook (as in `storage.lake`), called once the arguments are
    checked and right before the write. Delta writes the data files and commits in one call, so there is no
    moment between "files written" and "committed" that the driver could reach; a crash inside the write
    leaves only unreferenced files, which readers never see (the log does not name them) and `vacuum`
    removes. If the hook raises, nothing is written.
    """
    spark = df.sparkSession
    wanted = _days(days)
    pred = _predicate(df, key, wanted)
    # Tagging the commit finds its version in the history even if another writer commits right after it:
    # "the latest version" would then be the other writer's.
    tag = f"evergreen-write-{uuid.uuid4().hex}"
    if before_commit is not None:
        before_commit(path)
    try:
        (
            df.write.format("delta")
            .mode("overwrite")
            .option("replaceWhere", pred)  # replaces exactly these days; refuses rows of any other day
            .option("userMetadata", tag)
            .partitionBy(key)
            .save(path)
        )
    except Exception as exc:
        if _condition(exc) != _REPLACE_WHERE_MISMATCH:
            raise  # a concurrent writer's conflict, a schema mismatch, ...: Delta's own error says it best
        strays = _strays(df, pred, key)
        # One line, not Delta's several-screen Java trace: the caller needs the table and the values.
        raise ValueError(
            f"write to Delta table {path}: rows for {key} {strays} are outside the days written {wanted}; "
            "nothing was committed"
        ) from None
    version = _version_tagged(spark, path, tag)
    rows = dict.fromkeys(wanted, 0)
    committed = spark.read.format("delta").option("versionAsOf", version).load(path).where(pred)
    for row in committed.groupBy(key).count().collect():
        rows[_iso(row[0])] = row[1]
    return {"version": version, "rows": rows}


def versions(spark: SparkSession, path: str) -> list[dict[str, Any]]:
    """The table's versions still in its log, oldest first: `{"version", "timestamp", "operation"}`."""
    history = spark.sql(f"DESCRIBE HISTORY {_table(path)}").select("version", "timestamp", "operation")
    return sorted((row.asDict() for row in history.collect()), key=lambda v: v["version"])


def current_version(path: str) -> int | None:
    """The table's latest version, read from its log without Spark; None if `path` is no Delta table."""
    if not deltalake.DeltaTable.is_deltatable(path):
        return None
    return deltalake.DeltaTable(path).version()


def read_arrow(
    path: str,
    *,
    version: int | None = None,
    filters: list[tuple[str, str, Any]] | pc.Expression | None = None,
    columns: list[str] | None = None,
) -> pa.Table:
    """Rows of one version of the table (the latest if `version` is None), without Spark.

    `filters` are deltalake's: DNF tuples (`[("event_date", "=", "2026-01-01")]`) or a pyarrow expression.
    They prune files by partition values and statistics, then filter rows exactly.
    Raises deltalake's TableNotFoundError if `path` is no Delta table.
    """
    table = deltalake.DeltaTable(path, version=version)
    return table.to_pyarrow_table(filters=filters, columns=columns)


def vacuum(spark: SparkSession, path: str, retain_hours: float) -> int:
    """Delete the files no version younger than `retain_hours` needs; returns how many it deleted.

    Afterwards, versions older than the retention can no longer be read (time travel to them fails). Delta
    records the run in the history (VACUUM START / VACUUM END versions) when it deletes for real.
    Delta refuses a retention under 168 hours unless the session sets
    `spark.databricks.delta.retentionDurationCheck.enabled=false`, and for a reason: a write still in
    progress has data files its commit does not name yet, and a short retention deletes them.
    """
    if retain_hours < 0:
        raise ValueError(f"retain_hours must be >= 0, got {retain_hours}")
    sql = f"VACUUM {_table(path)} RETAIN {float(retain_hours)!r} HOURS"
    doomed = spark.sql(f"{sql} DRY RUN").count()  # VACUUM itself returns only the table's path
    spark.sql(sql).collect()
    return doomed


# ---- helpers --------------------------------------------------------------------------------------------
def _days(days: Iterable[str | date]) -> list[str]:
    """Sorted distinct ISO days; anything that is not exactly YYYY-MM-DD (and a real day) is refused."""
    out = set()
    for day in [days] if isinstance(days, str) else days:
        if isinstance(day, datetime):  # a datetime is a date too: refuse it rather than drop its time
            raise ValueError(f"days must be dates or YYYY-MM-DD strings, got the datetime {day!r}")
        if isinstance(day, date):
            out.add(day.isoformat())
            continue
        if not isinstance(day, str) or not _DAY.fullmatch(day):
            raise ValueError(f"days must be YYYY-MM-DD, got {day!r}")
        try:
            date.fromisoformat(day)
        except ValueError:
            raise ValueError(f"{day!r} is not a day of the calendar") from None
        out.add(day)
    if not out:
        raise ValueError("no days to write")
    return sorted(out)


def _predicate(df: DataFrame, key: str, days: list[str]) -> str:
    """`key` IN (...) over checked values, as a literal of the column's own type."""
    if not _COLUMN.fullmatch(key):
        raise ValueError(f"bad partition column name {key!r}")
    field = next((f for f in df.schema.fields if f.name.lower() == key.lower()), None)
    if field is None:
        raise ValueError(f"the DataFrame has no column {key!r}")
    if isinstance(field.dataType, DateType):
        literals = [f"DATE'{d}'" for d in days]
    elif isinstance(field.dataType, StringType):
        literals = [f"'{d}'" for d in days]
    else:
        raise ValueError(f"partition column {key!r} must be a string or a date, not {field.dataType.simpleString()}")
    return f"`{key}` IN ({', '.join(literals)})"


def _strays(df: DataFrame, pred: str, key: str, limit: int = 10) -> list[str]:
    """Up to `limit` distinct values of `key` that `pred` does not hold for (NULL included)."""
    values = df.where(f"NOT coalesce({pred}, false)").select(key).distinct().limit(limit + 1).collect()
    shown = sorted("NULL" if r[0] is None else _iso(r[0]) for r in values)
    return shown[:limit] + (["..."] if len(shown) > limit else [])


def _version_tagged(spark: SparkSession, path: str, tag: str) -> int:
    history = spark.sql(f"DESCRIBE HISTORY {_table(path)}").where(F.col("userMetadata") == tag)
    found = [row.version for row in history.select("version").collect()]
    if len(found) != 1:  # the write returned without error, so its commit must be in the log exactly once
        raise RuntimeError(f"Delta table {path}: expected one commit tagged {tag}, found versions {found}")
    return found[0]


def _condition(exc: Exception) -> str | None:
    """Spark's error condition (class) of a captured JVM error, e.g. DELTA_REPLACE_WHERE_MISMATCH."""
    get = getattr(exc, "getCondition", None)
    try:
        return get() if callable(get) else None
    except Exception:  # a captured error whose JVM side is gone: no condition to tell
        return None


def _table(path: str) -> str:
    """A path as a Delta table name in SQL: delta.`path`, backticks in the path doubled (SQL's escape)."""
    return "delta.`" + path.replace("`", "``") + "`"


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)
