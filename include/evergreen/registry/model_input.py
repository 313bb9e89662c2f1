"""A model's input frame in the types of the model's own signature, whatever a batch happened to hold.

pandas gives an integer column with a null float64 and the same column without one int64, and MLflow's
schema enforcement refuses int64 for a `double` column ("Can not safely convert int64 to float64"). So the
type a batch arrives in depends on its data, not on the contract; the model's signature is the contract at
this boundary. Every frame a registered model scores goes through `conform`: numbers are cast to the
signature's type when that loses nothing, and refused with one line naming the column when it would (a
null or a fraction for an integer column, text for a number).

Signatures take their numeric types from the gold contract (evergreen.registry.mlflow_log.as_model_input:
never-null counts `long`, every other number `double`); older signatures, inferred from whatever sample
training had, still score every batch that fits them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from mlflow.types import DataType


class ModelInputError(ValueError):
    """A batch cannot be given to the model in its signature's types without changing a value."""


_FLOAT = {DataType.double: np.float64, DataType.float: np.float32}
_INTEGER = {DataType.long: np.int64, DataType.integer: np.int32}


def signature_types(model: Any) -> dict[str, DataType]:
    """{column: MLflow type} of a pyfunc's input signature ({} without a named one)."""
    schema = model.metadata.get_input_schema()
    if schema is None or not schema.has_input_names():
        return {}
    return {c.name: c.type for c in schema.inputs}


def conform(frame: pd.DataFrame, types: dict[str, DataType], *, what: str = "batch") -> pd.DataFrame:
    """`frame` with each signature column cast to its signature type; other columns as they are."""
    out = {}
    for name in frame.columns:
        want = types.get(name)
        out[name] = frame[name] if want is None else _cast(frame[name], want, what)
    return pd.DataFrame(out, index=frame.index)


def _cast(col: pd.Series, want: DataType, what: str) -> pd.Series:
    name, have = col.name, col.dtype
    if want in _FLOAT:
        target = _FLOAT[want]
        if have == target:
            return col
        if pd.api.types.is_bool_dtype(have) or pd.api.types.is_numeric_dtype(have):
            values = col.astype("float64")  # nullable integers: <NA> -> NaN
            if pd.api.types.is_integer_dtype(have) and len(col):
                big = np.abs(col.dropna().to_numpy(dtype=np.float64)) > 2**53
                if big.any():
                    raise ModelInputError(f"{what}: column {name} holds integers too large for the model's {want.name}")
            return values.astype(target)
        if pd.api.types.is_object_dtype(have) and col.isna().all():
            return col.astype(target)  # an all-null column arrives as objects: nulls are NaN
        raise ModelInputError(f"{what}: column {name} is {have}, the model's signature wants {want.name}")
    if want in _INTEGER:
        target = _INTEGER[want]
        if have == target:
            return col
        if not (pd.api.types.is_numeric_dtype(have) or pd.api.types.is_bool_dtype(have)):
            raise ModelInputError(f"{what}: column {name} is {have}, the model's signature wants {want.name}")
        if col.isna().any():
            raise ModelInputError(
                f"{what}: column {name} has {int(col.isna().sum())} null(s) but the model's signature wants "
                f"{want.name} (no nulls); retrain the model: signatures now take their types from the gold contract"
            )
        values = col.to_numpy()
        if pd.api.types.is_float_dtype(have) and not np.all(np.mod(values, 1) == 0):
            raise ModelInputError(f"{what}: column {name} holds fractions but the model's signature wants {want.name}")
        info = np.iinfo(target)
        if len(values) and (values.min() < info.min or values.max() > info.max):
            raise ModelInputError(f"{what}: column {name} is out of the range of the model's {want.name}")
        return col.astype(target)
    if want == DataType.string:
        if pd.api.types.is_object_dtype(have) or pd.api.types.is_string_dtype(have):
            return col.astype(object)
        if col.isna().all():
            return col.astype(object)
        raise ModelInputError(f"{what}: column {name} is {have}, the model's signature wants a string")
    return col
