"""train -> log -> register -> challenge -> promote -> rollback, on real XGBoost models and a real MLflow store:
first a SQLite store with local artifacts, then a real `mlflow server` with a PostgreSQL backend (the audit
table then lives in PostgreSQL too).

The models come from the real training code on synthetic gold (evergreen.devtools.synthetic_gold): a weak one
(below the first-champion minimum), a middling one and a strong one. The spec is fraud.yaml with the
scoring-time guard relaxed: milliseconds on a shared 2-core box are too noisy to gate a test on (the guard's
logic is covered by tests/unit/test_policy.py); every other threshold is the file's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evergreen import config
from evergreen.contracts.model_spec import Guard, load_spec
from evergreen.storage import migrate
from tests.paths import REPO

AS_OF = "2026-01-24"
CALLER = {
    "airflow_dag_id": "retrain",
    "airflow_run_id": "manual__2026-01-24T03:00:00",
    "gx_result_ids": ["gx-a", "gx-b"],
}
RECIPES = {  # params_override of each model
    "weak": {"max_depth": 1, "n_estimators": 3, "learning_rate": 0.05},
    "mid": {"max_depth": 2, "n_estimators": 20},
    "strong": {"n_estimators": 150},
}


@pytest.fixture(scope="module")
def spec():
    base = load_spec("fraud")
    guards = dict(base.metric.guards)
    guards["score_ms_per_10k"] = Guard(tolerance_ratio=50.0, lower_is_better=True)
    return base.model_copy(update={"metric": base.metric.model_copy(update={"guards": guards})})


@pytest.fixture(scope="module")
def trained(spec, tmp_path_factory):
    """(data, {recipe: TrainingResult}) from 16 days x 3000 rows of synthetic gold."""
    from evergreen.devtools.synthetic_gold import synthetic_gold, write_gold
    from evergreen.training import load_training_data
    from evergreen.training.train import train

    lake = tmp_path_factory.mktemp("lake")
    write_gold(synthetic_gold("2026-01-01", 16, 3000, built_as_of=AS_OF), lake / "gold" / "features")
    data = load_training_data(spec, as_of=AS_OF, lake_root=str(lake))
    plots = tmp_path_factory.mktemp("plots")
    results = {name: train(spec, data, params_override=p, plots_dir=plots / name) for name, p in RECIPES.items()}
    return data, results


def _use(monkeypatch, **settings: str) -> None:
    for key, value in settings.items():
        monkeypatch.setenv(f"EVERGREEN_{key.upper()}", value)
    config.reload()


@pytest.fixture
def sqlite_store(tmp_path, monkeypatch):
    _use(
        monkeypatch,
        mlflow_tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        mlflow_artifact_root=str(tmp_path / "mlartifacts"),
        evergreen_db_url=f"sqlite:///{tmp_path / 'evergreen.db'}",
    )
    migrate.upgrade()  # what setup does for a new home
    yield tmp_path
    monkeypatch.undo()
    config.reload()


@pytest.fixture
def predictions_seen(monkeypatch):
    """run_id -> the scores `challenge_and_promote` evaluated that model's registry copy with."""
    from evergreen.registry import promotion

    seen: dict[str, np.ndarray] = {}
    real = promotion.predict_fn

    def spy(model):
        predict = real(model)

        def recorded(frame):
            scores = predict(frame)
            seen[model.metadata.run_id] = scores.copy()
            return scores

        return recorded

    monkeypatch.setattr(promotion, "predict_fn", spy)
    return seen


def _aliases(name: str) -> dict[str, str]:
    from evergreen.registry import store

    return store.aliases(store.connect(), name)


def _features(spec, frame):
    return frame[spec.features.names]


def _assert_lineage(spec, data, version: str, caller: dict | None) -> None:
    from evergreen.registry import store
    from evergreen.registry.mlflow_log import LINEAGE_TAGS

    client = store.connect()
    mv = client.get_model_version(spec.name, version)
    missing = [t for t in LINEAGE_TAGS if not mv.tags.get(t)]
    assert not missing, f"version {version} lacks lineage tags {missing}"
    tags = mv.tags
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    assert tags["evergreen.git_commit"] == (head or "unknown")
    assert tags["evergreen.spec_hash"] == spec.spec_hash
    assert tags["evergreen.data.digest"] == data.lineage["digest"]
    assert json.loads(tags["evergreen.data.partitions"]) == data.lineage["partitions"]
    assert json.loads(tags["evergreen.data.rows"]) == data.lineage["rows"]
    assert json.loads(tags["evergreen.data.positives"]) == data.lineage["positives"]
    assert tags["evergreen.data.as_of"] == AS_OF
    if caller is None:
        assert tags["evergreen.airflow.dag_id"] == "none"
        assert tags["evergreen.airflow.run_id"] == "none"
        assert tags["evergreen.gx.result_ids"] == "none"
    else:
        assert tags["evergreen.airflow.dag_id"] == caller["airflow_dag_id"]
        assert tags["evergreen.airflow.run_id"] == caller["airflow_run_id"]
        assert json.loads(tags["evergreen.gx.result_ids"]) == caller["gx_result_ids"]
    # the same lineage on the training run
    run = client.get_run(mv.run_id)
    assert {t: run.data.tags.get(t) for t in LINEAGE_TAGS} == {t: tags[t] for t in LINEAGE_TAGS}


def _assert_run(spec, data, ref, result) -> None:
    """What the training run holds: params, metrics, plots, datasets, the model with signature and example."""
    from mlflow.models import get_model_info

    from evergreen.registry import mlflow_log, store

    client = store.connect()
    run = client.get_run(ref.run_id)
    assert {"max_depth", "best_iteration", "seed"} <= set(run.data.params)
    assert {"validation_pr_auc", "holdout_pr_auc", "holdout_brier", "threshold"} <= set(run.data.metrics)
    plots = {Path(f.path).name for f in client.list_artifacts(ref.run_id, "plots")}
    assert plots == {Path(p).name for p in result.plots.values()}
    assert {
        "pr_curve.png",
        "roc_curve.png",
        "feature_importance.png",
        "calibration.png",
        "confusion_matrix.png",
    } <= plots
    inputs = {next(t.value for t in d.tags if t.key == "mlflow.data.context"): d for d in run.inputs.dataset_inputs}
    assert set(inputs) == {"training", "validation", "holdout"}
    for context, split in (("training", "train"), ("validation", "validation"), ("holdout", "holdout")):
        dataset = inputs[context].dataset
        assert dataset.name == f"{spec.name}-{split}"
        assert set(spec.features.names) <= {c["name"] for c in json.loads(dataset.schema)["mlflow_colspec"]}
        tags = {t.key: t.value for t in inputs[context].tags}
        assert tags["rows"] == str(data.lineage["rows"][split])
        if data.lineage["rows"][split] > mlflow_log.FROM_PANDAS_MAX_ROWS:  # described, never read into pandas
            assert dataset.profile is None
        else:
            assert json.loads(dataset.profile)["num_rows"] == data.lineage["rows"][split]
    info = get_model_info(ref.uri)
    assert info.signature is not None
    assert info.signature.inputs.input_names() == spec.features.names
    assert info.saved_input_example_info is not None


def test_champion_lifecycle_on_a_sqlite_store(spec, trained, sqlite_store, predictions_seen, capsys, monkeypatch):
    from evergreen import cli
    from evergreen.registry import audit, mlflow_log
    from evergreen.registry.mlflow_log import load_champion, log_training
    from evergreen.registry.promotion import challenge_and_promote
    from evergreen.registry.rollback import RollbackError, rollback

    data, results = trained
    holdout = data.holdout
    name = spec.name
    # the train split (36k rows) takes the big-split path (metadata only), validation and holdout from_pandas
    monkeypatch.setattr(mlflow_log, "FROM_PANDAS_MAX_ROWS", 10_000)

    # 1. the first model is below the minimum: rejected, no champion
    weak = log_training(results["weak"], data, spec, lineage_tags=None)
    d = challenge_and_promote(spec, weak, holdout)
    assert (d.promote, d.decision, d.actor) == (False, "reject", "policy")
    assert d.reason.startswith("first model: pr_auc")
    assert "< minimum 0.1000" in d.reason
    assert _aliases(name) == {"challenger": weak.version}

    # 2. a model above the minimum becomes the first champion
    mid = log_training(results["mid"], data, spec, lineage_tags=CALLER)
    d = challenge_and_promote(spec, mid, holdout, triggered_by={"dag_id": "retrain"})
    assert d.decision == "promote", d.reason
    assert d.promote
    assert d.champion_version is None
    assert d.champion_metrics is None
    assert _aliases(name) == {"challenger": mid.version, "champion": mid.version}

    # 3. a worse challenger is rejected and the champion does not move
    d = challenge_and_promote(spec, weak, holdout)
    assert not d.promote
    assert "not enough gain" in d.reason, d.reason
    assert d.challenger_metrics["pr_auc"] < d.champion_metrics["pr_auc"]
    assert _aliases(name) == {"challenger": weak.version, "champion": mid.version}

    # 4. a better one is promoted; the replaced champion keeps previous_champion
    strong = log_training(results["strong"], data, spec, lineage_tags=CALLER)
    d = challenge_and_promote(spec, strong, holdout)
    assert d.decision == "promote", d.reason
    assert d.promote
    assert d.champion_version == mid.version
    assert d.challenger_metrics["pr_auc"] >= d.champion_metrics["pr_auc"] + spec.policy.min_gain
    assert _aliases(name) == {
        "challenger": strong.version,
        "champion": strong.version,
        "previous_champion": mid.version,
    }
    promoted = d

    # 5. models:/fraud@champion gives exactly the scores the evaluation saw, which are the trained scorer's
    champion = load_champion(name)
    assert champion.metadata.run_id == strong.run_id
    served = np.asarray(champion.predict(_features(spec, holdout)), dtype=np.float64)
    assert np.array_equal(served, predictions_seen[strong.run_id])
    assert np.array_equal(served, results["strong"].scorer.predict_proba(holdout))
    assert np.array_equal(predictions_seen[mid.run_id], results["mid"].scorer.predict_proba(holdout))
    # a gold day where a join missed (null day difference -> float64 column) still scores
    gappy = _features(spec, holdout).head(50).astype({"customer_age_days": "float64"})
    gappy.loc[gappy.index[:5], "customer_age_days"] = np.nan
    assert np.array_equal(champion.predict(gappy), results["strong"].scorer.predict_proba(gappy))

    # 6. every lineage tag on every version (and on its run); what the runs hold
    _assert_lineage(spec, data, weak.version, None)
    _assert_lineage(spec, data, mid.version, CALLER)
    _assert_lineage(spec, data, strong.version, CALLER)
    _assert_run(spec, data, strong, results["strong"])

    # 7. the audit trail: one row per decision, both models' metrics on the same holdout
    rows = list(reversed(audit.history(name)))
    assert [(r["challenger_version"], r["champion_version"], r["decision"]) for r in rows] == [
        (weak.version, None, "reject"),
        (mid.version, None, "promote"),
        (weak.version, mid.version, "reject"),
        (strong.version, mid.version, "promote"),
    ]
    last = rows[-1]
    assert last["challenger_metrics"]["pr_auc"] == pytest.approx(promoted.challenger_metrics["pr_auc"])
    assert last["champion_metrics"]["pr_auc"] == pytest.approx(promoted.champion_metrics["pr_auc"])
    assert last["champion_metrics"]["rows"] == last["challenger_metrics"]["rows"] == len(holdout)
    assert (last["actor"], last["run_id"], last["reason"]) == ("policy", strong.run_id, promoted.reason)
    assert rows[1]["triggered_by"] == {"dag_id": "retrain"}
    from evergreen.registry import store

    tags = store.connect().get_model_version(name, strong.version).tags
    decision_tags = {k: tags[k] for k in ("evergreen.decision", "evergreen.reason", "evergreen.actor")}
    assert decision_tags == {
        "evergreen.decision": "promote",
        "evergreen.reason": promoted.reason,
        "evergreen.actor": "policy",
    }
    assert tags["evergreen.decided_at"] == promoted.decided_at

    # 8. `evergreen champion`
    assert cli.main(["champion", "--model", name]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["version"], shown["run_id"]) == (strong.version, strong.run_id)
    assert shown["metrics"]["holdout_pr_auc"] == pytest.approx(results["strong"].metrics["holdout"]["pr_auc"])
    assert shown["promoted"]["holdout_metrics"]["pr_auc"] == pytest.approx(promoted.challenger_metrics["pr_auc"])

    # 9. rollback restores the previous champion and writes its row
    d = rollback(name, reason="strong model flags too many good customers", actor="alice")
    assert (d.decision, d.challenger_version, d.champion_version, d.actor) == (
        "rollback",
        mid.version,
        strong.version,
        "alice",
    )
    assert _aliases(name) == {
        "challenger": strong.version,
        "champion": mid.version,
        "previous_champion": strong.version,
    }
    row = audit.history(name, limit=1)[0]
    assert (row["decision"], row["challenger_version"], row["champion_version"], row["actor"]) == (
        "rollback",
        mid.version,
        strong.version,
        "alice",
    )
    assert "too many good customers" in row["reason"]
    assert load_champion(name).metadata.run_id == mid.run_id

    # 10. refused rollbacks change nothing: a missing version, the current champion, no actor
    before = (_aliases(name), audit.count(name))
    with pytest.raises(RollbackError, match=r"no version '99'; registered versions: 1, 2, 3; nothing changed"):
        rollback(name, to_version="99", reason="typo", actor="alice")
    with pytest.raises(RollbackError, match="already the champion"):
        rollback(name, to_version=mid.version, reason="again", actor="alice")
    with pytest.raises(RollbackError, match="named actor"):
        rollback(name, reason="who?", actor="")
    with pytest.raises(RollbackError, match="not registered"):
        rollback("no_such_model", reason="x", actor="alice")
    assert cli.main(["rollback", "--model", name, "--to-version", "99", "--reason", "x", "--actor", "bob"]) == 2
    assert "no version '99'" in capsys.readouterr().err
    assert (_aliases(name), audit.count(name)) == before

    # 11. a holdout that cannot judge (empty: its gate failed upstream) moves nothing
    with pytest.raises(ValueError, match="holdout is empty"):
        challenge_and_promote(spec, strong, holdout.iloc[0:0])
    assert (_aliases(name), audit.count(name)) == before

    # 12. force_promote: a named person overrides the policy, and the reason says so
    d = challenge_and_promote(spec, weak, holdout, force=True, actor="bob")
    assert (d.promote, d.decision, d.forced, d.actor) == (True, "force_promote", True, "bob")
    assert d.reason.startswith("forced by bob (the policy alone rejected: pr_auc")
    assert _aliases(name)["champion"] == weak.version
    assert _aliases(name)["previous_champion"] == mid.version
    # and the CLI rolls it back
    assert cli.main(["rollback", "--model", name, "--reason", "undo the override", "--actor", "carol"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["decision"], out["champion"], out["replaced"]) == ("rollback", mid.version, weak.version)
    assert audit.count(name) == before[1] + 2


def test_train_challenge_promote_against_mlflow_server_on_postgresql(
    spec,
    trained,
    postgres_server,
    mlflow_pg_server,
    predictions_seen,
    monkeypatch,
    tmp_path,
):
    import sqlalchemy as sa

    from evergreen.registry import audit
    from evergreen.registry.mlflow_log import load_champion, log_training
    from evergreen.registry.promotion import challenge_and_promote
    from evergreen.registry.rollback import rollback

    postgres_server.createdb("evergreen")
    _use(
        monkeypatch,
        mlflow_tracking_uri=mlflow_pg_server.url,
        mlflow_artifact_root=str(tmp_path / "unused"),  # the server owns the artifacts
        evergreen_db_url=postgres_server.url("evergreen"),
    )
    migrate.upgrade()
    data, results = trained
    name = spec.name

    mid = log_training(results["mid"], data, spec, lineage_tags=CALLER)
    assert challenge_and_promote(spec, mid, data.holdout).promote
    strong = log_training(results["strong"], data, spec, lineage_tags=CALLER)
    d = challenge_and_promote(spec, strong, data.holdout)
    assert d.promote, d.reason
    assert _aliases(name) == {
        "challenger": strong.version,
        "champion": strong.version,
        "previous_champion": mid.version,
    }

    # the artifacts went through the server into its artifacts destination, not into the local root
    assert any(Path(mlflow_pg_server.artifacts_destination).rglob("scorer.json"))
    assert not (tmp_path / "unused").exists()

    served = np.asarray(load_champion(name).predict(_features(spec, data.holdout)), dtype=np.float64)
    assert np.array_equal(served, predictions_seen[strong.run_id])
    assert np.array_equal(served, results["strong"].scorer.predict_proba(data.holdout))
    _assert_lineage(spec, data, strong.version, CALLER)
    _assert_run(spec, data, strong, results["strong"])

    rollback(name, reason="drill", actor="alice")
    assert _aliases(name)["champion"] == mid.version

    # registry and audit really are in PostgreSQL
    engine = sa.create_engine(postgres_server.url("mlflow"))
    with engine.connect() as conn:
        aliases = dict(conn.execute(sa.text("SELECT alias, version FROM registered_model_aliases")).all())
    engine.dispose()
    assert aliases == {
        "challenger": int(strong.version),
        "champion": int(mid.version),
        "previous_champion": int(strong.version),
    }
    assert audit.engine().dialect.name == "postgresql"
    assert [r["decision"] for r in audit.history(name)] == ["rollback", "promote", "promote"]


def test_the_cli_on_a_new_store_prints_results_not_mlflow_logs(tmp_path):
    """A first call creates MLflow's tables; MLflow would say so at INFO on the console ("Creating initial
    MLflow database tables..."): people see the answer, library logs stay out."""
    env = {**os.environ, "EVERGREEN_HOME": str(tmp_path)}
    for key in ("EVERGREEN_MLFLOW_TRACKING_URI", "MLFLOW_LOGGING_LEVEL"):
        env.pop(key, None)
    out = subprocess.run(
        [sys.executable, "-m", "evergreen.cli", "champion", "--model", "fraud"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert (tmp_path / "mlflow.db").exists()  # the store was created by this call
    lines = (out.stdout + out.stderr).splitlines()
    assert lines == ["fraud: no champion: model 'fraud' has no champion yet"], lines
