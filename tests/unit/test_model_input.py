"""A batch in the model signature's types: cast when nothing changes, one line naming the column when not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlflow.types import DataType

from evergreen.registry.mlflow_log import as_model_input, infer_model_signature
from evergreen.registry.model_input import ModelInputError, conform


def test_a_double_column_takes_integers_with_or_without_nulls():
    types = {"secs": DataType.double}
    no_null = conform(pd.DataFrame({"secs": np.array([1, 2], dtype=np.int64)}), types)
    with_null = conform(pd.DataFrame({"secs": [1.0, np.nan]}), types)
    nullable = conform(pd.DataFrame({"secs": pd.array([1, None], dtype="Int64")}), types)
    all_null = conform(pd.DataFrame({"secs": pd.Series([None, None], dtype=object)}), types)
    for frame in (no_null, with_null, nullable, all_null):
        assert frame["secs"].dtype == np.float64
    assert np.isnan(nullable["secs"][1])


def test_an_old_long_column_takes_whole_numbers_only():
    types = {"count": DataType.long}
    assert conform(pd.DataFrame({"count": [1.0, 2.0]}), types)["count"].dtype == np.int64
    with pytest.raises(ModelInputError, match=r"^batch: column count has 1 null\(s\) but the model's signature"):
        conform(pd.DataFrame({"count": [1.0, np.nan]}), types)
    with pytest.raises(ModelInputError, match="holds fractions"):
        conform(pd.DataFrame({"count": [1.5, 2.0]}), types)


def test_text_for_a_number_is_refused_in_one_line():
    with pytest.raises(ModelInputError) as refused:
        conform(pd.DataFrame({"amount": ["12.5"]}), {"amount": DataType.double}, what="scoring input (1 rows)")
    assert str(refused.value) == "scoring input (1 rows): column amount is object, the model's signature wants double"


def test_columns_outside_the_signature_are_left_alone():
    frame = pd.DataFrame({"x": np.array([1], dtype=np.int64), "y": ["a"]})
    out = conform(frame, {"y": DataType.string})
    assert out["x"].dtype == np.int64
    assert list(out.columns) == ["x", "y"]


def test_a_signature_does_not_depend_on_the_sample_holding_a_null():
    """Its numeric types come from the gold contract: a never-null count is long, any other number double."""
    numeric = ["secs_since_prev_txn", "customer_age_days", "cust_txn_count_7d"]
    with_null = pd.DataFrame({
        "secs_since_prev_txn": [1.0, np.nan],
        "customer_age_days": [3.0, np.nan],
        "cust_txn_count_7d": np.array([1, 2], dtype=np.int64),
        "channel": ["web", "pos"],
    })  # fmt: skip
    without = pd.DataFrame({
        "secs_since_prev_txn": np.array([1, 2], dtype=np.int64),
        "customer_age_days": np.array([3, 4], dtype=np.int32),
        "cust_txn_count_7d": np.array([1, 2], dtype=np.int64),
        "channel": ["web", None],
    })  # fmt: skip
    scores = np.zeros(2)
    a = infer_model_signature(with_null, scores, numeric).inputs.input_types_dict()
    b = infer_model_signature(without, scores, numeric).inputs.input_types_dict()
    assert (
        a
        == b
        == {
            "secs_since_prev_txn": DataType.double,
            "customer_age_days": DataType.double,
            "cust_txn_count_7d": DataType.long,
            "channel": DataType.string,
        }
    )
    assert as_model_input(without, numeric)["secs_since_prev_txn"].dtype == np.float64
    with pytest.raises(ValueError, match="cust_txn_count_7d is declared long"):
        as_model_input(pd.DataFrame({"cust_txn_count_7d": [1.0, np.nan]}), ["cust_txn_count_7d"])
