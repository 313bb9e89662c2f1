"""Airflow's own backfill of ingest_daily on a running stack (`evergreen up`): `airflow backfill create` over
two landed days runs one run per day, each ingesting the day of its logical date, and the same command
again adds nothing."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from evergreen.devtools.replay import xcom
from tests.e2e.local_stack import airflow_of, stack_at

DAYS = ["2026-01-01", "2026-01-02"]

pytestmark = pytest.mark.timeout(3600)


@pytest.fixture(scope="module")
def landed():
    with stack_at() as stack:
        stack.cli("up")
        env = {**stack.env, **{k: v for k, v in stack.state()["env"].items() if k.startswith("EVERGREEN_")}}
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "evergreen.cli",
                "generate",
                "--start",
                DAYS[0],
                "--days",
                "2",
                "--rows-per-day",
                "2000",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        yield stack, env


def test_airflow_backfill_of_ingest_daily_runs_each_day_and_is_idempotent(landed):
    stack, env = landed
    airflow = airflow_of(env)
    days = DAYS

    def backfill() -> subprocess.CompletedProcess:
        cmd = [
            str(Path(sys.executable).parent / "airflow"),
            "backfill",
            "create",
            "--dag-id",
            "ingest_daily",
            "--from-date",
            f"{days[0]}T00:00:00+00:00",
            "--to-date",
            f"{days[1]}T23:59:59+00:00",
            "--max-active-runs",
            "1",  # days in order: features look back on earlier days
        ]
        airflow_env = {**stack.env, **stack.state()["env"]}
        return subprocess.run(cmd, env=airflow_env, capture_output=True, text=True, timeout=300, check=False)

    first = backfill()
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]

    def backfill_runs():
        return [r for r in airflow.runs("ingest_daily") if r["run_type"] == "backfill"]

    airflow.wait_until(lambda: len(backfill_runs()) == 2, 300, "two backfill runs")
    from evergreen.devtools.replay import wait_run

    for r in backfill_runs():
        assert wait_run(airflow, "ingest_daily", r["run_id"], 1800)["state"] == "success"
    assert sorted(xcom(airflow, "ingest_daily", r["run_id"], "resolve_day")[0] for r in backfill_runs()) == days

    again = backfill()  # the same range again: those days have their runs, nothing new starts
    time.sleep(20)
    assert len(backfill_runs()) == 2, again.stdout[-2000:] + again.stderr[-2000:]
