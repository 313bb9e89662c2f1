"""Map the contract's logical types (evergreen.schema) to Spark types."""

from __future__ import annotations

from pyspark.sql import Column as SparkColumn
from pyspark.sql import functions as F
from pyspark.sql import types as T

from evergreen import schema

SPARK_TYPES = {
    schema.STRING: T.StringType(),
    schema.DOUBLE: T.DoubleType(),
    schema.LONG: T.LongType(),
    schema.INT: T.IntegerType(),
    schema.TIMESTAMP: T.TimestampType(),
    schema.DATE: T.DateType(),
}


def typed(name: str, logical: str) -> SparkColumn:
    """Cast a landed string column to its contract type; a value that does not parse becomes null
    (clean quarantines it with a reason) instead of failing the whole batch."""
    return F.col(name).try_cast(SPARK_TYPES[logical]).alias(name)


def struct_of(columns: tuple[schema.Column, ...]) -> T.StructType:
    return T.StructType([T.StructField(c.name, SPARK_TYPES[c.type], True) for c in columns])
