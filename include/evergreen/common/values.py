"""JSON-safe values shared by every room (audit rows, drift reports, step reports)."""

from __future__ import annotations

import json
import math
from typing import Any


def clean_json(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null (JSON has no NaN), numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_json(value: Any) -> str | None:
    return None if value is None else json.dumps(clean_json(value), sort_keys=True, default=str)
