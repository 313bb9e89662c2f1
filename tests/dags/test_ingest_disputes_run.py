"""ingest_disputes end to end through Airflow's dag.test(): real spark-submit jobs, the real gate, the asset
event it emits. The lake's gold/features is built by the daily steps first (the DAG joins disputes to it)."""

from __future__ import annotations

import datetime as dt
import logging
import os

import pytest

from evergreen import config
from evergreen.devtools.datagen import generate
from evergreen.pipeline import steps
from evergreen.storage.inventory import partition_counts
from evergreen.storage.step_reports import read_report
from tests.paths import DAGS_DIR

QUIET, BUSY, NO_GOLD = "2026-02-01", "2026-02-06", "2026-02-03"  # no dispute raised yet; some; no gold/features


@pytest.fixture(scope="module")
def disputes_dag(airflow_db, spark, tmp_path_factory):
    home = tmp_path_factory.mktemp("disputes_dagrun")
    saved = os.environ.get("EVERGREEN_HOME")
    os.environ["EVERGREEN_HOME"] = str(home)  # the spark-submit children read it from the environment
    config.reload()
    generate(dt.date.fromisoformat(QUIET), days=6, rows_per_day=300, seed=5)
    built = steps.backfill(spark, [QUIET, BUSY])
    assert all(r["stopped_at"] is None for r in built.values()), built
    from airflow.dag_processing.dagbag import DagBag

    yield DagBag(dag_folder=str(DAGS_DIR / "ingest_disputes.py")).dags["ingest_disputes"]
    if saved is not None:
        os.environ["EVERGREEN_HOME"] = saved
    config.reload()


def _run(dag, day: str, minute: int):
    logical = dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC) + dt.timedelta(days=1, hours=1, minutes=minute)
    run = dag.test(logical_date=logical, run_conf={"date": day})
    return run, {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def _events(run_id: str) -> list[tuple[str, dict]]:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        found = session.scalars(
            select(AssetEvent).where(AssetEvent.source_dag_id == "ingest_disputes", AssetEvent.source_run_id == run_id)
        ).all()
        return [(e.asset.uri, dict(e.extra or {})) for e in found]


def test_a_day_with_disputes_lands_them_and_rebuilds_gold_disputes(disputes_dag):
    run, states = _run(disputes_dag, BUSY, 1)
    assert str(run.state) == "success", states
    assert set(states) == {"resolve_days", "disputes", "gate_disputes", "disputes_gold"}
    assert set(states.values()) == {"success"}
    assert partition_counts("silver", "disputes", "raised_date")[BUSY] > 0
    # gold/disputes for the run day and the window before it: where gold/features exists
    assert partition_counts("gold", "disputes", "event_date") == partition_counts("gold", "features", "event_date")
    assert read_report(BUSY, "disputes_gold")["disputed"] > 0  # some of the first day's purchases, disputed by now
    assert _events(run.run_id) == [
        ("evergreen://gold/disputes", {"table": "disputes", "days": [BUSY], "run_id": run.run_id})
    ]


def test_a_day_without_dispute_files_is_a_success_with_nothing_new(disputes_dag, caplog):
    with caplog.at_level(logging.INFO):
        run, states = _run(disputes_dag, QUIET, 2)
    assert str(run.state) == "success", states
    assert set(states.values()) == {"success"}
    reason = read_report(QUIET, "disputes")["gate"]["reason"]
    assert reason.startswith(f"no disputes files for {QUIET} under ")
    assert reason.endswith("nothing new")
    assert "nothing new" in caplog.text
    assert _events(run.run_id) == [
        ("evergreen://gold/disputes", {"table": "disputes", "days": [QUIET], "run_id": run.run_id})
    ]


def test_a_day_without_gold_features_fails_at_once_with_the_reason(disputes_dag):
    run, states = _run(disputes_dag, NO_GOLD, 3)
    assert str(run.state) == "failed"
    assert states["resolve_days"] == "failed"
    assert states["disputes"] == states["gate_disputes"] == states["disputes_gold"] == "upstream_failed"
    assert _events(run.run_id) == []
