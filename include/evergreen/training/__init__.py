"""Training: gold -> time-split dataset -> XGBoost challenger -> metrics and plots.

The only room that imports xgboost; it knows neither MLflow, Spark nor Airflow. Names are imported lazily,
so `import evergreen.training` (or its dataset module) does not load xgboost, sklearn or matplotlib.
`train` is a submodule, so the function is imported from it: `from evergreen.training.train import train`.

    data = load_training_data(spec, as_of="2026-01-14")
    result = train(spec, data, search_budget=3)
    result.scorer.save(folder); FraudScorer.load(folder).predict_proba(frame)
    evaluate(scorer, data.holdout, spec)
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from evergreen.common.lazy import lazy_attributes

# XGBoost's OpenMP runtime (libgomp, vendored in the wheel) busy-waits between parallel regions by default.
# On a shared machine (Spark, Airflow and the scheduler on the same cores) a spinning thread waits for a
# descheduled one every round: measured here, 30 rounds with nthread=2 took 12 s instead of 0.6 s while
# other jobs held the CPUs (dmlc/xgboost#8729). Passive waiting costs little on an idle machine. libgomp
# reads this once, when xgboost is first imported, so it is set here, before any training module loads it;
# an explicit OMP_WAIT_POLICY in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

if TYPE_CHECKING:
    from evergreen.training.dataset import InsufficientDataError, Split, TrainingData, load_training_data
    from evergreen.training.encoding import FeatureEncoder
    from evergreen.training.metrics import evaluate
    from evergreen.training.model import FraudScorer
    from evergreen.training.train import TrainingResult, Trial

_WHERE = {
    "InsufficientDataError": "dataset",
    "Split": "dataset",
    "TrainingData": "dataset",
    "load_training_data": "dataset",
    "FeatureEncoder": "encoding",
    "evaluate": "metrics",
    "FraudScorer": "model",
    "TrainingResult": "train",
    "Trial": "train",
}

__all__ = [
    "FeatureEncoder",
    "FraudScorer",
    "InsufficientDataError",
    "Split",
    "TrainingData",
    "TrainingResult",
    "Trial",
    "evaluate",
    "load_training_data",
]


__getattr__ = lazy_attributes(__name__, _WHERE)
