"""ingest_daily end to end through Airflow's dag.test(): real spark-submit jobs, real gates."""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest

from evergreen import config
from evergreen.devtools.datagen import Scenario, generate
from evergreen.storage.inventory import partition_counts
from tests.paths import DAGS_DIR

GOOD, BROKEN = "2026-02-01", "2026-02-02"


@pytest.fixture(scope="module")
def ingest_dag(airflow_db, tmp_path_factory):
    home = tmp_path_factory.mktemp("dagrun")
    saved = os.environ.get("EVERGREEN_HOME")
    os.environ["EVERGREEN_HOME"] = str(home)  # the spark-submit children read it from the environment
    config.reload()
    generate(dt.date(2026, 2, 1), days=2, rows_per_day=2000, seed=5, scenarios=[Scenario("schema_break", BROKEN)])
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_DIR / "ingest_daily.py"))
    yield bag.dags["ingest_daily"]
    if saved is not None:
        os.environ["EVERGREEN_HOME"] = saved
    config.reload()


def _run(dag, day):
    logical = dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC) + dt.timedelta(days=1, minutes=30)
    run = dag.test(logical_date=logical, run_conf={"date": day})
    return run, {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def _gold_fingerprint(day):
    import pyarrow.dataset as ds

    path = f"{config.settings().layer('gold', 'features')}/event_date={day}"
    table = ds.dataset(path, format="parquet").to_table().sort_by("transaction_id")
    return table.num_rows, hash(tuple(table.column("transaction_id").to_pylist()))


def test_a_good_day_runs_every_task_and_lands_gold(ingest_dag):
    run, states = _run(ingest_dag, GOOD)
    assert str(run.state) == "success", states
    assert set(states.values()) == {"success"}
    assert partition_counts("gold", "features", "event_date", [GOOD])[GOOD] > 1900


def test_a_broken_day_stops_at_the_raw_gate_and_touches_no_gold(ingest_dag):
    before = _gold_fingerprint(GOOD)
    run, states = _run(ingest_dag, BROKEN)
    assert str(run.state) == "failed"
    assert states["ingest"] == "success"  # the job did its work: the batch is in quarantine
    assert states["gate_raw"] == "failed"
    assert states["clean"] == states["gate_clean"] == states["features"] == "upstream_failed"
    assert _gold_fingerprint(GOOD) == before
    assert BROKEN not in partition_counts("gold", "features", "event_date")
    assert partition_counts("quarantine", "transactions", "batch_id")[f"transactions-{BROKEN}"] > 1900
    # what `evergreen run-day` prints for this run: the failing gate's one-line reason, naming each file
    from evergreen.devtools.dag_runs import step_gates

    gates = step_gates(BROKEN)
    assert gates["ingest"]["status"] == "failed"
    assert "clean" not in gates
    for name in ("web_app.csv", "pos.jsonl"):
        assert f"{name}: column amount missing, amount_cents unexpected" in gates["ingest"]["reason"]


def _gold_table(day):
    import pyarrow.dataset as ds

    path = f"{config.settings().layer('gold', 'features')}/event_date={day}"
    return ds.dataset(path, format="parquet").to_table().sort_by("transaction_id")


def test_a_day_on_a_standalone_cluster_lands_the_same_gold_as_local(ingest_dag, spark_cluster, tmp_path, monkeypatch):
    """`spark_default` pointed at a standalone master (as EVERGREEN_SPARK_MASTER does through scripts/env.sh):
    every step runs as an application of that cluster, with its executors in their own JVMs and Pythons, and
    gold is the rows `local[*]` wrote for the same landed files."""
    if GOOD not in partition_counts("gold", "features", "event_date", [GOOD]):
        assert str(_run(ingest_dag, GOOD)[0].state) == "success"
    local = _gold_table(GOOD)

    monkeypatch.setenv("EVERGREEN_HOME", str(tmp_path / "cluster-home"))
    config.reload()
    generate(dt.date(2026, 2, 1), days=1, rows_per_day=2000, seed=5)  # the same landed files as the module's
    # Only the connection names the cluster: the jobs must take spark-submit's --master, not a setting.
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_DEFAULT", json.dumps({"conn_type": "spark", "host": spark_cluster.url}))
    monkeypatch.delenv("EVERGREEN_SPARK_MASTER", raising=False)
    before = {a["id"] for a in spark_cluster.applications()}
    try:
        run, states = _run(ingest_dag, GOOD)
        assert str(run.state) == "success", states
        on_cluster = [a for a in spark_cluster.applications() if a["id"] not in before]
        steps = ("clean", "features", "ingest")
        assert sorted(a["name"] for a in on_cluster) == [f"evergreen-{s}-{GOOD}" for s in steps]
        assert {a["state"] for a in on_cluster} == {"FINISHED"}
        clustered = _gold_table(GOOD)
    finally:
        monkeypatch.undo()
        config.reload()
    assert clustered.num_rows == local.num_rows > 1900
    assert clustered.select(sorted(local.column_names)).equals(local.select(sorted(local.column_names)))
