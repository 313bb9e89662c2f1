"""FeatureEncoder and the small pure pieces of training: no lake, no model."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from evergreen.contracts.model_spec import load_spec
from evergreen.training.encoding import OTHER, FeatureEncoder
from evergreen.training.metrics import at_threshold, operating_point


@pytest.fixture(scope="module")
def encoder() -> FeatureEncoder:
    return FeatureEncoder.from_spec(load_spec("fraud"))


def _row(**changes):
    spec = load_spec("fraud")
    row: dict = dict.fromkeys(spec.features.numeric, 1.0)
    row.update({name: vocab[0] for name, vocab in spec.features.categorical.items()})
    row.update(changes)
    return row


def test_feature_order_and_types_follow_the_spec(encoder):
    spec = load_spec("fraud")
    assert encoder.feature_names == [*spec.features.numeric, *spec.features.categorical]
    assert encoder.feature_types == ["float"] * len(spec.features.numeric) + ["c"] * len(spec.features.categorical)


def test_numeric_is_float32_and_null_is_nan(encoder):
    frame = pd.DataFrame([_row(amount=12.5, hour=3), _row(amount=None, hour=None)])
    frame["hour"] = frame["hour"].astype("Int32")  # a nullable integer column, as Arrow -> pandas may give
    x = encoder.transform(frame)
    assert x.dtype == np.float32
    assert x.shape == (2, len(encoder.feature_names))
    j_amount, j_hour = encoder.feature_names.index("amount"), encoder.feature_names.index("hour")
    assert x[0, j_amount] == np.float32(12.5)
    assert x[0, j_hour] == 3
    assert np.isnan(x[1, j_amount])
    assert np.isnan(x[1, j_hour])


def test_categories_map_to_vocabulary_codes_unknown_to_other_null_to_nan(encoder):
    vocab = encoder.categorical["category"]
    frame = pd.DataFrame(
        [_row(category=vocab[2]), _row(category="crypto_vouchers"), _row(category=None), _row(category=vocab[0])]
    )
    j = encoder.feature_names.index("category")
    codes = encoder.transform(frame)[:, j]
    assert codes[0] == 2
    assert codes[1] == encoder.other_code("category") == len(vocab)
    assert np.isnan(codes[2])
    assert codes[3] == 0
    assert encoder.codes("category")[OTHER] == len(vocab)


def test_a_non_string_value_in_a_categorical_column_is_other_not_an_error(encoder):
    frame = pd.DataFrame([_row(currency=7), _row(currency="EUR")])
    codes = encoder.transform(frame)[:, encoder.feature_names.index("currency")]
    assert codes.tolist() == [encoder.other_code("currency"), 0]


def test_pandas_and_arrow_inputs_encode_identically(encoder):
    rows = [
        _row(amount=3.25, category="travel", device=None, country="NG"),
        _row(amount=None, category="unseen", device="mobile", country="ZZ", hour=23),
        _row(country_mismatch=1, customer_segment="business", channel="pos"),
    ]
    frame = pd.DataFrame(rows)
    from_pandas = encoder.transform(frame)
    from_arrow = encoder.transform(pa.Table.from_pandas(frame, preserve_index=False))
    from_batch = encoder.transform(pa.Table.from_pandas(frame, preserve_index=False).to_batches()[0])
    np.testing.assert_array_equal(from_pandas, from_arrow)
    np.testing.assert_array_equal(from_pandas, from_batch)


def test_column_order_and_extra_columns_do_not_matter(encoder):
    frame = pd.DataFrame([_row(amount=2.0, category="home"), _row(amount=5.0, category="gaming")])
    frame["transaction_id"] = ["a", "b"]
    shuffled = frame[list(reversed(frame.columns))]
    np.testing.assert_array_equal(encoder.transform(frame), encoder.transform(shuffled))


def test_a_missing_feature_column_is_named(encoder):
    frame = pd.DataFrame([_row()]).drop(columns=["merchant_age_days"])
    with pytest.raises(KeyError, match="merchant_age_days"):
        encoder.transform(frame)


def test_encoder_round_trips_through_json(encoder):
    again = FeatureEncoder.from_dict(json.loads(json.dumps(encoder.to_dict())))
    assert again == encoder
    frame = pd.DataFrame([_row(category="electronics", country="??")])
    np.testing.assert_array_equal(again.transform(frame), encoder.transform(frame))


def test_an_unknown_encoder_format_is_refused():
    with pytest.raises(ValueError, match="format"):
        FeatureEncoder.from_dict({"numeric": [], "categorical": {}})


def test_encoding_is_vectorized_enough_for_a_large_batch(encoder):
    n = 200_000
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({name: rng.random(n) for name in encoder.numeric})
    for name, vocab in encoder.categorical.items():
        frame[name] = rng.choice([*vocab, "new"], n)
    x = encoder.transform(pa.Table.from_pandas(frame, preserve_index=False))
    assert x.shape == (n, len(encoder.feature_names))
    assert x.flags.c_contiguous


# ---- the operating point the threshold and recall_at_fpr come from ----------------------------------------


def test_operating_point_keeps_false_positives_within_budget():
    rng = np.random.default_rng(1)
    y = (rng.random(20_000) < 0.02).astype(np.int8)
    scores = np.clip(rng.normal(0.2 + 0.5 * y, 0.15), 0, 1)
    threshold, recall, fpr = operating_point(y, scores, 0.01)
    at = at_threshold(y, scores, threshold)
    assert fpr <= 0.01
    assert at["fpr_at_threshold"] == pytest.approx(fpr)
    assert at["recall_at_threshold"] == pytest.approx(recall)
    # the next lower distinct score would break the budget: the rule is the most sensitive one allowed
    lower = scores[scores < threshold].max()
    assert at_threshold(y, scores, lower)["fpr_at_threshold"] > 0.01


def test_operating_point_flags_nothing_when_even_the_top_score_is_a_false_positive():
    y = np.array([0, 1, 0, 0], dtype=np.int8)
    scores = np.array([0.9, 0.5, 0.1, 0.2])
    threshold, recall, fpr = operating_point(y, scores, 0.01)
    assert threshold > 0.9
    assert recall == 0.0
    assert fpr == 0.0


def test_feature_order_survives_a_json_writer_that_sorts_keys(encoder):
    again = FeatureEncoder.from_dict(json.loads(json.dumps(encoder.to_dict(), sort_keys=True)))
    assert again.feature_names == encoder.feature_names
