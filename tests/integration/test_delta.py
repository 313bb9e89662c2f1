"""Delta Lake building blocks (evergreen.storage.delta) on a real Spark with the Delta jars, read back by Spark
and by `deltalake` (no JVM). Nothing in the pipeline uses Delta yet: these pin down what a later switch relies
on (idempotent day writes, refused stray rows, time travel, conflicts, crashes, vacuum).

One SparkContext per process: these tests need a session started with the Delta jars and extensions (static
settings), while the suite shares one plain session (conftest's `spark`, session-scoped). Stopping that one
would break every later test holding it, so when another SparkContext is active in this process the module
runs itself in a child pytest process (`test_this_module_in_its_own_process`) and skips its tests here. Run
alone (`pytest tests/integration/test_delta.py`), or before any other Spark test, it runs in this process.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import date
from pathlib import Path

import pyarrow.dataset as pads
import pytest

from evergreen.storage import delta
from tests.paths import REPO

pytestmark = pytest.mark.spark

DAY, DAY2, DAY3 = "2026-01-01", "2026-01-02", "2026-01-03"
SCHEMA = "id long, v string, d string"
CHILD = "EVERGREEN_DELTA_TESTS_CHILD"  # set in the child process this module may run itself in
# Besides the Delta settings: small and quiet for 2 cores (as evergreen.pipeline.spark does for the suite).
BASE_CONF = {
    "spark.sql.shuffle.partitions": "2",
    "spark.driver.memory": "1g",
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
}
DELTA_ARTIFACTS = {
    "delta-spark_4.2_2.13",
    "delta-storage",
    "delta-kernel-api",
    "delta-kernel-defaults",
    "delta-kernel-unitycatalog",
    "unitycatalog-client",
    "unitycatalog-hadoop",
}

_ours: list = []  # the SparkContext this module started, if any


def _artifact(jar: str) -> str:
    """delta-storage-4.4.0.jar -> delta-storage (the same rule as scripts/spark-jars.sh)."""
    return re.sub(r"-[0-9].*\.jar$", "", Path(jar).name)


def _other_spark_context() -> bool:
    from pyspark import SparkContext

    active = SparkContext._active_spark_context
    return active is not None and not any(active is sc for sc in _ours)


@pytest.fixture(scope="module")
def delta_jars() -> list[str]:
    out = subprocess.run(
        ["bash", str(REPO / "scripts" / "spark-jars.sh"), "classpath", "delta"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip().split(",")


@pytest.fixture(scope="module")
def dspark(delta_jars):
    """A local[2] session with the Delta jars and settings, for this module only; stopped at its end."""
    if _other_spark_context():
        pytest.skip("another SparkContext is active in this process: ran in a child process instead")
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master("local[2]").appName("evergreen-delta-tests")
    for name, value in {**delta.session_conf(delta_jars), **BASE_CONF}.items():
        builder = builder.config(name, value)
    session = builder.getOrCreate()
    _ours.append(session.sparkContext)
    # Refused and conflicting writes log executor ERROR traces by design; the tests check the errors raised.
    session.sparkContext.setLogLevel("OFF")
    yield session
    session.stop()
    _ours.clear()


def frame(spark, rows):
    return spark.createDataFrame(rows, SCHEMA)


def spark_rows(spark, path, version=None) -> list[tuple]:
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return sorted(tuple(r) for r in reader.load(path).select("id", "v", "d").collect())


def arrow_rows(table) -> list[tuple]:
    cols = [table.column(c).to_pylist() for c in ("id", "v", "d")]
    return sorted(zip(*cols, strict=True))


def data_files(path) -> set[str]:
    return {str(p.relative_to(path)) for p in Path(path).rglob("*.parquet") if "_delta_log" not in p.parts}


# ---- in a child process when the suite's shared session is active ------------------------------------------
def test_this_module_in_its_own_process():
    if os.environ.get(CHILD):
        pytest.skip("this is the child process")
    if not _other_spark_context():
        pytest.skip("no other SparkContext in this process: this module's tests run here")
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__],
        cwd=REPO,
        env={**os.environ, CHILD: "1"},
        capture_output=True,
        text=True,
        timeout=840,
    )
    tail = (out.stdout + out.stderr)[-6000:]
    assert out.returncode == 0, tail
    expected = sum(1 for name in globals() if name.startswith("test_")) - 1  # all but this one
    assert re.search(rf"\b{expected} passed\b", out.stdout), tail


# ---- the jars ------------------------------------------------------------------------------------------------
def test_the_delta_jars_add_nothing_pyspark_already_has(delta_jars):
    import pyspark

    assert all(Path(j).is_file() for j in delta_jars), delta_jars
    names = {_artifact(j) for j in delta_jars}
    assert names == DELTA_ARTIFACTS
    bundled = {_artifact(str(j)) for j in (Path(pyspark.__file__).parent / "jars").glob("*.jar")}
    assert {"hadoop-client-api", "parquet-hadoop", "jackson-databind", "scala-library"} <= bundled
    assert not names & bundled
    assert not [n for n in names if n.startswith(("hadoop-", "parquet-", "jackson-", "scala-", "log4j-", "slf4j-"))]


# ---- writes --------------------------------------------------------------------------------------------------
def test_a_day_written_twice_gives_the_same_rows_and_two_versions(dspark, tmp_path):
    path = str(tmp_path / "t")
    assert delta.current_version(path) is None  # no table yet: write_days creates it
    day1 = frame(dspark, [(1, "a", DAY), (2, "b", DAY)])

    first = delta.write_days(day1, path, "d", [DAY])
    assert first == {"version": 0, "rows": {DAY: 2}}
    rows = spark_rows(dspark, path)
    second = delta.write_days(day1, path, "d", [DAY])
    assert second == {"version": 1, "rows": {DAY: 2}}
    assert spark_rows(dspark, path) == rows == [(1, "a", DAY), (2, "b", DAY)]  # replaced, not appended
    assert [(v["version"], v["operation"]) for v in delta.versions(dspark, path)] == [(0, "WRITE"), (1, "WRITE")]
    assert delta.current_version(path) == 1
    assert arrow_rows(delta.read_arrow(path)) == rows

    # Another day leaves this one alone; a day in `days` without rows is emptied (and counted as 0).
    out = delta.write_days(frame(dspark, [(3, "c", DAY2)]), path, "d", [DAY2, DAY3])
    assert out == {"version": 2, "rows": {DAY2: 1, DAY3: 0}}
    assert spark_rows(dspark, path) == [*rows, (3, "c", DAY2)]
    assert delta.write_days(frame(dspark, []), path, "d", [DAY2])["rows"] == {DAY2: 0}
    assert spark_rows(dspark, path) == rows


def test_rows_outside_the_days_are_refused_and_the_table_keeps_its_version(dspark, tmp_path):
    path = str(tmp_path / "t")
    delta.write_days(frame(dspark, [(1, "a", DAY)]), path, "d", [DAY])
    stray = frame(dspark, [(2, "b", DAY), (3, "c", DAY3), (4, "d", DAY2), (5, "e", None)])

    with pytest.raises(ValueError, match="outside the days written") as refused:
        delta.write_days(stray, path, "d", [DAY])
    message = str(refused.value)
    assert "\n" not in message  # one line, not Delta's Java trace
    assert path in message
    assert f"['{DAY2}', '{DAY3}', 'NULL']" in message  # the stray values, sorted; a NULL day is one too
    assert delta.current_version(path) == 0
    assert len(delta.versions(dspark, path)) == 1
    assert spark_rows(dspark, path) == [(1, "a", DAY)]


def test_days_and_column_names_are_checked_before_anything_is_written(dspark, tmp_path):
    path = str(tmp_path / "t")
    df = frame(dspark, [(1, "a", DAY)])
    calls = []
    bad_days = [
        "2026-1-1",
        "2026-01-01' OR '1'='1",
        "2026-01-01 ",
        "2026-01-01\n",
        "2026-02-30",
        "\uff12\uff10\uff12\uff16-01-01",  # full-width digits: \d would take them
        20260101,
        date(2026, 1, 1).strftime("%Y%m%d"),
    ]
    for bad in bad_days:
        with pytest.raises(ValueError, match=r"YYYY-MM-DD|not a day"):
            delta.write_days(df, path, "d", [bad], before_commit=calls.append)
    with pytest.raises(ValueError, match="no days"):
        delta.write_days(df, path, "d", [], before_commit=calls.append)
    for key in ["d`) OR (1=1", "d; DROP TABLE x", "missing"]:
        with pytest.raises(ValueError, match="column"):
            delta.write_days(df, path, key, [DAY], before_commit=calls.append)
    with pytest.raises(ValueError, match="must be a string or a date"):
        delta.write_days(df, path, "id", [DAY], before_commit=calls.append)
    assert calls == []
    assert not Path(path).exists()

    # A date-typed key works too, with `date` objects or strings, and counts come back as ISO days.
    dated = df.selectExpr("id", "v", "CAST(d AS DATE) AS d")
    assert delta.write_days(dated, path, "d", [date(2026, 1, 1), DAY]) == {"version": 0, "rows": {DAY: 1}}


def test_a_failing_before_commit_hook_commits_nothing(dspark, tmp_path):
    path = str(tmp_path / "t")
    delta.write_days(frame(dspark, [(1, "a", DAY)]), path, "d", [DAY])
    seen = []

    def crash(where):
        seen.append(where)
        raise KeyboardInterrupt("killed before the commit")

    with pytest.raises(KeyboardInterrupt):
        delta.write_days(frame(dspark, [(9, "z", DAY)]), path, "d", [DAY], before_commit=crash)
    assert seen == [path]
    assert delta.current_version(path) == 0
    assert spark_rows(dspark, path) == [(1, "a", DAY)]


# ---- reads ---------------------------------------------------------------------------------------------------
def test_time_travel_returns_the_old_rows_after_a_rewrite(dspark, tmp_path):
    path = str(tmp_path / "t")
    old = [(1, "old", DAY), (2, "old", DAY), (3, "other", DAY2)]
    delta.write_days(frame(dspark, old), path, "d", [DAY, DAY2])
    delta.write_days(frame(dspark, [(7, "new", DAY)]), path, "d", [DAY])

    assert spark_rows(dspark, path) == [(3, "other", DAY2), (7, "new", DAY)]
    assert spark_rows(dspark, path, version=0) == sorted(old)
    assert arrow_rows(delta.read_arrow(path, version=0)) == sorted(old)
    assert arrow_rows(delta.read_arrow(path)) == [(3, "other", DAY2), (7, "new", DAY)]
    old_day = delta.read_arrow(path, version=0, filters=[("d", "=", DAY)])
    assert arrow_rows(old_day) == [(1, "old", DAY), (2, "old", DAY)]
    assert arrow_rows(delta.read_arrow(path, filters=[("d", "=", DAY)])) == [(7, "new", DAY)]


def test_deltalake_reads_exactly_the_committed_rows_where_plain_pyarrow_sees_more(dspark, tmp_path):
    path = str(tmp_path / "t")
    delta.write_days(frame(dspark, [(1, "a", DAY), (2, "b", DAY), (3, "c", DAY2)]), path, "d", [DAY, DAY2])
    delta.write_days(frame(dspark, [(9, "z", DAY)]), path, "d", [DAY])  # replaces DAY's two rows

    committed = spark_rows(dspark, path)
    assert committed == [(3, "c", DAY2), (9, "z", DAY)]
    assert arrow_rows(delta.read_arrow(path)) == committed
    # Why no reader may open a Delta folder as plain Parquet: the replaced files are still there.
    plain = pads.dataset(path, format="parquet", partitioning="hive").to_table()
    assert plain.num_rows == 4
    assert sorted(plain.column("id").to_pylist()) == [1, 2, 3, 9]


# ---- conflicts and crashes -----------------------------------------------------------------------------------
def test_two_writers_of_the_same_day_one_commits_the_other_raises(dspark, tmp_path):
    from pyspark.sql import functions as F

    path = str(tmp_path / "t")
    delta.write_days(frame(dspark, [(1, "base", DAY)]), path, "d", [DAY])
    started, release = tmp_path / "a-started", tmp_path / "a-release"

    # Writer A's only task waits (in its Python worker) until B has committed: A's transaction has read
    # version 0 by then, so the overlap is certain rather than a matter of timing.
    @F.udf("string")
    def held(value):
        started.touch()
        deadline = time.monotonic() + 180
        while not release.exists():
            if time.monotonic() > deadline:
                raise TimeoutError("writer B never released writer A")
            time.sleep(0.05)
        return value

    a_rows = frame(dspark, [(10, "a", DAY), (11, "a", DAY)]).coalesce(1).withColumn("v", held("v"))
    b_rows = frame(dspark, [(20, "b", DAY)])
    results: dict[str, object] = {}

    def write(name, df):
        try:
            results[name] = delta.write_days(df, path, "d", [DAY])
        except Exception as exc:
            results[name] = exc

    a = threading.Thread(target=write, args=("a", a_rows), daemon=True)
    a.start()
    try:
        deadline = time.monotonic() + 180
        while not started.exists():
            assert a.is_alive(), results
            assert time.monotonic() < deadline, "writer A's task never started"
            time.sleep(0.05)
        write("b", b_rows)
    finally:
        release.touch()
        a.join(300)
    assert not a.is_alive()

    assert results["b"] == {"version": 1, "rows": {DAY: 1}}  # committed first
    failed = results["a"]
    assert isinstance(failed, Exception), failed
    assert "DELTA_CONCURRENT" in (delta._condition(failed) or "") or "Concurrent" in str(failed), failed
    assert delta.current_version(path) == 1
    assert spark_rows(dspark, path) == [(20, "b", DAY)]
    assert arrow_rows(delta.read_arrow(path)) == [(20, "b", DAY)]


KILLED_WRITER = textwrap.dedent(
    """
    import json, sys, time
    from pyspark.sql import SparkSession, functions as F
    from evergreen.storage import delta

    path, day, jars, rows = sys.argv[1], sys.argv[2], sys.argv[3].split(","), int(sys.argv[4])
    conf = json.loads(sys.argv[5])
    builder = SparkSession.builder.master("local[2]").appName("evergreen-delta-killed-writer")
    for name, value in {**delta.session_conf(jars), **conf}.items():
        builder = builder.config(name, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")

    def slow(batches):  # the same rows as the re-run writes, at a pace that leaves time to kill the writer
        for batch in batches:
            yield batch
            time.sleep(2)

    big = spark.range(rows, numPartitions=2).selectExpr("id", "concat('row-', CAST(id AS STRING)) AS v")
    big = big.withColumn("d", F.lit(day)).mapInPandas(slow, "id long, v string, d string")
    delta.write_days(big, path, "d", [day])
    print("COMMITTED", flush=True)
    """
)


def test_a_writer_killed_mid_write_leaves_the_previous_version_and_a_rerun_commits(dspark, delta_jars, tmp_path):
    path = str(tmp_path / "t")
    before = [(1, "a", DAY), (2, "b", DAY2)]
    delta.write_days(frame(dspark, before), path, "d", [DAY, DAY2])
    committed_files = data_files(path)
    rows = 200_000  # 2 tasks x 10 Arrow batches of 10,000, 2 s apart: the write lasts ~20 s after its first file

    log = tmp_path / "writer.log"  # a file, not a pipe: a full pipe would stall the writer
    with log.open("w") as out:
        writer = subprocess.Popen(
            [sys.executable, "-c", KILLED_WRITER, path, DAY, ",".join(delta_jars), str(rows), json.dumps(BASE_CONF)],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the SIGKILL takes the Python driver and its JVM
        )
    try:
        deadline = time.monotonic() + 300
        while not (data_files(path) - committed_files):  # the write's data files are appearing
            if writer.poll() is not None:
                pytest.fail(f"the writer exited ({writer.returncode}) before writing:\n{log.read_text()[-4000:]}")
            assert time.monotonic() < deadline, "the writer wrote no data file within 300 s"
            time.sleep(0.05)
        os.killpg(writer.pid, signal.SIGKILL)
        writer.wait(60)
    finally:
        if writer.poll() is None:
            os.killpg(writer.pid, signal.SIGKILL)
            writer.wait(60)
    output = log.read_text()
    assert writer.returncode == -signal.SIGKILL, output[-4000:]
    assert "COMMITTED" not in output
    _wait_group_gone(writer.pid)

    # Its files are on disk, but no version names them: readers see the previous version, whole.
    leftovers = data_files(path) - committed_files
    assert leftovers
    assert delta.current_version(path) == 0
    assert arrow_rows(delta.read_arrow(path)) == sorted(before)
    assert spark_rows(dspark, path) == sorted(before)

    # The re-run (no kill this time) commits the same rows the killed run was writing.
    from pyspark.sql import functions as F

    big = dspark.range(rows, numPartitions=2).selectExpr("id", "concat('row-', CAST(id AS STRING)) AS v")
    out = delta.write_days(big.withColumn("d", F.lit(DAY)), path, "d", [DAY])
    assert out == {"version": 1, "rows": {DAY: rows}}
    table = delta.read_arrow(path, filters=[("d", "=", DAY)], columns=["id", "v"])
    assert table.num_rows == rows
    assert sorted(table.column("id").to_pylist()) == list(range(rows))
    assert arrow_rows(delta.read_arrow(path, filters=[("d", "=", DAY2)])) == [(2, "b", DAY2)]
    assert not leftovers & _files_of(path)  # the killed run's files are never adopted


def _files_of(path, version=None) -> set[str]:
    """The data files a version is made of, relative to the table (from the log, via deltalake)."""
    import deltalake

    actions = deltalake.DeltaTable(path, version=version).get_add_actions(flatten=True)
    return {str(p) for p in actions.column("path").to_pylist()}


def _wait_group_gone(pgid: int, timeout: float = 60) -> None:
    """Until no process of the killed writer's group is left (its JVM's Python workers are orphans briefly)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        if time.monotonic() > deadline:
            os.killpg(pgid, signal.SIGKILL)
            pytest.fail(f"processes of the killed writer's group {pgid} outlived the SIGKILL")
        time.sleep(0.1)


# ---- vacuum --------------------------------------------------------------------------------------------------
def test_vacuum_after_retention_removes_unreferenced_files_and_the_current_version_still_reads(dspark, tmp_path):
    path = str(tmp_path / "t")
    delta.write_days(frame(dspark, [(1, "a", DAY), (2, "b", DAY), (3, "c", DAY2)]), path, "d", [DAY, DAY2])
    delta.write_days(frame(dspark, [(9, "z", DAY)]), path, "d", [DAY])
    v0, v1 = _files_of(path, 0), _files_of(path)
    replaced = v0 - v1
    assert replaced  # DAY's version-0 files, still on disk for time travel
    assert data_files(path) == v0 | v1

    # Inside the retention (Delta's default, 7 days) nothing goes, and version 0 still reads.
    assert delta.vacuum(dspark, path, 168) == 0
    assert data_files(path) == v0 | v1
    # Delta refuses a retention under 7 days unless the session says so: a write in progress has files no
    # commit names yet, and a short retention would delete them.
    with pytest.raises(Exception, match="DELTA_VACUUM_RETENTION_PERIOD_TOO_SHORT"):
        delta.vacuum(dspark, path, 0)
    with pytest.raises(ValueError, match="retain_hours"):
        delta.vacuum(dspark, path, -1)

    dspark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
    try:
        assert delta.vacuum(dspark, path, 0) == len(replaced)
    finally:
        dspark.conf.unset("spark.databricks.delta.retentionDurationCheck.enabled")
    assert data_files(path) == v1
    current = [(3, "c", DAY2), (9, "z", DAY)]
    assert spark_rows(dspark, path) == current
    assert arrow_rows(delta.read_arrow(path)) == current
    # Each VACUUM that ran records itself in the history: the data's version is still 1.
    ops = [v["operation"] for v in delta.versions(dspark, path)]
    assert ops == ["WRITE", "WRITE"] + ["VACUUM START", "VACUUM END"] * 2
    assert spark_rows(dspark, path, version=1) == current
    with pytest.raises(FileNotFoundError, match="not found"):  # the log still has version 0; its files are gone
        delta.read_arrow(path, version=0)
