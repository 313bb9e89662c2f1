"""Running DAGs in-process for development: `dag.test()` of one DAG file, history in one Spark session.

Development scaffolding (the demo, `evergreen run-day`): a deployed Airflow runs the same DAGs by its scheduler.
Output of each run (task logs, spark-submit) goes to a log file, so the console shows only results.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import sys
import time
from pathlib import Path


@contextlib.contextmanager
def output_to(path: Path):
    """Send everything (Airflow task logs, spark-submit output) to a log file, at the fd level."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "ab") as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def dag(dag_id: str):
    from airflow.configuration import conf
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(Path(conf.get("core", "dags_folder")) / f"{dag_id}.py"))
    if bag.import_errors:
        raise SystemExit(f"{dag_id} does not parse: {bag.import_errors}")
    return bag.dags[dag_id]


def run_ingest_day(day: str, log_dir: Path) -> dict:
    """One ingest_daily run for `day` through Airflow's dag.test(); returns what happened, with the gates'
    verdicts and, when the run failed, the one-line reason (a gate's, else the error the log ends on)."""
    from evergreen.storage.step_reports import report_path

    shutil.rmtree(report_path(day, "x").parent, ignore_errors=True)  # so a stale report can't speak for today
    logical = dt.datetime.combine(dt.date.fromisoformat(day) + dt.timedelta(days=1), dt.time(0, 30), dt.UTC)
    started = time.time()
    log = log_dir / f"ingest_daily-{day}.log"
    with output_to(log):
        run = dag("ingest_daily").test(logical_date=logical, run_conf={"date": day})
    out = {"day": day, "state": str(run.state), "seconds": round(time.time() - started, 1), "run_id": run.run_id}
    gates = step_gates(day)
    if gates:
        out["gates"] = {step: g["status"] for step, g in gates.items()}
    if out["state"] != "success":
        failed = next((g["reason"] for g in gates.values() if g["status"] == "failed"), None)
        out["reason"] = failed or last_error(log) or f"see {log}"
        out["log"] = str(log)
    return out


def step_gates(day: str) -> dict[str, dict]:
    """The gate of each step report of `day` that exists: {"ingest": {...}, "clean": {...}}."""
    import json

    from evergreen.storage.step_reports import report_path

    out = {}
    for step in ("ingest", "clean"):
        path = report_path(day, step)
        if path.exists():
            gate = json.loads(path.read_text()).get("gate")
            if gate:
                out[step] = gate
    return out


# `SomethingError: message` (a traceback's last line) or `evergreen ingest 2026-01-03: message` (a job's own).
_ERROR_LINE = re.compile(r"^\s*((?:[\w.]+\.)?\w*(?:Error|Exception)\b:\s*.+|evergreen \w+ \d{4}-\d\d-\d\d: .+)$")
# Airflow's wrapper around a failed spark-submit says only that it failed; the job's own line says why.
_WRAPPER = ("AirflowException", "Cannot execute:")


def last_error(log: Path, tail_bytes: int = 400_000) -> str | None:
    """The last `SomethingError: message` line of a run's log, one line: what a traceback ended on."""
    if not log.exists():
        return None
    with open(log, "rb") as fh:
        fh.seek(max(0, log.stat().st_size - tail_bytes))
        text = fh.read().decode("utf-8", errors="backslashreplace")
    found = [line.strip() for line in text.splitlines() if _ERROR_LINE.match(line)]
    specific = [line for line in found if not any(w in line for w in _WRAPPER)]
    pick = (specific or found or [None])[-1]
    return " ".join(pick.split())[:500] if pick else None


def backfill_days(days: list[str], log_dir: Path) -> dict[str, dict]:
    """History in one Spark session (the same steps and gates as ingest_daily, minus ~8 s of JVM start per
    step per day): how a team lands weeks of history before the daily DAG takes over."""
    from evergreen.pipeline.spark import spark_session
    from evergreen.pipeline.steps import backfill

    started = time.time()
    with output_to(log_dir / "backfill.log"):
        spark = spark_session("evergreen-backfill")
        try:
            out = backfill(spark, days)
        finally:
            spark.stop()
    for r in out.values():
        r["seconds"] = round((time.time() - started) / len(out), 1)  # per day, on average
        r["state"] = "success" if r["stopped_at"] is None else "failed"
    return out


def run_retrain(conf: dict, log_dir: Path) -> dict:
    """One retrain run through Airflow's dag.test(); returns its state and what the challenge decided."""
    started = time.time()
    logical = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with output_to(log_dir / f"retrain-{conf.get('as_of', 'latest')}.log"):
        run = dag("retrain").test(logical_date=logical, run_conf=conf)
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    return {"run_id": run.run_id, "state": str(run.state), "tasks": states, "seconds": round(time.time() - started, 1)}
