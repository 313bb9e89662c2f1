"""Batch scoring against a real MLflow store (SQLite, local artifacts) and real lake files, no mocks.

Two real models (a middling and a strong XGBoost) are trained on synthetic gold and registered once per
module; each test chooses the champion through the registry (a real `challenge_and_promote` where the
promotion itself is under test, the alias directly where it is only a precondition) and scores into its
own lake, whose `gold/` links to the module's gold.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pytest

from evergreen import config
from evergreen.contracts.model_spec import Guard, load_spec
from evergreen.storage import migrate

AS_OF = "2026-01-24"
DAY = "2026-01-16"  # the last gold day: some of its labels arrive after AS_OF (recent_outcomes sees fewer)
ROWS_PER_DAY = 3000
RECIPES = {"mid": {"max_depth": 2, "n_estimators": 20}, "strong": {"n_estimators": 150}}
REFERENCE = b"whylogs reference profile bytes \x00\x01\x02"


@pytest.fixture(scope="module")
def spec():
    base = load_spec("fraud")
    guards = dict(base.metric.guards)
    # milliseconds on a shared 2-core box are too noisy to gate a promotion in a test (see test_registry.py)
    guards["score_ms_per_10k"] = Guard(tolerance_ratio=50.0, lower_is_better=True)
    return base.model_copy(update={"metric": base.metric.model_copy(update={"guards": guards})})


@pytest.fixture(scope="module")
def registry(spec, tmp_path_factory):
    """A module-wide MLflow store holding two registered versions (no champion), the gold they came from,
    and the training data (for the holdout a promotion is judged on)."""
    from evergreen.devtools.synthetic_gold import synthetic_gold, write_gold
    from evergreen.registry.mlflow_log import log_training
    from evergreen.training import load_training_data
    from evergreen.training.train import train

    home = tmp_path_factory.mktemp("scoring-store")
    mp = pytest.MonkeyPatch()
    mp.setenv("EVERGREEN_MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
    mp.setenv("EVERGREEN_MLFLOW_ARTIFACT_ROOT", str(home / "mlartifacts"))
    mp.setenv("EVERGREEN_EVERGREEN_DB_URL", f"sqlite:///{home / 'evergreen.db'}")
    config.reload()
    migrate.upgrade()
    try:
        gold_lake = home / "lake"
        write_gold(synthetic_gold("2026-01-01", 16, ROWS_PER_DAY, built_as_of=AS_OF), gold_lake / "gold" / "features")
        data = load_training_data(spec, as_of=AS_OF, lake_root=str(gold_lake))
        reference = home / "profile-0.bin"  # a local name unlike the artifact's: logged under the artifact's
        reference.write_bytes(REFERENCE)
        refs = {}
        for name, params in RECIPES.items():
            result = train(spec, data, params_override=params, make_plots=False)
            extras = {"monitoring/reference.bin": reference} if name == "mid" else None
            refs[name] = log_training(result, data, spec, extra_artifacts=extras)
        yield {"gold": gold_lake / "gold", "data": data, **refs}
    finally:
        mp.undo()
        config.reload()


@pytest.fixture
def lake(registry, tmp_path) -> Path:
    """A fresh lake for one test: its own predictions/, the module's gold."""
    root = tmp_path / "lake"
    root.mkdir()
    (root / "gold").symlink_to(registry["gold"], target_is_directory=True)
    return root


@pytest.fixture
def aliases(spec, registry):
    """Set aliases for one test (alias -> version); every alias is removed afterwards."""
    from evergreen.registry import store

    client = store.connect()

    def set_(**wanted: str) -> None:
        for alias, version in wanted.items():
            client.set_registered_model_alias(spec.name, alias, version)

    yield set_
    for alias in store.aliases(client, spec.name):
        client.delete_registered_model_alias(spec.name, alias)


def _gold_day(registry, day: str = DAY) -> pd.DataFrame:
    return ds.dataset(registry["gold"] / "features" / f"event_date={day}", format="parquet").to_table().to_pandas()


def _champion_scores(spec, gold: pd.DataFrame) -> pd.Series:
    """What `models:/<name>@champion`, loaded on its own, says about the gold rows (by transaction id)."""
    from evergreen.registry.mlflow_log import load_champion

    model = load_champion(spec.name)
    scores = np.asarray(model.predict(gold[spec.features.names]), dtype=np.float64)
    return pd.Series(scores, index=gold["transaction_id"].to_numpy())


def _files(lake: Path, spec, day: str = DAY) -> list[str]:
    folder = lake / "predictions" / spec.name / f"event_date={day}"
    return sorted(p.name for p in folder.iterdir())


def test_the_champion_scores_a_day_into_predictions(spec, registry, lake, aliases):
    from evergreen.registry.promotion import challenge_and_promote
    from evergreen.scoring.batch import OUTPUT_COLUMNS, read_predictions, score_day

    decision = challenge_and_promote(spec, registry["mid"], registry["data"].holdout)
    assert decision.promote, decision.reason
    out = score_day(spec, DAY, lake_root=str(lake), batch_rows=1000)  # several batches per day

    gold = _gold_day(registry)
    assert set(out) == {"model", "model_version", "day", "rows", "seconds", "path"}
    assert (out["model"], out["model_version"], out["day"], out["rows"]) == (
        spec.name,
        registry["mid"].version,
        DAY,
        len(gold),
    )
    assert out["path"] == f"{lake}/predictions/{spec.name}/event_date={DAY}"
    assert _files(lake, spec) == ["part-00000.parquet"]
    table = lake / "predictions" / spec.name
    assert [p.name for p in table.iterdir() if not p.name.startswith("_")] == [f"event_date={DAY}"]
    assert not [p for p in table.rglob("*") if p.is_file() and "_staging" in p.parts]  # nothing staged is left

    preds = read_predictions(spec.name, [DAY], lake_root=str(lake))
    assert list(preds.columns) == [*OUTPUT_COLUMNS, "event_date"]
    assert preds["score"].dtype == np.float64
    assert (preds["event_date"] == DAY).all()
    assert (preds["model_name"] == spec.name).all()
    assert (preds["model_version"] == registry["mid"].version).all()
    assert preds["scored_at"].nunique() == 1
    # reconciled with gold: the same transactions, once each, with their event times
    assert len(preds) == len(gold)
    assert preds["transaction_id"].is_unique
    assert set(preds["transaction_id"]) == set(gold["transaction_id"])
    times = gold.set_index("transaction_id")["event_time"]
    assert (preds["event_time"].to_numpy() == times.loc[preds["transaction_id"]].to_numpy()).all()
    # exactly what the champion, loaded on its own from the registry, says about the same rows
    expected = _champion_scores(spec, gold)
    assert np.array_equal(preds["score"].to_numpy(), expected.loc[preds["transaction_id"]].to_numpy())


def test_rescoring_replaces_the_partition(spec, registry, lake, aliases):
    from evergreen.scoring.batch import read_predictions, score_day

    aliases(champion=registry["mid"].version)
    first = score_day(spec, DAY, lake_root=str(lake))
    before = read_predictions(spec.name, [DAY], lake_root=str(lake))
    files = _files(lake, spec)
    second = score_day(spec, DAY, lake_root=str(lake))
    after = read_predictions(spec.name, [DAY], lake_root=str(lake))

    assert first["rows"] == second["rows"] == len(after) == len(before)  # replaced, not appended
    assert _files(lake, spec) == files
    cols = ["transaction_id", "score", "model_version"]
    pd.testing.assert_frame_equal(before[cols], after[cols])
    assert after["scored_at"].iloc[0] > before["scored_at"].iloc[0]


def test_a_new_champion_restamps_the_day(spec, registry, lake, aliases):
    from evergreen.registry.promotion import challenge_and_promote
    from evergreen.scoring.batch import read_predictions, score_day

    holdout = registry["data"].holdout
    assert challenge_and_promote(spec, registry["mid"], holdout).promote
    score_day(spec, DAY, lake_root=str(lake))
    old = read_predictions(spec.name, [DAY], lake_root=str(lake))
    decision = challenge_and_promote(spec, registry["strong"], holdout)
    assert decision.promote, decision.reason

    out = score_day(spec, DAY, lake_root=str(lake))
    new = read_predictions(spec.name, [DAY], lake_root=str(lake))
    assert out["model_version"] == registry["strong"].version
    assert set(new["model_version"]) == {registry["strong"].version}
    assert len(new) == len(old)
    expected = _champion_scores(spec, _gold_day(registry))
    assert np.array_equal(new["score"].to_numpy(), expected.loc[new["transaction_id"]].to_numpy())
    assert not np.array_equal(new["score"].to_numpy(), old["score"].to_numpy())


def test_no_champion_is_a_clear_error(spec, registry, lake, aliases):
    from evergreen.scoring.batch import NoChampionError, score_day

    for model in (spec, spec.model_copy(update={"name": "never_registered"})):
        with pytest.raises(LookupError, match=rf"model '{model.name}' has no champion yet") as caught:
            score_day(model, DAY, lake_root=str(lake))
        assert isinstance(caught.value, NoChampionError)
    with pytest.raises(LookupError, match="has no version '99'"):
        score_day(spec, DAY, model_version="99", lake_root=str(lake))
    assert not (lake / "predictions").exists()


def test_an_explicit_version_scores_without_a_champion(spec, registry, lake, aliases):
    from evergreen.scoring.batch import read_predictions, score_day

    out = score_day(spec, DAY, model_version=registry["strong"].version, lake_root=str(lake))
    assert out["model_version"] == registry["strong"].version
    assert set(read_predictions(spec.name, [DAY], lake_root=str(lake))["model_version"]) == {out["model_version"]}
    with pytest.raises(FileNotFoundError, match="no committed gold partition event_date=2026-02-01"):
        score_day(spec, "2026-02-01", model_version=registry["strong"].version, lake_root=str(lake))


def test_a_failure_between_staging_and_swap_keeps_the_previous_partition(spec, registry, lake, aliases):
    from evergreen.scoring.batch import read_predictions, score_day

    aliases(champion=registry["mid"].version)
    score_day(spec, DAY, lake_root=str(lake))
    before = read_predictions(spec.name, [DAY], lake_root=str(lake))
    aliases(champion=registry["strong"].version)
    staged_seen = []

    def fail(stage: str) -> None:
        staged_seen.append(stage)
        assert len(read_predictions(spec.name, [DAY], lake_root=str(lake))) == len(before)  # staged, not live
        raise RuntimeError("simulated failure before the swap")

    with pytest.raises(RuntimeError, match="simulated failure"):
        score_day(spec, DAY, lake_root=str(lake), before_commit=fail)
    assert len(staged_seen) == 1
    assert "/_staging/" in staged_seen[0]
    after = read_predictions(spec.name, [DAY], lake_root=str(lake))
    pd.testing.assert_frame_equal(before, after)  # still the old champion's partition, whole
    assert not any((lake / "predictions" / spec.name / "_staging").iterdir())  # its own staging removed


def test_a_killed_process_between_staging_and_swap_keeps_the_previous_partition(spec, registry, lake, aliases):
    """A real crash runs no cleanup: the process dies with its staging on disk. Readers must not see it,
    the old partition must be whole, and the next run must commit normally."""
    from evergreen.scoring.batch import read_predictions, score_day

    aliases(champion=registry["mid"].version)
    score_day(spec, DAY, lake_root=str(lake))
    before = read_predictions(spec.name, [DAY], lake_root=str(lake))
    aliases(champion=registry["strong"].version)

    child = textwrap.dedent(
        f"""
        import os
        from evergreen.scoring.batch import score_day
        from evergreen.contracts.model_spec import load_spec
        score_day(load_spec("fraud"), {DAY!r}, lake_root={str(lake)!r}, before_commit=lambda stage: os._exit(17))
        """
    )
    done = subprocess.run([sys.executable, "-c", child], env=dict(os.environ), capture_output=True, text=True)
    assert done.returncode == 17, done.stderr[-3000:]
    staging = lake / "predictions" / spec.name / "_staging"
    assert list(staging.rglob("part-*.parquet")), "the killed run should have left its staged files"

    pd.testing.assert_frame_equal(before, read_predictions(spec.name, [DAY], lake_root=str(lake)))
    out = score_day(spec, DAY, lake_root=str(lake))  # recovers: stages anew and swaps
    after = read_predictions(spec.name, [DAY], lake_root=str(lake))
    assert out["model_version"] == registry["strong"].version
    assert len(after) == len(before)
    assert set(after["model_version"]) == {registry["strong"].version}


def test_recent_outcomes_join_arrived_labels(spec, registry, lake, aliases):
    from evergreen.scoring.batch import read_predictions, recent_outcomes, score_day

    aliases(champion=registry["mid"].version)
    days = ["2026-01-15", DAY]
    for day in days:
        score_day(spec, day, lake_root=str(lake))
    outcomes = recent_outcomes(spec, [*days, "2026-01-17"], lake_root=str(lake))  # a day never scored: absent

    assert list(outcomes.columns) == ["event_date", "transaction_id", "score", "is_fraud", "label_time"]
    gold = pd.concat([_gold_day(registry, d).assign(event_date=d) for d in days])
    arrived = gold[gold["is_fraud"].notna() & gold["label_time"].notna()]
    assert 0 < len(arrived) < len(gold)  # some labels of the last day are still on their way
    assert len(outcomes) == len(arrived)
    assert set(outcomes["transaction_id"]) == set(arrived["transaction_id"])
    labels = arrived.set_index("transaction_id")
    assert (outcomes["is_fraud"].to_numpy() == labels.loc[outcomes["transaction_id"], "is_fraud"].to_numpy()).all()
    preds = read_predictions(spec.name, days, lake_root=str(lake)).set_index("transaction_id")
    assert np.array_equal(outcomes["score"].to_numpy(), preds.loc[outcomes["transaction_id"], "score"].to_numpy())
    assert recent_outcomes(spec, ["2026-01-17"], lake_root=str(lake)).empty


def test_extra_artifacts_round_trip_through_the_registry(spec, registry, tmp_path):
    from evergreen.registry import store
    from evergreen.registry.mlflow_log import download_version_artifact, log_training

    mid, strong = registry["mid"], registry["strong"]
    assert download_version_artifact(spec.name, mid.version, "monitoring/reference.bin") == REFERENCE
    with pytest.raises(FileNotFoundError, match=r"has no artifact 'monitoring/reference\.bin'"):
        download_version_artifact(spec.name, strong.version, "monitoring/reference.bin")
    with pytest.raises(LookupError, match="has no version '99'"):
        download_version_artifact(spec.name, "99", "monitoring/reference.bin")

    # bad extras fail before any run is created
    client = store.connect()
    runs = len(client.search_runs([store.experiment_id(client, spec.name)]))
    with pytest.raises(FileNotFoundError, match="no file at"):
        log_training(None, None, spec, extra_artifacts={"monitoring/reference.bin": tmp_path / "missing.bin"})
    with pytest.raises(ValueError, match="must be relative"):
        log_training(None, None, spec, extra_artifacts={"../escape.bin": tmp_path})
    assert len(client.search_runs([store.experiment_id(client, spec.name)])) == runs
