"""`evergreen run-day`: a failed run says why in one line."""

from __future__ import annotations


def test_run_day_names_the_error_a_failed_run_ended_on(tmp_path):
    """`evergreen run-day` on a run with no failed gate: the last error line of its log, not Airflow's wrapper."""
    from evergreen.devtools.dag_runs import last_error

    log = tmp_path / "ingest_daily-2026-01-03.log"
    log.write_text(
        "INFO starting\n"
        "Traceback (most recent call last):\n"
        '  File "jobs.py", line 1, in <module>\n'
        "evergreen.pipeline.steps.LandingMissingError: no landing files (.csv/.jsonl) for 2026-01-03 under /x\n"
        "airflow.exceptions.AirflowException: Cannot execute: spark-submit --master local. Error code is: 1.\n"
    )
    assert last_error(log) == (
        "evergreen.pipeline.steps.LandingMissingError: no landing files (.csv/.jsonl) for 2026-01-03 under /x"
    )
    assert last_error(tmp_path / "missing.log") is None
