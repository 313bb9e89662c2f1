"""Building a SparkSession the same way in jobs, tests and benchmarks."""

from __future__ import annotations

from pyspark.sql import SparkSession

from evergreen.config import settings


def spark_session(app: str, master: str | None = None) -> SparkSession:
    s = settings()
    builder = (
        SparkSession.builder.appName(app)
        .master(master or s.spark_master)
        .config("spark.sql.shuffle.partitions", str(s.spark_shuffle_partitions))
        .config("spark.driver.memory", s.spark_driver_memory)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        # Partition overwrites are done by evergreen.storage.lake (stage, then swap), never by Spark in place.
        .config("spark.sql.sources.partitionOverwriteMode", "static")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.ansi.enabled", "false")
    )
    if s.spark_packages:
        builder = builder.config("spark.jars.packages", s.spark_packages)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session
