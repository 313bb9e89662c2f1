"""Synthetic gold partitions for training tests and benchmarks (no Spark, no landing files).

The rows have the gold contract's columns and Parquet types (what the `features` step writes) and a
label that is a known, learnable function of the features, with late arrival like the real feed: fraud
1-10 days after the event (median 3), legitimate 3-7 days. `built_as_of` plays the gold job's run day: a
label arriving after its end is not in gold yet (null label and label time).

`learnable=False` draws labels at the same rate independently of everything: a model must not beat the base
rate on them. Whole-column numpy and Arrow; a million rows take about a second.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from evergreen.contracts.model_spec import ModelSpec, load_spec

DAY_S = 86_400
NS = 1_000_000_000
INTERCEPT = -7.9  # ~2.8% positives: small test sets still hold enough; -9.2 gives ~1%, like the real feed
RISKY = ("electronics", "gaming", "digital_goods")


def synthetic_gold(
    start: str | date,
    days: int,
    rows_per_day: int,
    *,
    seed: int = 7,
    learnable: bool = True,
    built_as_of: str | None = None,
    spec: ModelSpec | None = None,
    intercept: float = INTERCEPT,
) -> pa.Table:
    """Gold rows for `days` event days from `start` (with an `event_date` column)."""
    spec = spec or load_spec("fraud")
    first = date.fromisoformat(start) if isinstance(start, str) else start
    tables = [
        _day(first + timedelta(days=i), rows_per_day, np.random.default_rng([seed, i, 11]), learnable, spec, intercept)
        for i in range(days)
    ]
    gold = pa.concat_tables(tables)
    if built_as_of is not None:
        end = pa.scalar(datetime.fromisoformat(f"{built_as_of} 23:59:59")).cast(pa.timestamp("ns"))
        late = pc.fill_null(pc.greater(gold["label_time"], end), False)
        gold = gold.set_column(
            gold.schema.get_field_index("is_fraud"), "is_fraud", pc.if_else(late, None, gold["is_fraud"])
        )
        gold = gold.set_column(
            gold.schema.get_field_index("label_time"), "label_time", pc.if_else(late, None, gold["label_time"])
        )
    return gold


def write_gold(gold: pa.Table, root: str | Path) -> dict[str, int]:
    """One Parquet file per `event_date=` folder under `root` (the gold table's folder), as Spark lays it out.
    Returns rows per day."""
    rows: dict[str, int] = {}
    days = pc.unique(gold["event_date"]).to_pylist()
    for day in sorted(days):
        part = gold.filter(pc.equal(gold["event_date"], day)).drop_columns(["event_date"])
        folder = Path(root) / f"event_date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(part, folder / "part-00000.snappy.parquet", compression="snappy")
        rows[day] = part.num_rows
    return rows


def _day(day: date, n: int, rng: np.random.Generator, learnable: bool, spec: ModelSpec, intercept: float) -> pa.Table:
    vocab = spec.features.categorical
    midnight = _epoch(day)
    secs = np.sort(rng.integers(0, DAY_S, n))
    hour = (secs // 3600).astype(np.int32)
    weekday = np.full(n, (day.isoweekday() % 7) + 1, dtype=np.int32)  # Spark dayofweek: Sunday=1 ... Saturday=7

    category = rng.choice(vocab["category"], n)
    channel = rng.choice(["web", "app", "pos"], n, p=[0.45, 0.25, 0.30])
    device = np.where(channel == "pos", "terminal", rng.choice(["desktop", "mobile", "tablet"], n))
    country = rng.choice(vocab["country"][:-1], n)
    mismatch = (rng.random(n) < 0.06).astype(np.int32)
    customer_age = rng.integers(0, 2500, n).astype(np.int32)
    segment = np.where(customer_age < 90, "new", rng.choice(["regular", "loyal", "business"], n))
    usual = rng.lognormal(3.5, 0.8, n)
    surprise = rng.normal(0, 1, n)
    amount = np.round(usual * np.exp(0.6 * surprise), 2)
    history = rng.random(n) < 0.88  # the rest: a customer's first transaction in 30 days
    cust_mean = np.where(history, usual * np.exp(rng.normal(0, 0.15, n)), np.nan)
    merchant_rate = np.where(rng.random(n) < 0.9, rng.beta(1, 60, n), np.nan)

    score = (
        2.2 * (hour < 6)
        + 2.0 * mismatch
        + 1.5 * np.isin(category, RISKY)
        + 1.6 * np.clip(surprise, -2, 4)
        + 2.5 * (customer_age < 30)
        + 1.0 * (channel != "pos")
        + 30.0 * np.nan_to_num(merchant_rate)
    )
    logit = intercept + score + 0.3 * rng.normal(0, 1, n)
    fraud = rng.random(n) < 1 / (1 + np.exp(-logit))
    if not learnable:
        fraud = rng.random(n) < fraud.mean()
    delay_days = np.where(
        fraud, np.clip(rng.lognormal(np.log(3), 0.45, n), 1, 10), rng.uniform(3, 7, n)
    )  # fmt: skip
    event_ns = (midnight + secs) * NS
    label_ns = event_ns + (delay_days * DAY_S).astype(np.int64) * NS

    ids = _ids(f"tx-{day:%Y%m%d}-", np.arange(n), 7)
    customers = _ids("c-", rng.integers(0, 20_000, n), 7)
    merchants = _ids("m-", rng.integers(0, 800, n), 6)
    device = np.where(rng.random(n) < 0.002, None, device)
    secs_prev = np.where(history, rng.exponential(2 * DAY_S, n).astype(np.int64), -1)

    return pa.table(
        {
            "transaction_id": ids,
            "event_time": pa.array(event_ns, pa.timestamp("ns")),
            "customer_id": customers,
            "merchant_id": merchants,
            "amount": amount,
            "log_amount": np.log1p(amount),
            "hour": hour,
            "weekday": weekday,
            "currency": rng.choice(vocab["currency"], n),
            "category": category,
            "channel": channel,
            "device": pa.array(device, pa.string()),
            "country": country,
            "customer_age_days": customer_age,
            "customer_segment": segment,
            "country_mismatch": mismatch,
            "merchant_age_days": rng.integers(365, 5000, n).astype(np.int32),
            "cust_txn_count_24h": rng.poisson(0.4, n).astype(np.int64),
            "cust_txn_count_7d": rng.poisson(2.5, n).astype(np.int64),
            "cust_amount_mean_30d": pa.array(cust_mean, from_pandas=True),
            "amount_to_cust_mean_30d": pa.array(amount / cust_mean, from_pandas=True),
            "cust_distinct_merchants_7d": rng.poisson(2.0, n).astype(np.int32),
            "secs_since_prev_txn": pa.array(secs_prev.astype(np.float64), mask=secs_prev < 0),
            "merchant_txn_count_7d": rng.poisson(300, n).astype(np.int64),
            "merchant_known_fraud_rate_30d": pa.array(merchant_rate, from_pandas=True),
            "merchant_known_labels_30d": rng.poisson(40, n).astype(np.int64),
            "is_fraud": fraud.astype(np.int32),
            "label_time": pa.array(label_ns, pa.timestamp("ns")),
            "event_date": pa.array([day.isoformat()] * n, pa.string()),
        }
    )


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(pa.array(numbers).cast(pa.string()), width, "0"), "")


def _epoch(day: date) -> int:
    return (day - date(1970, 1, 1)).days * DAY_S
