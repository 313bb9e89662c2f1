"""Performance decay from delayed labels.

Fraud labels arrive 1-10 days late and legitimate confirmations 3-7 days late, so a day is *mature* only
a week on. Waiting for maturity would detect a concept drift a week late at best. Recall on the frauds
known so far needs no maturity: a chargeback's delay does not depend on the model's score, so the
frauds that have arrived are a fair sample of the day's frauds, and the share of them the model would
have alerted on estimates recall. The cut is the top `alert_share` quantile of the model's scores on its
held-out rows (its out-of-sample operating point); the reference recall is the share of held-out frauds
above the same cut. Decay = 1 - recall now / reference recall (relative: a weak model and a strong one
lose the same share of their recall when the fraud pattern moves), over the last `lookback_days` scored
days. PR-AUC on mature days (all labels in) is reported beside it, not ruled on: legit labels are
missing for young days and would inflate precision.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from evergreen.contracts.model_spec import ModelSpec


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """PR-AUC as average precision (step-wise, the same definition as sklearn's), vectorized."""
    labels = np.asarray(labels).astype(bool)
    positives = int(labels.sum())
    if positives == 0 or positives == len(labels):
        return float("nan")
    order = np.argsort(-np.asarray(scores, dtype=float), kind="mergesort")
    hits = labels[order]
    precision_at_hit = np.cumsum(hits)[hits] / (np.flatnonzero(hits) + 1)
    return float(precision_at_hit.mean())


def performance(
    spec: ModelSpec,
    day: str,
    outcomes: pd.DataFrame | None,
    *,
    cut: float,
    reference_recall: float | None,
) -> dict[str, Any]:
    """Recall decay at the reference cut over the lookback, and PR-AUC on the mature days in it."""
    cfg = spec.drift.performance
    out: dict[str, Any] = {
        "cut": cut,
        "alert_share": cfg.alert_share,
        "reference_recall": reference_recall,
        "recall": None,
        "recall_decay": None,
        "known_frauds": 0,
        "lookback_days": cfg.lookback_days,
        "mature_pr_auc": None,
        "mature_days": [],
        "breached": False,
        "verdict": "no labels",
    }
    if outcomes is None or outcomes.empty:
        return out
    end = dt.date.fromisoformat(day)
    first = end - dt.timedelta(days=cfg.lookback_days - 1)
    if spec.label.time in outcomes.columns:
        # A re-run of an old window must not see labels that arrived after it (gold keeps gaining labels).
        arrived = pd.to_datetime(outcomes[spec.label.time]) < pd.Timestamp(end + dt.timedelta(days=1))
        outcomes = outcomes[arrived.to_numpy()]
    dates = pd.to_datetime(outcomes["event_date"]).dt.date
    recent = outcomes[((dates >= first) & (dates <= end)).to_numpy()]
    labels = recent[spec.label.column].astype("boolean")
    frauds = recent.loc[labels.fillna(False).to_numpy(), "score"].to_numpy(dtype=float)
    out["known_frauds"] = len(frauds)
    if len(frauds):
        out["recall"] = float(np.mean(frauds >= cut))
    if not reference_recall:
        out["verdict"] = "no reference recall (the reference has no held-out frauds)"
    elif len(frauds) < cfg.min_positives:
        out["verdict"] = f"too few known frauds ({len(frauds)} < {cfg.min_positives})"
    else:
        out["recall_decay"] = 1.0 - out["recall"] / reference_recall
        out["breached"] = out["recall_decay"] > cfg.tolerance
        out["verdict"] = "decayed" if out["breached"] else "ok"

    mature_through = end - dt.timedelta(days=spec.label.mature_after_days)
    recent_dates = pd.to_datetime(recent["event_date"]).dt.date
    mature = recent[((recent_dates <= mature_through) & labels.notna()).to_numpy()]
    if not mature.empty:
        out["mature_days"] = sorted({str(d) for d in pd.to_datetime(mature["event_date"]).dt.date})
        ap = average_precision(mature["score"].to_numpy(), mature[spec.label.column].to_numpy())
        out["mature_pr_auc"] = None if np.isnan(ap) else ap
    return out
