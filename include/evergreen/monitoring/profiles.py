"""Profiles of a model's inputs and predictions: the training-time reference and one per scored day."""

from __future__ import annotations

import numpy as np
import pandas as pd

from evergreen.spec import ModelSpec

SCORE = "score"
# Scores of the reference rows labelled fraud (NaN elsewhere): lets a later window compare its recall with
# the reference's at the same score cut, without shipping labels beside the profile.
FRAUD_SCORE = "score_of_fraud"


def profile_columns(spec: ModelSpec) -> list[str]:
    return [*spec.features.names, SCORE]


def detector(spec: ModelSpec):
    """The spec's drift measure as a `DriftDetector` over the model's inputs and its score."""
    from evergreen.monitoring.detector import WhylogsHellinger

    if spec.drift.measure != "hellinger":
        raise ValueError(f"unknown drift measure {spec.drift.measure!r} in spec {spec.name!r}; known: hellinger")
    return WhylogsHellinger(bins=spec.drift.bins, columns=profile_columns(spec))


def build_reference(
    spec: ModelSpec, features: pd.DataFrame, scores: np.ndarray, labels: np.ndarray | None = None
) -> bytes:
    """The reference profile of the training data: features, the model's scores and (with `labels`) the
    scores of the frauds. The training step stores the bytes with the model version."""
    from evergreen.monitoring.detector import WhylogsHellinger

    frame = features[spec.features.names].copy()
    frame[SCORE] = np.asarray(scores, dtype=float)
    if labels is not None:
        frame[FRAUD_SCORE] = np.where(np.asarray(labels).astype(bool), frame[SCORE].to_numpy(), np.nan)
    return WhylogsHellinger(bins=spec.drift.bins).profile(frame)


def profile_day(spec: ModelSpec, frame: pd.DataFrame) -> bytes:
    """The profile of one scored day: the feature columns and `score`."""
    missing = [c for c in profile_columns(spec) if c not in frame.columns]
    if missing:
        raise ValueError(f"profile_day needs the feature columns and {SCORE!r}; missing: {missing}")
    return detector(spec).profile(frame)
