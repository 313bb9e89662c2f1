"""Model specs (`contracts/specs/<model>.yaml`, shipped inside the package) as typed objects. The code reads
everything model-specific from here."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, model_validator

# Found through the import system, not the checkout: the same in a wheel, an editable install or a zip.
SPECS_DIR: Traversable = resources.files("evergreen.contracts") / "specs"
SPEC_SUFFIX = ".yaml"


class Source(BaseModel):
    layer: str = "gold"
    table: str = "features"
    key: str = "transaction_id"
    time: str = "event_time"


class Features(BaseModel):
    numeric: list[str]
    categorical: dict[str, list[str]] = Field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [*self.numeric, *self.categorical]


class Label(BaseModel):
    column: str
    time: str
    max_delay_days: int
    mature_after_days: int


class Split(BaseModel):
    train_days: int
    validation_days: int
    holdout_days: int


class Guard(BaseModel):
    tolerance: float | None = None
    tolerance_ratio: float | None = None
    lower_is_better: bool = False
    fpr: float | None = None


class Metric(BaseModel):
    primary: str
    guards: dict[str, Guard] = Field(default_factory=dict)


class Policy(BaseModel):
    min_pr_auc: float
    min_gain: float


class Search(BaseModel):
    budget: int = 0
    space: dict[str, list[float]] = Field(default_factory=dict)


class Training(BaseModel):
    seed: int = 7
    early_stopping_rounds: int = 30
    params: dict[str, Any] = Field(default_factory=dict)
    search: Search = Field(default_factory=Search)


class Retraining(BaseModel):
    cooldown_hours: float = 12
    # While the model is under drift, train on only the latest mature days (None: the usual window).
    drift_window_days: int | None = None


class DriftPerformance(BaseModel):
    """Performance decay from delayed labels: recall on the frauds known so far at a fixed score cut."""

    alert_share: float = 0.02  # the cut: the top `alert_share` of held-out scores would be alerted on
    tolerance: float = 0.4  # breach when recall falls by more than this share of the reference recall
    lookback_days: int = 7  # scored days whose known frauds count
    min_positives: int = 30  # fewer known frauds than this: no verdict (recall is too noisy)


class Drift(BaseModel):
    """The drift rule: per-window thresholds, and fire when k of the last n windows breach and the latest does."""

    measure: str = "hellinger"
    bins: int = 20  # reference-quantile bins per numeric column (plus one bin for nulls)
    default_threshold: float = 0.10
    thresholds: dict[str, float] = Field(default_factory=dict)  # per-feature overrides
    exclude: list[str] = Field(default_factory=list)  # features a one-day window cannot be compared on
    prediction_threshold: float = 0.10
    performance: DriftPerformance = Field(default_factory=DriftPerformance)
    k: int = 2
    n: int = 3

    @model_validator(mode="after")
    def _check(self) -> Drift:
        if not 1 <= self.k <= self.n:
            raise ValueError(f"drift rule needs 1 <= k <= n, got k={self.k}, n={self.n}")
        return self

    def threshold(self, feature: str) -> float:
        return self.thresholds.get(feature, self.default_threshold)

    @property
    def rule(self) -> str:
        return f"{self.k} of the last {self.n} windows breach and the latest does"


class ModelSpec(BaseModel):
    name: str
    description: str = ""
    owner: str = ""
    source: Source = Field(default_factory=Source)
    features: Features
    label: Label
    split: Split
    metric: Metric
    policy: Policy
    training: Training = Field(default_factory=Training)
    retraining: Retraining = Field(default_factory=Retraining)
    drift: Drift = Field(default_factory=Drift)

    @property
    def spec_hash(self) -> str:
        """Content digest of the spec as parsed: lineage tag on every model version."""
        blob = json.dumps(self.model_dump(), sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def specs_dir() -> Traversable:
    """The folder of model specs: `EVERGREEN_SPECS_DIR` if set, else the package's own."""
    from evergreen.config import settings

    return Path(settings().specs_dir) if settings().specs_dir else SPECS_DIR


def load_spec(name: str = "fraud", path: str | None = None) -> ModelSpec:
    folder = specs_dir()
    file = Path(path) if path else folder / f"{name}{SPEC_SUFFIX}"
    if not file.is_file():
        raise FileNotFoundError(f"no model spec {name!r} at {file}; known specs: {_names(folder)}")
    return _parse(file.read_text())


@lru_cache(maxsize=64)
def _parse(text: str) -> ModelSpec:
    # Keyed on the file's content: a hot path (one call per Kafka message) re-reads a few KB, never re-validates.
    return ModelSpec.model_validate(yaml.safe_load(text))


def _names(folder: Traversable) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(f.name.removesuffix(SPEC_SUFFIX) for f in folder.iterdir() if f.name.endswith(SPEC_SUFFIX))


def known_models() -> list[str]:
    return _names(specs_dir())
