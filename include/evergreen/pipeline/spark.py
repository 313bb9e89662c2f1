"""Building a SparkSession the same way in jobs, tests and benchmarks."""

from __future__ import annotations

import os

from pyspark.sql import SparkSession

from evergreen.config import settings


def spark_session(app: str, master: str | None = None) -> SparkSession:
    """A session on `master`, else on `spark_master`; under spark-submit, on the master it was submitted to.

    spark-submit (Airflow's SparkSubmitOperator, with the `spark_default` connection) starts the JVM with its
    `--master` before this runs; overriding it here would quietly run a cluster-bound job on `local[*]`.
    """
    s = settings()
    builder = SparkSession.builder.appName(app)
    if master or "PYSPARK_GATEWAY_PORT" not in os.environ:  # the gateway port: launched by spark-submit
        builder = builder.master(master or s.spark_master)
    if os.environ.get("SPARK_LOCAL_IP"):  # executors call the driver back on this address (a cluster's case)
        builder = builder.config("spark.driver.host", os.environ["SPARK_LOCAL_IP"])
    builder = (
        builder.config("spark.sql.shuffle.partitions", str(s.spark_shuffle_partitions))
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
