"""Silver + arrived labels -> gold features, point-in-time correct.

Every aggregate for a transaction at time t uses only rows strictly before t (`rangeBetween(-w, -1)` on
epoch seconds), and the merchant's known fraud rate uses only labels whose `label_time` is before t. So a
feature row is the same whenever it is computed, as long as the inputs cover its look-back window.
The label on a gold row is the one known as of the run's `as_of` instant (null if not arrived yet).
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from evergreen.contracts import data_contract
from evergreen.pipeline.transforms.types import SPARK_TYPES

DAY = 86_400

# The model-facing columns, in order. Training reads this list; their types are the gold contract's
# (evergreen.contracts.data_contract.GOLD_COLUMNS).
FEATURE_COLUMNS = data_contract.names(data_contract.GOLD_FEATURE_COLUMNS)
# Features computed over prior windows of transactions or arrived labels: a lake younger than their window
# (or than the label delay) fills them in over its first weeks, so their distribution moves with its age.
HISTORY_FEATURES = tuple(FEATURE_COLUMNS[FEATURE_COLUMNS.index("cust_txn_count_24h") :])
ID_COLUMNS = data_contract.names(data_contract.GOLD_ID_COLUMNS)
LABEL_COLUMNS = data_contract.names(data_contract.GOLD_LABEL_COLUMNS)


def _window(key: str, seconds: int) -> Window:
    return Window.partitionBy(key).orderBy("ts").rangeBetween(-seconds, -1)


# Spark evaluates a bounded RANGE frame (`rangeBetween(-w, -1)`) by re-aggregating the whole frame for every
# row, so a merchant with n rows in its window costs n^2. A frame that starts at the partition's first row
# grows incrementally (O(n)), and for counts and integer sums "rows in [t - w, t - 1]" is exactly "rows up
# to t - 1" minus "rows up to t - w - 1". Same values, including null for a sum over no values.
def _count_before(key: str, seconds: int) -> F.Column:
    """`count(*)` over `_window(key, seconds)`, computed from two growing frames."""
    upto = Window.partitionBy(key).orderBy("ts")
    return F.count("*").over(upto.rangeBetween(Window.unboundedPreceding, -1)) - F.count("*").over(
        upto.rangeBetween(Window.unboundedPreceding, -seconds - 1)
    )


def _sum_before(column: str, key: str, seconds: int) -> F.Column:
    """`sum(column)` of an integer column over `_window(key, seconds)`, computed from growing frames."""
    upto = Window.partitionBy(key).orderBy("ts")
    prev, start = (
        upto.rangeBetween(Window.unboundedPreceding, -1),
        upto.rangeBetween(Window.unboundedPreceding, -seconds - 1),
    )
    values = F.count(column).over(prev) - F.count(column).over(start)
    total = F.coalesce(F.sum(column).over(prev), F.lit(0)) - F.coalesce(F.sum(column).over(start), F.lit(0))
    return F.when(values > 0, total)


def build_features(
    transactions: DataFrame,
    labels: DataFrame | None,
    customers: DataFrame,
    merchants: DataFrame,
    *,
    as_of: str,
    out_dates: list[str],
) -> DataFrame:
    """Gold rows for the transactions whose event_date is in `out_dates`.

    `transactions` must cover the look-back window (30 days before the first out date, plus the longest
    label delay for the merchant rate); `labels` are silver labels (any arrival date; the ones after
    `as_of` are ignored).
    """
    tx = transactions.select(*ID_COLUMNS, "amount", "currency", "category", "channel", "device", "country")
    tx = tx.withColumn("ts", F.col("event_time").cast("long"))

    cust = Window.partitionBy("customer_id").orderBy("ts")
    merchant_events = _merchant_label_events(tx, labels, as_of)
    tx = (
        tx.withColumn("cust_txn_count_24h", _count_before("customer_id", DAY))
        .withColumn("cust_txn_count_7d", _count_before("customer_id", 7 * DAY))
        .withColumn("cust_amount_mean_30d", F.avg("amount").over(_window("customer_id", 30 * DAY)))
        .withColumn(
            "cust_distinct_merchants_7d",
            F.size(F.collect_set("merchant_id").over(_window("customer_id", 7 * DAY))),
        )
        .withColumn(
            "secs_since_prev_txn",
            F.col("ts") - F.max("ts").over(cust.rangeBetween(Window.unboundedPreceding, -1)),
        )
        .withColumn("merchant_txn_count_7d", _count_before("merchant_id", 7 * DAY))
    )
    tx = tx.join(merchant_events, on="transaction_id", how="left")

    out = F.col("event_date").isin([F.lit(d).cast("date") for d in out_dates])
    tx = tx.filter(out)
    tx = tx.join(F.broadcast(customers), on="customer_id", how="left").join(
        F.broadcast(merchants), on="merchant_id", how="left"
    )
    gold = tx.select(
        *ID_COLUMNS,
        "amount",
        F.log1p(F.greatest(F.col("amount"), F.lit(0.0))).alias("log_amount"),
        F.hour("event_time").alias("hour"),
        F.dayofweek("event_time").alias("weekday"),
        "currency",
        "category",
        "channel",
        "device",
        "country",
        F.datediff("event_date", "signup_date").alias("customer_age_days"),
        F.coalesce(F.col("segment"), F.lit("unknown")).alias("customer_segment"),
        (F.col("country") != F.col("home_country")).cast("int").alias("country_mismatch"),
        F.datediff("event_date", "onboarded_date").alias("merchant_age_days"),
        "cust_txn_count_24h",
        "cust_txn_count_7d",
        "cust_amount_mean_30d",
        (F.col("amount") / F.col("cust_amount_mean_30d")).alias("amount_to_cust_mean_30d"),
        "cust_distinct_merchants_7d",
        "secs_since_prev_txn",
        "merchant_txn_count_7d",
        "merchant_known_fraud_rate_30d",
        F.coalesce(F.col("merchant_known_labels_30d"), F.lit(0)).alias("merchant_known_labels_30d"),
    )
    return with_gold_types(_attach_labels(gold, labels, as_of))


def with_gold_types(gold: DataFrame) -> DataFrame:
    """Gold's columns, in the contract's order and types, whatever the expressions that built them gave."""
    return gold.select(*[F.col(c.name).cast(SPARK_TYPES[c.type]).alias(c.name) for c in data_contract.GOLD_COLUMNS])


def _merchant_label_events(tx: DataFrame, labels: DataFrame | None, as_of: str) -> DataFrame:
    """Per transaction: labels of the same merchant that became known in the 30 days before it.

    Transactions and label arrivals are put on one time line per merchant; a window over the arrivals
    strictly before each transaction counts what was knowable at that moment.
    """
    rows = tx.select("merchant_id", "ts", "transaction_id", F.lit(0).alias("fraud"), F.lit(0).alias("known"))
    if labels is not None:
        # Each transaction counts once, from its *first* label's arrival: a later correction must not move
        # that moment into the future of rows that already saw it.
        first = Window.partitionBy("transaction_id").orderBy(F.col("label_time").asc(), F.col("is_fraud").desc())
        arrived = (
            labels.filter(F.col("label_time") <= _end_of(as_of))
            .withColumn("_n", F.row_number().over(first))
            .filter(F.col("_n") == 1)
            .select("transaction_id", "is_fraud", F.col("label_time").cast("long").alias("ts"))
            .join(tx.select("transaction_id", "merchant_id"), on="transaction_id", how="inner")
            .select(
                "merchant_id",
                "ts",
                F.lit(None).cast("string").alias("transaction_id"),
                F.col("is_fraud").alias("fraud"),
                F.lit(1).alias("known"),
            )
        )
        rows = rows.unionByName(arrived)
    return (
        rows.withColumn("merchant_known_labels_30d", _sum_before("known", "merchant_id", 30 * DAY))
        .withColumn("merchant_frauds_30d", _sum_before("fraud", "merchant_id", 30 * DAY))
        .filter(F.col("transaction_id").isNotNull())
        .select(
            "transaction_id",
            F.col("merchant_known_labels_30d").cast("long").alias("merchant_known_labels_30d"),
            F.when(
                F.col("merchant_known_labels_30d") > 0,
                F.col("merchant_frauds_30d") / F.col("merchant_known_labels_30d"),
            ).alias("merchant_known_fraud_rate_30d"),
        )
    )


def _attach_labels(gold: DataFrame, labels: DataFrame | None, as_of: str) -> DataFrame:
    if labels is None:
        return gold.withColumn("is_fraud", F.lit(None).cast("int")).withColumn(
            "label_time", F.lit(None).cast("timestamp")
        )
    return gold.join(known_labels(labels, as_of), on="transaction_id", how="left")


def known_labels(labels: DataFrame, as_of: str) -> DataFrame:
    """One label per transaction: the latest that had arrived by the end of `as_of`."""
    latest = Window.partitionBy("transaction_id").orderBy(F.col("label_time").desc(), F.col("is_fraud").desc())
    return (
        labels.filter(F.col("label_time") <= _end_of(as_of))
        .withColumn("_n", F.row_number().over(latest))
        .filter(F.col("_n") == 1)
        .select("transaction_id", *LABEL_COLUMNS)
    )


def _end_of(day: str) -> F.Column:
    """The last instant of a run day: labels that arrived during the day count as known."""
    return F.to_timestamp(F.lit(f"{day} 23:59:59"))
