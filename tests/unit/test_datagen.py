"""The synthetic fraud source: determinism, the data contract, labels, dirt and every scenario.

Runs share one baseline (same seed, days and sizes); a scenario run differs from it only by the scenario,
because scenarios draw from their own random streams. So most effects are measured day by day against
the very same transactions without the scenario.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from evergreen.contracts import data_contract
from evergreen.devtools.datagen import (
    BAD_DATA_SCENARIOS,
    DRIFT_SCENARIOS,
    MANIFEST_FILE,
    SCENARIO_KIND,
    SCENARIOS,
    Scenario,
    generate,
)
from evergreen.devtools.datagen.scenarios import resolve

START = date(2026, 3, 2)  # a Monday
DAYS = 8
ROWS = 6_000
SEED = 7
SCENARIO_DAY = START + timedelta(days=3)
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
TX_ID = re.compile(r"^tx-(\d{8})-\d{7}$")


@dataclass
class Run:
    manifest: dict
    landing: Path
    db_url: str
    read_cache: dict = field(default_factory=dict)  # several tests read the same module-wide run

    def day(self, d: date) -> dict:
        return next(x for x in self.manifest["days"] if x["date"] == d.isoformat())

    @property
    def dates(self) -> list[date]:
        return [date.fromisoformat(x["date"]) for x in self.manifest["days"]]


def _generate(folder: Path, start=START, days=DAYS, rows=ROWS, seed=SEED, **kw) -> Run:
    folder.mkdir(parents=True, exist_ok=True)
    db_url = f"sqlite:///{folder / 'source.db'}"
    manifest = generate(start, days, rows, seed=seed, landing_root=str(folder / "landing"), db_url=db_url, **kw)
    return Run(manifest, folder / "landing", db_url)


def _hashes(landing: Path) -> dict[str, str]:
    return {
        str(p.relative_to(landing)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(landing.rglob("*"))
        if p.is_file()
    }


def _table(db_url: str, name: str) -> pd.DataFrame:
    with sa.create_engine(db_url).connect() as conn:
        return pd.read_sql(sa.text(f"SELECT * FROM {name}"), conn)  # a fixed table name, not user input


def read_day(run: Run, d: date) -> pd.DataFrame:
    """Both landing files of a day as one frame, in file order, with `_file` saying where a row came from."""
    folder = run.landing / "transactions" / d.isoformat()
    web_app = pd.read_csv(folder / "web_app.csv", dtype=str)
    pos = pd.read_json(folder / "pos.jsonl", lines=True, dtype=False, convert_dates=False)
    frame = pd.concat([web_app.assign(_file="web_app.csv"), pos.assign(_file="pos.jsonl")], ignore_index=True)
    for col in ("amount", "amount_cents"):
        if col in frame:
            frame[col] = pd.to_numeric(frame[col])
    return frame


def read_labels(run: Run) -> pd.DataFrame:
    frames = [
        pd.read_csv(p, dtype=str).assign(_arrival=p.parent.name)
        for p in sorted((run.landing / "labels").glob("*/labels.csv"))
    ]
    labels = pd.concat(frames, ignore_index=True)
    labels["is_fraud"] = labels["is_fraud"].astype(int)
    return labels


def transactions_with_labels(run: Run, days: list[date] | None = None) -> pd.DataFrame:
    days = tuple(days or run.dates)
    if days not in run.read_cache:
        run.read_cache[days] = _transactions_with_labels(run, days)
    return run.read_cache[days].copy()


def _transactions_with_labels(run: Run, days: tuple[date, ...]) -> pd.DataFrame:
    tx = pd.concat([read_day(run, d) for d in days], ignore_index=True).drop_duplicates("transaction_id")
    tx = tx.merge(read_labels(run), on="transaction_id", how="left", validate="one_to_one")
    customers = _table(run.db_url, "customers")
    tx = tx.merge(customers, on="customer_id", how="left")
    event = pd.to_datetime(tx["event_time"], format="%Y-%m-%dT%H:%M:%SZ")
    tx["hour"] = event.dt.hour
    tx["event_date"] = event.dt.date
    return tx


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Run:
    return _generate(tmp_path_factory.mktemp("baseline"))


def _scenario_run(tmp_path_factory, name: str, **kw) -> Run:
    return _generate(tmp_path_factory.mktemp(name), scenarios=[Scenario(name, SCENARIO_DAY, **kw)])


# --- the API ---------------------------------------------------------------------------------------------


def test_scenarios_are_described_and_each_is_drift_or_bad_data():
    assert set(SCENARIOS) == set(SCENARIO_KIND) == DRIFT_SCENARIOS | BAD_DATA_SCENARIOS
    assert not DRIFT_SCENARIOS & BAD_DATA_SCENARIOS
    assert {"price_inflation", "new_merchant_category", "fraud_pattern_shift", "dispute_wave"} == DRIFT_SCENARIOS
    assert {"null_burst", "schema_break", "duplicate_flood"} == BAD_DATA_SCENARIOS
    assert all(isinstance(v, str) and v for v in SCENARIOS.values())


def test_scenario_windows_bad_data_lasts_a_day_drift_persists_and_indexes_are_relative():
    windows = {
        w.name: w
        for w in resolve(
            [
                Scenario("null_burst", 2),
                Scenario("schema_break", "2026-03-06", days=2),
                ("price_inflation", date(2026, 3, 4)),
            ],
            START,
        )
    }
    burst, schema_break, inflation = windows["null_burst"], windows["schema_break"], windows["price_inflation"]
    assert [burst.active_on(START + timedelta(days=i)) for i in range(5)] == [False, False, True, False, False]
    assert [schema_break.active_on(date(2026, 3, d)) for d in (5, 6, 7, 8)] == [False, True, True, False]
    assert not inflation.active_on(date(2026, 3, 3))
    assert inflation.active_on(date(2026, 3, 4))
    assert inflation.active_on(date(2030, 1, 1))
    assert resolve({"duplicate_flood": 1}, START)[0].first == START + timedelta(days=1)


@pytest.mark.parametrize(("name", "days"), [("meteor_strike", None), ("null_burst", 0)])
def test_bad_scenario_arguments_are_refused(name, days):
    with pytest.raises(ValueError, match="scenario"):
        Scenario(name, 0, days=days)


def test_the_same_scenario_twice_is_refused():
    with pytest.raises(ValueError, match="once"):
        resolve([Scenario("null_burst", 0), Scenario("null_burst", 3)], START)


def test_manifest_is_written_beside_the_landing_files_and_is_json(baseline):
    on_disk = json.loads((baseline.landing / MANIFEST_FILE).read_text())
    assert on_disk == baseline.manifest
    assert [d["date"] for d in on_disk["days"]] == [(START + timedelta(days=i)).isoformat() for i in range(DAYS)]
    for d in on_disk["days"]:
        assert d["rows"] == sum(d["files"].values()) == d["transactions"] + d["dirt"]["duplicates"]
        assert d["scenarios"] == []
    assert sum(on_disk["labels"].values()) == sum(d["transactions"] for d in on_disk["days"])


# --- determinism -----------------------------------------------------------------------------------------


def test_same_seed_gives_byte_identical_files_and_tables(baseline, tmp_path):
    again = _generate(tmp_path / "again")
    assert _hashes(again.landing) == _hashes(baseline.landing)
    for name in ("customers", "merchants"):
        pd.testing.assert_frame_equal(_table(again.db_url, name), _table(baseline.db_url, name))


def test_another_seed_gives_other_data(baseline, tmp_path):
    other = _generate(tmp_path / "other", days=1, seed=SEED + 1)
    first = f"transactions/{START.isoformat()}/web_app.csv"
    assert _hashes(other.landing)[first] != _hashes(baseline.landing)[first]


def test_generating_in_two_calls_equals_generating_at_once(tmp_path):
    scenarios = [
        Scenario("price_inflation", START + timedelta(days=2)),
        Scenario("new_merchant_category", START + timedelta(days=4)),
        Scenario("null_burst", START + timedelta(days=3)),
    ]
    small = {"rows": 3_000, "scenarios": scenarios, "n_customers": 4_000, "n_merchants": 200}
    at_once = _generate(tmp_path / "at_once", days=6, **small)
    split = tmp_path / "split"
    _generate(split, days=3, **small)
    in_two = _generate(split, start=START + timedelta(days=3), days=3, **small)
    assert _hashes(in_two.landing) == _hashes(at_once.landing)
    for name in ("customers", "merchants"):
        pd.testing.assert_frame_equal(_table(in_two.db_url, name), _table(at_once.db_url, name))

    # Even backwards (a backfill of earlier days), the day files and the label feed come out the same;
    # only the source tables and the manifest's `as_of` follow the last call.
    backwards = tmp_path / "backwards"
    _generate(backwards, start=START + timedelta(days=3), days=3, **small)
    backfilled = _generate(backwards, days=3, **small)
    feeds = {k: v for k, v in _hashes(at_once.landing).items() if k != MANIFEST_FILE}
    assert {k: v for k, v in _hashes(backfilled.landing).items() if k != MANIFEST_FILE} == feeds
    assert backfilled.manifest["days"] == at_once.manifest["days"]
    assert backfilled.manifest["labels"] == at_once.manifest["labels"]


def test_regenerating_the_same_days_changes_nothing_and_keeps_the_tables_whole(tmp_path):
    run = _generate(tmp_path / "twice", days=2, rows=2_000)
    before = _hashes(run.landing)
    customers = _table(run.db_url, "customers")
    rerun = _generate(tmp_path / "twice", days=2, rows=2_000)
    assert _hashes(rerun.landing) == before
    pd.testing.assert_frame_equal(_table(rerun.db_url, "customers"), customers)
    assert customers["customer_id"].is_unique


def test_regenerating_days_with_another_seed_leaves_nothing_stale(tmp_path):
    small = {"days": 3, "rows": 2_000, "n_customers": 3_000, "n_merchants": 100}
    _generate(tmp_path / "reused", seed=1, **small)
    reused = _generate(tmp_path / "reused", seed=2, **small)
    fresh = _generate(tmp_path / "fresh", seed=2, **small)
    assert _hashes(reused.landing) == _hashes(fresh.landing)
    assert reused.manifest == fresh.manifest


# --- the data contract -----------------------------------------------------------------------------------


def test_files_follow_the_contract_and_channels_decide_the_file(baseline):
    for d in baseline.dates:
        folder = baseline.landing / "transactions" / d.isoformat()
        header = (folder / "web_app.csv").read_text().splitlines()[0]
        assert header.split(",") == data_contract.names(data_contract.TRANSACTION_COLUMNS)
        first_json = json.loads((folder / "pos.jsonl").read_text().splitlines()[0])
        assert list(first_json) == data_contract.names(data_contract.TRANSACTION_COLUMNS)

        frame = read_day(baseline, d)
        assert set(frame.loc[frame["_file"] == "web_app.csv", "channel"]) == {"web", "app"}
        assert set(frame.loc[frame["_file"] == "pos.jsonl", "channel"]) == {"pos"}
        pos = frame[frame["channel"] == "pos"]
        assert set(pos["device"].dropna()) == {"terminal"}
        assert "terminal" not in set(frame.loc[frame["channel"] != "pos", "device"].dropna())
        for col in ("currency", "channel", "device", "country"):
            allowed = set(data_contract.column(data_contract.TRANSACTION_COLUMNS, col).allowed)
            assert set(frame[col].dropna()) <= allowed, col
        assert set(frame["category"].dropna()) <= set(data_contract.CATEGORIES)  # no scenario on this day
        assert frame["event_time"].str.match(ISO_UTC).all()
        assert (frame["event_time"].str[:10] == d.isoformat()).all()
        ids = frame["transaction_id"].str.extract(TX_ID)[0]
        assert (ids == f"{d:%Y%m%d}").all()
        amounts = frame["amount"].dropna()
        assert np.allclose(amounts, amounts.round(2))


def test_transaction_ids_are_unique_across_days_apart_from_re_sends(baseline):
    frames = [read_day(baseline, d) for d in baseline.dates]
    everything = pd.concat(frames, ignore_index=True)
    unique = everything.drop_duplicates()
    assert unique["transaction_id"].is_unique  # a repeated id is always an exact re-send of its row
    assert len(unique) == sum(d["transactions"] for d in baseline.manifest["days"])


def test_structure_diurnal_curve_home_country_and_category_amounts(baseline):
    tx = transactions_with_labels(baseline)
    by_hour = tx["hour"].value_counts(normalize=True)
    assert by_hour.loc[[2, 3, 4]].sum() < 0.02
    assert by_hour.loc[[18, 19, 20]].sum() > 0.15
    assert 0.85 < (tx["country"] == tx["home_country"]).mean() < 0.99
    median = tx.groupby("category")["amount"].median()
    assert median["travel"] > median["electronics"] > median["grocery"] > median["digital_goods"]
    # Saturdays are busier than Mondays: the weekday effect on volume.
    assert baseline.day(START + timedelta(days=5))["transactions"] > baseline.day(START)["transactions"]


# --- fraud and labels ------------------------------------------------------------------------------------


def test_fraud_rate_is_between_half_and_two_percent_on_normal_days(baseline):
    labels = read_labels(baseline)
    for d in baseline.manifest["days"]:
        of_day = labels[labels["transaction_id"].str.startswith(f"tx-{d['date'].replace('-', '')}-")]
        assert len(of_day) == d["transactions"]
        rate = of_day["is_fraud"].mean()
        assert 0.005 <= rate <= 0.02, (d["date"], rate)
        assert of_day["is_fraud"].sum() == d["fraud"]


def test_the_hidden_rule_is_visible_in_the_labels(baseline):
    tx = transactions_with_labels(baseline)
    rate = tx["is_fraud"].mean()
    night = tx["hour"] < 6
    abroad = tx["country"] != tx["home_country"]
    risky = tx["category"].isin(["digital_goods", "electronics", "gaming"])
    assert tx.loc[night, "is_fraud"].mean() > 2.5 * rate
    assert tx.loc[abroad, "is_fraud"].mean() > 2.5 * rate
    assert tx.loc[risky, "is_fraud"].mean() > 1.3 * tx.loc[~risky, "is_fraud"].mean()
    assert tx.loc[tx["channel"] == "pos", "is_fraud"].mean() < rate


def test_every_transaction_gets_one_label_which_arrives_after_it_within_its_delay(baseline):
    tx = transactions_with_labels(baseline)
    assert tx["is_fraud"].notna().all()
    event = pd.to_datetime(tx["event_time"], format="%Y-%m-%dT%H:%M:%SZ")
    label = pd.to_datetime(tx["label_time"], format="%Y-%m-%dT%H:%M:%SZ")
    assert tx["label_time"].str.match(ISO_UTC).all()
    assert (tx["_arrival"] == tx["label_time"].str[:10]).all()  # filed by arrival date
    feed = read_labels(baseline)
    assert feed["label_time"].is_monotonic_increasing  # each file in arrival order, files in date order
    delay_days = (label - event).dt.total_seconds() / 86_400
    assert (label >= event).all()
    fraud, legit = delay_days[tx["is_fraud"] == 1], delay_days[tx["is_fraud"] == 0]
    assert fraud.between(1, 10).all()
    assert legit.between(3, 7).all()
    assert 2.5 < fraud.median() < 3.5  # chargebacks skew early
    # Arrival folders reach past the generated days: they are tomorrow's feed.
    last = max(baseline.dates)
    assert max(tx["_arrival"]) > last.isoformat()


def test_natural_dirt_is_small_and_counted(baseline):
    for d in baseline.dates:
        entry, frame = baseline.day(d), read_day(baseline, d)
        n, dirt = entry["transactions"], entry["dirt"]
        assert len(frame) - frame.drop(columns="_file").drop_duplicates().shape[0] == dirt["duplicates"]
        assert 0 < dirt["duplicates"] < 0.004 * n
        out_of_range = frame.drop_duplicates("transaction_id")["amount"]
        assert ((out_of_range <= 0) | (out_of_range > 50_000)).sum() == dirt["out_of_range"] < 0.002 * n
        assert frame.drop_duplicates("transaction_id")["device"].isna().sum() == dirt["null_device"]
        assert 0 < dirt["null_device"] < 0.006 * n
        assert dirt["null_burst"] == 0
        others = [c for c in data_contract.names(data_contract.TRANSACTION_COLUMNS) if c not in ("device", "amount")]
        assert not frame[others].isna().any().any()


# --- source tables ---------------------------------------------------------------------------------------


def test_source_tables_are_written_through_sqlalchemy_as_of_the_last_day(baseline):
    customers = _table(baseline.db_url, "customers")
    merchants = _table(baseline.db_url, "merchants")
    assert list(customers.columns) == data_contract.names(data_contract.CUSTOMER_COLUMNS)
    assert list(merchants.columns) == data_contract.names(data_contract.MERCHANT_COLUMNS)
    assert len(customers) == baseline.manifest["customers"]
    assert len(merchants) == baseline.manifest["merchants"]
    last = max(baseline.dates).isoformat()
    assert (customers["signup_date"].astype(str) <= last).all()
    assert set(customers["segment"]) == set(data_contract.SEGMENTS)
    assert set(merchants["merchant_category"]) == set(data_contract.CATEGORIES)
    # Some accounts are brand new on the generated days: the "new account" signal has something to see.
    assert (customers["signup_date"].astype(str) >= START.isoformat()).sum() > 0
    tx = transactions_with_labels(baseline, [START])
    assert tx["signup_date"].notna().all()  # every paying customer is in the table
    assert set(tx["merchant_id"]) <= set(merchants["merchant_id"])


# --- drift scenarios -------------------------------------------------------------------------------------


def test_price_inflation_raises_amounts_and_leaves_fraud_alone(baseline, tmp_path_factory):
    run = _scenario_run(tmp_path_factory, "price_inflation")
    for d in baseline.dates:
        base = read_day(baseline, d).drop_duplicates("transaction_id").set_index("transaction_id")["amount"]
        now = read_day(run, d).drop_duplicates("transaction_id").set_index("transaction_id")["amount"]
        natural = (base > 0) & (base <= 20_000)
        ratio = (now[natural] / base[natural]).median()
        k = (d - SCENARIO_DAY).days
        expected = 1.0 if k < 0 else 1.4 * 1.02**k
        assert ratio == pytest.approx(expected, rel=0.01), d
    assert read_labels(run).equals(read_labels(baseline))  # the same transactions are fraud


def test_new_merchant_category_takes_fifteen_percent_from_its_start(baseline, tmp_path_factory):
    run = _scenario_run(tmp_path_factory, "new_merchant_category")
    merchants = _table(run.db_url, "merchants")
    newcomers = merchants[merchants["merchant_category"] == data_contract.NEW_CATEGORY]
    assert len(newcomers) >= 3
    assert set(newcomers["onboarded_date"].astype(str)) == {SCENARIO_DAY.isoformat()}
    assert not (_table(baseline.db_url, "merchants")["merchant_category"] == data_contract.NEW_CATEGORY).any()
    for d in run.dates:
        frame = read_day(run, d)
        share = (frame["category"] == data_contract.NEW_CATEGORY).mean()
        if d < SCENARIO_DAY:
            assert share == 0
        else:
            assert 0.13 < share < 0.17, d
            crypto = frame[frame["category"] == data_contract.NEW_CATEGORY]
            assert set(crypto["merchant_id"]) <= set(newcomers["merchant_id"])
            assert set(crypto["channel"]) <= {"web", "app"}
        assert 0.005 <= run.day(d)["fraud"] / run.day(d)["transactions"] <= 0.02


def test_new_merchants_stay_out_of_the_table_before_they_onboard(tmp_path):
    early = _generate(
        tmp_path / "early", days=2, rows=1_000, scenarios=[Scenario("new_merchant_category", SCENARIO_DAY)]
    )
    assert data_contract.NEW_CATEGORY not in set(_table(early.db_url, "merchants")["merchant_category"])


def test_fraud_pattern_shift_moves_fraud_to_daytime_app_takeovers(baseline, tmp_path_factory):
    run = _scenario_run(tmp_path_factory, "fraud_pattern_shift")
    tx = transactions_with_labels(run)
    before, after = tx[tx["event_date"] < SCENARIO_DAY], tx[tx["event_date"] >= SCENARIO_DAY]
    for day in after["event_date"].unique():
        assert 0.005 <= after.loc[after["event_date"] == day, "is_fraud"].mean() <= 0.02

    def night_rate(df):
        return df.loc[df["hour"] < 6, "is_fraud"].mean()

    def takeover_share(df):
        fraud = df[df["is_fraud"] == 1]
        return ((fraud["channel"] == "app") & (fraud["device"] == "mobile")).mean()

    assert night_rate(after) < night_rate(before) / 5
    assert takeover_share(before) < 0.6 < 0.8 < takeover_share(after)
    old = after["signup_date"].astype(str) < str(SCENARIO_DAY - timedelta(days=365))
    assert after.loc[old, "is_fraud"].mean() > after.loc[~old, "is_fraud"].mean()
    # The days before the shift are untouched.
    assert _labels_before(run, SCENARIO_DAY).equals(_labels_before(baseline, SCENARIO_DAY))


def _labels_before(run: Run, day: date) -> pd.DataFrame:
    labels = read_labels(run)
    return labels[labels["transaction_id"] < f"tx-{day:%Y%m%d}"].sort_values("transaction_id", ignore_index=True)


def _average_precision(y: np.ndarray, score: np.ndarray) -> float:
    order = np.argsort(-score, kind="stable")
    hits = y[order]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((precision * hits).sum() / hits.sum())


def test_a_model_from_before_the_shift_fails_after_it_and_a_retrained_one_recovers(tmp_path):
    # A lookup "model": the smoothed fraud rate of each cell of a few coarse features. Crude, fast,
    # and enough to show that the label is learnable and that the concept really moves.
    shift = START + timedelta(days=6)
    run = _generate(tmp_path / "shift", days=12, rows=12_000, scenarios=[Scenario("fraud_pattern_shift", shift)])
    tx = transactions_with_labels(run)
    age = (pd.to_datetime(tx["event_date"]) - pd.to_datetime(tx["signup_date"])).dt.days
    cells = pd.DataFrame({
        "hour": pd.cut(tx["hour"], [-1, 5, 8, 18, 23], labels=False),
        "channel_device": tx["channel"] + "/" + tx["device"].fillna("?"),
        "category": tx["category"],
        "abroad": tx["country"] != tx["home_country"],
        "age": pd.cut(age, [-1, 29, 365, 100_000], labels=False),
        "amount": tx.groupby("category")["amount"].transform(lambda s: pd.qcut(s, 4, labels=False)),
    })  # fmt: skip
    cell = pd.util.hash_pandas_object(cells, index=False).to_numpy()
    y = tx["is_fraud"].to_numpy()
    day = tx["event_date"].to_numpy()

    def fit(mask):
        prior = y[mask].mean()
        counts = pd.DataFrame({"cell": cell[mask], "y": y[mask]}).groupby("cell")["y"].agg(["sum", "count"])
        rates = (counts["sum"] + 20 * prior) / (counts["count"] + 20)
        return lambda m: pd.Series(cell[m]).map(rates).fillna(prior).to_numpy()

    def ap(model, mask):
        return _average_precision(y[mask], model(mask))

    train_before = day < shift - timedelta(days=2)
    test_before = (day >= shift - timedelta(days=2)) & (day < shift)
    train_after = (day >= shift) & (day < shift + timedelta(days=4))
    test_after = day >= shift + timedelta(days=4)
    before, after = fit(train_before), fit(train_after)
    base_rate = y[test_after].mean()
    assert ap(before, test_before) > 4 * y[test_before].mean()  # learnable
    assert ap(before, test_after) < 2 * base_rate  # the old model is blind after the shift
    assert ap(after, test_after) > 8 * base_rate > 4 * ap(before, test_after)  # retraining recovers


# --- bad-data scenarios ----------------------------------------------------------------------------------


def test_null_burst_blanks_customer_and_amount_in_thirty_percent_of_one_day(baseline, tmp_path_factory):
    run = _scenario_run(tmp_path_factory, "null_burst")
    files, baseline_files = _hashes(run.landing), _hashes(baseline.landing)
    for d in run.dates:
        frame = read_day(run, d).drop_duplicates("transaction_id")
        both = frame["customer_id"].isna() & frame["amount"].isna()
        assert (frame["customer_id"].isna() == both).all()
        if d == SCENARIO_DAY:
            assert both.mean() == pytest.approx(0.30, abs=0.02)
            assert both.sum() == run.day(d)["dirt"]["null_burst"]
            assert run.day(d)["scenarios"] == ["null_burst"]
            pos_lines = (run.landing / "transactions" / d.isoformat() / "pos.jsonl").read_text()
            assert '"customer_id":null' in pos_lines
            assert '"amount":null' in pos_lines
            csv_lines = (run.landing / "transactions" / d.isoformat() / "web_app.csv").read_text()
            assert re.search(r"^tx-\d{8}-\d{7},[^,]+,,m-\d+,,", csv_lines, re.MULTILINE)  # empty fields
        else:
            assert not both.any()
            for name in ("web_app.csv", "pos.jsonl"):
                assert files[f"transactions/{d}/{name}"] == baseline_files[f"transactions/{d}/{name}"]


def test_schema_break_renames_amount_to_integer_cents_in_both_files(baseline, tmp_path_factory):
    run = _scenario_run(tmp_path_factory, "schema_break")
    folder = run.landing / "transactions" / SCENARIO_DAY.isoformat()
    header = (folder / "web_app.csv").read_text().splitlines()[0].split(",")
    assert "amount" not in header
    assert "amount_cents" in header
    first = json.loads((folder / "pos.jsonl").read_text().splitlines()[0])
    assert "amount" not in first
    assert isinstance(first["amount_cents"], int)
    broken = read_day(run, SCENARIO_DAY).drop_duplicates("transaction_id").set_index("transaction_id")
    fine = read_day(baseline, SCENARIO_DAY).drop_duplicates("transaction_id").set_index("transaction_id")
    assert (broken["amount_cents"] == (fine["amount"] * 100).round()).all()
    assert run.day(SCENARIO_DAY)["columns"][4] == "amount_cents"
    assert "amount" in read_day(run, SCENARIO_DAY + timedelta(days=1)).columns


def test_duplicate_flood_resends_a_quarter_of_one_day_in_both_files(baseline, tmp_path_factory):
    run = _scenario_run(tmp_path_factory, "duplicate_flood")
    frame = read_day(run, SCENARIO_DAY)
    entry = run.day(SCENARIO_DAY)
    extra = len(frame) - frame["transaction_id"].nunique()
    assert extra == entry["dirt"]["duplicates"]
    assert extra / entry["transactions"] == pytest.approx(0.25, abs=0.02)
    repeated = frame[frame["transaction_id"].duplicated(keep=False)]
    assert set(repeated["_file"]) == {"web_app.csv", "pos.jsonl"}
    exact = repeated.drop(columns="_file").astype(str).drop_duplicates()
    assert exact["transaction_id"].is_unique  # every copy is the same row again
    after = run.day(SCENARIO_DAY + timedelta(days=1))
    assert after["dirt"]["duplicates"] < 0.004 * after["transactions"]
    assert read_labels(run).equals(read_labels(baseline))  # a re-send is not a new transaction


def test_the_default_engine_follows_the_current_settings(tmp_path, monkeypatch):
    from evergreen import config
    from evergreen.storage import sql

    monkeypatch.setenv("EVERGREEN_HOME", str(tmp_path / "a"))
    config.reload()
    first = sql.engine()
    monkeypatch.setenv("EVERGREEN_HOME", str(tmp_path / "b"))
    config.reload()
    assert str(sql.engine().url) != str(first.url)
    assert str(sql.engine().url).endswith("/b/source.db")
    monkeypatch.undo()
    config.reload()


# --- broken files on purpose (the bad-input corpus) -------------------------------------------------------


def test_corruptions_break_a_landing_file_as_they_say(baseline, tmp_path):
    from evergreen.devtools.datagen import corrupt

    folder = baseline.landing / "transactions" / START.isoformat()
    web, pos = (folder / "web_app.csv").read_bytes(), (folder / "pos.jsonl").read_bytes()

    def copy(name: str, data: bytes) -> Path:
        (tmp_path / name).write_bytes(data)
        return tmp_path / name

    latin = copy("latin1.csv", web)
    changed = corrupt.latin1(latin)
    assert changed > 5
    with pytest.raises(UnicodeDecodeError):
        latin.read_bytes().decode("utf-8")
    text = latin.read_bytes().decode("latin-1")
    assert "straße" in text
    assert text.count("\n") == web.count(b"\n")

    renamed = copy("renamed.jsonl", pos)
    corrupt.rename_column(renamed, "amount", "amount_cents")
    assert b'"amount":' not in renamed.read_bytes()
    assert renamed.read_bytes().count(b'"amount_cents":') == pos.count(b"\n")

    cut = copy("cut.csv", web)
    corrupt.truncate(cut, keep=0.5)
    assert not cut.read_bytes().endswith(b"\n")
    assert len(cut.read_bytes()) <= len(web) * 0.5

    mixed = copy("mixed.csv", web)
    corrupt.mixed_line_endings(mixed)
    data = mixed.read_bytes()
    assert b"\r\n" in data
    assert b"\r" in data.replace(b"\r\n", b"")
    assert data.replace(b"\r\n", b"\n").replace(b"\r", b"\n") == web

    huge = copy("huge.csv", web)
    corrupt.huge_line(huge, 3, 100_000)
    assert max(len(line) for line in huge.read_bytes().splitlines()) > 100_000

    nested = copy("nested.jsonl", pos)
    corrupt.nested_json(nested, 0, "amount")
    assert json.loads(nested.read_bytes().splitlines()[0])["amount"]["unit"] == "EUR"

    junk_a, junk_b = copy("a.csv", web), copy("b.csv", web)
    corrupt.binary_junk(junk_a, seed=3)
    corrupt.binary_junk(junk_b, seed=3)
    assert junk_a.read_bytes() == junk_b.read_bytes() != web  # seeded: the same junk every time
