"""Policy for every DAG in dags/ (new DAG files are discovered, never listed): parses, no cycles, owner, tags
from the allow-list, retries >= 2, doc_md, no catch-up storms, typed forms, imports only from the orchestration
layer, no heavy imports at parse time."""

from __future__ import annotations

import ast
import itertools
import subprocess
import sys
from pathlib import Path

import pytest

from evergreen.orchestration.dagkit import OWNER, Tag
from tests.dags.conftest import DAGS_DIR, dag_files

HEAVY = ("pyspark", "great_expectations", "xgboost", "mlflow", "whylogs", "sklearn", "kafka")


def test_every_dag_file_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert dag_files(), "dags/ holds no DAG files"
    defined = {dag.fileloc.rsplit("/", 1)[-1] for dag in dagbag.dags.values()}
    assert defined == set(dag_files()), "every file in dags/ defines a DAG"


# What a DAG file may import: the Task SDK, providers, and the orchestration layer (which holds the glue).
ALLOWED_IMPORTS = ("airflow.sdk", "airflow.providers.", "evergreen.orchestration", "__future__", "datetime")


@pytest.fixture(params=dag_files())
def dags(request, dagbag) -> list:
    """Every DAG one file defines (a file may generate several, e.g. one per model spec)."""
    found = [d for d in dagbag.dags.values() if Path(d.fileloc).name == request.param]
    assert found, f"{request.param} defines no DAG"
    return found


def test_no_cycles(dags):
    from airflow.utils.dag_cycle_tester import check_cycle

    for dag in dags:
        check_cycle(dag)  # raises on a cycle


def test_owner_and_doc(dags):
    for dag in dags:
        assert dag.owner == OWNER, dag.dag_id
        assert dag.doc_md, f"{dag.dag_id} has no doc_md"
        assert len(dag.doc_md) > 200, f"{dag.dag_id}: doc_md must say what the DAG does and what to do on failure"
        assert "fail" in dag.doc_md.lower(), dag.dag_id


def test_tags_come_from_the_allow_list(dags):
    allowed = {t.value for t in Tag}
    for dag in dags:
        assert dag.tags, f"{dag.dag_id} is not tagged"
        assert set(dag.tags) <= allowed, f"{dag.dag_id}: unknown tags {set(dag.tags) - allowed}"


def test_retries_and_no_catchup(dags):
    for dag in dags:
        assert dag.catchup is False, dag.dag_id
        for t in dag.tasks:
            assert t.retries >= 2, f"{dag.dag_id}.{t.task_id} has {t.retries} retries"


def test_every_task_and_run_is_bounded_in_time_and_failures_are_told(dags):
    from evergreen.orchestration.notify import TaskFailureNotifier

    for dag in dags:
        assert dag.dagrun_timeout is not None, f"{dag.dag_id} has no dagrun_timeout"
        for t in dag.tasks:
            assert t.execution_timeout is not None, f"{dag.dag_id}.{t.task_id} has no execution_timeout"
            assert t.execution_timeout <= dag.dagrun_timeout, f"{dag.dag_id}.{t.task_id} may outlive its run"
            callbacks = t.on_failure_callback if isinstance(t.on_failure_callback, list) else [t.on_failure_callback]
            assert any(isinstance(c, TaskFailureNotifier) for c in callbacks), (
                f"{dag.dag_id}.{t.task_id} fails silently"
            )


def test_manual_runs_have_a_typed_form(dags):
    for dag in dags:
        for name in dag.params:
            schema = dag.params.get_param(name).schema
            assert schema.get("type"), f"{dag.dag_id} param {name} has no type"
            assert schema.get("description") or schema.get("title"), f"{dag.dag_id} param {name} is not described"


@pytest.mark.parametrize("dag_file", dag_files())
def test_dag_files_import_only_the_sdk_providers_and_orchestration(dag_file):
    tree = ast.parse((DAGS_DIR / dag_file).read_text())
    imported = []
    for node in ast.walk(tree):  # top level and inside task functions alike
        if isinstance(node, ast.Import):
            imported += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            imported.append(node.module or "")
    wrong = [m for m in imported if not m.startswith(ALLOWED_IMPORTS)]
    assert not wrong, f"{dag_file} imports {wrong}: put that code in evergreen.orchestration and call it from there"


def test_forms_offer_the_specs_that_exist_and_date_pickers(dags):
    """The UI renders an `enum` as a choice and `format: date` as a date picker (no free-typed model names)."""
    from evergreen.contracts.model_spec import known_models

    for dag in dags:
        if "model" in dag.params:
            schema = dag.params.get_param("model").schema
            assert [m for m in schema["enum"] if m is not None] == known_models(), dag.dag_id
            value = dag.params.get_param("model").value
            # retrain / score_and_watch: empty means every model; rollback_model needs one.
            assert value is None if None in schema["enum"] else value in known_models(), dag.dag_id
        for name in ("date", "as_of"):
            if name in dag.params:
                assert dag.params.get_param(name).schema.get("format") == "date", f"{dag.dag_id}.{name}"


def _spec_copy(folder: Path, name: str) -> Path:
    """The shipped fraud spec under another name, in `folder`."""
    from evergreen.contracts.model_spec import SPECS_DIR

    folder.mkdir(parents=True, exist_ok=True)
    file = folder / f"{name}.yaml"
    file.write_text((SPECS_DIR / "fraud.yaml").read_text().replace("name: fraud\n", f"name: {name}\n", 1))
    return file


def _spec_errors() -> list[str]:
    """Every spec the deployment would load (built-in + EVERGREEN_SPECS_DIRS), checked: the bad ones' lines."""
    from evergreen.contracts.model_spec import check_specs

    return [error for error in check_specs().values() if error is not None]


@pytest.fixture
def specs_dirs(monkeypatch):
    """Set EVERGREEN_SPECS_DIRS for one test (settings are cached: reloaded on the way in and out)."""
    import os

    from evergreen import config

    def use(*folders: Path) -> None:
        monkeypatch.setenv("EVERGREEN_SPECS_DIRS", os.pathsep.join(str(f) for f in folders))
        config.reload()

    yield use
    monkeypatch.undo()
    config.reload()


def test_the_model_choice_follows_the_specs_folders(tmp_path, specs_dirs):
    """A spec file in an added folder shows up in the forms at the next parse, next to the built-in ones."""
    from evergreen.orchestration.dagkit import model_param

    _spec_copy(tmp_path, "churn")
    specs_dirs(tmp_path)
    param = model_param()
    assert [m for m in param.schema["enum"] if m is not None] == ["churn", "dispute", "fraud"]
    assert param.value in param.schema["enum"]


def test_every_spec_the_deployment_loads_is_valid():
    """What the scheduler would load from this environment (EVERGREEN_SPECS_DIRS included) is valid."""
    assert _spec_errors() == []


def test_a_broken_spec_in_an_added_folder_fails_the_check_with_its_file(tmp_path, specs_dirs):
    good = _spec_copy(tmp_path / "a", "churn")
    broken = _spec_copy(tmp_path / "b", "fraud_lite")
    broken.write_text(broken.read_text().replace("validation_days: 2", "validation_days: -2"))
    specs_dirs(good.parent, broken.parent)
    assert _spec_errors() == [f"{broken}: split.validation_days: must be >= 1, got -2"]


@pytest.mark.parametrize("dag_file", dag_files())
def test_dag_files_do_not_import_heavy_libraries_at_parse_time(dag_file):
    code = (
        "import runpy, sys\n"
        f"runpy.run_path({str(DAGS_DIR / dag_file)!r})\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    heavy = [line for line in out.stdout.splitlines() if line.startswith("HEAVY=")][-1].removeprefix("HEAVY=")
    assert heavy == "", f"{dag_file} imports {heavy} at parse time"


def test_ingest_daily_structure(dagbag):
    dag = dagbag.dags["ingest_daily"]
    order = ["resolve_day", "ingest", "gate_raw", "clean", "gate_clean", "features"]
    assert set(dag.task_ids) == set(order)
    for upstream, downstream in itertools.pairwise(order):
        assert downstream in dag.get_task(upstream).downstream_task_ids, f"{upstream} -> {downstream}"
    outlets = [a.uri for a in dag.get_task("features").outlets]
    assert outlets == ["evergreen://gold/features"]
    assert dag.max_active_runs == 1
    # The interval is the day that ended (a bare cron string would give a zero-length trigger interval).
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"


def test_ingest_disputes_structure_and_schedule(dagbag):
    dag = dagbag.dags["ingest_disputes"]
    order = ["resolve_days", "disputes", "gate_disputes", "disputes_gold"]
    assert set(dag.task_ids) == set(order)
    for upstream, downstream in itertools.pairwise(order):
        assert downstream in dag.get_task(upstream).downstream_task_ids, f"{upstream} -> {downstream}"
    assert [a.uri for a in dag.get_task("disputes_gold").outlets] == ["evergreen://gold/disputes"]
    # After ingest_daily, by asset: gold/features of a day must exist before its disputes are joined to it.
    assert [a.uri for a in dag.timetable.asset_condition.objects] == ["evergreen://gold/features"]
    assert dag.max_active_runs == 1
    assert set(dag.params) == {"date"}


def test_retrain_structure_and_schedule(dagbag):
    from airflow.sdk import AssetOrTimeSchedule

    dag = dagbag.dags["retrain"]
    assert set(dag.task_ids) == {"plan", "retrain_model.train", "retrain_model.challenge", "retrain_model.settle"}
    assert dag.get_task("retrain_model.train").downstream_task_ids == {"retrain_model.challenge"}
    assert dag.get_task("retrain_model.challenge").downstream_task_ids == {"retrain_model.settle"}
    # A failed training still settles: its drift events go back to the queue.
    assert dag.get_task("retrain_model.settle").trigger_rule == "all_done"
    # A cron tick, watched gold or a drift event starts it (AssetOrTimeSchedule over watched gold | drift).
    assert isinstance(dag.timetable, AssetOrTimeSchedule)
    assets = {a.uri: a for a in dag.timetable.asset_condition.objects}
    assert set(assets) == {"evergreen://gold/watched", "evergreen://events/drift"}
    assert type(dag.timetable.asset_condition).__name__ == "AssetAny"  # either, not both
    (watcher,) = assets["evergreen://events/drift"].watchers
    classpath, kwargs = watcher.trigger.serialize()
    assert classpath == "evergreen.events.trigger.DriftEventTrigger"  # importable by the triggerer
    assert kwargs["kafka_config_id"] == "kafka_drift"
    assert dag.max_active_runs == 1
    assert {"force_promote", "requested_by", "search_budget", "training_window_days"} <= set(dag.params)


def test_score_and_watch_structure_and_schedule(dagbag):
    dag = dagbag.dags["score_and_watch"]
    # One mapped group per model: a model's failure stays in its own group.
    group = "watch_model."
    steps = [f"{group}{t}" for t in ("resolve_days", "score", "watch", "publish")]
    assert set(dag.task_ids) == {"models", *steps}
    assert dag.get_task("models").downstream_task_ids == set(steps)  # each step takes its group's model
    assert dag.get_task(steps[0]).downstream_task_ids == {steps[1], steps[2]}  # the days
    assert dag.get_task(steps[1]).downstream_task_ids == {steps[2]}
    assert dag.get_task(steps[2]).downstream_task_ids == {steps[3]}
    assert type(dag.task_group_dict["watch_model"]).__name__ == "MappedTaskGroup"
    # After ingest_daily, by asset: new gold features start it.
    assets = sorted(a.uri for a in dag.timetable.asset_condition.objects)
    assert assets == ["evergreen://gold/disputes", "evergreen://gold/features"]
    assert type(dag.timetable.asset_condition).__name__ == "AssetAny"  # either table's new days
    # ...and tells the daily retraining when a day has been watched (after any drift event went out).
    assert [a.uri for a in dag.get_task(steps[3]).outlets] == ["evergreen://gold/watched"]
    assert dag.max_active_runs == 1
    assert {"model", "date"} <= set(dag.params)


def test_rollback_model_is_manual_only(dagbag):
    dag = dagbag.dags["rollback_model"]
    assert type(dag.timetable).__name__ == "NullTimetable"  # schedule=None: only a person starts it
    assert set(dag.task_ids) == {"rollback"}
    assert {"model", "to_version", "reason", "requested_by"} <= set(dag.params)
