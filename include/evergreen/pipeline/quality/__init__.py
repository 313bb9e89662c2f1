"""Great Expectations gates on staged batches, before they are committed to the lake.

`GateResult` is importable without GX. The gate functions load great_expectations (about 3 s) on first
use, so a DAG file that only reads stored gate results never pays for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from evergreen.common.lazy import lazy_attributes
from evergreen.pipeline.quality.gate_result import CLEAN_QUALITY, FAILED, PARTIAL, PASSED, RAW_CONTRACT, GateResult

if TYPE_CHECKING:
    from evergreen.pipeline.quality.gates import clean_quality_gate, raw_contract_gate

__all__ = [
    "CLEAN_QUALITY",
    "FAILED",
    "PARTIAL",
    "PASSED",
    "RAW_CONTRACT",
    "GateResult",
    "clean_quality_gate",
    "raw_contract_gate",
]


__getattr__ = lazy_attributes(__name__, {"raw_contract_gate": "gates", "clean_quality_gate": "gates"})
