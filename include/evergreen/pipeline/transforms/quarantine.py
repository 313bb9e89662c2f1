"""One shape for every quarantined row, whatever its source schema was.

A batch that broke its contract may have columns no other batch has; keeping the original record as
JSON gives quarantine one stable schema and loses nothing.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from evergreen.contracts import data_contract

REASON = data_contract.QUARANTINE_REASON


def to_quarantine(df: DataFrame, *, stage: str, reason: str | None = None) -> DataFrame:
    """Rows -> quarantine records. `reason` overrides a per-row `_quarantine_reason` column."""
    payload = [c for c in df.columns if c not in (REASON, "event_date")]
    reason_col = F.lit(reason) if reason is not None else F.col(REASON)
    key = F.col("transaction_id") if "transaction_id" in df.columns else F.lit(None).cast("string")
    return df.select(
        F.lit(stage).alias("stage"),
        reason_col.alias("reason"),
        key.cast("string").alias("record_key"),
        F.to_json(F.struct(*[F.col(f"`{c}`") for c in payload])).alias("record"),
        F.col(data_contract.BATCH_ID).alias("batch_id"),
    )


def reason_counts(quarantined: DataFrame) -> dict[str, int]:
    return {r["reason"]: r["count"] for r in quarantined.groupBy("reason").count().collect()}
