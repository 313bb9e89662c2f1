"""The refund-dispute feed through its two Spark steps on a small real lake: `disputes` (file gate, bronze,
silver, quarantine) and `disputes_gold` (gold/disputes, labels as known at the end of the run day).

One lake for the module: 17 generated days of 300 purchases, gold/features built by the daily steps for three
of them (R-14, R-5 and the run day R), every dispute raise day from R-14 to R ingested, two hand-written bad
files and a hand-made re-send among them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from pyspark.sql import Row
from pyspark.sql import functions as F

from evergreen import config
from evergreen.common.days import days_between, shift_day
from evergreen.contracts import data_contract
from evergreen.devtools.datagen import generate
from evergreen.pipeline import steps
from evergreen.pipeline.transforms.clean import clean_disputes
from evergreen.pipeline.transforms.ingest import type_batch
from evergreen.pipeline.transforms.types import SPARK_TYPES
from evergreen.storage.inventory import partition_counts, summarize
from evergreen.storage.landing_scan import count_rows, list_drop
from evergreen.storage.step_reports import read_report

pytestmark = pytest.mark.spark

START = "2026-02-01"
RUN = "2026-02-17"  # R
OLD, MID = shift_day(RUN, -14), shift_day(RUN, -5)  # every outcome decided; R-5: the window still open
GOLD_DAYS = [OLD, MID, RUN]
RAISE_DAYS = days_between(OLD, RUN)
RENAMED_DAY, NOT_UTF8_DAY, RESEND_DAY = "2026-02-10", "2026-02-12", "2026-02-14"
RENAMED = "late_batch.csv"
NOT_UTF8 = "manual_entry.csv"
WINDOW = dt.timedelta(days=data_contract.DISPUTE_WINDOW_DAYS)


@contextlib.contextmanager
def _home(path: Path):
    saved = os.environ.get("EVERGREEN_HOME")
    os.environ["EVERGREEN_HOME"] = str(path)
    config.reload()
    try:
        yield config.settings()
    finally:
        if saved is None:
            os.environ.pop("EVERGREEN_HOME", None)
        else:
            os.environ["EVERGREEN_HOME"] = saved
        config.reload()


def _drop(cfg, day: str) -> Path:
    return Path(cfg.layer("landing", "disputes")) / day


def _hand_made_files(cfg) -> None:
    """A renamed column and a file that is not UTF-8 beside the day's good file; an exact re-send in another."""
    header = ",".join(data_contract.names(data_contract.DISPUTE_COLUMNS))
    (_drop(cfg, RENAMED_DAY) / RENAMED).write_text(
        header.replace("reason_code", "reason") + "\n"
        f"dp-x-1,tx-20260205-0000001,{RENAMED_DAY}T08:00:00Z,not_received\n"
        f"dp-x-2,tx-20260205-0000002,{RENAMED_DAY}T09:00:00Z,duplicate_charge\n"
    )
    (_drop(cfg, NOT_UTF8_DAY) / NOT_UTF8).write_bytes(
        (header + "\n").encode() + f"dp-y-1,tx-20260206-0000003,{NOT_UTF8_DAY}T10:00:00Z,not_as_described\n".encode()
        + "dp-y-2,tx-20260206-0000004,2026-02-12T11:00:00Z,pas reçu\n".encode("latin-1")
    )  # fmt: skip
    good = _drop(cfg, RESEND_DAY) / "disputes.csv"
    lines = good.read_bytes().splitlines(keepends=True)
    good.write_bytes(b"".join(lines) + lines[1])  # the issuer sends the first row again


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    home = tmp_path_factory.mktemp("disputes")
    with _home(home) as cfg:
        generate(dt.date.fromisoformat(START), days=17, rows_per_day=300, seed=5)
        _hand_made_files(cfg)
        daily = steps.backfill(spark, GOLD_DAYS)  # gold/features, and the disputes raised OLD..RUN into gold
        assert all(r["stopped_at"] is None for r in daily.values()), daily
        backfilled = _gold_counts(cfg)
        ingested = steps.disputes_day(spark, RUN, since=OLD)
        gold = steps.disputes_gold_day(spark, RUN)
        yield {"cfg": cfg, "ingested": ingested["days"], "gold_report": gold, "spark": spark,
               "backfill": daily, "backfilled": backfilled}  # fmt: skip


def _gold_counts(cfg) -> dict[str, tuple[int, int]]:
    """gold/disputes per event day: (rows, disputed)."""
    table = ds.dataset(cfg.layer("gold", "disputes"), format="parquet", partitioning="hive").to_table()
    frame = table.select(["event_date", "is_disputed"]).to_pandas()
    frame["event_date"] = frame["event_date"].astype(str)
    grouped = frame.groupby("event_date")["is_disputed"]
    return {d: (int(n), int(k)) for d, n, k in zip(grouped.size().index, grouped.size(), grouped.sum(), strict=True)}


def test_a_backfill_builds_gold_disputes_as_the_daily_dag_would(lake):
    """History landed in one Spark session gets its dispute labels too (not every purchase undisputed), and
    the same gold as ingest_disputes' two steps over those days."""
    assert lake["backfilled"] == _gold_counts(lake["cfg"])
    assert lake["backfilled"][OLD][1] > 0  # every outcome known, some disputed
    for day in GOLD_DAYS:
        assert lake["backfill"][day]["disputes"]["gold_rows"] == lake["backfilled"][day][0]


def _gold(cfg, day: str):
    return ds.dataset(f"{cfg.layer('gold', 'disputes')}/event_date={day}", format="parquet").to_table().to_pandas()


def _landed_disputes(cfg) -> dict[str, tuple[str, str]]:
    """Every well-formed dispute in the generated files (any raise day): transaction -> (raised_at, raise day)."""
    import pandas as pd

    frames = [
        pd.read_csv(p, dtype=str).assign(day=p.parent.name)
        for p in sorted(Path(cfg.layer("landing", "disputes")).glob("*/disputes.csv"))
    ]
    feed = pd.concat(frames).drop_duplicates()
    return {r.transaction_id: (r.raised_at, r.day) for r in feed.itertuples()}


def test_every_landed_dispute_row_is_in_silver_or_in_quarantine(lake):
    cfg = lake["cfg"]
    silver = partition_counts("silver", "disputes", "raised_date", RAISE_DAYS)
    quarantine = partition_counts("quarantine", "disputes", "batch_id", [f"disputes-{d}" for d in RAISE_DAYS])
    total = 0
    for day in RAISE_DAYS:
        landed = sum(count_rows(list_drop(str(_drop(cfg, day)))).values())
        report = lake["ingested"][day]
        assert report["landing_rows"] == landed, day
        assert silver.get(day, 0) + quarantine.get(f"disputes-{day}", 0) == landed, day
        assert report["silver_rows"] + report["quarantined_rows"] == landed, day
        total += landed
    assert total > 60


def test_the_transactions_reconciliation_does_not_count_dispute_rows(lake):
    summary = summarize(GOLD_DAYS)
    assert summary["reconciled"]
    landed = {d: sum(count_rows(list_drop(f"{lake['cfg'].layer('landing', 'transactions')}/{d}")).values())
              for d in GOLD_DAYS}  # fmt: skip
    assert {r["day"]: r["landing"] for r in summary["days"]} == landed
    # ... and the dispute feed is reconciled on its own, by raise day
    assert summary["disputes"]["landing"] > 0
    assert summary["disputes"]["unaccounted"] == 0
    problems = [f for f in summary["gates"]["not_passed"] if f["gate"] == "disputes"]
    assert [(f["day"], f["status"]) for f in problems] == [(NOT_UTF8_DAY, "partial")]  # status names the bad file
    assert f"{NOT_UTF8}: not UTF-8" in problems[0]["reason"]


@pytest.mark.parametrize(
    ("day", "name", "problem"),
    [(RENAMED_DAY, RENAMED, "column reason_code missing, reason unexpected"), (NOT_UTF8_DAY, NOT_UTF8, "not UTF-8")],
)
def test_a_broken_file_is_quarantined_whole_and_the_days_good_file_goes_to_silver(lake, day, name, problem):
    spark, cfg = lake["spark"], lake["cfg"]
    report = lake["ingested"][day]
    gate = report["gate"]
    assert gate["status"] == "partial"
    assert f"{name}: {problem}" in gate["reason"]
    assert "\n" not in gate["reason"]
    verdicts = {f["name"]: f for f in read_report(day, "disputes")["files"]}  # the job's own report, in full
    assert verdicts[name]["status"] == "refused"
    assert verdicts["disputes.csv"]["status"] == "accepted"
    q = spark.read.parquet(f"{cfg.layer('quarantine', 'disputes')}/batch_id=disputes-{day}")
    rows = q.filter(F.get_json_object("record", "$._source_file").endswith(name)).collect()
    assert len(rows) == 2  # both rows of the hand-written file, whole
    assert {r["stage"] for r in rows} == {"landing_file"}
    assert all(r["reason"].startswith(f"{name}: {problem}") for r in rows)
    silver = spark.read.parquet(f"{cfg.layer('silver', 'disputes')}/raised_date={day}")
    good = sum(count_rows([str(_drop(cfg, day) / "disputes.csv")]).values())
    assert silver.count() == good > 0
    assert {Path(r[0]).name for r in silver.select(data_contract.SOURCE_FILE).distinct().collect()} == {"disputes.csv"}


def test_a_re_sent_dispute_is_kept_once(lake):
    spark, cfg = lake["spark"], lake["cfg"]
    report = lake["ingested"][RESEND_DAY]
    assert report["gate"]["status"] == "passed"
    assert report["quarantine_reasons"].get("duplicate_dispute_id", 0) >= 1
    silver = spark.read.parquet(cfg.layer("silver", "disputes"))
    assert silver.count() == silver.select("dispute_id").distinct().count()


def test_a_day_without_disputes_is_a_success_with_nothing_new(lake):
    """No folder at all, or a file with its header alone (the issuer's "nothing today"): passed, 0 rows."""
    spark, cfg = lake["spark"], lake["cfg"]
    missing, header_only = shift_day(START, -2), shift_day(START, -1)
    _drop(cfg, header_only).mkdir(parents=True)
    (_drop(cfg, header_only) / "disputes.csv").write_text(
        ",".join(data_contract.names(data_contract.DISPUTE_COLUMNS)) + "\n"
    )
    reports = steps.disputes_day(spark, header_only, since=missing)["days"]
    assert reports[missing]["gate"]["status"] == "passed"
    assert reports[missing]["gate"]["reason"].endswith("nothing new")
    assert reports[header_only]["gate"]["status"] == "passed"
    assert reports[header_only]["gate"]["reason"] == f"raw contract passed for disputes-{header_only}: 0 rows"
    for report in reports.values():
        assert report["landing_rows"] == report["silver_rows"] == report["quarantined_rows"] == 0


def test_gold_disputes_mirrors_gold_features_in_the_contract_types(lake):
    cfg = lake["cfg"]
    assert partition_counts("gold", "disputes", "event_date") == partition_counts("gold", "features", "event_date")
    gold = lake["spark"].read.parquet(cfg.layer("gold", "disputes"))
    types = {f.name: f.dataType for f in gold.schema.fields}
    assert types == {c.name: SPARK_TYPES[c.type] for c in data_contract.GOLD_DISPUTE_COLUMNS}
    assert lake["gold_report"]["disputed"] > 0
    assert lake["gold_report"]["not_disputed"] > 0


def test_labels_are_what_was_known_at_the_end_of_the_run_day(lake):
    cfg = lake["cfg"]
    landed = _landed_disputes(cfg)
    end = dt.datetime.fromisoformat(f"{RUN}T23:59:59")
    for day in GOLD_DAYS:
        gold = _gold(cfg, day)
        for row in gold.itertuples():
            dispute = landed.get(row.transaction_id)
            known = dispute is not None and dispute[1] <= RUN
            if known:
                assert row.is_disputed == 1, row.transaction_id
                assert row.dispute_label_time == dt.datetime.fromisoformat(dispute[0].rstrip("Z")), row.transaction_id
            elif row.event_time + WINDOW <= end:
                assert row.is_disputed == 0, row.transaction_id
                assert row.dispute_label_time == row.event_time + WINDOW
            else:
                assert row.is_disputed != row.is_disputed  # NaN: not known yet
    old, mid, today = (_gold(cfg, d) for d in GOLD_DAYS)
    assert old["is_disputed"].notna().all()  # every window closed by the end of R
    assert 0 < old["is_disputed"].sum() < len(old)
    assert (mid["is_disputed"].dropna() == 1).all()  # a "no" is not known yet
    later = [t for t in mid["transaction_id"] if t in landed and landed[t][1] > RUN]
    assert later, "some of R-5's disputes are raised after R"
    assert mid.set_index("transaction_id").loc[later, "is_disputed"].isna().all()  # invisible at R
    assert today["is_disputed"].isna().all()


def test_a_dispute_delivered_after_the_run_day_changes_nothing_and_a_re_run_is_identical(lake):
    spark, cfg = lake["spark"], lake["cfg"]
    before = {d: _gold(cfg, d).sort_values("transaction_id", ignore_index=True) for d in GOLD_DAYS}
    silver_before = sorted(
        spark.read.parquet(cfg.layer("silver", "disputes")).drop(data_contract.INGESTED_AT).collect()
    )
    tomorrow = shift_day(RUN, 1)
    steps.disputes_day(spark, tomorrow)  # silver now holds a later day's disputes
    steps.disputes_day(spark, RUN)
    again = steps.disputes_gold_day(spark, RUN)
    assert again["gold_partitions"] == lake["gold_report"]["gold_partitions"]
    for day in GOLD_DAYS:
        after = _gold(cfg, day).sort_values("transaction_id", ignore_index=True)
        assert after.equals(before[day]), day
    silver_after = spark.read.parquet(cfg.layer("silver", "disputes")).drop(data_contract.INGESTED_AT)
    assert silver_after.filter(F.col("raised_date") == tomorrow).count() > 0
    assert sorted(silver_after.filter(F.col("raised_date") <= RUN).collect()) == silver_before


def test_clean_keeps_one_row_per_dispute_with_one_reason_for_each_other(spark):
    """The row rules on a hand-made batch (in a landed file, one bad value among a few rows would refuse the
    whole file at the file gate instead)."""
    day = "2026-02-10"
    rows = [
        ("dp-1", "tx-1", f"{day}T08:00:00Z", "not_received"),
        ("dp-1", "tx-1", f"{day}T08:00:00Z", "not_received"),  # re-sent
        ("dp-2", "tx-2", f"{day}T09:00:00Z", "changed_my_mind"),
        ("dp-3", "tx-3", "yesterday", "duplicate_charge"),
        ("dp-4", "tx-4", "2026-02-11T01:00:00Z", "duplicate_charge"),  # raised after its delivery day
        ("dp-5", "tx-5", "2026-02-08T12:00:00Z", "not_as_described"),  # delivered late: fine
        ("dp-6", "tx-6", f"{day}T10:00:00Z", None),
    ]
    names = data_contract.names(data_contract.DISPUTE_COLUMNS)
    raw = spark.createDataFrame([Row(**dict(zip(names, r, strict=True)), _source_file="f.csv") for r in rows])
    bronze = type_batch(raw, data_contract.DISPUTE_COLUMNS, batch_id=f"disputes-{day}",
                        partition_key="raised_date", partition_value=day)  # fmt: skip
    silver, rejected = clean_disputes(bronze)
    assert sorted(r["dispute_id"] for r in silver.collect()) == ["dp-1", "dp-5"]
    reasons = {r["dispute_id"]: r[data_contract.QUARANTINE_REASON] for r in rejected.collect()}
    assert reasons == {
        "dp-1": "duplicate_dispute_id",
        "dp-2": "unknown_reason_code",
        "dp-3": "raised_at not a timestamp: 'yesterday'",
        "dp-4": "raised_at_after_batch_day",
        "dp-6": "null_reason_code",
    }
