"""What a gate hands back to the job that called it. Plain data: no GX, no Spark, so a DAG task can
read a stored result without importing either."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

RAW_CONTRACT, CLEAN_QUALITY = "raw_contract", "clean_quality"
PASSED, PARTIAL, FAILED = "passed", "partial", "failed"


@dataclass
class GateResult:
    gate: str  # RAW_CONTRACT or CLEAN_QUALITY
    batch_id: str  # e.g. "transactions-2026-01-03"
    status: str  # PASSED | PARTIAL | FAILED
    reason: str  # one human-readable line
    row_count: int
    # One entry per unsuccessful expectation: expectation, column, observed, expected.
    failed_expectations: list[dict[str, Any]] = field(default_factory=list)
    statistics: dict[str, Any] = field(default_factory=dict)
    result_path: str | None = None  # full GX validation result (JSON)
    docs_path: str | None = None  # Data Docs HTML page of this validation

    @property
    def passed(self) -> bool:
        """A partial batch still flows on; only a failed one is stopped."""
        return self.status != FAILED

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), default=str, **kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateResult:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
