"""Types are the contract's, not the batch's: a property test over generated batches.

A small seeded generator makes landed batches of the shapes that used to change a column's type: empty,
one row, every optional value null, no null at all (every customer seen before, so `secs_since_prev_txn`
is never null and pandas gives it int64), and random mixes. Each goes landed text -> bronze -> silver ->
gold with the real transforms, and at every layer the columns must have the data contract's types; gold
read the way scoring reads it must be scored by a real registered model (MLflow's schema enforcement on).

The issue this pins: a demo stopped with "Can not safely convert int64 to float64" from MLflow because a
day's gold happened to hold no null in `secs_since_prev_txn`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from pyspark.sql import types as T

from evergreen import config
from evergreen.contracts import data_contract
from evergreen.contracts.model_spec import load_spec
from evergreen.pipeline.transforms.clean import SILVER_COLUMNS, clean_transactions
from evergreen.pipeline.transforms.features import build_features
from evergreen.pipeline.transforms.ingest import CORRUPT, type_batch

DAY = dt.date(2026, 3, 10)
KINDS = ("empty", "one_row", "all_null", "no_null", "random_1", "random_2", "random_3")
SPARK_NAMES = {"string": "string", "double": "double", "timestamp": "timestamp", "int": "int", "long": "bigint",
               "date": "date"}  # fmt: skip
CUSTOMERS = [f"c-{i:07d}" for i in range(12)]
MERCHANTS = [f"m-{i:06d}" for i in range(5)]


@dataclass
class Batch:
    today: list[tuple]  # landed text rows of DAY
    history: list[tuple]  # landed text rows of the day before (what the features look back on)


def _row(rng: np.random.Generator, day: dt.date, n: int, customer: str, *, nulls: bool) -> tuple:
    second = int(rng.integers(0, 86_400))
    stamp = f"{day.isoformat()}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}Z"

    def maybe(values: tuple[str, ...]) -> str | None:
        return None if nulls else str(rng.choice(values))

    return (
        f"tx-{day:%Y%m%d}-{n:07d}",
        stamp,
        customer,
        str(rng.choice(MERCHANTS)),
        f"{rng.uniform(1, 500):.2f}",
        str(rng.choice(data_contract.CURRENCIES)),
        maybe(data_contract.CATEGORIES),
        maybe(data_contract.CHANNELS),
        maybe(data_contract.DEVICES),
        maybe(data_contract.COUNTRIES),
    )


def generate_batch(kind: str, seed: int = 0) -> Batch:
    """The landed rows of one batch shape (seeded)."""
    rng = np.random.default_rng([seed, KINDS.index(kind)])
    before = DAY - dt.timedelta(days=1)
    if kind == "empty":
        return Batch([], [])
    if kind == "one_row":
        return Batch([_row(rng, DAY, 1, CUSTOMERS[0], nulls=False)], [])
    if kind == "all_null":
        # every optional value null; each customer new, unknown to the source tables: every nullable feature null
        return Batch([_row(rng, DAY, i, f"c-new-{i}", nulls=True) for i in range(1, 9)], [])
    if kind == "no_null":
        history = [_row(rng, before, i, c, nulls=False) for i, c in enumerate(CUSTOMERS, 1)]
        return Batch([_row(rng, DAY, i, c, nulls=False) for i, c in enumerate(CUSTOMERS, 1)], history)
    n = int(rng.integers(2, 40))
    people = rng.choice(CUSTOMERS + [f"c-new-{i}" for i in range(6)], n)
    history = [_row(rng, before, i, c, nulls=bool(rng.random() < 0.3)) for i, c in enumerate(people[: n // 2], 1)]
    today = [_row(rng, DAY, i, c, nulls=bool(rng.random() < 0.3)) for i, c in enumerate(people, 1)]
    return Batch(today, history)


def _landed(spark, rows: list[tuple], day: dt.date):
    names = [*data_contract.names(data_contract.TRANSACTION_COLUMNS), data_contract.SOURCE_FILE, CORRUPT]
    schema = T.StructType([T.StructField(n, T.StringType(), True) for n in names])
    raw = spark.createDataFrame([(*r, f"landing/{day}/web_app.csv", None) for r in rows], schema)
    return type_batch(
        raw,
        data_contract.TRANSACTION_COLUMNS,
        batch_id=f"transactions-{day}",
        partition_key="event_date",
        partition_value=str(day),
    )


def _types(df) -> dict[str, str]:
    return dict(df.dtypes)


def _expect(columns: tuple[data_contract.Column, ...]) -> dict[str, str]:
    return {c.name: SPARK_NAMES[c.type] for c in columns}


@pytest.fixture(scope="module")
def dims(spark):
    customers = spark.createDataFrame(
        [(c, dt.date(2025, 1, 1), "DE", "regular") for c in CUSTOMERS],
        "customer_id string, signup_date date, home_country string, segment string",
    )
    merchants = spark.createDataFrame(
        [(m, "grocery", "DE", dt.date(2024, 6, 1)) for m in MERCHANTS],
        "merchant_id string, merchant_category string, merchant_country string, onboarded_date date",
    )
    return customers, merchants


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A real registered model (small XGBoost on synthetic gold), loaded back from the registry."""
    from evergreen.devtools.synthetic_gold import synthetic_gold, write_gold
    from evergreen.registry.mlflow_log import load_version, log_training
    from evergreen.training import load_training_data
    from evergreen.training.train import train

    home = tmp_path_factory.mktemp("types-store")
    mp = pytest.MonkeyPatch()
    mp.setenv("EVERGREEN_MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
    mp.setenv("EVERGREEN_MLFLOW_ARTIFACT_ROOT", str(home / "mlartifacts"))
    mp.setenv("EVERGREEN_EVERGREEN_DB_URL", f"sqlite:///{home / 'evergreen.db'}")
    config.reload()
    try:
        spec = load_spec("fraud")
        write_gold(
            synthetic_gold("2026-01-01", 16, 1500, built_as_of="2026-01-24"), home / "lake" / "gold" / "features"
        )
        data = load_training_data(spec, as_of="2026-01-24", lake_root=str(home / "lake"))
        result = train(spec, data, params_override={"max_depth": 2, "n_estimators": 10}, make_plots=False)
        ref = log_training(result, data, spec)
        yield load_version(spec.name, ref.version)
    finally:
        mp.undo()
        config.reload()


@pytest.mark.parametrize("kind", KINDS)
def test_every_layer_has_the_contract_types_and_scoring_takes_the_batch(spark, dims, model, tmp_path, kind):
    from mlflow.types import DataType

    from evergreen.registry.model_input import signature_types
    from evergreen.scoring.batch import score_frame

    batch = generate_batch(kind, seed=11)
    bronze_today = _landed(spark, batch.today, DAY)
    bronze_before = _landed(spark, batch.history, DAY - dt.timedelta(days=1))
    bronze_types = _types(bronze_today)
    assert {k: bronze_types[k] for k in _expect(data_contract.TRANSACTION_COLUMNS)} == _expect(
        data_contract.TRANSACTION_COLUMNS
    )
    assert bronze_types["_raw"] == "map<string,string>"

    silver_today, _ = clean_transactions(bronze_today)
    silver_before, _ = clean_transactions(bronze_before)
    silver = silver_today.unionByName(silver_before)
    assert silver.columns == SILVER_COLUMNS
    silver_types = _types(silver)
    assert {k: silver_types[k] for k in _expect(data_contract.TRANSACTION_COLUMNS)} == _expect(
        data_contract.TRANSACTION_COLUMNS
    )

    customers, merchants = dims
    gold = build_features(silver, None, customers, merchants, as_of=str(DAY), out_dates=[str(DAY)])
    assert gold.dtypes == [(c.name, SPARK_NAMES[c.type]) for c in data_contract.GOLD_COLUMNS]
    rows = gold.count()
    assert rows == len(batch.today)

    # Gold as scoring reads it: Parquet through Arrow, one day's files.
    gold.drop("event_date").coalesce(1).write.parquet(str(tmp_path / "gold"))
    table = ds.dataset(str(tmp_path / "gold"), format="parquet").to_table()
    for c in data_contract.GOLD_COLUMNS:
        if c.name != "event_date":
            expected = {"string": pa.string(), "double": pa.float64(), "int": pa.int32(), "long": pa.int64()}
            if c.type in expected:
                assert table.schema.field(c.name).type == expected[c.type], c.name
    features = table.to_pandas()
    # A long feature is never null, so pandas gives it int64 in every batch; a number that can be missing
    # is a double in gold, so pandas gives it float64 in every batch: the same types, nulls or none.
    longs = [c.name for c in data_contract.GOLD_FEATURE_COLUMNS if c.type == "long"]
    assert not features[longs].isna().any().any()
    if rows:
        assert all(features[c].dtype == np.int64 for c in longs)
        assert features["secs_since_prev_txn"].dtype == np.float64
    scores = score_frame(model, table)
    assert scores.shape == (rows,)
    assert np.isfinite(scores).all()
    types = signature_types(model)
    assert {n for n, t in types.items() if t == DataType.long} == set(longs)
    assert set(types.values()) == {DataType.double, DataType.long, DataType.string}
    if rows:
        # and MLflow's own enforcement takes the batch as it is, without our cast
        model.predict(features[list(types)])


def test_an_int64_where_the_signature_wants_double_is_cast_not_refused(spark, dims, model):
    """The demo's crash: gold built before `secs_since_prev_txn` was a double held it as a long, so a day
    without a null arrived as int64 and MLflow refused it. Scoring casts it to the signature's type."""
    from mlflow.exceptions import MlflowException

    from evergreen.scoring.batch import score_frame

    batch = generate_batch("no_null", seed=11)
    history, _ = clean_transactions(_landed(spark, batch.history, DAY - dt.timedelta(days=1)))
    silver_today, _ = clean_transactions(_landed(spark, batch.today, DAY))
    customers, merchants = dims
    gold = build_features(
        silver_today.unionByName(history), None, customers, merchants, as_of=str(DAY), out_dates=[str(DAY)]
    ).toPandas()
    names = model.metadata.get_input_schema().input_names()
    old_gold = gold.assign(secs_since_prev_txn=gold["secs_since_prev_txn"].astype(np.int64))
    with pytest.raises(MlflowException, match="int64"):
        model.predict(old_gold[names])
    assert np.allclose(score_frame(model, old_gold), score_frame(model, gold))
