"""The drift rule, pure: k of the last n windows breach and the latest does; thresholds from the spec."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from evergreen.contracts.model_spec import Drift, load_spec
from evergreen.monitoring import rule
from evergreen.monitoring.performance import average_precision, performance


@pytest.mark.parametrize(
    ("breaches", "expected"),
    [
        ([], False),
        ([True], False),  # one window is never enough with k=2
        ([False, True], False),
        ([True, True], True),
        ([True, False, True], True),
        ([True, True, False], False),  # the latest must breach: a drift that ended does not fire
        ([True, False, False, True], False),  # the first breach is outside the last 3 windows
        ([False, False, True, True], True),
        ([True, True, True, True, True], True),
    ],
)
def test_two_of_three_and_the_latest(breaches, expected):
    assert rule.fires(breaches, k=2, n=3) is expected


def test_k_equal_n_needs_every_window_and_k_one_fires_on_any_latest_breach():
    assert rule.fires([True, True, True], k=3, n=3)
    assert not rule.fires([True, False, True], k=3, n=3)
    assert rule.fires([False, False, True], k=1, n=3)
    assert not rule.fires([True, True, False], k=1, n=3)


def test_an_impossible_rule_is_refused_in_code_and_in_the_spec():
    with pytest.raises(ValueError, match="1 <= k <= n"):
        rule.fires([True], k=4, n=3)
    with pytest.raises(ValidationError, match="1 <= k <= n"):
        Drift(k=0, n=3)
    with pytest.raises(ValidationError, match="1 <= k <= n"):
        Drift(k=4, n=3)


def test_describe_names_the_rule_the_windows_and_the_verdict():
    text = rule.describe([("2026-02-01", False), ("2026-02-02", True), ("2026-02-03", True)], k=2, n=3)
    assert text == (
        "2 of the last 3 windows breach and the latest does "
        "(2026-02-01 ok, 2026-02-02 breach, 2026-02-03 breach): fires"
    )
    assert rule.describe([("2026-02-03", True)], k=2, n=3).endswith(": does not fire")


def test_per_feature_thresholds_override_the_default_and_excluded_features_never_drift():
    drift = Drift(default_threshold=0.1, thresholds={"merchant_age_days": 0.3}, exclude=["weekday"])
    scores = {"amount": 0.11, "merchant_age_days": 0.2, "weekday": 0.9, "hour": 0.1}
    assert rule.drifted(scores, drift) == {"amount": 0.11}  # 0.1 is not *over* 0.1


def test_breach_reasons_cover_features_predictions_and_performance():
    drift = Drift(default_threshold=0.1, prediction_threshold=0.2)
    perf = {"breached": True, "recall_decay": 0.4, "known_frauds": 55}
    reasons = rule.breach_reasons({"amount": 0.31}, 0.25, perf, drift)
    assert reasons == [
        "amount drift 0.310 > 0.100",
        "prediction drift 0.250 > 0.200",
        f"recall decay 0.400 > {drift.performance.tolerance:.3f} (55 known frauds)",
    ]
    assert rule.breach_reasons({}, 0.2, {"breached": False}, drift) == []


def test_the_fraud_spec_carries_a_typed_drift_rule():
    drift = load_spec("fraud").drift
    assert isinstance(drift, Drift)
    assert (drift.k, drift.n) == (2, 3)
    assert drift.measure == "hellinger"
    assert "weekday" in drift.exclude
    assert 0 < drift.default_threshold < 1
    assert 0 < drift.prediction_threshold < 1


def test_average_precision_matches_the_step_definition():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    labels = np.array([1, 0, 1, 0, 0])
    assert average_precision(scores, labels) == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert np.isnan(average_precision(scores, np.zeros(5)))


def test_recall_decay_uses_known_frauds_in_the_lookback_and_needs_enough_of_them():
    spec = load_spec("fraud")
    lookback = spec.drift.performance.lookback_days
    days = pd.date_range("2026-02-01", periods=lookback + 2).strftime("%Y-%m-%d")
    # 20 frauds a day, half above the cut; the two oldest days (outside the lookback) are all above the cut
    # and must not count, and neither may labels that arrived after the window.
    frame = pd.DataFrame({
        "event_date": np.repeat(days, 20),
        "score": np.tile(np.r_[np.full(10, 0.9), np.full(10, 0.1)], lookback + 2),
        "is_fraud": True,
        "label_time": pd.Timestamp(days[-1]),
    })  # fmt: skip
    frame.loc[frame.event_date <= days[1], "score"] = 0.95
    late = frame.iloc[-5:].assign(score=0.99, label_time=pd.Timestamp(days[-1]) + pd.Timedelta(days=1))
    out = performance(spec, days[-1], pd.concat([frame, late]), cut=0.5, reference_recall=0.8)
    assert out["known_frauds"] == 20 * lookback
    assert out["recall"] == pytest.approx(0.5)
    assert out["recall_decay"] == pytest.approx(1 - 0.5 / 0.8)
    assert out["breached"] is (spec.drift.performance.tolerance < 1 - 0.5 / 0.8)
    few = performance(
        spec, days[-1], frame.tail(spec.drift.performance.min_positives - 1), cut=0.5, reference_recall=0.8
    )
    assert few["breached"] is False
    assert few["recall_decay"] is None
    assert performance(spec, days[-1], None, cut=0.5, reference_recall=0.8)["verdict"] == "no labels"
