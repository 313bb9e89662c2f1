"""Raw gold columns -> the float32 matrix XGBoost sees, defined by the spec alone (so it is deterministic).

* numeric features: float32, null -> NaN (XGBoost's "missing", which learns its own branch);
* categorical features: the value's index in the spec's vocabulary (0..k-1); any other non-null value, e.g. a
  category that appeared after the spec was written, -> k, the dedicated "other" code; null -> NaN.
  The columns are typed "c" for XGBoost, so trees split on sets of categories, not on code order.

Works on pandas frames and on Arrow tables / record batches (the batch iterator path) with whole-column
operations only. The encoder is plain data: `to_dict()` / `from_dict()` round-trip through JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from evergreen.contracts.model_spec import ModelSpec

OTHER = "__other__"
FORMAT = "evergreen.feature_encoder/1"

Frame = pd.DataFrame | pa.Table | pa.RecordBatch


@dataclass(frozen=True)
class FeatureEncoder:
    numeric: tuple[str, ...]
    categorical: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> FeatureEncoder:
        return cls(
            numeric=tuple(spec.features.numeric),
            categorical={name: tuple(vocab) for name, vocab in spec.features.categorical.items()},
        )

    # ---- what the matrix looks like ---------------------------------------------------------------------
    @property
    def feature_names(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    @property
    def feature_types(self) -> list[str]:
        """XGBoost feature types: "float" for numeric, "c" (categorical) for coded columns."""
        return ["float"] * len(self.numeric) + ["c"] * len(self.categorical)

    def other_code(self, name: str) -> int:
        return len(self.categorical[name])

    def codes(self, name: str) -> dict[str, int]:
        """Value -> code of a categorical feature, "other" included (for documentation and reports)."""
        vocab = self.categorical[name]
        return {**{v: i for i, v in enumerate(vocab)}, OTHER: len(vocab)}

    # ---- encoding ---------------------------------------------------------------------------------------
    def transform(self, frame: Frame) -> np.ndarray:
        """(rows, features) float32, C-ordered, in `feature_names` order."""
        columns = frame.column_names if isinstance(frame, pa.Table | pa.RecordBatch) else list(frame.columns)
        missing = [c for c in self.feature_names if c not in columns]
        if missing:
            raise KeyError(f"input lacks feature column(s) {missing}; expected {self.feature_names}")
        out = np.empty((len(frame), len(self.feature_names)), dtype=np.float32)
        for j, name in enumerate(self.numeric):
            out[:, j] = _numeric(frame[name])
        for j, (name, vocab) in enumerate(self.categorical.items(), start=len(self.numeric)):
            out[:, j] = _categorical(frame[name], vocab)
        return out

    # ---- persistence ------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        # Categorical features as a list, not a mapping: their order is the matrix's column order, and JSON
        # writers (sort_keys) and readers are free to reorder an object's keys.
        return {
            "format": FORMAT,
            "numeric": list(self.numeric),
            "categorical": [{"name": k, "values": list(v)} for k, v in self.categorical.items()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureEncoder:
        if data.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} encoder: format={data.get('format')!r}")
        return cls(
            numeric=tuple(data["numeric"]),
            categorical={c["name"]: tuple(c["values"]) for c in data["categorical"]},
        )


def _numeric(values: Any) -> np.ndarray:
    if isinstance(values, pa.ChunkedArray | pa.Array):
        if pa.types.is_boolean(values.type) or pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
            return values.cast(pa.float32()).to_numpy(zero_copy_only=False)  # nulls come out as NaN
        values = values.to_pandas()
    series = pd.Series(values)
    if series.dtype == object or isinstance(series.dtype, pd.StringDtype):
        series = pd.to_numeric(series, errors="coerce")
    return series.to_numpy(dtype=np.float32, na_value=np.nan)


def _categorical(values: Any, vocab: tuple[str, ...]) -> np.ndarray:
    other = np.float32(len(vocab))
    if isinstance(values, pa.ChunkedArray | pa.Array):
        if not pa.types.is_string(values.type) and not pa.types.is_large_string(values.type):
            values = values.cast(pa.string())
        index = pc.index_in(values, value_set=pa.array(vocab, type=values.type))  # null: unknown or null input
        codes = index.cast(pa.float32()).fill_null(other).to_numpy(zero_copy_only=False)
        nulls = values.is_null().to_numpy(zero_copy_only=False)
    else:
        series = pd.Series(values)
        nulls = series.isna().to_numpy()
        codes = pd.Categorical(series, categories=list(vocab)).codes  # -1: not in the vocabulary, or null
        codes = np.where(codes < 0, other, codes).astype(np.float32)
    return np.where(nulls, np.float32(np.nan), codes)
