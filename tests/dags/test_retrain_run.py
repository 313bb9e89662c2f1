"""retrain and rollback_model end to end through Airflow's dag.test(), on a small synthetic gold lake and
a real MLflow store: a first champion, the cooldown, a forced promotion by a named person, a rollback, a
challenger the policy judges. A real SMTP server on loopback receives what people are told."""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest
import sqlalchemy as sa
import yaml

from evergreen import config
from evergreen.storage import migrate
from tests.paths import DAGS_DIR
from tests.smtp_server import smtp_server

AS_OF = "2026-03-10"


@pytest.fixture(scope="module")
def smtp():
    with smtp_server() as server:
        saved = os.environ.get("AIRFLOW_CONN_EVERGREEN_SMTP")
        os.environ["AIRFLOW_CONN_EVERGREEN_SMTP"] = server.connection()
        yield server
        if saved is None:
            os.environ.pop("AIRFLOW_CONN_EVERGREEN_SMTP", None)
        else:
            os.environ["AIRFLOW_CONN_EVERGREEN_SMTP"] = saved


@pytest.fixture(scope="module")
def lake(airflow_db, tmp_path_factory, smtp):
    from evergreen.devtools.synthetic_gold import synthetic_gold, write_gold

    home = tmp_path_factory.mktemp("retrain")
    saved = os.environ.get("EVERGREEN_HOME")
    os.environ["EVERGREEN_HOME"] = str(home)
    s = config.reload()
    migrate.upgrade()  # the new home's evergreen DB, as setup makes it
    # 32 days: 21 train + 2 validation + 2 holdout, all older than the 7 days labels need to mature.
    gold = synthetic_gold("2026-02-01", days=38, rows_per_day=600, seed=3, built_as_of=AS_OF)
    write_gold(gold, s.layer("gold", "features"))
    # The built-in dispute spec trains on gold/disputes: the same rows with the synthetic label as its outcome.
    write_gold(
        gold.rename_columns(
            [{"is_fraud": "is_disputed", "label_time": "dispute_label_time"}.get(c, c) for c in gold.column_names]
        ),
        s.layer("gold", "disputes"),
    )
    yield home
    if saved is not None:
        os.environ["EVERGREEN_HOME"] = saved
    config.reload()


def _dag(dag_id):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR / f"{dag_id}.py")).dags[dag_id]


def _run(dag_id, conf, minute):
    run = _dag(dag_id).test(logical_date=dt.datetime(2026, 3, 11, 4, minute, tzinfo=dt.UTC), run_conf=conf)
    return run, {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def _audit():
    eng = sa.create_engine(config.settings().evergreen_db_url)
    with eng.connect() as conn:
        rows = (
            conn.execute(
                sa.text(
                    "SELECT decision, actor, challenger_version, champion_version, triggered_by "
                    "FROM promotions ORDER BY decided_at"
                )
            )
            .mappings()
            .all()
        )
    return [dict(r) for r in rows]


def _champion():
    from evergreen.registry.promotion import champion_info

    return str(champion_info("fraud")["version"])


# The fraud model's life through the DAGs: each run names it (an empty form would cover every spec: below).
def test_first_training_becomes_champion_and_records_its_trigger(lake):
    run, states = _run("retrain", {"as_of": AS_OF, "model": "fraud"}, 1)
    assert str(run.state) == "success", states
    assert _champion() == "1"
    audit = _audit()
    assert [a["decision"] for a in audit] == ["promote"]
    assert audit[0]["actor"] == "policy"
    assert json.loads(audit[0]["triggered_by"])["dag_id"] == "retrain"


def test_score_and_watch_scores_with_the_champion_and_writes_a_drift_report(lake):
    from evergreen.monitoring import reports
    from evergreen.scoring.batch import read_predictions

    run, states = _run("score_and_watch", {"date": AS_OF, "model": "fraud"}, 1)
    assert str(run.state) == "success", states
    preds = read_predictions("fraud", [AS_OF])
    assert len(preds) == 600
    assert set(preds["model_version"]) == {_champion()}
    (report,) = reports("fraud")
    assert str(report["window_day"])[:10] == AS_OF
    assert not report["fires"]  # one window cannot fire a 2-of-3 rule
    assert states["watch_model.publish"] == "success"


def test_the_cooldown_holds_automatic_runs_and_a_person_still_trains(lake):
    from evergreen.orchestration.retraining import plan_models
    from evergreen.registry.store import connect

    # The 03:00 tick (or watched gold) on the same day's data: skipped, with the run that already trained it.
    planned = plan_models(
        {"as_of": AS_OF, "model": "fraud"}, dag_id="retrain", run_id="scheduled__cooldown", run_type="scheduled"
    )
    assert planned["plans"] == []
    assert "already trained within the cooldown" in planned["skipped"]["fraud"]["reason"]

    # A person who asks for max_depth 3 gets a training, and finds it in MLflow under the form's names.
    run, states = _run("retrain", {"as_of": AS_OF, "model": "fraud", "max_depth": 3, "n_estimators": 20}, 2)
    assert str(run.state) == "success", states
    assert states["retrain_model.train"] == "success"
    made = _audit()[-1]
    assert len(_audit()) == 2
    client = connect()
    params = client.get_run(client.get_model_version("fraud", made["challenger_version"]).run_id).data.params
    assert (params["max_depth"], params["n_estimators"]) == ("3", "20")


def test_a_forced_promotion_needs_a_name_and_is_audited_under_it(lake):
    champion = _champion()
    run, states = _run("retrain", {"as_of": AS_OF, "model": "fraud", "force_promote": True}, 3)
    assert states["plan"] == "failed"
    assert _champion() == champion

    before = _champion()
    conf = {"as_of": AS_OF, "model": "fraud", "force_promote": True, "requested_by": "ada", "max_depth": 2}
    run, states = _run("retrain", conf, 4)
    assert str(run.state) == "success", states
    last = _audit()[-1]
    assert _champion() == str(last["challenger_version"]) != before
    assert last["decision"] == "force_promote"
    assert last["actor"] == "ada"


def test_rollback_model_restores_the_previous_champion(lake):
    replaced = str(next(a for a in reversed(_audit()) if a["decision"] == "force_promote")["champion_version"])
    run, states = _run(
        "rollback_model", {"model": "fraud", "reason": "forced model misbehaves", "requested_by": "ada"}, 5
    )
    assert str(run.state) == "success", states
    assert _champion() == replaced  # the champion the forced promotion replaced
    assert _audit()[-1]["decision"] == "rollback"
    # the audit row names the Airflow run that rolled back (the Evergreen page links to it)
    trigger = json.loads(_audit()[-1]["triggered_by"])
    assert (trigger["kind"], trigger["dag_id"], trigger["run_id"]) == ("rollback", "rollback_model", run.run_id)
    assert trigger["triggering_user"] == run.triggering_user_name

    before = len(_audit())
    run, states = _run(
        "rollback_model", {"model": "fraud", "to_version": "99", "reason": "typo", "requested_by": "ada"}, 6
    )
    assert str(run.state) == "failed"
    assert _champion() == replaced
    assert len(_audit()) == before


def test_a_challenger_on_newer_data_is_judged_by_the_policy(lake):
    before = len(_audit())
    run, states = _run("retrain", {"as_of": "2026-03-09", "model": "fraud", "max_depth": 1, "n_estimators": 10}, 7)
    assert str(run.state) == "success", states
    assert set(states.values()) == {"success"}, states
    assert len(_audit()) == before + 1
    assert _audit()[-1]["decision"] in ("promote", "reject")


def test_every_promotion_decision_and_every_failure_was_told(lake, smtp):
    audit = _audit()
    told = [(m["Subject"], smtp.body(i)) for i, m in enumerate(smtp.messages)]
    decisions = [(subject, body) for subject, body in told if "promotion decision" in subject]
    # One message per decision, in order: promote, force_promote, rollback, and the policy's last verdict.
    assert [s.rsplit(" - ", 1)[-1] for s, _ in decisions] == [a["decision"] for a in audit]
    assert {a["decision"] for a in audit} >= {"promote", "force_promote", "rollback"}
    for (subject, body), row in zip(decisions, audit, strict=True):
        assert f"fraud v{row['challenger_version']}" in subject
        assert "reason" in body
        assert "mlflow run " in body  # the MLflow run (a link when the tracking URI is a server)
    forced = decisions[[a["decision"] for a in audit].index("force_promote")][1]
    assert "ada" in forced  # who forced it
    # The two failed tasks: a forced run with nobody named, a rollback to a version that does not exist.
    failures = [subject for subject, _ in told if "task failed" in subject]
    assert failures == [
        "[evergreen] task failed: fraud v- - retrain.plan failed",  # the form named the model
        "[evergreen] task failed: fraud v- - rollback_model.rollback failed",
    ], failures


# ---- every spec is live; one broken model stops no other -----------------------------------------------------
ADDED = "fraud_online"  # a team's spec in its own folder: web and app rows only (`source.where`)
YOUNG = "fraud_young"


def _mapped_states(run) -> dict[tuple[str, int], str]:
    return {(ti.task_id, ti.map_index): str(ti.state) for ti in run.get_task_instances()}


@pytest.fixture
def added_spec(lake, tmp_path, monkeypatch):
    """A third-party folder with one spec, added to the built-in ones through the setting, no code change."""
    from evergreen.contracts.model_spec import SPECS_DIR

    folder = tmp_path / "team-specs"
    folder.mkdir()
    spec = yaml.safe_load((SPECS_DIR / "fraud.yaml").read_text())
    spec["name"] = ADDED
    spec["source"]["where"] = {"channel": ["web", "app"]}
    spec["policy"]["min_pr_auc"] = 0.0  # 600 rows a day: the subject is the wiring, not the model's quality
    file = folder / f"{ADDED}.yaml"
    file.write_text(yaml.safe_dump(spec, sort_keys=False))
    # And one too young to train: its labels take 60 days to mature (skipped with the reason, not failed).
    young = {**spec, "name": YOUNG, "label": {**spec["label"], "mature_after_days": 60}}
    (folder / f"{YOUNG}.yaml").write_text(yaml.safe_dump(young, sort_keys=False))
    monkeypatch.setenv("EVERGREEN_SPECS_DIRS", str(folder))
    config.reload()
    yield file
    monkeypatch.delenv("EVERGREEN_SPECS_DIRS")
    config.reload()


def test_a_spec_added_in_its_own_folder_is_trained_scored_and_watched(added_spec):
    import pyarrow.dataset as ds

    from evergreen.monitoring import reports
    from evergreen.registry.promotion import champion_info
    from evergreen.scoring.batch import read_predictions

    # A run with the form left empty covers every model: the built-in dispute spec and the added one train
    # for the first time, fraud trains again (a person's run), fraud_young is too young.
    run, _ = _run("retrain", {"as_of": AS_OF}, 20)
    states = _mapped_states(run)
    assert str(run.state) == "success", states
    trains = sorted(s for (task, _), s in states.items() if task == "retrain_model.train")
    assert trains == ["skipped", "success", "success", "success"], states
    assert str(champion_info(ADDED)["version"]) == "1"
    assert str(champion_info("dispute")["version"]) == "1"
    with pytest.raises(LookupError):
        champion_info(YOUNG)

    run, _ = _run("score_and_watch", {"date": AS_OF}, 21)
    states = _mapped_states(run)
    assert str(run.state) == "success", states
    dispute, fraud, added, young = 0, 1, 2, 3  # map indexes: the specs in name order
    for model in (dispute, fraud, added):
        assert states[("watch_model.publish", model)] == "success", states
    assert states[("watch_model.score", young)] == "skipped"  # no champion yet: skipped, with the reason
    gold = ds.dataset(f"{config.settings().layer('gold', 'features')}/event_date={AS_OF}", format="parquet")
    channels = gold.to_table(columns=["channel"]).column("channel").to_pylist()
    online = sum(c in ("web", "app") for c in channels)
    assert 0 < online < len(channels) == 600
    assert len(read_predictions(ADDED, [AS_OF])) == online  # only the rows its spec selects
    assert len(read_predictions("fraud", [AS_OF])) == 600
    assert [str(r["window_day"])[:10] for r in reports(ADDED)] == [AS_OF]


def test_a_broken_spec_fails_only_its_own_tasks_and_the_run(added_spec, smtp):
    added_spec.write_text(added_spec.read_text().replace("validation_days: 2", "validation_days: -2"))
    dispute, fraud, added = 0, 1, 2  # map indexes: the specs in name order (score_and_watch), planned order (retrain)
    sent = len(smtp.messages)

    run, _ = _run("score_and_watch", {"date": AS_OF}, 22)
    states = _mapped_states(run)
    assert str(run.state) == "failed", states
    assert states[("watch_model.resolve_days", added)] == "failed"
    assert states[("watch_model.publish", fraud)] == "success"

    before = len(_audit())
    run, _ = _run("retrain", {"as_of": "2026-03-08"}, 23)
    states = _mapped_states(run)
    assert str(run.state) == "failed", states  # a model's training failed: the run does not end success
    assert states[("retrain_model.train", added)] == "failed"
    assert states[("retrain_model.challenge", fraud)] == "success"  # fraud trained and was judged
    assert states[("retrain_model.challenge", dispute)] == "success"  # and so was the dispute model
    assert len(_audit()) == before + 2

    told = [(m["Subject"], smtp.body(sent + i)) for i, m in enumerate(smtp.messages[sent:])]
    failed = [(s, b) for s, b in told if "task failed" in s and f"retrain.retrain_model.train[{added}]" in s]
    assert len(failed) == 1, [s for s, _ in told]
    subject, body = failed[0]
    assert ADDED in subject
    assert f"{ADDED}.yaml: split.validation_days" in body  # one line naming the file and the field


# ---- the sweep: drift events no run took ---------------------------------------------------------------------
def test_the_sweep_starts_one_retrain_run_for_events_nobody_took(lake):
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    from evergreen.contracts.drift_event import DriftDetected
    from evergreen.events import ledger

    now = dt.datetime.now(dt.UTC)
    # Drift on a day newer than any training here, recorded 20 minutes ago, its asset event lost.
    event = DriftDetected(
        model="fraud",
        model_version="1",
        window="2026-03-11",
        drifted_features={"amount": 0.3},
        rule="2 of the last 3 windows breach and the latest does",
        detected_at=now,
    )
    assert ledger.record(event, now=now - dt.timedelta(minutes=20)) == ledger.ARMED

    run, states = _run("drift_event_sweep", {}, 30)
    assert str(run.state) == "success", states
    assert states["start_retrain"] == "success"
    with create_session() as session:
        started = DagRun.find(dag_id="retrain", run_id=f"sweep__fraud__{event.event_id}", session=session)
        assert [r.conf for r in started] == [{"model": "fraud"}]

    # While that run is queued, a sweep leaves the events to it.
    run, states = _run("drift_event_sweep", {}, 31)
    assert states["find_stale"] == "skipped", states
    # Say it ended without claiming them (failed early): the next sweep finds them again, and its run id
    # (named after the oldest event) already exists, so it starts no second run for the same events.
    with create_session() as session:
        (started,) = DagRun.find(dag_id="retrain", run_id=f"sweep__fraud__{event.event_id}", session=session)
        started.set_state("failed")
    run, states = _run("drift_event_sweep", {}, 32)
    assert states["find_stale"] == "success", states
    assert states["start_retrain"] == "skipped", states

    ledger.claim("fraud", "sweep-test-cleanup", "2026-03-11")
    run, states = _run("drift_event_sweep", {}, 33)
    assert states["find_stale"] == "skipped"  # nothing stale: the run says so
