"""Map the contract's logical types (evergreen.contracts.data_contract) to Spark types."""

from __future__ import annotations

from pyspark.sql import Column as SparkColumn
from pyspark.sql import functions as F
from pyspark.sql import types as T

from evergreen.contracts import data_contract

SPARK_TYPES = {
    data_contract.STRING: T.StringType(),
    data_contract.DOUBLE: T.DoubleType(),
    data_contract.LONG: T.LongType(),
    data_contract.INT: T.IntegerType(),
    data_contract.TIMESTAMP: T.TimestampType(),
    data_contract.DATE: T.DateType(),
}


def typed(name: str, logical: str) -> SparkColumn:
    """Cast a landed string column to its contract type; a value that does not parse becomes null
    (clean quarantines it with a reason) instead of failing the whole batch."""
    return F.col(name).try_cast(SPARK_TYPES[logical]).alias(name)


def struct_of(columns: tuple[data_contract.Column, ...]) -> T.StructType:
    return T.StructType([T.StructField(c.name, SPARK_TYPES[c.type], True) for c in columns])
