"""The refund-dispute feed of the synthetic source: rate, delays, drivers, determinism, `dispute_wave`, and that
adding it moved nothing of the transactions and labels."""

from __future__ import annotations

import hashlib
import re
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evergreen.contracts import data_contract
from evergreen.devtools.datagen import Scenario, generate
from evergreen.devtools.datagen.disputes import delivery_trouble
from evergreen.devtools.datagen.population import DEFAULT_CUSTOMERS, DEFAULT_MERCHANTS, build_population

START = date(2026, 3, 2)  # a Monday
DAYS = 8
ROWS = 6_000
SEED = 7
WAVE_DAY = START + timedelta(days=3)
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def _generate(folder: Path, **kw) -> tuple[dict, Path]:
    args = {"start": START, "days": DAYS, "rows_per_day": ROWS, "seed": SEED, **kw}
    manifest = generate(landing_root=str(folder / "landing"), db_url=f"sqlite:///{folder / 'source.db'}", **args)
    return manifest, folder / "landing"


def _feed(landing: Path, name: str, file: str) -> pd.DataFrame:
    frames = [
        pd.read_csv(p, dtype=str).assign(_arrival=p.parent.name) for p in sorted((landing / name).glob(f"*/{file}"))
    ]
    return pd.concat(frames, ignore_index=True)


def _transactions(landing: Path) -> pd.DataFrame:
    frames = []
    for folder in sorted((landing / "transactions").iterdir()):
        frames.append(pd.read_csv(folder / "web_app.csv", dtype=str))
        frames.append(pd.read_json(folder / "pos.jsonl", lines=True, dtype=False, convert_dates=False).astype(str))
    tx = pd.concat(frames, ignore_index=True).drop_duplicates("transaction_id")
    tx["amount"] = pd.to_numeric(tx["amount"])
    return tx


def _joined(landing: Path) -> pd.DataFrame:
    """Every purchase with its fraud label and its dispute (if any; re-sends dropped)."""
    disputes = _feed(landing, "disputes", "disputes.csv").drop_duplicates()
    labels = _feed(landing, "labels", "labels.csv")[["transaction_id", "is_fraud"]]
    tx = _transactions(landing).merge(labels, on="transaction_id", how="left", validate="one_to_one")
    tx = tx.merge(disputes, on="transaction_id", how="left", validate="one_to_one")
    tx["disputed"] = tx["dispute_id"].notna()
    tx["event_date"] = tx["event_time"].str[:10]
    return tx


def _hashes(landing: Path, feeds: tuple[str, ...]) -> dict[str, str]:
    return {
        str(p.relative_to(landing)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(landing.rglob("*"))
        if p.is_file() and p.relative_to(landing).parts[0] in feeds
    }


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> tuple[dict, Path]:
    return _generate(tmp_path_factory.mktemp("disputes"))


@pytest.fixture(scope="module")
def wave(tmp_path_factory) -> tuple[dict, Path]:
    return _generate(tmp_path_factory.mktemp("wave"), scenarios=[Scenario("dispute_wave", WAVE_DAY)])


def test_the_feed_lands_by_raise_day_in_the_contract_columns(baseline):
    manifest, landing = baseline
    files = sorted((landing / "disputes").glob("*/disputes.csv"))
    assert files
    for path in files:
        header = path.read_text().splitlines()[0].split(",")
        assert header == data_contract.names(data_contract.DISPUTE_COLUMNS)
        rows = pd.read_csv(path, dtype=str)
        assert rows["raised_at"].str.match(ISO_UTC).all()
        assert (rows["raised_at"].str[:10] == path.parent.name).all()  # filed under the day it was raised
        assert rows["raised_at"].is_monotonic_increasing
        assert set(rows["reason_code"]) <= set(data_contract.DISPUTE_REASONS)
        assert manifest["disputes"][path.parent.name] == len(rows)
    # Raise days reach past the generated days: tomorrow's feed, like the labels.
    assert max(manifest["disputes"]) > (START + timedelta(days=DAYS - 1)).isoformat()


def test_about_two_and_a_half_percent_are_disputed_two_to_fourteen_days_later(baseline):
    manifest, landing = baseline
    tx = _joined(landing)
    for day in manifest["days"]:
        of_day = tx[tx["event_date"] == day["date"]]
        assert of_day["disputed"].sum() == day["disputes"]
        assert 0.018 <= of_day["disputed"].mean() <= 0.035, (day["date"], of_day["disputed"].mean())
    assert 0.02 <= tx["disputed"].mean() <= 0.03
    disputed = tx[tx["disputed"]]
    event = pd.to_datetime(disputed["event_time"], format="%Y-%m-%dT%H:%M:%SZ")
    raised = pd.to_datetime(disputed["raised_at"], format="%Y-%m-%dT%H:%M:%SZ")
    delay = (raised - event).dt.total_seconds() / 86_400
    assert delay.between(2, data_contract.DISPUTE_WINDOW_DAYS).all()
    assert delay.min() < 3  # the whole window is used
    assert delay.max() > 13
    by_reason = delay.groupby(disputed["reason_code"]).median()
    assert by_reason["duplicate_charge"] < by_reason["not_as_described"] < by_reason["not_received"]


def test_disputes_follow_what_a_model_can_see_and_never_a_fraud(baseline):
    _, landing = baseline
    tx = _joined(landing)
    assert not (tx["disputed"] & (tx["is_fraud"] == "1")).any()  # a stolen card's owner files a chargeback
    rate = tx.groupby("channel")["disputed"].mean()
    assert rate["web"] > 1.5 * rate["pos"]
    assert rate["app"] > 1.5 * rate["pos"]
    by_category = tx.groupby("category")["disputed"].mean()
    assert by_category["travel"] > by_category["fashion"] > 2 * by_category["grocery"]
    assert by_category["digital_goods"] > by_category["beauty"]
    quartile = tx.groupby("category")["amount"].transform(lambda s: pd.qcut(s, 4, labels=False))
    assert tx.loc[quartile == 3, "disputed"].mean() > 1.3 * tx.loc[quartile == 0, "disputed"].mean()
    # a shop sale is never "not received"
    assert not ((tx["channel"] == "pos") & (tx["reason_code"] == "not_received")).any()
    assert set(tx.loc[tx["disputed"], "reason_code"]) == set(data_contract.DISPUTE_REASONS)


def test_the_issuer_re_sends_a_few_rows_exactly_and_ids_are_otherwise_unique(baseline):
    manifest, landing = baseline
    feed = _feed(landing, "disputes", "disputes.csv").drop(columns="_arrival")
    resent = len(feed) - len(feed.drop_duplicates())
    assert resent == sum(d["dispute_resends"] for d in manifest["days"]) > 0
    assert resent < 0.03 * len(feed)
    assert feed.drop_duplicates()["dispute_id"].is_unique  # a repeated id is always an exact re-send
    assert feed.drop_duplicates()["transaction_id"].is_unique  # a purchase is disputed at most once


def test_the_feed_is_the_same_bytes_whatever_the_calls(baseline, tmp_path):
    _, landing = baseline
    split = tmp_path / "split"
    _generate(split, days=5)
    _, in_two = _generate(split, start=START + timedelta(days=5), days=DAYS - 5)
    assert _hashes(in_two, ("disputes",)) == _hashes(landing, ("disputes",))


def test_adding_the_feed_moved_no_earlier_random_stream(tmp_path):
    """The transactions and labels of a small run, byte for byte as the generator wrote them before disputes
    existed (the digest was taken from that version): a new stream must not shift the old ones."""
    landing = tmp_path / "landing"
    generate(START, 2, 1000, seed=7, landing_root=str(landing), db_url=f"sqlite:///{tmp_path / 's.db'}",
             n_customers=3000, n_merchants=100)  # fmt: skip
    digest = hashlib.sha256()
    for name in _hashes(landing, ("transactions", "labels")):
        digest.update(name.encode())
        digest.update((landing / name).read_bytes())
    assert digest.hexdigest() == "13df85f3118d43853976b77e8890bf05857f1949a6ace1f2d83fdebdd2f7afd6"


# --- dispute_wave ------------------------------------------------------------------------------------------


def test_dispute_wave_leaves_transactions_and_fraud_labels_alone(baseline, wave):
    feeds = ("transactions", "labels")
    assert _hashes(wave[1], feeds) == _hashes(baseline[1], feeds)


def test_dispute_wave_raises_the_rate_of_its_merchants_from_its_day_only(baseline, wave):
    before, after = _joined(baseline[1]), _joined(wave[1])
    population = build_population(SEED, DEFAULT_CUSTOMERS, DEFAULT_MERCHANTS)
    trouble = set(population.merchants.ids[delivery_trouble(population, SEED)])
    hit = delivery_trouble(population, SEED)
    categories = set(pd.Series(population.merchants.category[hit]))
    assert categories == {data_contract.CATEGORIES.index("electronics"), data_contract.CATEGORIES.index("fashion")}
    # long-established shops: onboarded no later than the median of their categories' merchants
    wanted = pd.Series(population.merchants.category).isin(categories).to_numpy()
    assert population.merchants.onboarded_day[hit].max() <= np.median(population.merchants.onboarded_day[wanted])

    merged = before.merge(after[["transaction_id", "dispute_id", "reason_code", "raised_at"]], on="transaction_id",
                          suffixes=("", "_wave"), validate="one_to_one")  # fmt: skip
    # Every dispute of the baseline is still there, unchanged: the wave only adds.
    kept = merged[merged["disputed"]]
    assert (kept["dispute_id_wave"] == kept["dispute_id"]).all()
    assert (kept["reason_code_wave"] == kept["reason_code"]).all()
    added = merged[~merged["disputed"] & merged["dispute_id_wave"].notna()]
    assert len(added) > 100
    assert (added["event_date"] >= WAVE_DAY.isoformat()).all()
    assert set(added["merchant_id"]) <= trouble
    assert set(added["reason_code_wave"]) == {"not_received"}
    assert set(added["channel"]) <= {"web", "app"}  # delivery trouble: shipped orders only
    assert (added["is_fraud"] == "0").all()
    # The carrier marks the parcels lost: raised 2-4 days after the purchase (not not_received's usual 7-14).
    delay_days = (pd.to_datetime(added["raised_at_wave"]) - pd.to_datetime(added["event_time"])).dt.total_seconds()
    assert (delay_days / 86_400).between(2, 4).all()

    hit = merged["merchant_id"].isin(trouble) & (merged["event_date"] >= WAVE_DAY.isoformat())
    now = merged["dispute_id_wave"].notna()
    ratio = now[hit].mean() / merged.loc[hit, "disputed"].mean()
    assert 2.5 < ratio < 7.0, ratio  # ~5x: 4.0x-6.4x over 4 seeds
    assert (now[~hit] == merged.loc[~hit, "disputed"]).all()  # every other purchase: exactly as before
