"""Atomic, idempotent partition writes on the real local filesystem through Spark/Hadoop."""

from __future__ import annotations

import os

import pytest

from evergreen.storage.lake import STAGING, Lake


@pytest.fixture
def lake(spark, lake_settings):
    return Lake(spark, lake_settings)


def _rows(lake, table, day):
    return sorted(tuple(r) for r in lake.read("silver", table, "d", [day]).select("id", "v").collect())


def test_replace_is_exact_and_rerun_gives_same_rows(spark, lake):
    df = spark.createDataFrame(
        [(1, "a", "2026-01-01"), (2, "b", "2026-01-01"), (3, "c", "2026-01-02")], "id int, v string, d string"
    )
    counts = lake.write_partitions(df, "silver", "t", "d", ["2026-01-01", "2026-01-02"])
    assert counts == {"2026-01-01": 2, "2026-01-02": 1}

    smaller = spark.createDataFrame([(9, "z", "2026-01-01")], "id int, v string, d string")
    lake.write_partitions(smaller, "silver", "t", "d", ["2026-01-01"])
    assert _rows(lake, "t", "2026-01-01") == [(9, "z")]  # replaced, not appended
    assert _rows(lake, "t", "2026-01-02") == [(3, "c")]  # untouched

    lake.write_partitions(smaller, "silver", "t", "d", ["2026-01-01"])
    assert _rows(lake, "t", "2026-01-01") == [(9, "z")]  # a re-run is a no-op
    assert lake.partitions("silver", "t", "d") == ["2026-01-01", "2026-01-02"]


def test_partition_without_rows_is_removed(spark, lake):
    df = spark.createDataFrame([(1, "a", "2026-01-01")], "id int, v string, d string")
    lake.write_partitions(df, "silver", "t", "d", ["2026-01-01"])
    lake.write_partitions(df.limit(0), "silver", "t", "d", ["2026-01-01"])
    assert lake.partitions("silver", "t", "d") == []


def test_rows_outside_the_declared_partitions_are_refused(spark, lake):
    df = spark.createDataFrame([(1, "a", "2026-01-01"), (2, "b", "2026-01-05")], "id int, v string, d string")
    with pytest.raises(ValueError, match="2026-01-05"):
        lake.write_partitions(df, "silver", "t", "d", ["2026-01-01"])
    assert lake.partitions("silver", "t", "d") == []


def test_crash_before_commit_leaves_the_live_partition_whole(spark, lake):
    old = spark.createDataFrame([(1, "old", "2026-01-01"), (2, "old", "2026-01-01")], "id int, v string, d string")
    lake.write_partitions(old, "silver", "t", "d", ["2026-01-01"])
    new = spark.createDataFrame([(7, "new", "2026-01-01")], "id int, v string, d string")

    def crash(stage):
        assert os.listdir(stage)  # the new data really was staged
        raise KeyboardInterrupt("killed between stage and commit")

    with pytest.raises(KeyboardInterrupt):
        lake.write_partitions(new, "silver", "t", "d", ["2026-01-01"], before_commit=crash)
    # Readers see the old partition, complete; the staged files are invisible to them.
    assert _rows(lake, "t", "2026-01-01") == [(1, "old"), (2, "old")]
    assert os.listdir(os.path.join(lake.path("silver", "t"), STAGING))

    lake.write_partitions(new, "silver", "t", "d", ["2026-01-01"])  # the next run completes
    assert _rows(lake, "t", "2026-01-01") == [(7, "new")]
