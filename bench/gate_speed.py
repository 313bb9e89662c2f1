"""How fast are the GX gates at 1M rows: GX's Spark engine vs one Arrow `toPandas()` + GX on pandas?

    .venv/bin/python bench/gate_speed.py [--rows 1000000] [--repeats 2]

Each engine runs in its own child process (own SparkSession), so peak memory is per engine: the Python
process's `ru_maxrss` (getrusage) and the JVM driver's VmHWM. The staged DataFrame is persisted and
counted before timing, as the jobs do (evergreen.pipeline.steps persists the staged batch before its gate).
A 1k-row warm-up first absorbs context creation, suite writes and GX's lazy imports; each gate is then
timed on the full batch. Single runs on a shared 2-core machine: compare ratios, not absolutes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENGINES = ("spark", "pandas")
DAY = "2026-01-03"


def staged_bronze(spark, rows: int):
    """A bronze-shaped batch: 10 typed contract columns, lineage, _corrupt_record, event_date."""
    from pyspark.sql import functions as F

    from evergreen.contracts import data_contract

    def cycle(values, i):
        return F.element_at(F.array(*[F.lit(v) for v in values]), (i % len(values) + 1).cast("int"))

    i = F.col("id")
    return spark.range(rows).select(
        F.format_string("tx-%08d", i).alias("transaction_id"),
        (F.lit(f"{DAY} 00:00:00").cast("timestamp") + F.make_interval(secs=i % 86_400)).alias("event_time"),
        F.format_string("c-%06d", i % 50_000).alias("customer_id"),
        F.format_string("m-%05d", i % 2_000).alias("merchant_id"),
        (F.lit(0.5) + (i * 7919 % 200_000) / 100.0).cast("double").alias("amount"),
        cycle(data_contract.CURRENCIES, i).alias("currency"),
        cycle(data_contract.CATEGORIES, i).alias("category"),
        cycle(data_contract.CHANNELS, i).alias("channel"),
        cycle(data_contract.DEVICES, i).alias("device"),
        cycle(data_contract.COUNTRIES, i).alias("country"),
        F.lit(f"landing/transactions/{DAY}/part-0.csv").alias(data_contract.SOURCE_FILE),
        F.lit(f"transactions-{DAY}").alias(data_contract.BATCH_ID),
        F.current_timestamp().alias(data_contract.INGESTED_AT),
        F.lit(None).cast("string").alias("_corrupt_record"),
        F.lit(DAY).cast("date").alias("event_date"),
    )


def silver_of(bronze):
    from evergreen.contracts import data_contract

    return bronze.select(
        *data_contract.names(data_contract.TRANSACTION_COLUMNS),
        data_contract.SOURCE_FILE,
        data_contract.BATCH_ID,
        "event_date",
    )


def run_engine(engine: str, rows: int, repeats: int) -> dict:
    """Child process: time both gates on one engine."""
    from evergreen.pipeline.quality import clean_quality_gate, raw_contract_gate
    from evergreen.pipeline.spark import spark_session

    spark = spark_session(f"gate-speed-{engine}")
    small = staged_bronze(spark, 1_000)
    raw_contract_gate(small, "warmup", engine=engine)
    clean_quality_gate(silver_of(small), "warmup", previous_row_count=None, quarantined={}, engine=engine)

    bronze = staged_bronze(spark, rows).persist()
    silver = silver_of(bronze).persist()
    bronze.count(), silver.count()

    jvm = _jvm_pid(spark)
    out: dict = {"engine": engine, "rows": rows}
    for gate in ("raw", "clean"):
        out.update({gate: [], f"{gate}_cpu": [], f"{gate}_detail": []})
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), _cpu_seconds(jvm)
        raw = raw_contract_gate(bronze, f"transactions-{DAY}", engine=engine)
        out["raw"].append(time.perf_counter() - wall)
        out["raw_cpu"].append(_cpu_seconds(jvm) - cpu)
        out["raw_detail"].append(raw.statistics["seconds"])
        wall, cpu = time.perf_counter(), _cpu_seconds(jvm)
        clean = clean_quality_gate(
            silver,
            f"transactions-{DAY}",
            previous_row_count=rows,
            quarantined={"duplicate_transaction_id": 10},
            engine=engine,
        )
        out["clean"].append(time.perf_counter() - wall)
        out["clean_cpu"].append(_cpu_seconds(jvm) - cpu)
        out["clean_detail"].append(clean.statistics["seconds"])
        # Both engines must agree with the data, or the faster one is not a candidate.
        out["statuses"] = [raw.status, clean.status, raw.row_count, clean.row_count]
    out["python_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["jvm_peak_mb"] = _jvm_peak_mb(jvm)
    spark.stop()
    return out


def _jvm_pid(spark) -> int:
    return int(spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())


def _cpu_seconds(jvm_pid: int) -> float:
    """CPU time of this process and the JVM driver: on a shared machine wall time mostly measures the
    neighbours, CPU time measures the gate."""
    fields = Path(f"/proc/{jvm_pid}/stat").read_text().rsplit(")", 1)[1].split()
    jvm_ticks = int(fields[11]) + int(fields[12])  # utime, stime
    return time.process_time() + jvm_ticks / os.sysconf("SC_CLK_TCK")


def _jvm_peak_mb(jvm_pid: int) -> float | None:
    for line in Path(f"/proc/{jvm_pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--engine", choices=ENGINES, help="internal: run one engine and print JSON")
    args = parser.parse_args()

    if args.engine:
        print("RESULT " + json.dumps(run_engine(args.engine, args.rows, args.repeats)))
        return

    results = {}
    for engine in ENGINES:
        # A throwaway EVERGREEN_HOME: the bench must not write into a developer's demo state.
        env = {**os.environ, "EVERGREEN_HOME": tempfile.mkdtemp(prefix=f"gate-speed-{engine}-")}
        cmd = [sys.executable, __file__, "--engine", engine, "--rows", str(args.rows), "--repeats", str(args.repeats)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if proc.returncode or line is None:
            sys.exit(f"{engine} run failed:\n{proc.stderr[-3000:]}")
        results[engine] = json.loads(line.removeprefix("RESULT "))

    print(f"rows: {args.rows:,}  repeats: {args.repeats} (best of; cpu = python + JVM driver)")
    for engine, r in results.items():
        print(
            f"{engine:>6}: raw {min(r['raw']):6.2f} s (cpu {min(r['raw_cpu']):5.2f} s)  "
            f"clean {min(r['clean']):6.2f} s (cpu {min(r['clean_cpu']):5.2f} s)  "
            f"python peak {r['python_peak_mb']:6.0f} MB  jvm peak {r['jvm_peak_mb'] or float('nan'):6.0f} MB  "
            f"statuses {r['statuses']}"
        )
        print(f"        raw steps {r['raw_detail']}\n        clean steps {r['clean_detail']}")
    s, p = results["spark"], results["pandas"]
    for what in ("raw", "clean"):
        print(
            f"pandas/spark {what}: wall {min(p[what]) / min(s[what]):.1f}x  "
            f"cpu {min(p[what + '_cpu']) / min(s[what + '_cpu']):.1f}x"
        )


if __name__ == "__main__":
    main()
