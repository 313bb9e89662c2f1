"""Landing files -> bronze: read what actually landed, type the contract's columns, keep what did not type.

Each file is read on its own, after the file gate (evergreen.pipeline.quality.file_gate) has looked at its
bytes and its header: a CSV file with its own header's column order, a JSON Lines file with the keys its
lines hold. Every value is read as text and cast here, so a value that is not of its contract type is
*seen*: it becomes null in its typed column and its landed text is kept in `_raw` ({column: text}), where
clean quotes it in the quarantine reason ("amount not a number: 'abc'") and a person can fix and replay it.
"""

from __future__ import annotations

from functools import reduce

from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from evergreen.contracts import data_contract
from evergreen.pipeline.transforms.types import typed
from evergreen.storage.landing_scan import CSV

CORRUPT = data_contract.CORRUPT_RECORD
RAW = data_contract.RAW
RAW_TYPE = T.MapType(T.StringType(), T.StringType())
# Encodings Spark's `decode` knows, by the names Python's codecs give them: a refused file's lines in one of
# these are kept as text; any other non-UTF-8 line is kept as base64 of its bytes.
_SPARK_CHARSETS = {"utf-8": "UTF-8", "iso8859-1": "ISO-8859-1", "ascii": "US-ASCII"}


def java_charset(encoding: str) -> str:
    """A Python codec name as the JVM spells it (Spark's `encoding` option): latin-1 -> ISO-8859-1."""
    name = _codec(encoding)
    return {"utf-8": "UTF-8", "iso8859-1": "ISO-8859-1", "iso8859-15": "ISO-8859-15", "cp1252": "windows-1252",
            "ascii": "US-ASCII"}.get(name, name.upper())  # fmt: skip


def _strings(names: list[str]) -> T.StructType:
    return T.StructType([T.StructField(n, T.StringType(), True) for n in names])


def read_csv_file(spark: SparkSession, path: str, header: list[str], *, encoding: str, delimiter: str) -> DataFrame:
    """One CSV file as text columns in its header's order, a malformed line kept whole in `_corrupt_record`
    (Spark flags a line with more or fewer fields than the header)."""
    return (
        spark.read.option("header", True)
        .option("enforceSchema", True)  # the names were checked by the file gate; read by position
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT)
        .option("encoding", java_charset(encoding))
        .option("sep", delimiter)
        .option("escape", '"')  # RFC 4180: a quote inside a quoted field is doubled
        .schema(_strings([*header, CORRUPT]))
        .csv(path)
        .withColumn(data_contract.SOURCE_FILE, F.lit(path))
    )


def read_jsonl_file(spark: SparkSession, path: str, *, encoding: str) -> DataFrame:
    """One JSON Lines file with the keys its lines hold, every value as text: a nested object or array where
    a scalar belongs arrives as its JSON text (and fails its cast), a line that is not a JSON object is kept
    in `_corrupt_record`."""
    df = (
        spark.read.option("primitivesAsString", True)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT)
        .option("encoding", java_charset(encoding))
        .json(path)
    )
    cols = [
        (F.col(f"`{f.name}`") if isinstance(f.dataType, T.StringType) else F.to_json(F.col(f"`{f.name}`"))).alias(
            f.name
        )
        for f in df.schema.fields
        if f.name != CORRUPT
    ]
    corrupt = F.col(CORRUPT) if CORRUPT in df.columns else F.lit(None).cast("string")
    return df.select(*cols, corrupt.alias(CORRUPT), F.lit(path).alias(data_contract.SOURCE_FILE))


def read_landing(spark: SparkSession, files: list[str]) -> DataFrame:
    """Many CSV and JSON Lines files in one read, ungated (headers taken as they come): what
    bench/pipeline_vs_pandas.py measures. The daily steps read file by file after the file gate instead."""
    csv = [f for f in files if f.endswith(".csv")]
    jsonl = [f for f in files if f.endswith((".jsonl", ".json"))]
    frames = []
    if csv:
        frames.append(
            spark.read.option("header", True)
            .option("mode", "PERMISSIVE")
            .csv(csv)
            .withColumn(data_contract.SOURCE_FILE, F.col("_metadata.file_path"))
        )
    if jsonl:
        frames.append(
            spark.read.option("primitivesAsString", True)
            .option("columnNameOfCorruptRecord", CORRUPT)
            .json(jsonl)
            .withColumn(data_contract.SOURCE_FILE, F.col("_metadata.file_path"))
        )
    if not frames:
        raise ValueError(f"no .csv or .jsonl landing files among {files}")
    return union(frames)


def json_keys(df: DataFrame) -> list[str]:
    """The keys a JSON Lines file's lines hold (its inferred columns, less the corrupt-record column)."""
    return [c for c in df.columns if c not in (CORRUPT, data_contract.SOURCE_FILE)]


def union(frames: list[DataFrame]) -> DataFrame:
    return reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), frames)


def raw_values(contract: tuple[data_contract.Column, ...]) -> SparkColumn:
    """{column: landed text} of the contract columns whose text did not cast to their type (empty map: all did)."""
    checked = [c for c in contract if c.type != data_contract.STRING]
    if not checked:
        return F.create_map().cast(RAW_TYPE)
    pairs = []
    for c in checked:
        failed = F.col(c.name).isNotNull() & typed(c.name, c.type).isNull()
        pairs += [F.lit(c.name), F.when(failed, F.col(c.name))]
    return F.map_filter(F.create_map(*pairs), lambda _k, v: v.isNotNull()).cast(RAW_TYPE)


def type_batch(
    raw: DataFrame,
    contract: tuple[data_contract.Column, ...],
    *,
    batch_id: str,
    partition_key: str,
    partition_value: str,
) -> DataFrame:
    """Text columns -> the contract's types (every contract column, null if a file lacked it), `_raw` for the
    values that did not type, lineage, and the partition column. Columns outside the contract are dropped:
    a file that has any is refused whole by the file gate before it gets here."""
    present = set(raw.columns)
    text = raw.select(
        *[(F.col(c.name) if c.name in present else F.lit(None).cast("string")).alias(c.name) for c in contract],
        F.col(data_contract.SOURCE_FILE),
        (F.col(CORRUPT) if CORRUPT in present else F.lit(None).cast("string")).alias(CORRUPT),
    )
    return text.select(
        *[typed(c.name, c.type) for c in contract],
        raw_values(contract).alias(RAW),
        F.col(data_contract.SOURCE_FILE),
        F.lit(batch_id).alias(data_contract.BATCH_ID),
        F.current_timestamp().alias(data_contract.INGESTED_AT),
        F.col(CORRUPT),
        F.lit(partition_value).cast("date").alias(partition_key),
    )


def read_lines(spark: SparkSession, path: str, fmt: str, *, encoding: str = "utf-8") -> DataFrame:
    """A refused file's rows as lines, the way `evergreen.storage.landing_scan` counts them: blank lines
    left out, a CSV header too. `_line` holds a line's text; a line that is not text in the file's encoding
    is kept byte for byte as `_line_base64` instead (never with replacement characters)."""
    lines = spark.read.text(path)  # splits on \n, \r\n and \r, keeps the bytes of each line as they are
    blank = r"^[\x00-\x20]*$" if fmt == CSV else r"^[ \t]*$"
    lines = lines.filter(~F.col("value").rlike(blank)).withColumn("_n", F.monotonically_increasing_id())
    if fmt == CSV:
        # Ids grow with the position in the file (a file's splits are read in order), so the smallest is
        # its first non-blank line: the header.
        first = lines.agg(F.min("_n")).first()[0]
        lines = lines.filter(F.col("_n") != F.lit(first)) if first is not None else lines
    charset = _SPARK_CHARSETS.get(_codec(encoding))
    as_bytes = F.col("value").cast("binary")
    if charset in (None, "UTF-8"):
        text_ok = F.is_valid_utf8("value")
        text = F.when(text_ok, F.col("value"))
    else:
        text_ok = F.lit(True)
        text = F.decode(as_bytes, charset)
    return lines.select(
        text.alias("_line"),
        # Spark wraps base64 at 76 characters (MIME); one line is easier to copy and decode.
        F.when(~text_ok, F.regexp_replace(F.base64(as_bytes), "[\r\n]", "")).alias("_line_base64"),
        F.lit(path).alias(data_contract.SOURCE_FILE),
    )


def _codec(encoding: str) -> str:
    import codecs

    return codecs.lookup(encoding).name


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
