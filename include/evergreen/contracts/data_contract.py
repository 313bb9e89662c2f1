"""The data contract of the fraud source, in one place.

Everything that writes, reads or checks these datasets takes column names, types, allowed values and
ranges from here: the generator writes them, ingest types them, clean enforces them, GX gates check them.
Pure Python on purpose: no Spark, no GX, so any room can import it.
"""

from __future__ import annotations

from dataclasses import dataclass

# Logical types, mapped to Spark / pandas / SQL by the room that needs them.
STRING, DOUBLE, LONG, TIMESTAMP, DATE, INT = "string", "double", "long", "timestamp", "date", "int"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool = True  # must be present in every landing file
    key: bool = False  # a null here makes the row unusable (quarantine)
    not_null: bool = False  # not a key, but a null here is a broken row too (and a burst of them a broken file)
    allowed: tuple[str, ...] | None = None
    min_value: float | None = None
    max_value: float | None = None


CURRENCIES = ("EUR", "USD", "GBP")
CATEGORIES = (
    "grocery",
    "fashion",
    "electronics",
    "home",
    "beauty",
    "travel",
    "gaming",
    "digital_goods",
)
# `new_merchant_category` introduces this one: outside the contract's allowed list on purpose, so the
# gates see it as drift in the allowed values, not as a broken file.
NEW_CATEGORY = "crypto_vouchers"
CHANNELS = ("web", "app", "pos")
DEVICES = ("desktop", "mobile", "tablet", "terminal")
COUNTRIES = ("DE", "FR", "GB", "US", "NL", "ES", "IT", "PL", "BR", "NG", "IN", "CN")
SEGMENTS = ("new", "regular", "loyal", "business")
# What clean (and the features step, for a customer without a segment) fills a null code with.
UNKNOWN = "unknown"

# One transaction, as it lands (CSV or JSON Lines). `event_time` is ISO-8601 UTC.
TRANSACTION_COLUMNS: tuple[Column, ...] = (
    Column("transaction_id", STRING, key=True),
    Column("event_time", TIMESTAMP, key=True),
    Column("customer_id", STRING, key=True),
    Column("merchant_id", STRING, key=True),
    Column("amount", DOUBLE, not_null=True, min_value=0.01, max_value=50_000.0),
    Column("currency", STRING, allowed=CURRENCIES),
    # No closed list: merchants add categories (see NEW_CATEGORY); a new one is drift, not a broken row.
    Column("category", STRING),
    Column("channel", STRING, allowed=CHANNELS),
    Column("device", STRING, allowed=DEVICES),
    Column("country", STRING, allowed=COUNTRIES),
)

# Labels arrive days after the transaction, as their own feed (chargebacks, manual review).
LABEL_COLUMNS: tuple[Column, ...] = (
    Column("transaction_id", STRING, key=True),
    Column("is_fraud", INT, key=True, min_value=0, max_value=1),
    Column("label_time", TIMESTAMP, key=True),  # when the label became known
)

# Refund disputes a customer opens with the card issuer ("I never got it"), their own feed: delivered by the day
# they were raised, 2 to DISPUTE_WINDOW_DAYS days after the purchase. Not fraud: a cardholder does not dispute
# a payment someone else made this way (that is a chargeback, the label feed).
DISPUTE_REASONS = ("not_received", "not_as_described", "duplicate_charge")
# A purchase can be disputed for this many days; after that its answer is "not disputed" for good.
DISPUTE_WINDOW_DAYS = 14
DISPUTE_COLUMNS: tuple[Column, ...] = (
    Column("dispute_id", STRING, key=True),
    Column("transaction_id", STRING, key=True),
    Column("raised_at", TIMESTAMP, key=True),  # when the customer opened it: ISO-8601 UTC
    Column("reason_code", STRING, not_null=True, allowed=DISPUTE_REASONS),
)

# Source tables in the operational database (SQLAlchemy).
CUSTOMER_COLUMNS: tuple[Column, ...] = (
    Column("customer_id", STRING, key=True),
    Column("signup_date", DATE),
    Column("home_country", STRING, allowed=COUNTRIES),
    Column("segment", STRING, allowed=SEGMENTS),
)
MERCHANT_COLUMNS: tuple[Column, ...] = (
    Column("merchant_id", STRING, key=True),
    Column("merchant_category", STRING),
    Column("merchant_country", STRING, allowed=COUNTRIES),
    Column("onboarded_date", DATE),
)

# Gold: one row per transaction, the model's features and the label known so far. Written with exactly these
# types whatever a batch holds (all-null, no null, empty): Spark would otherwise take each column's type from
# the expression that built it. A LONG feature is never null (counts: 0 when there is nothing to count): a
# number that can be missing is a DOUBLE (or a 32-bit INT), because pandas holds a missing 64-bit integer
# only as a float, so its type would depend on whether a batch happened to hold a null. The model's
# signature follows these types (evergreen.registry.mlflow_log.as_model_input).
GOLD_ID_COLUMNS: tuple[Column, ...] = (
    Column("transaction_id", STRING, key=True),
    Column("event_time", TIMESTAMP, key=True),
    Column("customer_id", STRING, key=True),
    Column("merchant_id", STRING, key=True),
    Column("event_date", DATE, key=True),
)
GOLD_FEATURE_COLUMNS: tuple[Column, ...] = (
    Column("amount", DOUBLE),
    Column("log_amount", DOUBLE),
    Column("hour", INT),
    Column("weekday", INT),
    Column("currency", STRING),
    Column("category", STRING),
    Column("channel", STRING),
    Column("device", STRING),
    Column("country", STRING),
    Column("customer_age_days", INT),
    Column("customer_segment", STRING),
    Column("country_mismatch", INT),
    Column("merchant_age_days", INT),
    Column("cust_txn_count_24h", LONG),
    Column("cust_txn_count_7d", LONG),
    Column("cust_amount_mean_30d", DOUBLE),
    Column("amount_to_cust_mean_30d", DOUBLE),
    Column("cust_distinct_merchants_7d", INT),
    Column("secs_since_prev_txn", DOUBLE),  # null on a customer's first transaction
    Column("merchant_txn_count_7d", LONG),
    Column("merchant_known_fraud_rate_30d", DOUBLE),
    Column("merchant_known_labels_30d", LONG),
)
GOLD_LABEL_COLUMNS: tuple[Column, ...] = (Column("is_fraud", INT), Column("label_time", TIMESTAMP))
GOLD_COLUMNS = (*GOLD_ID_COLUMNS, *GOLD_FEATURE_COLUMNS, *GOLD_LABEL_COLUMNS)
# gold/disputes: the rows and features of gold/features with the dispute outcome known as of the run day.
# `is_disputed` is 1 once a dispute was raised, 0 once the purchase is older than DISPUTE_WINDOW_DAYS without
# one, null before that; `dispute_label_time` is when that answer became known (the first dispute's
# `raised_at`, or the purchase time plus the window).
GOLD_DISPUTE_LABEL_COLUMNS: tuple[Column, ...] = (
    Column("is_disputed", INT),
    Column("dispute_label_time", TIMESTAMP),
)
GOLD_DISPUTE_COLUMNS = (*GOLD_ID_COLUMNS, *GOLD_FEATURE_COLUMNS, *GOLD_DISPUTE_LABEL_COLUMNS)
# The gold tables a model spec may name as its source (`source.table`), with their contracts.
GOLD_TABLES: dict[str, tuple[Column, ...]] = {"features": GOLD_COLUMNS, "disputes": GOLD_DISPUTE_COLUMNS}
# The values a coded gold column can hold: the contract's lists, plus the fill for a null code where the
# pipeline fills one (currency is never null in gold: a row without one is quarantined). A model spec's row
# selection (`source.where`) may name only these. `category` is open upstream (a new one is drift, not a
# broken row), but a spec can select only the known ones.
GOLD_VOCABULARIES: dict[str, tuple[str, ...]] = {
    "currency": CURRENCIES,
    "category": (*CATEGORIES, UNKNOWN),
    "channel": (*CHANNELS, UNKNOWN),
    "device": (*DEVICES, UNKNOWN),
    "country": (*COUNTRIES, UNKNOWN),
    "customer_segment": (*SEGMENTS, UNKNOWN),
}

# Lineage columns ingest adds to every bronze row.
SOURCE_FILE, BATCH_ID, INGESTED_AT = "_source_file", "_batch_id", "_ingested_at"
# Bronze keeps the landed text of every field that did not parse as its contract type ({column: text}), so a
# quarantined row can be fixed and replayed; a JSON Lines line that is not an object keeps its text here too.
RAW, CORRUPT_RECORD = "_raw", "_corrupt_record"


@dataclass(frozen=True)
class Source:
    """A landing feed: where its files land, what each file must hold, how its bytes are to be read.

    Every landing file is checked on its own against this (evergreen.pipeline.quality.file_gate): readable,
    in its declared encoding, not empty, a header (CSV) or keys (JSON Lines) naming exactly `columns`,
    values of the contract types. A file that is not is quarantined whole; the day's other files go on.
    """

    name: str  # the landing folder and the lake table: landing/<name>/<day>/, bronze/<name>
    columns: tuple[Column, ...]
    partition_key: str  # the day column of bronze and silver
    # Files are UTF-8 unless declared here (by file name): a byte that is not valid in the file's encoding
    # refuses the file, it is never replaced. Only encodings that spell \n, \r and the delimiter as
    # ASCII do (the files are split into lines as bytes).
    encoding: str = "utf-8"
    file_encodings: tuple[tuple[str, str], ...] = ()
    delimiter: str = ","
    # A longer line means the file lost its line structure (or is not text): the file is refused rather
    # than handed to the reader as one giant record.
    max_line_bytes: int = 8 * 1024 * 1024
    # A feed that may have nothing on a day (disputes): a CSV file with a header alone is "no rows today" and
    # is accepted; elsewhere it is a broken file. A 0-byte file is refused either way (a failed upload looks
    # the same).
    sparse: bool = False

    def encoding_of(self, file_name: str) -> str:
        return dict(self.file_encodings).get(file_name, self.encoding)


TRANSACTIONS = Source("transactions", TRANSACTION_COLUMNS, "event_date")
LABELS = Source("labels", LABEL_COLUMNS, "label_date")
# Its own feed and its own job (`ingest_disputes`): ingest_daily reads transactions and labels only.
DISPUTES = Source("disputes", DISPUTE_COLUMNS, "raised_date", sparse=True)
# Every landing feed, by name (its landing folder and lake table).
SOURCES = {s.name: s for s in (TRANSACTIONS, LABELS, DISPUTES)}
# Clean adds this to every quarantined row.
QUARANTINE_REASON = "_quarantine_reason"


def checked_not_null(columns: tuple[Column, ...]) -> list[Column]:
    """Columns whose nulls the raw gates count: keys and the not-null ones."""
    return [c for c in columns if c.key or c.not_null]


def names(columns: tuple[Column, ...]) -> list[str]:
    return [c.name for c in columns]


def column(columns: tuple[Column, ...], name: str) -> Column:
    for c in columns:
        if c.name == name:
            return c
    raise KeyError(name)
