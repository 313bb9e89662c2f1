"""The scheduled path of ingest_daily, with no conf date: the DAG's own timetable decides the run, and the
DAG's own `resolve_day` task turns that run into the day that ended (not the day that has just begun)."""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest

UTC = dt.UTC


def _next_run(dag, previous_start: dt.datetime):
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import DataInterval, TimeRestriction

    timetable = coerce_to_core_timetable(dag.timetable)  # what the scheduler runs
    prev = DataInterval(pendulum.instance(previous_start), pendulum.instance(previous_start + dt.timedelta(days=1)))
    return timetable.next_dagrun_info(
        last_automated_data_interval=prev,
        restriction=TimeRestriction(earliest=pendulum.instance(dag.start_date), latest=None, catchup=True),
    )


def _resolve(dag, info):
    task = dag.get_task("resolve_day")
    return task.python_callable(
        params={"date": None, "landing": None},
        data_interval_start=info.data_interval.start,
        data_interval_end=info.data_interval.end,
        logical_date=info.logical_date,
    )


def test_the_run_scheduled_at_0030_on_day_d_ingests_day_d_minus_1(dagbag, lake_settings):
    dag = dagbag.dags["ingest_daily"]
    info = _next_run(dag, dt.datetime(2026, 1, 4, 0, 30, tzinfo=UTC))
    assert info.run_after == dt.datetime(2026, 1, 6, 0, 30, tzinfo=UTC)  # the run at 2026-01-06 00:30 UTC
    assert info.data_interval.end - info.data_interval.start == dt.timedelta(days=1)

    drop = lake_settings.landing_root + "/transactions/2026-01-05"
    from pathlib import Path

    Path(drop).mkdir(parents=True)
    (Path(drop) / "web_app.csv").write_text("transaction_id\n1\n")
    assert _resolve(dag, info) == "2026-01-05"


def test_a_scheduled_run_with_nothing_landed_fails_at_once_without_retries(dagbag, lake_settings):
    from airflow.sdk.exceptions import AirflowFailException

    dag = dagbag.dags["ingest_daily"]
    info = _next_run(dag, dt.datetime(2026, 2, 1, 0, 30, tzinfo=UTC))
    with pytest.raises(AirflowFailException, match="nothing landed for 2026-02-02"):
        _resolve(dag, info)
