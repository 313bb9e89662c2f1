"""Landing files -> bronze: read what actually landed, type the contract's columns, add lineage.

Columns are read as strings and typed here, so a file whose schema changed is *seen* (its columns
survive into the staged batch and the raw-contract gate names them) rather than silently coerced.
"""

from __future__ import annotations

from functools import reduce

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from evergreen.contracts import data_contract
from evergreen.pipeline.transforms.types import typed

CORRUPT = "_corrupt_record"


def read_landing(spark: SparkSession, files: list[str]) -> DataFrame:
    """Read CSV and JSON Lines files of one drop as all-string columns, with the file each row came from."""
    csv = [f for f in files if f.endswith(".csv")]
    jsonl = [f for f in files if f.endswith((".jsonl", ".json"))]
    unknown = sorted(set(files) - set(csv) - set(jsonl))
    if unknown:
        raise ValueError(f"landing files of unknown format (expected .csv or .jsonl): {unknown}")
    frames = []
    if csv:
        frames.append(
            spark.read.option("header", True)
            .option("inferSchema", False)
            .option("mode", "PERMISSIVE")
            .csv(csv)
            .withColumn(data_contract.SOURCE_FILE, F.col("_metadata.file_path"))
        )
    if jsonl:
        frames.append(
            spark.read.option("primitivesAsString", True)
            .option("mode", "PERMISSIVE")
            .option("columnNameOfCorruptRecord", CORRUPT)
            .json(jsonl)
            .withColumn(data_contract.SOURCE_FILE, F.col("_metadata.file_path"))
        )
    if not frames:
        raise ValueError("no landing files to read")
    return reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), frames)


def type_batch(
    raw: DataFrame,
    contract: tuple[data_contract.Column, ...],
    *,
    batch_id: str,
    partition_key: str,
    partition_value: str,
) -> DataFrame:
    """Type contract columns that are present; keep unexpected columns as landed; add lineage."""
    contract_names = {c.name for c in contract}
    present = set(raw.columns)
    cols = [typed(c.name, c.type) for c in contract if c.name in present]
    extras = [
        F.col(f"`{c}`")
        for c in raw.columns
        if c not in contract_names and c not in (data_contract.SOURCE_FILE, CORRUPT)
    ]
    corrupt = F.col(CORRUPT) if CORRUPT in present else F.lit(None).cast("string")
    return raw.select(
        *cols,
        *extras,
        F.col(data_contract.SOURCE_FILE),
        F.lit(batch_id).alias(data_contract.BATCH_ID),
        F.current_timestamp().alias(data_contract.INGESTED_AT),
        corrupt.alias(CORRUPT),
        F.lit(partition_value).cast("date").alias(partition_key),
    )


def read_sql_table(spark: SparkSession, eng, table: str, contract: tuple[data_contract.Column, ...]) -> DataFrame:
    """A source table through SQLAlchemy -> Arrow -> Spark. Dimension tables are small; a JDBC read
    would need a driver jar per database for no gain here."""
    import pandas as pd
    import sqlalchemy as sa

    from evergreen.pipeline.transforms.types import struct_of

    tbl = sa.Table(table, sa.MetaData(), autoload_with=eng)
    names = data_contract.names(contract)
    with eng.connect() as conn:
        pdf = pd.read_sql(sa.select(*[tbl.c[n] for n in names]), conn)
    for c in contract:
        if c.type == data_contract.DATE:
            pdf[c.name] = pd.to_datetime(pdf[c.name]).dt.date
    return spark.createDataFrame(pdf, schema=struct_of(contract))
