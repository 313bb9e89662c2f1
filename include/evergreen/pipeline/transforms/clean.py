"""Bronze -> silver: one rule set, stated once.

Every bronze row gets either no reason (it goes to silver) or exactly one quarantine reason (the first
rule it breaks, in the order below). Null policy:

- key columns (transaction_id, event_time, customer_id, merchant_id) null -> quarantine `null_<col>`;
- `amount` null -> quarantine `null_amount`; outside the contract range -> `amount_out_of_range`;
- `currency` null or not allowed -> `unknown_currency` (an amount without a currency is meaningless);
- `channel`, `device`, `country`, `category` null -> filled with "unknown" (a missing device tells the
  model something; dropping the payment would lose a real transaction); a non-null value outside the
  allowed list -> quarantine `unknown_<col>` (category has no closed list: merchants add categories);
- `event_time` on another day than its batch -> `event_time_outside_batch_day` (late data is
  re-landed in its own day's drop, never smeared into this one);
- among the rows left, duplicate `transaction_id`s: the first by (event_time, every other column) is kept,
  the rest -> `duplicate_transaction_id`.

Labels and refund disputes (their own feeds) have rules of their own below: `clean_labels`, `clean_disputes`.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from evergreen.contracts import data_contract
from evergreen.pipeline.quality.file_gate import EXAMPLE_CHARS, type_word
from evergreen.pipeline.transforms.ingest import CORRUPT, RAW, RAW_TYPE
from evergreen.pipeline.transforms.quarantine import REASON

UNKNOWN = "unknown"
FILLED = ("channel", "device", "country", "category")
SILVER_COLUMNS = [
    *data_contract.names(data_contract.TRANSACTION_COLUMNS),
    data_contract.SOURCE_FILE,
    data_contract.BATCH_ID,
    "event_date",
]


def _untyped(c: data_contract.Column) -> tuple[F.Column, F.Column]:
    """The rule for a value that landed but did not cast: the reason quotes it as it landed."""
    value = F.col(RAW)[c.name]
    shown = F.when(F.length(value) > EXAMPLE_CHARS, F.concat(F.substring(value, 1, EXAMPLE_CHARS), F.lit("...")))
    shown = F.regexp_replace(F.regexp_replace(shown.otherwise(value), "\r", "\\\\r"), "\n", "\\\\n")
    return value.isNotNull(), F.concat(F.lit(f"{c.name} not {type_word(c.type)}: '"), shown, F.lit("'"))


def _row_rules(contract: tuple[data_contract.Column, ...]) -> list[tuple[F.Column, F.Column | str]]:
    """Malformed lines, then per contract column: not of its type, null where a value is required."""
    rules: list[tuple[F.Column, F.Column | str]] = [(F.col(CORRUPT).isNotNull(), "malformed_record")]
    for c in contract:
        if c.type != data_contract.STRING:
            rules.append(_untyped(c))
        if c.key or c.not_null:
            rules.append((F.col(c.name).isNull(), f"null_{c.name}"))
    return rules


def with_raw(bronze: DataFrame) -> DataFrame:
    """Bronze written before `_raw` existed reads as if every value had typed."""
    return bronze if RAW in bronze.columns else bronze.withColumn(RAW, F.create_map().cast(RAW_TYPE))


def _rules(contract: tuple[data_contract.Column, ...]) -> list[tuple[F.Column, F.Column | str]]:
    rules = _row_rules([c for c in contract if c.key or c.type != data_contract.STRING])
    rules.append((F.to_date("event_time") != F.col("event_date"), "event_time_outside_batch_day"))
    amount = data_contract.column(contract, "amount")
    rules.append((~F.col("amount").between(amount.min_value, amount.max_value), "amount_out_of_range"))
    rules.append((~F.coalesce(F.col("currency").isin(*data_contract.CURRENCIES), F.lit(False)), "unknown_currency"))
    for c in contract:
        if c.allowed and c.name in FILLED:
            rules.append((F.col(c.name).isNotNull() & ~F.col(c.name).isin(*c.allowed), f"unknown_{c.name}"))
    return rules


def first_reason(rules: list[tuple[F.Column, F.Column | str]]) -> F.Column:
    """The reason of the first rule a row breaks (null: it breaks none)."""
    reason = F.lit(None).cast("string")
    for condition, name in reversed(rules):
        reason = F.when(condition, F.lit(name) if isinstance(name, str) else name).otherwise(reason)
    return reason


def mark_duplicates(checked: DataFrame, key: str, order: list[F.Column], reason: str) -> DataFrame:
    """Among the rows that broke no rule, the first per `key` by `order` stays; the others get `reason`. Rows
    that broke no rule sort first (a valid copy never loses to a rejected one); `order` should name every
    column, so a re-run keeps the same row."""
    rank = F.row_number().over(Window.partitionBy(key).orderBy(F.col(REASON).isNull().desc(), *order))
    return checked.withColumn(
        REASON, F.when(F.col(REASON).isNull() & (rank > 1), F.lit(reason)).otherwise(F.col(REASON))
    )


def clean_transactions(bronze: DataFrame) -> tuple[DataFrame, DataFrame]:
    """Split one batch of bronze transactions into (silver rows, rejected rows with `_quarantine_reason`)."""
    checked = with_raw(bronze).withColumn(REASON, first_reason(_rules(data_contract.TRANSACTION_COLUMNS)))
    order = [F.col("event_time").asc_nulls_last(), *[F.col(c).asc_nulls_last() for c in SILVER_COLUMNS]]
    checked = mark_duplicates(checked, "transaction_id", order, "duplicate_transaction_id")

    silver = checked.filter(F.col(REASON).isNull()).select(
        *[F.coalesce(F.col(c), F.lit(UNKNOWN)).alias(c) if c in FILLED else F.col(c) for c in SILVER_COLUMNS]
    )
    rejected = checked.filter(F.col(REASON).isNotNull())
    return silver, rejected


def clean_labels(bronze: DataFrame) -> tuple[DataFrame, DataFrame]:
    """Labels: keys must be present and is_fraud 0/1; a transaction labelled twice keeps its latest label."""
    rules = _row_rules(data_contract.LABEL_COLUMNS)
    rules.append((~F.col("is_fraud").isin(0, 1), "is_fraud_not_0_or_1"))
    checked = with_raw(bronze).withColumn(REASON, first_reason(rules))
    rank = F.row_number().over(
        Window.partitionBy("transaction_id").orderBy(F.col("label_time").desc(), F.col("is_fraud").desc())
    )
    checked = checked.withColumn(
        REASON,
        F.when(F.col(REASON).isNull() & (rank > 1), F.lit("superseded_label")).otherwise(F.col(REASON)),
    )
    keep = [
        *data_contract.names(data_contract.LABEL_COLUMNS),
        data_contract.SOURCE_FILE,
        data_contract.BATCH_ID,
        "label_date",
    ]
    return checked.filter(F.col(REASON).isNull()).select(*keep), checked.filter(F.col(REASON).isNotNull())


DISPUTE_SILVER_COLUMNS = [
    *data_contract.names(data_contract.DISPUTE_COLUMNS),
    data_contract.SOURCE_FILE,
    data_contract.BATCH_ID,
    data_contract.DISPUTES.partition_key,
]


def clean_disputes(bronze: DataFrame) -> tuple[DataFrame, DataFrame]:
    """Refund disputes of one raise day: malformed lines, values not of their type, null keys and reasons, a
    reason outside the contract's list (`unknown_reason_code`), a dispute raised after the day its file was
    delivered (`raised_at_after_batch_day`: it cannot have been known yet), then the same `dispute_id` twice
    (`duplicate_dispute_id`: an exact re-send, or a conflicting copy; the earliest by `raised_at`, then by
    every column, is kept). A dispute raised before its delivery day is fine: the issuer sent it late."""
    day = data_contract.DISPUTES.partition_key
    reasons = data_contract.column(data_contract.DISPUTE_COLUMNS, "reason_code").allowed
    rules = _row_rules(data_contract.DISPUTE_COLUMNS)
    rules.append((~F.col("reason_code").isin(*reasons), "unknown_reason_code"))
    rules.append((F.to_date("raised_at") > F.col(day), "raised_at_after_batch_day"))
    checked = with_raw(bronze).withColumn(REASON, first_reason(rules))
    order = [F.col("raised_at").asc_nulls_last(), *[F.col(c).asc_nulls_last() for c in DISPUTE_SILVER_COLUMNS]]
    checked = mark_duplicates(checked, "dispute_id", order, "duplicate_dispute_id")
    return checked.filter(F.col(REASON).isNull()).select(*DISPUTE_SILVER_COLUMNS), checked.filter(
        F.col(REASON).isNotNull()
    )
