"""The deployable unit: encoder + XGBoost booster + decision threshold, scoring raw gold columns.

On disk (`save(dir)`), nothing is pickled:

    <dir>/model.ubj      the booster (XGBoost UBJSON), trimmed to the trees of the best iteration
    <dir>/scorer.json    encoder, feature names, threshold, margin offset, versions

so the registry can wrap it in an MLflow pyfunc whose `load_context` is `FraudScorer.load(path)` and whose
`predict` is `predict_proba`.

Scores are probabilities. Training up-weights the rare positives (scale_pos_weight = w), which multiplies
the model's odds by about w; the scorer divides them back (`margin_offset = -log w` on the log-odds), so a
0.02 means about 2%. The correction is monotone: ranking metrics (PR-AUC, ROC-AUC) are untouched, the
Brier score and the calibration curve are honest.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from evergreen.training.encoding import FeatureEncoder, Frame

FORMAT = "evergreen.scorer/1"
MODEL_FILE = "model.ubj"
META_FILE = "scorer.json"


def cpu_count() -> int:
    """CPUs this process may use (affinity and cgroup-pinned containers see fewer than os.cpu_count())."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass
class FraudScorer:
    encoder: FeatureEncoder
    booster: xgb.Booster
    threshold: float = 0.5
    margin_offset: float = 0.0
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def feature_names(self) -> list[str]:
        return self.encoder.feature_names

    def predict_proba(self, df: Frame) -> np.ndarray:
        """P(positive) per row of a frame holding (at least) the raw feature columns; float64, shape (rows,)."""
        if len(df) == 0:
            return np.zeros(0, dtype=np.float64)
        margin = self.booster.inplace_predict(self.encoder.transform(df), predict_type="margin")
        return _sigmoid(np.asarray(margin, dtype=np.float64) + self.margin_offset)

    def predict(self, df: Frame) -> np.ndarray:
        """1 where the score reaches the threshold (flag for review), else 0."""
        return (self.predict_proba(df) >= self.threshold).astype(np.int8)

    # ---- persistence ------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(out / MODEL_FILE))
        meta = {
            "format": FORMAT,
            "feature_names": self.feature_names,
            "encoder": self.encoder.to_dict(),
            "threshold": float(self.threshold),
            "margin_offset": float(self.margin_offset),
            "xgboost_version": xgb.__version__,
            "metadata": self.metadata,
        }
        (out / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")
        return out

    @classmethod
    def load(cls, path: str | Path, nthread: int | None = None) -> FraudScorer:
        src = Path(path)
        meta = json.loads((src / META_FILE).read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"{src / META_FILE} is not a {FORMAT} scorer (format={meta.get('format')!r})")
        booster = xgb.Booster()
        booster.load_model(str(src / MODEL_FILE))
        booster.set_param({"nthread": nthread or cpu_count()})
        encoder = FeatureEncoder.from_dict(meta["encoder"])
        if booster.feature_names and list(booster.feature_names) != encoder.feature_names:
            raise ValueError(
                f"booster features {booster.feature_names} differ from the encoder's {encoder.feature_names}"
            )
        return cls(
            encoder=encoder,
            booster=booster,
            threshold=float(meta["threshold"]),
            margin_offset=float(meta["margin_offset"]),
            metadata=meta.get("metadata", {}),
        )


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))
