"""The model's score card, read from the spec: the primary metric and the guards.

`evaluate` is the one way a model is judged: training reports it on validation and holdout, and the registry
calls it for challenger and champion on the same holdout frame. Keys:

    pr_auc            average precision (the primary metric for fraud), higher is better
    roc_auc           area under the ROC curve
    recall_at_fpr     share of frauds caught while flagging at most `fpr` of the legitimate transactions
    brier             mean squared error of the probabilities (calibration), lower is better
    score_ms_per_10k  milliseconds to score 10,000 rows (best of 3 timed calls over the whole frame)
    rows, positives, base_rate      what was judged (PR-AUC of a random model is the base rate)
    threshold_* / precision_at_threshold / recall_at_threshold / fpr_at_threshold   if the scorer has one
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score, roc_curve

from evergreen.contracts.model_spec import ModelSpec

DEFAULT_FPR = 0.01
TIMED_CALLS = 3

PredictFn = Callable[[pd.DataFrame], np.ndarray]


def target_fpr(spec: ModelSpec) -> float:
    guard = spec.metric.guards.get("recall_at_fpr")
    return guard.fpr if guard is not None and guard.fpr is not None else DEFAULT_FPR


def labels_of(frame: pd.DataFrame | pa.Table, spec: ModelSpec) -> np.ndarray:
    column = spec.label.column
    values = frame[column].to_numpy(zero_copy_only=False) if isinstance(frame, pa.Table) else frame[column].to_numpy()
    values = np.asarray(values, dtype=np.float64)
    if np.isnan(values).any():
        raise ValueError(f"{int(np.isnan(values).sum())} row(s) without a {column!r} label: judge labelled rows only")
    return values.astype(np.int8)


def evaluate(scorer_or_predict_fn: Any, frame: pd.DataFrame | pa.Table, spec: ModelSpec) -> dict[str, float]:
    """Score `frame` (raw gold columns + the label) and return the spec's metrics (see the module doc)."""
    predict: PredictFn = getattr(scorer_or_predict_fn, "predict_proba", scorer_or_predict_fn)
    y = labels_of(frame, spec)
    timings, scores = [], None
    for _ in range(TIMED_CALLS):
        began = time.perf_counter()
        scores = np.asarray(predict(frame), dtype=np.float64)
        timings.append(time.perf_counter() - began)
    if scores.shape != y.shape:
        raise ValueError(f"the model returned {scores.shape} scores for {y.shape} rows")
    out = score_card(y, scores, target_fpr(spec))
    out["score_ms_per_10k"] = min(timings) * 1000 * 10_000 / max(len(y), 1)
    threshold = getattr(scorer_or_predict_fn, "threshold", None)
    if threshold is not None:
        out.update(at_threshold(y, scores, float(threshold)))
    return out


def score_card(y: np.ndarray, scores: np.ndarray, fpr: float) -> dict[str, float]:
    """The threshold-free metrics of scores against 0/1 labels (NaN where a class is missing)."""
    positives = int(y.sum())
    both = 0 < positives < len(y)
    _, recall, _ = operating_point(y, scores, fpr) if both else (math.nan, math.nan, math.nan)
    return {
        "pr_auc": float(average_precision_score(y, scores)) if positives else math.nan,
        "roc_auc": float(roc_auc_score(y, scores)) if both else math.nan,
        "recall_at_fpr": float(recall),
        "brier": float(brier_score_loss(y, scores)) if len(y) else math.nan,
        "rows": len(y),
        "positives": positives,
        "base_rate": positives / len(y) if len(y) else math.nan,
    }


def operating_point(y: np.ndarray, scores: np.ndarray, fpr: float) -> tuple[float, float, float]:
    """(threshold, recall, actual false-positive rate) of the most sensitive `score >= threshold` rule whose
    false-positive rate stays within `fpr`."""
    fprs, tprs, thresholds = roc_curve(y, scores, drop_intermediate=False)
    i = int(np.searchsorted(fprs, fpr, side="right")) - 1  # fprs ascend; the last one within budget
    threshold = float(thresholds[i])
    if not math.isfinite(threshold):  # not even the top score fits the budget: flag nothing
        threshold = float(np.nextafter(np.max(scores), np.inf))
    return threshold, float(tprs[i]), float(fprs[i])


def at_threshold(y: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    flagged = scores >= threshold
    tp = int((flagged & (y == 1)).sum())
    fp = int((flagged & (y == 0)).sum())
    positives, negatives = int((y == 1).sum()), int((y == 0).sum())
    return {
        "threshold": threshold,
        "precision_at_threshold": tp / (tp + fp) if tp + fp else math.nan,
        "recall_at_threshold": tp / positives if positives else math.nan,
        "fpr_at_threshold": fp / negatives if negatives else math.nan,
        "flagged_share": float(flagged.mean()) if len(y) else math.nan,
    }
