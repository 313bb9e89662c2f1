"""Great Expectations gates on staged batches, before they are committed to the lake.

`GateResult` is importable without GX. The gate functions load great_expectations (about 3 s) on first
use, so a DAG file that only reads stored gate results never pays for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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


def __getattr__(name: str) -> Any:
    if name in ("raw_contract_gate", "clean_quality_gate"):
        from evergreen.pipeline.quality import gates

        return getattr(gates, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
