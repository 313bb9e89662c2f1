"""The gates' expectation suites, built in code from the data contract (`evergreen.contracts.data_contract`) and the
gate thresholds in settings. Nothing here is hand-edited JSON: the suites GX stores are written from
these functions on every change.
"""

from __future__ import annotations

from typing import Any

from evergreen.config import Settings
from evergreen.contracts import data_contract
from evergreen.pipeline.quality._gx import PANDAS, SPARK, gx

CORRUPT_RECORD = data_contract.CORRUPT_RECORD
EVENT_DATE = "event_date"
UNKNOWN = "unknown"  # what clean fills categorical nulls with
AMOUNT = "amount"

# Columns whose allowed values are a contract: a batch where many break is a broken feed. `category`
# is left out on purpose: a new merchant category is drift in the allowed values (data_contract.NEW_CATEGORY),
# which the drift monitor reports; it must not stop the pipeline.
ALLOWED_VALUE_COLUMNS = tuple(c.name for c in data_contract.TRANSACTION_COLUMNS if c.allowed)

# How each logical type shows up to GX's type check. Spark reports its own types; the pandas frame
# comes from `toPandas()` through Arrow, which maps string -> object, double -> float64 and
# timestamp -> datetime64[ns] (naive, in the session time zone).
ENGINE_TYPES = {
    SPARK: {
        data_contract.STRING: "StringType",
        data_contract.DOUBLE: "DoubleType",
        data_contract.TIMESTAMP: "TimestampType",
    },
    PANDAS: {
        data_contract.STRING: "object",
        data_contract.DOUBLE: "float64",
        data_contract.TIMESTAMP: "datetime64[ns]",
    },
}

# Parameters of the clean suite's day-over-day row-count check, given per run.
MIN_ROWS, MAX_ROWS = "min_row_count", "max_row_count"


def raw_columns() -> list[str]:
    """The exact column set of a staged bronze batch."""
    return [
        *data_contract.names(data_contract.TRANSACTION_COLUMNS),
        data_contract.RAW,
        data_contract.SOURCE_FILE,
        data_contract.BATCH_ID,
        data_contract.INGESTED_AT,
        CORRUPT_RECORD,
        EVENT_DATE,
    ]


def raw_contract(engine: str, s: Settings) -> list[Any]:
    contract = data_contract.TRANSACTION_COLUMNS
    types = ENGINE_TYPES[engine]
    non_null_share = 1.0 - s.null_burst_tolerance
    ex = gx.expectations
    suite: list[Any] = [
        # A renamed, missing or extra column fails here and names itself in the result.
        ex.ExpectTableColumnsToMatchSet(column_set=raw_columns(), exact_match=True),
        ex.ExpectTableRowCountToBeBetween(min_value=1, max_value=None),
    ]
    suite += [ex.ExpectColumnValuesToBeOfType(column=c.name, type_=types[c.type]) for c in contract]
    # A value that failed its cast is null, so this also catches a burst of unparseable keys/amounts.
    suite += [
        ex.ExpectColumnValuesToNotBeNull(column=c.name, mostly=non_null_share)
        for c in data_contract.checked_not_null(contract)
    ]
    # Individual bad rows are clean's job; many in a batch is a broken feed.
    suite += [
        ex.ExpectColumnValuesToBeInSet(
            column=name,
            value_set=list(data_contract.column(contract, name).allowed or ()),
            mostly=1.0 - s.allowed_values_tolerance,
        )
        for name in ALLOWED_VALUE_COLUMNS
    ]
    return suite


def clean_quality(s: Settings) -> list[Any]:
    del s  # the clean thresholds are absolute; the row-count tolerance arrives as run parameters
    contract = data_contract.TRANSACTION_COLUMNS
    amount = data_contract.column(contract, AMOUNT)
    ex = gx.expectations
    suite: list[Any] = [
        ex.ExpectColumnValuesToBeUnique(column="transaction_id"),
        ex.ExpectColumnValuesToBeBetween(column=AMOUNT, min_value=amount.min_value, max_value=amount.max_value),
        ex.ExpectTableRowCountToBeBetween(min_value={"$PARAMETER": MIN_ROWS}, max_value={"$PARAMETER": MAX_ROWS}),
    ]
    suite += [ex.ExpectColumnValuesToNotBeNull(column=c.name) for c in contract if c.key]
    suite += [
        ex.ExpectColumnValuesToBeInSet(
            column=name, value_set=[*(data_contract.column(contract, name).allowed or ()), UNKNOWN]
        )
        for name in ALLOWED_VALUE_COLUMNS
    ]
    return suite


def row_count_parameters(
    previous_row_count: int | None, tolerance: float, *, partial: bool = False
) -> dict[str, float | None]:
    """Bounds for today's silver rows: the previous complete day's count +- tolerance, or at least one row
    when there is none (a batch that clean emptied entirely is a failed batch, not a quiet day). `partial`:
    files of the day were refused (named in quarantine), so no lower bound but one row."""
    if previous_row_count is None:
        return {MIN_ROWS: 1, MAX_ROWS: None}
    return {
        MIN_ROWS: 1.0 if partial else max(1.0, previous_row_count * (1 - tolerance)),
        MAX_ROWS: previous_row_count * (1 + tolerance),
    }
