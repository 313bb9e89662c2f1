"""The GX gates against the real Great Expectations, on small staged batches built in Spark.

Every test uses its own batch id: the gates write their results under `reports/gates/<batch_id>/`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from evergreen.config import settings
from evergreen.contracts import data_contract
from evergreen.pipeline.quality import GateResult, clean_quality_gate, raw_contract_gate

pytestmark = pytest.mark.spark

ROWS = 1000
DAY = "2026-01-03"


def _cycle(values: tuple[str, ...], i: Column) -> Column:
    return F.element_at(F.array(*[F.lit(v) for v in values]), (i % len(values) + 1).cast("int"))


def _bronze_columns(i: Column, batch_id: str) -> dict[str, Column]:
    """Ingest's staged bronze shape, as expressions of the row number `i`."""
    return {
        "transaction_id": F.format_string("tx-%06d", i),
        "event_time": F.lit(f"{DAY} 00:00:00").cast("timestamp") + F.make_interval(secs=i * 60),
        "customer_id": F.format_string("c-%04d", i % 97),
        "merchant_id": F.format_string("m-%03d", i % 31),
        "amount": (F.lit(1.0) + (i % 500) * 3.5).cast("double"),
        "currency": _cycle(data_contract.CURRENCIES, i),
        "category": _cycle(data_contract.CATEGORIES, i),
        "channel": _cycle(data_contract.CHANNELS, i),
        "device": _cycle(data_contract.DEVICES, i),
        "country": _cycle(data_contract.COUNTRIES, i),
        data_contract.RAW: F.create_map().cast("map<string,string>"),
        data_contract.SOURCE_FILE: F.lit(f"landing/transactions/{DAY}/part-0.csv"),
        data_contract.BATCH_ID: F.lit(batch_id),
        data_contract.INGESTED_AT: F.current_timestamp(),
        "_corrupt_record": F.lit(None).cast("string"),
        "event_date": F.lit(DAY).cast("date"),
    }


Change = Callable[[dict[str, Column], Column], None]


def bronze(spark, batch_id: str, change: Change | None = None, rows: int = ROWS) -> DataFrame:
    i = F.col("id")
    columns = _bronze_columns(i, batch_id)
    if change:
        change(columns, i)
    return spark.range(rows).select(*[expr.alias(name) for name, expr in columns.items()])


def silver(spark, batch_id: str, change: Change | None = None, rows: int = ROWS) -> DataFrame:
    """Clean's staged silver shape: contract columns, _source_file, _batch_id, event_date."""
    keep = [
        *data_contract.names(data_contract.TRANSACTION_COLUMNS),
        data_contract.SOURCE_FILE,
        data_contract.BATCH_ID,
        "event_date",
    ]
    return bronze(spark, batch_id, change, rows).select(*keep)


def _failed_types(gate: GateResult) -> set[tuple[str, str | None]]:
    return {(f["expectation"], f["column"]) for f in gate.failed_expectations}


# -- raw contract ------------------------------------------------------------------------------------


def test_a_clean_batch_passes_both_gates(spark):
    batch = "transactions-2026-01-03"
    raw = raw_contract_gate(bronze(spark, batch), batch)
    assert (raw.gate, raw.status, raw.row_count) == ("raw_contract", "passed", ROWS)
    assert raw.passed
    assert raw.reason == f"raw contract passed for {batch}: {ROWS} rows"
    assert raw.failed_expectations == []
    assert raw.statistics["unsuccessful_expectations"] == 0
    assert raw.statistics["evaluated_expectations"] >= 20  # set, row count, 10 types, 5 not-null, 4 allowed

    clean = clean_quality_gate(silver(spark, batch), batch, previous_row_count=ROWS, quarantined={})
    assert (clean.gate, clean.status, clean.row_count) == ("clean_quality", "passed", ROWS)
    assert clean.reason == f"clean quality passed for {batch}: {ROWS} rows"
    assert clean.statistics["quarantined_share"] == 0.0


def test_renamed_amount_fails_raw_contract_naming_both_columns(spark):
    batch = "transactions-2026-01-04"

    def rename(cols, _i):
        cols["amount_cents"] = cols.pop("amount")

    gate = raw_contract_gate(bronze(spark, batch, rename), batch)
    assert gate.status == "failed"
    assert not gate.passed
    assert gate.reason.startswith(f"raw contract failed for {batch}: columns differ from contract")
    assert "missing amount" in gate.reason
    assert "unexpected amount_cents" in gate.reason
    # The set check names the columns once; the expectations on the vanished column are recorded but
    # not repeated in the one-line reason.
    assert gate.reason.count("amount") == 2
    assert ("expect_table_columns_to_match_set", None) in _failed_types(gate)
    assert ("expect_column_values_to_be_of_type", "amount") in _failed_types(gate)


def test_a_burst_of_null_customer_ids_fails_raw_contract(spark):
    batch = "transactions-2026-01-05"

    def null_30_percent(cols, i):
        cols["customer_id"] = F.when(i % 10 < 3, None).otherwise(cols["customer_id"])

    gate = raw_contract_gate(bronze(spark, batch, null_30_percent), batch)
    assert gate.status == "failed"
    assert gate.reason == (f"raw contract failed for {batch}: customer_id null in 30.0% of rows (allowed 5.0%)")
    (failure,) = gate.failed_expectations
    assert failure["expectation"] == "expect_column_values_to_not_be_null"
    assert failure["observed"]["unexpected_count"] == 300
    assert failure["expected"]["mostly"] == pytest.approx(1 - settings().null_burst_tolerance)


def test_nulls_within_the_burst_tolerance_pass_raw_contract(spark):
    batch = "transactions-2026-01-06"

    def null_3_percent(cols, i):
        cols["customer_id"] = F.when(i % 100 < 3, None).otherwise(cols["customer_id"])

    gate = raw_contract_gate(bronze(spark, batch, null_3_percent), batch)
    assert gate.status == "passed", gate.reason


@pytest.mark.parametrize(("every", "status"), [(20, "failed"), (200, "passed")])
def test_unknown_currencies_fail_raw_contract_above_one_percent(spark, every, status):
    batch = f"transactions-2026-01-07-every-{every}"

    def unknown_currency(cols, i):
        cols["currency"] = F.when(i % every == 0, F.lit("JPY")).otherwise(cols["currency"])

    gate = raw_contract_gate(bronze(spark, batch, unknown_currency), batch)
    assert gate.status == status, gate.reason
    if status == "failed":
        assert "currency outside allowed values in 5.0% of non-null rows (allowed 1.0%; e.g. 'JPY'" in gate.reason
        assert _failed_types(gate) == {("expect_column_values_to_be_in_set", "currency")}


def test_a_mistyped_contract_column_fails_raw_contract(spark):
    batch = "transactions-2026-01-08"

    def amount_as_string(cols, _i):
        cols["amount"] = cols["amount"].cast("string")

    gate = raw_contract_gate(bronze(spark, batch, amount_as_string), batch)
    assert gate.status == "failed"
    assert "amount is StringType (expected DoubleType)" in gate.reason


@pytest.mark.parametrize("engine", ["spark", "pandas"])
def test_both_engines_give_the_same_verdict(spark, engine):
    """The pandas engine is only the benchmark's alternative, but it must not drift into a different gate."""
    batch = f"transactions-2026-01-09-{engine}"

    def null_30_percent(cols, i):
        cols["merchant_id"] = F.when(i % 10 < 3, None).otherwise(cols["merchant_id"])

    gate = raw_contract_gate(bronze(spark, batch, null_30_percent), batch, engine=engine)
    assert gate.statistics["engine"] == engine
    assert gate.reason == f"raw contract failed for {batch}: merchant_id null in 30.0% of rows (allowed 5.0%)"


# -- clean quality -----------------------------------------------------------------------------------


def test_a_duplicate_transaction_id_fails_clean_quality(spark):
    batch = "transactions-2026-01-10"

    def duplicate(cols, i):
        cols["transaction_id"] = F.when(i == 1, F.lit("tx-000000")).otherwise(cols["transaction_id"])

    gate = clean_quality_gate(silver(spark, batch, duplicate), batch, previous_row_count=ROWS, quarantined={})
    assert gate.status == "failed"
    assert gate.reason.startswith(f"clean quality failed for {batch}: transaction_id not unique: 2 rows share a value")
    assert "'tx-000000'" in gate.reason
    assert _failed_types(gate) == {("expect_column_values_to_be_unique", "transaction_id")}


def test_an_unfilled_channel_fails_clean_quality(spark):
    batch = "transactions-2026-01-11"

    def raw_channel(cols, i):
        cols["channel"] = F.when(i == 7, F.lit("kiosk")).otherwise(cols["channel"])

    gate = clean_quality_gate(silver(spark, batch, raw_channel), batch, previous_row_count=None, quarantined={})
    assert gate.status == "failed"
    assert "channel outside allowed values" in gate.reason
    assert "'kiosk'" in gate.reason


@pytest.mark.parametrize(
    ("previous", "status"),
    [(10 * ROWS, "failed"), (ROWS // 10, "failed"), (int(ROWS * 1.4), "passed"), (None, "passed")],
)
def test_day_over_day_row_count(spark, previous, status):
    batch = f"transactions-2026-01-12-{previous}"
    gate = clean_quality_gate(silver(spark, batch), batch, previous_row_count=previous, quarantined={})
    assert gate.status == status, gate.reason
    if status == "failed":
        tol = settings().row_count_tolerance
        low, high = round(previous * (1 - tol)), round(previous * (1 + tol))
        assert f"row count {ROWS} outside [{low}, {high}]; previous {previous}" in gate.reason
        assert _failed_types(gate) == {("expect_table_row_count_to_be_between", None)}


def test_a_day_short_by_refused_files_only_needs_rows(spark):
    """The file gate refused some of the day's files (named in quarantine): no lower day-over-day bound."""
    batch = "transactions-2026-01-12-partial"
    few = ROWS // 10
    gate = clean_quality_gate(
        silver(spark, batch, rows=few), batch, previous_row_count=ROWS, quarantined={}, partial_landing=True
    )
    assert gate.status == "passed", gate.reason
    assert gate.statistics["row_count_bounds"] == [1.0, ROWS * (1 + settings().row_count_tolerance)]
    too_many = clean_quality_gate(
        silver(spark, batch), batch, previous_row_count=ROWS // 10, quarantined={}, partial_landing=True
    )
    assert too_many.status == "failed"  # the upper bound still holds


def test_heavy_quarantine_makes_clean_quality_partial(spark):
    batch = "transactions-2026-01-13"
    rows = 800  # + 200 quarantined = 20% of the batch
    quarantined = {"duplicate_transaction_id": 199, "amount_out_of_range": 1}
    gate = clean_quality_gate(silver(spark, batch, rows=rows), batch, previous_row_count=rows, quarantined=quarantined)
    assert gate.status == "partial"
    assert gate.passed  # a partial batch still flows on
    assert gate.reason == (
        f"clean quality partial for {batch}: 20.0% of rows quarantined "
        "(duplicate_transaction_id 19.9%, amount_out_of_range 0.1%)"
    )
    assert gate.statistics["quarantined_rows"] == 200
    assert gate.statistics["quarantined_share"] == pytest.approx(0.2)


def test_light_quarantine_still_passes(spark):
    batch = "transactions-2026-01-14"
    gate = clean_quality_gate(
        silver(spark, batch), batch, previous_row_count=ROWS, quarantined={"amount_out_of_range": 5}
    )
    assert gate.status == "passed", gate.reason


# -- where results go --------------------------------------------------------------------------------


def test_result_json_and_data_docs_are_written(spark):
    batch = "transactions-2026-01-15"
    gate = raw_contract_gate(bronze(spark, batch), batch)

    result_path = Path(gate.result_path)
    assert result_path == settings().home / "reports" / "gates" / batch / "raw_contract.json"
    result = json.loads(result_path.read_text())
    assert result["success"] is True
    assert result["meta"]["run_id"]["run_name"] == batch
    assert len(result["results"]) == gate.statistics["evaluated_expectations"]

    docs = Path(gate.docs_path)
    assert docs.is_file()
    assert docs.is_relative_to(settings().home / "gx")
    assert batch in docs.parts  # the validation's own page, not just the site index
    assert "<html" in docs.read_text().lower()


def test_a_failed_batch_keeps_example_values_in_its_stored_result(spark):
    batch = "transactions-2026-01-16"

    def unknown_currency(cols, i):
        cols["currency"] = F.when(i % 10 == 0, F.lit("XTS")).otherwise(cols["currency"])

    gate = raw_contract_gate(bronze(spark, batch, unknown_currency), batch)
    assert "diagnose" in gate.statistics["seconds"]  # the second, detailed pass ran
    result = json.loads(Path(gate.result_path).read_text())
    (in_set,) = [r for r in result["results"] if not r["success"]]
    assert "XTS" in in_set["result"]["partial_unexpected_list"]


def test_rerunning_a_batch_overwrites_its_result(spark):
    from evergreen.pipeline.quality import _gx

    batch = "transactions-2026-01-17"
    first = raw_contract_gate(bronze(spark, batch), batch)
    first_run = json.loads(Path(first.result_path).read_text())["meta"]["run_id"]["run_time"]

    suite_file = settings().home / "gx" / "expectations" / "raw_contract.json"
    suite_before = json.loads(suite_file.read_text())

    # A re-run in a fresh process finds the suites, definitions and checkpoints already stored, and
    # leaves the unchanged suite alone: a rewrite would re-id it under every other running job.
    this_process = dict(_gx._ensured)
    _gx._contexts.clear()
    _gx._ensured.clear()

    def null_30_percent(cols, i):
        cols["customer_id"] = F.when(i % 10 < 3, None).otherwise(cols["customer_id"])

    second = raw_contract_gate(bronze(spark, batch, null_30_percent), batch)
    assert second.result_path == first.result_path
    stored = json.loads(Path(second.result_path).read_text())
    assert stored["success"] is False
    assert stored["meta"]["run_id"]["run_time"] != first_run
    assert list(Path(second.result_path).parent.iterdir()) == [Path(second.result_path)]
    assert json.loads(suite_file.read_text()) == suite_before

    # The first "process" still holds its checkpoints: they are still fresh.
    _gx._ensured.update(this_process)
    third = raw_contract_gate(bronze(spark, batch), batch)
    assert third.status == "passed"


def test_gate_result_round_trips_through_json(spark):
    batch = "transactions-2026-01-18"
    gate = clean_quality_gate(silver(spark, batch), batch, previous_row_count=None, quarantined={"x": 1})
    again = GateResult.from_dict(json.loads(gate.to_json()))
    assert again == gate
    assert again.passed


def _cached(df: DataFrame) -> bool:
    # Asks Spark's cache manager about this plan (DataFrame.is_cached is only a Python-side flag).
    level = df.storageLevel
    return level.useMemory or level.useDisk


def test_a_gate_leaves_the_spark_cache_as_it_found_it(spark):
    batch = "transactions-2026-01-20"
    uncached = bronze(spark, batch)
    raw_contract_gate(uncached, batch)
    assert not _cached(uncached)  # nothing left behind by the gate or by GX

    cached = bronze(spark, batch).persist()
    raw_contract_gate(cached, batch)
    assert _cached(cached)  # the caller's own cache is theirs to drop
    cached.unpersist(blocking=True)


def test_gates_draw_no_progress_bars(spark, capfd):
    batch = "transactions-2026-01-19"
    raw_contract_gate(bronze(spark, batch), batch)
    assert "Calculating Metrics" not in capfd.readouterr().err


def test_importing_the_gates_is_quiet():
    """GX logs ~200 INFO lines at import; under Airflow every one of them reaches the task log."""
    code = "import logging; logging.basicConfig(level=logging.DEBUG); import evergreen.pipeline.quality.gates"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    gx_lines = [line for line in done.stderr.splitlines() if "great_expectations" in line]
    assert gx_lines == []


def test_a_batch_clean_emptied_fails_even_without_a_previous_day(spark):
    batch = "transactions-2026-01-19"
    gate = clean_quality_gate(
        silver(spark, batch).limit(0), batch, previous_row_count=None, quarantined={"null_customer_id": 500}
    )
    assert gate.status == "failed"
    assert "row" in gate.reason
