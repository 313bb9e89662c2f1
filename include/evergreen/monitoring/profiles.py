"""Profiles of a model's inputs and predictions: the training-time reference and one per scored day."""

from __future__ import annotations

import numpy as np
import pandas as pd

from evergreen.contracts.model_spec import ModelSpec

SCORE = "score"
# From held-out rows (never trained on), so the reference recall is an honest one: an in-sample recall
# (measured 0.77 on the test lake against 0.25 out of sample) would read as decay on every unchanged day.
HOLDOUT_SCORE = "holdout_score"  # every held-out row's score: the alert cut is a quantile of these
FRAUD_SCORE = "holdout_score_of_fraud"  # held-out frauds' scores: the reference recall at that cut


def profile_columns(spec: ModelSpec) -> list[str]:
    return [*spec.features.names, SCORE]


def detector(spec: ModelSpec):
    """The spec's drift measure as a `DriftDetector` over the model's inputs and its score."""
    from evergreen.monitoring.detector import WhylogsHellinger

    if spec.drift.measure != "hellinger":
        raise ValueError(f"unknown drift measure {spec.drift.measure!r} in spec {spec.name!r}; known: hellinger")
    return WhylogsHellinger(bins=spec.drift.bins, columns=profile_columns(spec))


def build_reference(
    spec: ModelSpec, features: pd.DataFrame, scores: np.ndarray, *, holdout: pd.DataFrame | None = None
) -> bytes:
    """The reference profile: the training rows' features and the model's scores on them, plus (with
    `holdout`: columns `score` and the label, rows the model never trained on) the held-out score
    distribution and the held-out frauds' scores, which the performance check needs. The training step
    stores the bytes with the model version."""
    from evergreen.monitoring import _whylogs as wl

    frame = features[spec.features.names].copy()
    frame[SCORE] = np.asarray(scores, dtype=float)
    blobs = [wl.profile_bytes(frame)]
    if holdout is not None:
        held = holdout["score"].to_numpy(dtype=float)
        fraud = holdout[spec.label.column].astype("boolean").fillna(False).to_numpy()
        blobs.append(wl.profile_bytes(pd.DataFrame({HOLDOUT_SCORE: held})))
        blobs.append(wl.profile_bytes(pd.DataFrame({FRAUD_SCORE: held[fraud]})))
    return wl.merged_profile_bytes(blobs)


def profile_day(spec: ModelSpec, frame: pd.DataFrame) -> bytes:
    """The profile of one scored day: the feature columns and `score`."""
    missing = [c for c in profile_columns(spec) if c not in frame.columns]
    if missing:
        raise ValueError(f"profile_day needs the feature columns and {SCORE!r}; missing: {missing}")
    return detector(spec).profile(frame)
