"""One shape for every quarantined row, whatever its source schema was.

A batch that broke its contract may have columns no other batch has; keeping the original record as
JSON gives quarantine one stable schema and loses nothing. A record keeps what landed: a row's typed
columns plus `_raw` (the text of every value that did not type), or, for a file refused before it was
parsed, the line itself (`_line`, or `_line_base64` for bytes that are not text in the file's encoding).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from evergreen.contracts import data_contract

REASON = data_contract.QUARANTINE_REASON
# Stages, in the order a row meets them. Ingest writes the first two; clean adds its own to what ingest wrote.
LANDING_FILE, RAW_CONTRACT, CLEAN, CLEAN_QUALITY = "landing_file", "raw_contract", "clean", "clean_quality"
INGEST_STAGES = (LANDING_FILE, RAW_CONTRACT)
COLUMNS = ("stage", "reason", "record_key", "record", "batch_id")
# A feed's day column is the batch's, not the record's: left out of `record`.
_PARTITION_COLUMNS = tuple(s.partition_key for s in data_contract.SOURCES.values())


def to_quarantine(df: DataFrame, *, stage: str, reason: str | None = None) -> DataFrame:
    """Rows -> quarantine records. `reason` overrides a per-row `_quarantine_reason` column."""
    payload = [c for c in df.columns if c not in (REASON, *_PARTITION_COLUMNS)]
    reason_col = F.lit(reason) if reason is not None else F.col(REASON)
    key = F.col("transaction_id") if "transaction_id" in df.columns else F.lit(None).cast("string")
    return df.select(
        F.lit(stage).alias("stage"),
        reason_col.alias("reason"),
        key.cast("string").alias("record_key"),
        F.to_json(F.struct(*[F.col(f"`{c}`") for c in payload])).alias("record"),
        F.col(data_contract.BATCH_ID).alias("batch_id"),
    )


def reason_kind() -> F.Column:
    """A reason without the value it quotes: "amount not a number: 'abc'" counts as "amount not a number"."""
    return F.when(F.col("reason").contains(": '"), F.substring_index("reason", ": '", 1)).otherwise(F.col("reason"))


def reason_counts(quarantined: DataFrame) -> dict[str, int]:
    return {r["kind"]: r["count"] for r in quarantined.groupBy(reason_kind().alias("kind")).count().collect()}
