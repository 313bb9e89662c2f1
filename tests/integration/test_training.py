"""Training from a small gold lake written directly as Parquet (synthetic rows with a known, learnable label).

One model is trained per module and shared; the tests that need their own training keep plots off. The
lakes are 20 days x 1,500 rows: the split then has 9 train, 2 validation and 2 holdout days (~90 frauds in
holdout), enough for quality claims with margins, and each training takes about a second.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from evergreen.contracts.model_spec import load_spec
from evergreen.devtools.synthetic_gold import synthetic_gold, write_gold
from evergreen.training.dataset import InsufficientDataError, load_training_data
from evergreen.training.metrics import evaluate
from evergreen.training.model import FraudScorer
from evergreen.training.train import train

START, DAYS, ROWS = "2026-01-01", 20, 1500
AS_OF = "2026-01-20"  # the last event day: days up to 2026-01-13 are mature


@pytest.fixture(scope="module")
def spec():
    return load_spec("fraud")


def make_lake(root: Path, *, learnable: bool = True, built_as_of: str | None = AS_OF):
    gold = synthetic_gold(START, DAYS, ROWS, learnable=learnable, built_as_of=built_as_of)
    folder = root / "gold" / "features"
    write_gold(gold, folder)
    # What a crashed or running gold job leaves beside the committed partitions: never training data.
    staged = folder / "_staging" / "w1" / "event_date=2026-01-05"
    staged.mkdir(parents=True)
    pq.write_table(gold.slice(0, 50), staged / "part-0.parquet")
    (folder / "event_date=2026-01-05" / ".part-00000.snappy.parquet.crc").write_bytes(b"crc")
    return gold


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("lake")
    return root, make_lake(root)


@pytest.fixture(scope="module")
def data(spec, lake):
    return load_training_data(spec, as_of=AS_OF, lake_root=str(lake[0]))


@pytest.fixture(scope="module")
def result(spec, data, tmp_path_factory):
    return train(spec, data, plots_dir=tmp_path_factory.mktemp("plots"))


def _ids(split) -> set[str]:
    return set(split.read(["transaction_id"])["transaction_id"].to_pylist())


# ---- the split ---------------------------------------------------------------------------------------------


def test_split_respects_maturity_order_and_sizes(spec, data):
    mature_through = (date.fromisoformat(AS_OF) - timedelta(days=spec.label.mature_after_days)).isoformat()
    parts = data.lineage["partitions"]
    assert parts["holdout"] == ["2026-01-12", "2026-01-13"]
    assert parts["validation"] == ["2026-01-10", "2026-01-11"]
    assert parts["train"] == [f"2026-01-{d:02d}" for d in range(1, 10)]  # fewer than train_days exist: all of them
    assert max(parts["holdout"]) <= mature_through
    assert max(parts["train"]) < min(parts["validation"])
    assert max(parts["validation"]) < min(parts["holdout"])
    for name in ("train", "validation", "holdout"):
        frame = data.frame(name)
        assert sorted(frame["event_date"].unique()) == parts[name]
        assert len(frame) == data.lineage["rows"][name]
        assert int(frame["is_fraud"].sum()) == data.lineage["positives"][name] > 0


def test_no_transaction_is_in_two_splits_and_staging_is_never_read(data, lake):
    ids = {name: _ids(split) for name, split in data.splits.items()}
    assert not ids["train"] & ids["validation"]
    assert not ids["train"] & ids["holdout"]
    assert not ids["validation"] & ids["holdout"]
    gold = lake[1]
    expected = {
        name: pc.sum(pc.is_in(gold["event_date"], value_set=pa.array(dates))).as_py()
        for name, dates in data.lineage["partitions"].items()
    }
    assert data.lineage["rows"] == expected  # the 50 staged rows of 2026-01-05 are not in train


def test_window_days_bounds_the_training_days(spec, lake):
    data = load_training_data(spec, as_of=AS_OF, lake_root=str(lake[0]), window_days=3)
    assert data.lineage["partitions"]["train"] == ["2026-01-07", "2026-01-08", "2026-01-09"]
    assert data.lineage["window_days"] == 3


def test_labels_that_arrived_after_as_of_are_not_used(spec, tmp_path, caplog):
    # Gold built long after: every label is there. Training as of 2026-01-16 with labels maturing after 3 days
    # must see only what had arrived by 2026-01-16 23:59:59 (legitimate labels take 3-7 days, so many have not).
    gold = make_lake(tmp_path, built_as_of="2026-03-01")
    quick = spec.model_copy(update={"label": spec.label.model_copy(update={"mature_after_days": 3})})
    with caplog.at_level("WARNING", logger="evergreen.training.dataset"):
        data = load_training_data(quick, as_of="2026-01-16", lake_root=str(tmp_path))
    assert "holdout split (2026-01-12, 2026-01-13)" in caplog.text  # on-call sees a half-labelled holdout
    end = datetime(2026, 1, 16, 23, 59, 59)
    assert data.lineage["partitions"]["holdout"] == ["2026-01-12", "2026-01-13"]
    assert data.lineage["unlabelled"]["holdout"] > 0
    for name, split in data.splits.items():
        frame = split.to_pandas(["transaction_id", "label_time", "is_fraud", "event_date"])
        assert (frame["label_time"] <= end).all(), name
        in_split = pc.is_in(gold["event_date"], value_set=pa.array(split.dates))
        arrived = pc.less_equal(gold["label_time"], pa.scalar(end, type=gold["label_time"].type))
        assert len(frame) == pc.sum(pc.and_(in_split, arrived)).as_py(), name


def test_not_enough_mature_days_says_how_many_there_are_and_are_needed(spec, lake):
    with pytest.raises(InsufficientDataError, match=r"3 mature gold day\(s\).*needs at least 5"):
        load_training_data(spec, as_of="2026-01-10", lake_root=str(lake[0]))
    with pytest.raises(InsufficientDataError, match=r"0 mature gold day\(s\)"):
        load_training_data(spec, as_of=AS_OF, lake_root=str(lake[0] / "nowhere"))


def test_a_split_without_positive_labels_is_refused(spec, tmp_path):
    gold = synthetic_gold(START, 8, 200)
    no_fraud_late = pc.if_else(pc.greater_equal(gold["event_date"], "2026-01-07"), 0, gold["is_fraud"])
    gold = gold.set_column(gold.schema.get_field_index("is_fraud"), "is_fraud", no_fraud_late.cast("int32"))
    write_gold(gold, tmp_path / "gold" / "features")
    with pytest.raises(InsufficientDataError, match=r"holdout \(2026-01-07, 2026-01-08\): 0 positive"):
        load_training_data(spec, as_of="2026-01-15", lake_root=str(tmp_path))


def test_the_digest_names_the_content(spec, tmp_path):
    gold = synthetic_gold(START, 8, 200)
    folder = tmp_path / "gold" / "features"
    write_gold(gold, folder)
    lineage = load_training_data(spec, as_of="2026-01-15", lake_root=str(tmp_path)).lineage
    first, files = lineage["digest"], lineage["files_digest"]
    unchanged = load_training_data(spec, as_of="2026-01-15", lake_root=str(tmp_path)).lineage
    assert (unchanged["digest"], unchanged["files_digest"]) == (first, files)
    # One label corrected in the holdout: another data snapshot.
    day = folder / "event_date=2026-01-08" / "part-00000.snappy.parquet"
    part = pq.read_table(day)
    flipped = pc.if_else(pc.equal(part["transaction_id"], part["transaction_id"][0]), 1, part["is_fraud"])
    pq.write_table(part.set_column(part.schema.get_field_index("is_fraud"), "is_fraud", flipped.cast("int32")), day)
    # (the file listing may not see it: same path, and often the same compressed size)
    assert load_training_data(spec, as_of="2026-01-15", lake_root=str(tmp_path)).lineage["digest"] != first


# ---- the model ---------------------------------------------------------------------------------------------


def test_a_learnable_label_is_learned_well_above_the_base_rate(result):
    holdout = result.metrics["holdout"]
    assert holdout["pr_auc"] > max(0.12, 4 * holdout["base_rate"]), holdout
    assert holdout["roc_auc"] > 0.8
    assert 0 < result.best_iteration < result.params["num_boost_round"]
    assert set(holdout) >= {"pr_auc", "roc_auc", "recall_at_fpr", "brier", "score_ms_per_10k"}
    # The prior correction keeps scores probabilities: no worse calibrated than the constant base rate.
    assert holdout["brier"] < holdout["base_rate"] * (1 - holdout["base_rate"])


def test_random_labels_give_a_model_no_better_than_the_base_rate(spec, tmp_path):
    make_lake(tmp_path, learnable=False)
    data = load_training_data(spec, as_of=AS_OF, lake_root=str(tmp_path))
    holdout = train(spec, data, make_plots=False).metrics["holdout"]
    assert holdout["pr_auc"] < 2 * holdout["base_rate"], holdout
    assert abs(holdout["roc_auc"] - 0.5) < 0.1, holdout


def test_training_is_deterministic(spec, data, result):
    again = train(spec, data, make_plots=False)
    assert again.best_iteration == result.best_iteration
    np.testing.assert_array_equal(again.scorer.predict_proba(data.holdout), result.scorer.predict_proba(data.holdout))


def test_threshold_holds_the_spec_fpr_on_validation(spec, result):
    fpr = spec.metric.guards["recall_at_fpr"].fpr
    assert result.metrics["validation"]["fpr_at_threshold"] <= fpr
    assert result.metrics["validation"]["recall_at_threshold"] == pytest.approx(
        result.metrics["validation"]["recall_at_fpr"]
    )


def test_save_load_round_trips_to_identical_predictions(data, result, tmp_path):
    folder = result.scorer.save(tmp_path / "model")
    assert sorted(p.name for p in folder.iterdir()) == ["model.ubj", "scorer.json"]
    loaded = FraudScorer.load(folder)
    np.testing.assert_array_equal(loaded.predict_proba(data.holdout), result.scorer.predict_proba(data.holdout))
    assert loaded.threshold == result.threshold
    assert loaded.feature_names == result.scorer.feature_names
    assert loaded.metadata["data_digest"] == data.lineage["digest"]


def test_an_unknown_category_scores_as_other_without_error(data, result):
    frame = data.holdout.head(200).copy()
    frame["category"] = "crypto_vouchers"
    frame.loc[frame.index[:50], "country"] = "XX"
    frame.loc[frame.index[50:60], "device"] = None
    scores = result.scorer.predict_proba(frame)
    assert scores.shape == (200,)
    assert np.isfinite(scores).all()
    assert ((scores >= 0) & (scores <= 1)).all()
    x = result.scorer.encoder.transform(frame)
    assert (x[:, result.scorer.feature_names.index("category")] == result.scorer.encoder.other_code("category")).all()


def test_evaluate_takes_a_scorer_or_a_plain_function(spec, data, result):
    by_scorer = evaluate(result.scorer, data.holdout, spec)
    by_function = evaluate(result.scorer.predict_proba, data.holdout, spec)
    for key in ("pr_auc", "roc_auc", "recall_at_fpr", "brier"):
        assert by_scorer[key] == by_function[key]
    assert "threshold" in by_scorer
    assert "threshold" not in by_function
    assert by_scorer["score_ms_per_10k"] > 0


def test_the_quantile_iterator_path_trains_a_model_of_similar_quality(spec, data, result):
    streamed = train(spec, data, stream=True, batch_rows=1_000, make_plots=False)
    assert streamed.matrix == "quantile_iterator"
    assert streamed.extra["train_batches"] > 1  # really fed in pieces
    assert result.matrix == "in_memory"
    assert streamed.metrics["holdout"]["pr_auc"] == pytest.approx(result.metrics["holdout"]["pr_auc"], abs=0.05)


def test_search_with_budget_three_runs_three_trials_and_keeps_the_best(spec, data):
    searched = train(spec, data, search_budget=3, make_plots=False)
    assert len(searched.trials) == 3
    assert searched.trials[0].params["max_depth"] == spec.training.params["max_depth"]  # the configured point first
    space = spec.training.search.space
    for trial in searched.trials[1:]:
        for name, (low, high) in space.items():
            assert low <= trial.params[name] <= high
    assert len({tuple(sorted((k, str(v)) for k, v in t.params.items())) for t in searched.trials}) == 3
    best = max(searched.trials, key=lambda t: t.validation_pr_auc)
    assert searched.params == best.params
    assert searched.best_iteration == best.best_iteration
    assert "search_s" in searched.timings


def test_params_override_reaches_xgboost(spec, data):
    small = train(spec, data, params_override={"max_depth": 2, "n_estimators": 5}, make_plots=False)
    assert small.params["max_depth"] == 2
    assert small.params["num_boost_round"] == 5
    assert small.best_iteration < 5


def test_plots_are_png_files(result):
    assert set(result.plots) == {"pr_curve", "roc_curve", "feature_importance", "calibration", "confusion_matrix"}
    for path in result.plots.values():
        assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_result_summary_is_plain_data(result):
    import json

    summary = json.loads(json.dumps(result.summary(), default=str))
    assert summary["lineage"]["digest"]
    assert summary["feature_importance"]
    assert summary["trials"][0]["number"] == 0
