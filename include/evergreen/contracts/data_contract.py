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

# One transaction, as it lands (CSV or JSON Lines). `event_time` is ISO-8601 UTC.
TRANSACTION_COLUMNS: tuple[Column, ...] = (
    Column("transaction_id", STRING, key=True),
    Column("event_time", TIMESTAMP, key=True),
    Column("customer_id", STRING, key=True),
    Column("merchant_id", STRING, key=True),
    Column("amount", DOUBLE, min_value=0.01, max_value=50_000.0),
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

# Lineage columns ingest adds to every bronze row.
SOURCE_FILE, BATCH_ID, INGESTED_AT = "_source_file", "_batch_id", "_ingested_at"
# Clean adds this to every quarantined row.
QUARANTINE_REASON = "_quarantine_reason"


def names(columns: tuple[Column, ...]) -> list[str]:
    return [c.name for c in columns]


def column(columns: tuple[Column, ...], name: str) -> Column:
    for c in columns:
        if c.name == name:
            return c
    raise KeyError(name)
