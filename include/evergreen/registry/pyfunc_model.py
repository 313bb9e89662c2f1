"""The MLflow pyfunc that serves a trained scorer (`evergreen.training.FraudScorer` or any class with the
same `save(dir)` / `load(dir)` / `predict_proba(df)` contract).

The scorer's own saved directory is the model's only artifact, so the registry stores exactly what training
saved, and the scorer class is named in the model's config rather than pickled. Loading needs the
`evergreen` package installed (it is, wherever Evergreen runs); MLflow loads this class through
`model_code.py` (models from code), not through a pickle.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

SCORER_ARTIFACT = "scorer"
SCORER_CLASS_KEY = "scorer_class"


def class_path(obj: object) -> str:
    """`module:QualName` of an object's class, the form `import_class` reads back."""
    cls = type(obj)
    return f"{cls.__module__}:{cls.__qualname__}"


def import_class(path: str) -> type:
    module, _, qualname = path.partition(":")
    target: Any = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


class ScorerModel(PythonModel):
    """pyfunc wrapper: DataFrame of features in, fraud probability per row out (float64, 1-D)."""

    def load_context(self, context) -> None:
        scorer_class = import_class(context.model_config[SCORER_CLASS_KEY])
        self.scorer = scorer_class.load(context.artifacts[SCORER_ARTIFACT])

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> np.ndarray:
        scores = np.asarray(self.scorer.predict_proba(model_input), dtype=np.float64)
        if scores.ndim == 2 and scores.shape[1] == 2:  # scikit-learn style (n, 2): the positive class
            scores = scores[:, 1]
        return scores
