"""gold/features + silver refund disputes -> gold/disputes: each purchase with its dispute outcome as known then.

The outcome of a purchase is known at the end of its *cut day*: the run day, or the day its dispute window
closes (`event_date` + DISPUTE_WINDOW_DAYS) if that is earlier. As of then:

* `is_disputed` = 1 when a dispute for it had been delivered (its raise-day folder on or before the cut day)
  and was raised inside the window (`event_time` <= `raised_at` <= `event_time` + window);
  `dispute_label_time` = the first such dispute's `raised_at`;
* else 0 once the window has closed (`event_time` + window <= the end of the cut day); `dispute_label_time` =
  `event_time` + window (the moment "not disputed" became certain);
* else null (it may still be disputed), and so is `dispute_label_time`.

A dispute delivered after the cut day is invisible, so a day's gold is the same whenever it is rebuilt for the
same run day; building for run days D1 < ... < Dn one after the other leaves the same gold as building
once for Dn from D1 (each event day ends with the outcome known at its last cut).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from evergreen.contracts import data_contract
from evergreen.pipeline.transforms.types import SPARK_TYPES

DISPUTE_COLUMNS = data_contract.GOLD_DISPUTE_COLUMNS
KEEP = data_contract.names((*data_contract.GOLD_ID_COLUMNS, *data_contract.GOLD_FEATURE_COLUMNS))
DELIVERED = data_contract.DISPUTES.partition_key  # the raise-day folder a dispute landed in


def dispute_gold(features: DataFrame, disputes: DataFrame | None, *, as_of: str, window_days: int) -> DataFrame:
    """gold/disputes rows for the gold/features rows given, labelled as known at each row's cut day (see the
    module doc); `disputes` are silver disputes (None: none delivered yet)."""
    cut = F.least(F.lit(as_of).cast("date"), F.date_add("event_date", window_days))
    rows = features.select(*KEEP).withColumn("_cut", cut).withColumn("_cut_end", _end_of(cut))
    closes = F.col("event_time") + F.expr(f"INTERVAL {window_days} DAYS")
    rows = rows.withColumn("_closes", closes)
    if disputes is None:
        rows = rows.withColumn("_first", F.lit(None).cast("timestamp"))
    else:
        known = (
            rows.select("transaction_id", "event_time", "_closes", "_cut", "_cut_end")
            .join(disputes.select("transaction_id", "raised_at", DELIVERED), on="transaction_id", how="inner")
            .filter(
                (F.col(DELIVERED) <= F.col("_cut"))
                & (F.col("raised_at") <= F.col("_cut_end"))
                & F.col("raised_at").between(F.col("event_time"), F.col("_closes"))
            )
            .groupBy("transaction_id")
            .agg(F.min("raised_at").alias("_first"))
        )
        rows = rows.join(known, on="transaction_id", how="left")
    decided = F.col("_closes") <= F.col("_cut_end")
    labelled = rows.select(
        *KEEP,
        F.when(F.col("_first").isNotNull(), F.lit(1)).when(decided, F.lit(0)).alias("is_disputed"),
        F.when(F.col("_first").isNotNull(), F.col("_first"))
        .when(decided, F.col("_closes"))
        .alias("dispute_label_time"),
    )
    return labelled.select(*[F.col(c.name).cast(SPARK_TYPES[c.type]).alias(c.name) for c in DISPUTE_COLUMNS])


def _end_of(day: F.Column) -> F.Column:
    """The last instant of a day (UTC, the session's zone): what arrived during it counts as known."""
    return F.to_timestamp(F.concat(day.cast("string"), F.lit(" 23:59:59")))
