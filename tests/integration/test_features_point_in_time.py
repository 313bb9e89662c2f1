"""Gold features may only see the past of their row: proven by brute force and by adding the future."""

from __future__ import annotations

import datetime as dt

import pytest

from evergreen.pipeline.transforms.features import FEATURE_COLUMNS, build_features

TX = (
    "transaction_id string, event_time timestamp, customer_id string, merchant_id string, amount double, "
    "currency string, category string, channel string, device string, country string, event_date date"
)
LB = "transaction_id string, is_fraud int, label_time timestamp"


def _t(day, hh, mm=0):
    return dt.datetime(2026, 1, day, hh, mm)


def _tx(tid, when, cust, merch, amount):
    return (tid, when, cust, merch, amount, "EUR", "grocery", "web", "mobile", "DE", when.date())


@pytest.fixture
def dims(spark):
    customers = spark.createDataFrame(
        [("c1", dt.date(2025, 12, 1), "DE", "regular"), ("c2", dt.date(2025, 12, 20), "FR", "new")],
        "customer_id string, signup_date date, home_country string, segment string",
    )
    merchants = spark.createDataFrame(
        [("m1", "grocery", "DE", dt.date(2025, 6, 1)), ("m2", "travel", "FR", dt.date(2025, 6, 1))],
        "merchant_id string, merchant_category string, merchant_country string, onboarded_date date",
    )
    return customers, merchants


PAST = [
    _tx("a", _t(1, 9), "c1", "m1", 10.0),
    _tx("b", _t(2, 9), "c1", "m1", 30.0),
    _tx("c", _t(3, 8), "c1", "m2", 50.0),
    _tx("d", _t(3, 8), "c2", "m1", 5.0),
    _tx("e", _t(3, 10), "c1", "m1", 100.0),  # the row we check by hand
]
LABELS = [("a", 1, _t(2, 12)), ("b", 0, _t(3, 9)), ("c", 0, _t(3, 11))]


def _gold(spark, dims, txs, labels, as_of="2026-01-03"):
    customers, merchants = dims
    gold = build_features(
        spark.createDataFrame(txs, TX),
        spark.createDataFrame(labels, LB),
        customers,
        merchants,
        as_of=as_of,
        out_dates=["2026-01-03"],
    )
    return {r["transaction_id"]: r.asDict() for r in gold.collect()}


def test_features_match_a_brute_force_count_of_the_past(spark, dims):
    row = _gold(spark, dims, PAST, LABELS)["e"]
    assert row["cust_txn_count_24h"] == 1  # only c (3rd 08:00); b (2nd 09:00) is 25 h before
    assert row["cust_txn_count_7d"] == 3
    assert row["cust_amount_mean_30d"] == pytest.approx(30.0)
    assert row["amount_to_cust_mean_30d"] == pytest.approx(100.0 / 30.0)
    assert row["cust_distinct_merchants_7d"] == 2
    assert row["secs_since_prev_txn"] == 2 * 3600
    assert row["merchant_txn_count_7d"] == 3  # a, b, d at m1
    # Labels known before 3rd 10:00 for m1: a (fraud, arrived 2nd 12:00), b (arrived 3rd 09:00).
    assert row["merchant_known_labels_30d"] == 2
    assert row["merchant_known_fraud_rate_30d"] == pytest.approx(0.5)
    assert row["customer_age_days"] == 33
    assert row["country_mismatch"] == 0


def test_same_second_rows_do_not_see_each_other(spark, dims):
    rows = _gold(spark, dims, PAST, LABELS)
    # c and d happen at the same instant at different customers; d is c2's first transaction.
    assert rows["d"]["cust_txn_count_7d"] == 0
    assert rows["d"]["secs_since_prev_txn"] is None


def test_adding_the_future_changes_no_feature(spark, dims):
    before = _gold(spark, dims, PAST, LABELS)
    future_tx = [
        _tx("f", _t(3, 10, 1), "c1", "m1", 999.0),  # one minute after e, same day
        _tx("g", _t(3, 23), "c2", "m1", 1.0),
        _tx("h", _t(4, 1), "c1", "m1", 3.0),  # next day: outside out_dates, inside the input
    ]
    future_labels = [("e", 1, _t(3, 11)), ("d", 1, _t(3, 10, 30)), ("a", 1, _t(5, 0))]
    after = _gold(spark, dims, PAST + future_tx, LABELS + future_labels, as_of="2026-01-05")
    for tid, feats in before.items():
        assert {c: after[tid][c] for c in FEATURE_COLUMNS} == {c: feats[c] for c in FEATURE_COLUMNS}, tid


def test_label_is_the_one_known_as_of_the_run_day(spark, dims):
    late = [("e", 1, _t(6, 9))]
    assert _gold(spark, dims, PAST, LABELS + late, as_of="2026-01-03")["e"]["is_fraud"] is None
    assert _gold(spark, dims, PAST, LABELS + late, as_of="2026-01-06")["e"]["is_fraud"] == 1


def test_clean_keeps_a_new_category_and_prefers_the_valid_duplicate(spark):
    """A new merchant category is drift, not a broken row; of two rows with one id, the valid one wins."""
    from evergreen.pipeline.transforms.clean import clean_transactions

    cols = (
        "transaction_id string, event_time timestamp, customer_id string, merchant_id string, amount double, "
        "currency string, category string, channel string, device string, country string, "
        "_source_file string, _batch_id string, _ingested_at timestamp, _corrupt_record string, event_date date"
    )
    t = _t(3, 9)
    rows = [
        ("n1", t, "c1", "m9", 20.0, "EUR", "crypto_vouchers", "web", "mobile", "DE", "f", "b", t, None, t.date()),
        # same id twice: the copy that sorts first breaks the amount rule, the other is valid
        ("d1", t, "c1", "m1", -5.0, "EUR", "grocery", "web", "mobile", "DE", "f", "b", t, None, t.date()),
        ("d1", t, "c1", "m1", 5.0, "EUR", "grocery", "web", "mobile", "DE", "f", "b", t, None, t.date()),
    ]
    silver, rejected = clean_transactions(spark.createDataFrame(rows, cols))
    kept = {(r["transaction_id"], r["amount"], r["category"]) for r in silver.collect()}
    assert kept == {("n1", 20.0, "crypto_vouchers"), ("d1", 5.0, "grocery")}
    assert [r["_quarantine_reason"] for r in rejected.collect()] == ["amount_out_of_range"]
